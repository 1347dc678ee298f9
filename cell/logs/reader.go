package logs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"
)

// MaxLine bounds a line as the reader returns it; a longer line comes in
// pieces of MaxLine bytes.
const MaxLine = 64 << 10

// Errors of the readers.
var (
	// ErrNotFound: the instance has no log directory on this cell.
	ErrNotFound = errors.New("no logs for this instance")
	// ErrNoPrevious: the instance has not been restarted since its
	// directory was created.
	ErrNoPrevious = errors.New("no previous run")
)

// Line is one line of output, without its newline.
type Line struct {
	// Time is when the driver read the start of the line.
	Time   time.Time
	Stream Stream
	Text   string
}

// Options select what a read returns.
type Options struct {
	// Previous reads the run before the newest instead of the newest.
	Previous bool
	// Since drops lines read before it; zero keeps all.
	Since time.Time
	// Tail keeps only the last Tail lines; negative keeps all.
	Tail int
}

// assembler turns chunks into lines, per stream.
type assembler struct {
	partial [3][]byte
	at      [3]time.Time
}

func (a *assembler) add(c chunk, emit func(Line) error) error {
	s := c.stream
	data := c.data
	for len(data) > 0 {
		if len(a.partial[s]) == 0 {
			a.at[s] = c.at
		}
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			a.partial[s] = append(a.partial[s], data...)
			if len(a.partial[s]) >= MaxLine {
				if err := a.emitPartial(s, MaxLine, emit); err != nil {
					return err
				}
			}
			return nil
		}
		a.partial[s] = append(a.partial[s], data[:i]...)
		data = data[i+1:]
		if err := a.emitPartial(s, len(a.partial[s]), emit); err != nil {
			return err
		}
	}
	return nil
}

// emitPartial emits the first n bytes held for stream s, in MaxLine pieces.
func (a *assembler) emitPartial(s Stream, n int, emit func(Line) error) error {
	for {
		k := min(n, MaxLine)
		if err := emit(Line{Time: a.at[s], Stream: s, Text: string(a.partial[s][:k])}); err != nil {
			return err
		}
		a.partial[s] = a.partial[s][k:]
		n -= k
		if n <= 0 {
			break
		}
	}
	if len(a.partial[s]) == 0 {
		a.partial[s] = nil
	}
	return nil
}

// flush emits the unterminated lines: the run has ended.
func (a *assembler) flush(emit func(Line) error) error {
	for _, s := range []Stream{Stdout, Stderr} {
		if len(a.partial[s]) > 0 {
			if err := a.emitPartial(s, len(a.partial[s]), emit); err != nil {
				return err
			}
		}
	}
	return nil
}

// cursor reads one run's chunks in order, across its parts, as the writer
// adds them.
type cursor struct {
	dir  string
	run  int
	part int   // part being read
	off  int64 // offset of the next chunk in it
	buf  []byte
}

// poll passes every complete chunk written since the last poll to fn and
// reports whether there were any. A part removed before it was read (the
// reader fell behind by more than the limits keep) is skipped.
func (c *cursor) poll(fn func(chunk) error) (bool, error) {
	progress := false
	for {
		runs, err := listRuns(c.dir)
		if err != nil {
			return progress, err
		}
		var parts []part
		for _, r := range runs {
			if r.n == c.run {
				parts = r.parts
			}
		}
		if len(parts) == 0 {
			return progress, nil
		}
		cur := -1
		for i, p := range parts {
			if p.n == c.part {
				cur = i
			}
		}
		if cur < 0 {
			// Rotated away unread: go on with the oldest part left.
			if parts[0].n < c.part {
				return progress, nil
			}
			c.part, c.off, c.buf = parts[0].n, 0, c.buf[:0]
			cur = 0
		}
		got, err := c.readPart(parts[cur].path, fn)
		progress = progress || got
		if err != nil {
			return progress, err
		}
		if cur == len(parts)-1 {
			return progress, nil
		}
		// A later part exists, so this one is complete: whatever is left
		// unparsed is a torn chunk.
		c.part, c.off, c.buf = parts[cur+1].n, 0, c.buf[:0]
	}
}

// readPart reads the part from the cursor's offset to its end.
func (c *cursor) readPart(path string, fn func(chunk) error) (bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	if _, err := f.Seek(c.off+int64(len(c.buf)), io.SeekStart); err != nil {
		return false, err
	}
	progress := false
	tmp := make([]byte, 64<<10)
	for {
		n, rerr := f.Read(tmp)
		c.buf = append(c.buf, tmp[:n]...)
		for {
			ch, used, err := parseChunk(c.buf)
			if errors.Is(err, errIncomplete) {
				break
			}
			if err != nil {
				// Not a chunk: the rest of this part is unreadable.
				c.off += int64(len(c.buf))
				c.buf = c.buf[:0]
				return progress, nil
			}
			progress = true
			if err := fn(ch); err != nil {
				return progress, err
			}
			c.off += int64(used)
			c.buf = append(c.buf[:0], c.buf[used:]...)
		}
		if rerr == io.EOF {
			return progress, nil
		}
		if rerr != nil {
			return progress, rerr
		}
	}
}

