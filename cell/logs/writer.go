package logs

import (
	"fmt"
	"os"
	"sync"
	"time"
)

// Defaults and bounds of Limits.
const (
	// DefaultMaxFileBytes is the size of one log file: 8 MiB.
	DefaultMaxFileBytes = 8 << 20
	// DefaultMaxFiles is how many files one run keeps.
	DefaultMaxFiles = 2
	// MinMaxFileBytes is the smallest file size: two full chunks.
	MinMaxFileBytes = int64(2 * (MaxChunk + maxHeader))
	// MaxMaxFileBytes is the largest file size: 1 GiB.
	MaxMaxFileBytes int64 = 1 << 30
	// MaxMaxFiles is the most files one run may keep.
	MaxMaxFiles = 100
)

// Limits bound the output kept of one instance: each run keeps at most
// MaxFiles files of at most MaxFileBytes, and the run before the newest is
// kept too, so an instance never uses more than 2 × MaxFiles × MaxFileBytes.
type Limits struct {
	// MaxFileBytes is the size at which a file is closed and a new one
	// begun; default DefaultMaxFileBytes, between MinMaxFileBytes and
	// MaxMaxFileBytes.
	MaxFileBytes int64
	// MaxFiles is how many files of a run are kept, the oldest removed
	// first; default DefaultMaxFiles, between 1 and MaxMaxFiles.
	MaxFiles int
}

// WithDefaults fills zero fields and checks the bounds.
func (l Limits) WithDefaults() (Limits, error) {
	if l.MaxFileBytes == 0 {
		l.MaxFileBytes = DefaultMaxFileBytes
	}
	if l.MaxFiles == 0 {
		l.MaxFiles = DefaultMaxFiles
	}
	if l.MaxFileBytes < MinMaxFileBytes || l.MaxFileBytes > MaxMaxFileBytes {
		return l, fmt.Errorf("log file size %d bytes: must be between %d and %d", l.MaxFileBytes, MinMaxFileBytes, MaxMaxFileBytes)
	}
	if l.MaxFiles < 1 || l.MaxFiles > MaxMaxFiles {
		return l, fmt.Errorf("log files per run %d: must be between 1 and %d", l.MaxFiles, MaxMaxFiles)
	}
	return l, nil
}

// Cap is the most bytes an instance's logs occupy: two runs of MaxFiles
// full files.
func (l Limits) Cap() int64 { return 2 * int64(l.MaxFiles) * l.MaxFileBytes }

// Spec says where and how a runtime keeps one container's output.
type Spec struct {
	// Dir is the instance's log directory (InstanceDir); empty discards
	// the output.
	Dir    string
	Limits Limits
}

// Writer appends one run of a container's output to its log directory. It
// is safe for concurrent use (the two streams write from two goroutines).
type Writer struct {
	dir string
	lim Limits
	now func() time.Time

	mu    sync.Mutex
	run   int
	parts []part // of this run, oldest first
	f     *os.File
	size  int64
	buf   []byte
	// broken is set after a failed write: the file may end inside a
	// chunk, so the next write begins a new one.
	broken bool
}

// Create starts a new run in dir (created if missing): it removes every run
// but the newest, which becomes the previous one. now stamps the chunks
// (nil: time.Now).
func Create(dir string, lim Limits, now func() time.Time) (*Writer, error) {
	lim, err := lim.WithDefaults()
	if err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("log dir: %w", err)
	}
	runs, err := listRuns(dir)
	if err != nil {
		return nil, fmt.Errorf("log dir: %w", err)
	}
	w := &Writer{dir: dir, lim: lim, now: now}
	if len(runs) > 0 {
		w.run = runs[len(runs)-1].n + 1
		for _, r := range runs[:len(runs)-1] {
			for _, p := range r.parts {
				if err := os.Remove(p.path); err != nil && !os.IsNotExist(err) {
					return nil, fmt.Errorf("remove old log: %w", err)
				}
			}
		}
	}
	if err := w.newPart(0); err != nil {
		return nil, err
	}
	return w, nil
}

// newPart closes the current file and opens part n, first removing the
// oldest parts so that at most MaxFiles exist once it is created.
func (w *Writer) newPart(n int) error {
	if w.f != nil {
		if err := w.f.Close(); err != nil {
			return fmt.Errorf("close log: %w", err)
		}
		w.f = nil
	}
	for len(w.parts) >= w.lim.MaxFiles {
		if err := os.Remove(w.parts[0].path); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("rotate log: %w", err)
		}
		w.parts = w.parts[1:]
	}
	p := part{n: n, path: w.dir + string(os.PathSeparator) + partName(w.run, n)}
	f, err := os.OpenFile(p.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	w.f, w.size = f, 0
	w.parts = append(w.parts, p)
	return nil
}

// Write appends p, read from stream s, as chunks of at most MaxChunk. No
// file ever grows past MaxFileBytes: a chunk that would is written to a
// new file.
func (w *Writer) Write(s Stream, p []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return fmt.Errorf("log writer closed")
	}
	at := w.now()
	w.buf = w.buf[:0]
	if w.broken {
		if err := w.newPart(w.parts[len(w.parts)-1].n + 1); err != nil {
			return err
		}
		w.broken = false
	}
	for len(p) > 0 {
		n := min(len(p), MaxChunk)
		start := len(w.buf)
		w.buf = appendHeader(w.buf, at, s, n)
		if w.size+int64(len(w.buf)+n) > w.lim.MaxFileBytes {
			hdr := append([]byte(nil), w.buf[start:]...)
			w.buf = w.buf[:start]
			if err := w.flush(); err != nil {
				return err
			}
			if err := w.newPart(w.parts[len(w.parts)-1].n + 1); err != nil {
				return err
			}
			w.buf = append(w.buf, hdr...)
		}
		w.buf = append(w.buf, p[:n]...)
		p = p[n:]
	}
	return w.flush()
}

// flush writes the buffered chunks to the current file.
func (w *Writer) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	n, err := w.f.Write(w.buf)
	w.size += int64(n)
	w.buf = w.buf[:0]
	if err != nil {
		w.broken = true
		return fmt.Errorf("write log: %w", err)
	}
	return nil
}

// Close ends the run.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}
