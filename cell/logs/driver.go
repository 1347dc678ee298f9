package logs

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The driver is the process a container runtime starts beside each
// container (containerd's "binary" log URI): it gets the read ends of the
// container's stdout and stderr pipes as file descriptors 3 and 4 and a
// pipe to close once ready as 5, and writes what it reads with a Writer.
// It is a child of the runtime's shim, not of the agent, so output keeps
// being captured while the agent restarts, and the container never waits
// for the agent.

// DriverArg is the first argument of a log driver process; the second is
// EncodeDriverArg's value.
const DriverArg = "cellsync-log-driver"

// drainTimeout bounds how long the driver reads after SIGTERM, which the
// shim sends once the container is gone and waits for (12 s at most).
const drainTimeout = 5 * time.Second

// pipeSize is what the driver asks the kernel to buffer per stream, so
// that a burst of output does not make the container wait for the driver.
const pipeSize = 1 << 20

// After a read that emptied the pipe the driver waits before reading
// again, so that output arrives in large reads and a write into a pipe
// that is not empty wakes nobody: a reader always waiting in read is woken
// by every write, which costs a container printing line by line a context
// switch per line (measured: a fifth of its /dev/null speed on a 2-core
// VM). The wait lets about half the pipe fill at the rate just seen,
// between minPace and maxPace, so a fast writer is not made to wait on a
// full pipe and a followed line is late by maxPace at most.
const (
	minPace = time.Millisecond
	maxPace = 10 * time.Millisecond
)

// paceFor returns the wait after a read of n bytes that took elapsed to
// accumulate.
func paceFor(n int, elapsed time.Duration) time.Duration {
	if n <= 0 {
		return maxPace
	}
	return min(max(time.Duration(float64(elapsed)*float64(pipeSize/2)/float64(n)), minPace), maxPace)
}

// EncodeDriverArg returns the driver's argument for spec:
// "<maxFileBytes>:<maxFiles>:<dir>".
func EncodeDriverArg(spec Spec) string {
	return fmt.Sprintf("%d:%d:%s", spec.Limits.MaxFileBytes, spec.Limits.MaxFiles, spec.Dir)
}

// ParseDriverArg is EncodeDriverArg's inverse; it checks the limits and
// that the directory is absolute.
func ParseDriverArg(s string) (Spec, error) {
	size, rest, ok1 := strings.Cut(s, ":")
	files, dir, ok2 := strings.Cut(rest, ":")
	if !ok1 || !ok2 {
		return Spec{}, fmt.Errorf("log driver argument %q: want <maxFileBytes>:<maxFiles>:<dir>", s)
	}
	var spec Spec
	var err error
	if spec.Limits.MaxFileBytes, err = strconv.ParseInt(size, 10, 64); err != nil {
		return Spec{}, fmt.Errorf("log driver argument %q: file size: %w", s, err)
	}
	if spec.Limits.MaxFiles, err = strconv.Atoi(files); err != nil {
		return Spec{}, fmt.Errorf("log driver argument %q: file count: %w", s, err)
	}
	if spec.Limits, err = spec.Limits.WithDefaults(); err != nil {
		return Spec{}, fmt.Errorf("log driver argument %q: %w", s, err)
	}
	if !strings.HasPrefix(dir, "/") || strings.ContainsRune(dir, 0) {
		return Spec{}, fmt.Errorf("log driver argument %q: directory must be absolute", s)
	}
	spec.Dir = dir
	return spec, nil
}

// RunDriver runs the log driver when args (a process's os.Args) ask for
// it, and returns the process's exit code and true; otherwise it returns
// false at once. cellsync's main and the TestMain of every package that
// runs containers through containerd call it first.
func RunDriver(args []string) (int, bool) {
	if len(args) != 3 || args[1] != DriverArg {
		return 0, false
	}
	spec, err := ParseDriverArg(args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2, true
	}
	runtime.GOMAXPROCS(1)
	out, errOut, ready := pipeFile(3, "stdout"), pipeFile(4, "stderr"), os.NewFile(5, "ready")
	if err := drive(spec, out, errOut, ready); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1, true
	}
	return 0, true
}

// pipeFile wraps an inherited pipe, enlarged to pipeSize. It stays in
// blocking mode on purpose: Go would put a non-blocking one in its epoll
// set, and the kernel wakes a pipe's epoll waiters on every write, which
// would cost the container a wake-up per write however the driver paces
// its reads.
func pipeFile(fd int, name string) *os.File {
	_, _ = unix.FcntlInt(uintptr(fd), unix.F_SETPIPE_SZ, pipeSize)
	return os.NewFile(uintptr(fd), name)
}

// drive copies both streams into a new run of spec.Dir until both end.
// Output is never held back: if the directory cannot be written, the
// driver reads on and discards, so the container does not stall.
func drive(spec Spec, out, errOut, ready *os.File) error {
	w, werr := Create(spec.Dir, spec.Limits, nil)
	ready.Close()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)

	var wg sync.WaitGroup
	var d dropped
	draining := make(chan struct{})
	for _, p := range []struct {
		f *os.File
		s Stream
	}{{out, Stdout}, {errOut, Stderr}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pump(p.f, p.s, w, &d, draining)
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-sigs:
		// The container is gone: read what is left, then stop. A read
		// still blocked after drainTimeout is abandoned with the process.
		close(draining)
		t := time.NewTimer(drainTimeout)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
		}
	}
	if w == nil {
		return werr
	}
	return w.Close()
}

// dropped counts output that could not be written.
type dropped struct {
	mu    sync.Mutex
	bytes int64
	err   error
}

// pump copies one stream into w until it ends, pausing after reads that
// emptied the pipe until draining is closed. When writing fails it counts
// what it drops and says so in the log once writing works again.
func pump(f *os.File, s Stream, w *Writer, d *dropped, draining <-chan struct{}) {
	buf := make([]byte, 8*MaxChunk)
	t := time.NewTimer(maxPace)
	defer t.Stop()
	last := time.Now()
	for {
		n, err := f.Read(buf)
		now := time.Now()
		if n > 0 {
			if w == nil {
				d.add(n, errors.New("log directory unusable"))
			} else if werr := w.Write(s, buf[:n]); werr != nil {
				d.add(n, werr)
			} else if note := d.take(); note != "" {
				_ = w.Write(Stderr, []byte(note))
			}
		}
		if err != nil { // io.EOF once the container and the shim closed it
			return
		}
		if n < len(buf) { // the pipe is empty
			t.Reset(paceFor(n, now.Sub(last)))
			select {
			case <-t.C:
			case <-draining:
			}
		}
		last = now
	}
}

func (d *dropped) add(n int, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.bytes += int64(n)
	d.err = err
}

// take returns the note about dropped output, once, or "".
func (d *dropped) take() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.bytes == 0 {
		return ""
	}
	note := fmt.Sprintf("[cellsync: %d bytes of output were dropped: %v]\n", d.bytes, d.err)
	d.bytes, d.err = 0, nil
	return note
}