// pickRun returns the run a read of opts starts with.
func pickRun(dir string, previous bool) (run, error) {
	runs, err := listRuns(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return run{}, ErrNotFound
	}
	if err != nil {
		return run{}, fmt.Errorf("read logs: %w", err)
	}
	switch {
	case len(runs) == 0:
		return run{}, ErrNotFound
	case previous && len(runs) < 2:
		return run{}, ErrNoPrevious
	case previous:
		return runs[len(runs)-2], nil
	}
	return runs[len(runs)-1], nil
}

// ring keeps the last n lines; n < 0 keeps all.
type ring struct {
	n     int
	lines []Line
}

func (r *ring) add(l Line) error {
	if r.n == 0 {
		return nil
	}
	r.lines = append(r.lines, l)
	if r.n > 0 && len(r.lines) > 2*r.n {
		r.lines = append(r.lines[:0], r.lines[len(r.lines)-r.n:]...)
	}
	return nil
}

func (r *ring) result() []Line {
	if r.n >= 0 && len(r.lines) > r.n {
		return r.lines[len(r.lines)-r.n:]
	}
	return r.lines
}

// Check returns nil when a read with previous would find a run, else
// ErrNotFound or ErrNoPrevious.
func Check(dir string, previous bool) error {
	_, err := pickRun(dir, previous)
	return err
}

// Read returns the lines of one run of the instance whose log directory is
// dir, as opts select them. It returns ErrNotFound when there is no run and
// ErrNoPrevious when opts.Previous asks for a run that does not exist.
func Read(dir string, opts Options) ([]Line, error) {
	r, err := pickRun(dir, opts.Previous)
	if err != nil {
		return nil, err
	}
	c := &cursor{dir: dir, run: r.n, part: r.parts[0].n}
	keep := &ring{n: opts.Tail}
	if err := readAll(c, opts.Since, keep.add); err != nil {
		return nil, err
	}
	return keep.result(), nil
}

// readAll passes every line the cursor has to emit, including unterminated
// last lines.
func readAll(c *cursor, since time.Time, emit func(Line) error) error {
	var a assembler
	filtered := sinceFilter(since, emit)
	if _, err := c.poll(func(ch chunk) error { return a.add(ch, filtered) }); err != nil {
		return fmt.Errorf("read logs: %w", err)
	}
	return a.flush(filtered)
}

func sinceFilter(since time.Time, emit func(Line) error) func(Line) error {
	if since.IsZero() {
		return emit
	}
	return func(l Line) error {
		if l.Time.Before(since) {
			return nil
		}
		return emit(l)
	}
}

// Tail returns the last n bytes the newest run wrote, both streams in the
// order they were read, or nil when there is no run.
func Tail(dir string, n int) ([]byte, error) {
	r, err := pickRun(dir, false)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	c := &cursor{dir: dir, run: r.n, part: r.parts[0].n}
	var out []byte
	_, err = c.poll(func(ch chunk) error {
		out = append(out, ch.data...)
		if len(out) > 2*n {
			out = append(out[:0], out[len(out)-n:]...)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read logs: %w", err)
	}
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return out, nil
}

// Follow emits what Read returns for opts, then every line the instance
// writes from then on, in the newest run and then in each run that follows
// (the container restarted), checking for more every poll. caughtUp, if
// not nil, is called whenever everything written so far has been emitted
// (to flush a response). It returns nil when ctx ends or the directory is
// removed (the instance left the cell). With opts.Previous it emits the
// previous run and returns.
func Follow(ctx context.Context, dir string, opts Options, poll time.Duration, emit func(Line) error, caughtUp func()) error {
	if opts.Previous {
		lines, err := Read(dir, opts)
		if err != nil {
			return err
		}
		for _, l := range lines {
			if err := emit(l); err != nil {
				return err
			}
		}
		return nil
	}
	r, err := pickRun(dir, false)
	if err != nil {
		return err
	}
	c := &cursor{dir: dir, run: r.n, part: r.parts[0].n}
	var a assembler
	filtered := sinceFilter(opts.Since, emit)
	if opts.Tail >= 0 {
		// The tail is found by reading to the end; what comes later is
		// emitted as it arrives.
		keep := &ring{n: opts.Tail}
		if _, err := c.poll(func(ch chunk) error { return a.add(ch, sinceFilter(opts.Since, keep.add)) }); err != nil {
			return fmt.Errorf("read logs: %w", err)
		}
		for _, l := range keep.result() {
			if err := emit(l); err != nil {
				return err
			}
		}
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		progress, err := c.poll(func(ch chunk) error { return a.add(ch, filtered) })
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if !progress {
			if caughtUp != nil {
				caughtUp()
			}
			next, err := pickRun(dir, false)
			if errors.Is(err, ErrNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			if next.n != c.run {
				// The container started again: finish this run's lines.
				if err := a.flush(filtered); err != nil {
					return err
				}
				c = &cursor{dir: dir, run: next.n, part: next.parts[0].n}
				continue
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
