package logs

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Stream names which of a container's outputs bytes came from.
type Stream uint8

// The two streams.
const (
	Stdout Stream = 1
	Stderr Stream = 2
)

// String returns "stdout" or "stderr".
func (s Stream) String() string {
	if s == Stderr {
		return "stderr"
	}
	return "stdout"
}

// A log file is a sequence of chunks, each what the driver read from one
// stream at once: a header line "<time> <out|err> <n>\n" followed by n raw
// bytes. Framing whole reads rather than lines costs one header per read
// however short the lines are, so a container printing tiny lines as fast
// as it can does not make the driver write many times what it printed.
const (
	// MaxChunk bounds the bytes of one chunk; longer writes are split.
	MaxChunk = 32 << 10
	// timeLayout is fixed-width so that headers are easy to scan.
	timeLayout = "2006-01-02T15:04:05.000000000Z"
	// maxHeader bounds a header line: time, stream, length and separators.
	maxHeader = len(timeLayout) + len(" err ") + len("32768") + 1
)

// chunk is one decoded chunk.
type chunk struct {
	at     time.Time
	stream Stream
	data   []byte
}

// appendHeader appends the header of an n-byte chunk.
func appendHeader(b []byte, at time.Time, s Stream, n int) []byte {
	b = at.UTC().AppendFormat(b, timeLayout)
	if s == Stderr {
		b = append(b, " err "...)
	} else {
		b = append(b, " out "...)
	}
	b = strconv.AppendInt(b, int64(n), 10)
	return append(b, '\n')
}

// errIncomplete is a chunk whose bytes are not all in the buffer yet.
var errIncomplete = errors.New("incomplete chunk")

// parseChunk decodes the chunk at the start of b and returns it with the
// number of bytes it spans. It returns errIncomplete when b ends inside the
// chunk (the writer may be adding it), and another error for bytes that are
// not a chunk. The chunk's data aliases b.
func parseChunk(b []byte) (chunk, int, error) {
	nl := bytes.IndexByte(b[:min(len(b), maxHeader)], '\n')
	if nl < 0 {
		if len(b) < maxHeader {
			return chunk{}, 0, errIncomplete
		}
		return chunk{}, 0, fmt.Errorf("log chunk header longer than %d bytes", maxHeader)
	}
	h := b[:nl]
	if len(h) < len(timeLayout)+len(" out 0") || h[len(timeLayout)] != ' ' || h[len(timeLayout)+4] != ' ' {
		return chunk{}, 0, fmt.Errorf("log chunk header %q malformed", h)
	}
	at, err := time.Parse(timeLayout, string(h[:len(timeLayout)]))
	if err != nil {
		return chunk{}, 0, fmt.Errorf("log chunk time: %w", err)
	}
	var s Stream
	switch string(h[len(timeLayout)+1 : len(timeLayout)+4]) {
	case "out":
		s = Stdout
	case "err":
		s = Stderr
	default:
		return chunk{}, 0, fmt.Errorf("log chunk header %q: unknown stream", h)
	}
	digits := h[len(timeLayout)+5:]
	if len(digits) == 0 || len(digits) > 1 && digits[0] == '0' {
		return chunk{}, 0, fmt.Errorf("log chunk header %q: bad length", h)
	}
	n, err := strconv.Atoi(string(digits))
	if err != nil || n > MaxChunk {
		return chunk{}, 0, fmt.Errorf("log chunk header %q: bad length", h)
	}
	end := nl + 1 + n
	if len(b) < end {
		return chunk{}, 0, errIncomplete
	}
	return chunk{at: at, stream: s, data: b[nl+1 : end]}, end, nil
}
