package logs

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// clock returns a time source that advances 1 ms per call, from t0.
func clock(t0 time.Time) func() time.Time {
	n := 0
	return func() time.Time {
		n++
		return t0.Add(time.Duration(n) * time.Millisecond)
	}
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func texts(lines []Line) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l.Stream.String()[3:] + ":" + l.Text
	}
	return out
}

// dirBytes sums the sizes of the files in dir.
func dirBytes(t testing.TB, dir string) (total int64, largest int64, files int) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		total += fi.Size()
		largest = max(largest, fi.Size())
		files++
	}
	return total, largest, files
}

func TestWriterNeverExceedsTheCap(t *testing.T) {
	dir := t.TempDir()
	lim := Limits{MaxFileBytes: MinMaxFileBytes, MaxFiles: 2}
	rng := rand.New(rand.NewPCG(1, 2))
	filler := []byte(strings.Repeat("a line of output\n", 4*MaxChunk/17))
	written := 0
	// Three runs, each flooding far past its cap with writes of every size
	// up to four chunks.
	for run := range 3 {
		w, err := Create(dir, lim, clock(t0))
		if err != nil {
			t.Fatal(err)
		}
		for range 400 {
			p := filler[:rng.IntN(len(filler))+1]
			if err := w.Write(Stream(rng.IntN(2)+1), p); err != nil {
				t.Fatal(err)
			}
			written += len(p)
			total, largest, files := dirBytes(t, dir)
			if total > lim.Cap() || largest > lim.MaxFileBytes || files > 2*lim.MaxFiles {
				t.Fatalf("run %d: %d bytes in %d files (largest %d) after writing %d; cap %d, file limit %d",
					run, total, files, largest, written, lim.Cap(), lim.MaxFileBytes)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		runs, err := listRuns(dir)
		if err != nil {
			t.Fatal(err)
		}
		if want := min(run+1, 2); len(runs) != want || runs[len(runs)-1].n != run {
			t.Fatalf("after run %d: runs %+v, want the last %d", run, runs, want)
		}
	}
	if written < 10*int(lim.Cap()) {
		t.Fatalf("wrote only %d bytes: the flood must exceed the cap many times", written)
	}
}

func TestReadLinesAcrossChunksAndStreams(t *testing.T) {
	dir := t.TempDir()
	w, err := Create(dir, Limits{}, clock(t0))
	if err != nil {
		t.Fatal(err)
	}
	for _, wr := range []struct {
		s Stream
		p string
	}{
		{Stdout, "one\ntw"},
		{Stderr, "oops"},
		{Stdout, "o\nthree\n"},
		{Stderr, " again\n"},
		{Stdout, "unterminated"},
	} {
		if err := w.Write(wr.s, []byte(wr.p)); err != nil {
			t.Fatal(err)
		}
	}
	long := strings.Repeat("x", MaxLine+10)
	if err := w.Write(Stderr, []byte(long+"\n")); err != nil {
		t.Fatal(err)
	}
	w.Close()

	tests := []struct {
		name string
		opts Options
		want []string
	}{
		{name: "all", opts: Options{Tail: -1}, want: []string{"out:one", "out:two", "out:three", "err:oops again", "err:" + long[:MaxLine], "err:xxxxxxxxxx", "out:unterminated"}},
		{name: "tail 2", opts: Options{Tail: 2}, want: []string{"err:xxxxxxxxxx", "out:unterminated"}},
		{name: "tail 0", opts: Options{Tail: 0}, want: []string{}},
		// Lines carry the time their first byte was read: "tw" and "oops"
		// were read at t0+1ms and t0+2ms.
		{name: "since", opts: Options{Tail: -1, Since: t0.Add(2 * time.Millisecond)}, want: []string{"out:three", "err:oops again", "err:" + long[:MaxLine], "err:xxxxxxxxxx", "out:unterminated"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Read(dir, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(texts(got), tt.want) {
				t.Fatalf("got %q\nwant %q", texts(got), tt.want)
			}
		})
	}
}

func TestPreviousRunAndErrors(t *testing.T) {
	root := t.TempDir()
	dir, err := InstanceDir(root, "LRP/web/0")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Read(dir, Options{Tail: -1}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("read of a missing dir = %v, want ErrNotFound", err)
	}
	write := func(text string) {
		w, err := Create(dir, Limits{}, clock(t0))
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(Stdout, []byte(text)); err != nil {
			t.Fatal(err)
		}
		w.Close()
	}
	write("first run\n")
	if _, err := Read(dir, Options{Previous: true, Tail: -1}); !errors.Is(err, ErrNoPrevious) {
		t.Fatalf("previous of one run = %v, want ErrNoPrevious", err)
	}
	write("crashed run\n")
	write("current run\n")
	for _, tt := range []struct {
		previous bool
		want     string
	}{{false, "out:current run"}, {true, "out:crashed run"}} {
		got, err := Read(dir, Options{Previous: tt.previous, Tail: -1})
		if err != nil || len(got) != 1 || texts(got)[0] != tt.want {
			t.Fatalf("previous=%v: %q, %v; want %q", tt.previous, texts(got), err, tt.want)
		}
	}
	tail, err := Tail(dir, 4)
	if err != nil || string(tail) != "run\n" {
		t.Fatalf("Tail = %q, %v", tail, err)
	}
	got, err := List(root)
	if err != nil || len(got) != 1 || got[0].ID != "LRP/web/0" || got[0].Dir != dir {
		t.Fatalf("List = %+v, %v", got, err)
	}
}

func TestInstanceDirRejectsPaths(t *testing.T) {
	for _, id := range []string{"", "LRP/web", "LRP/web/x", "Task/../x", "Task/a/b", "Config/c", "LRP/Web/0", "Task/" + strings.Repeat("a", 64), "Task/-a"} {
		if _, err := InstanceDir("/r", id); !errors.Is(err, ErrBadInstance) {
			t.Errorf("InstanceDir(%q) = %v, want ErrBadInstance", id, err)
		}
	}
	for id, want := range map[string]string{"LRP/web/12": "/r/LRP_web_12", "Task/migrate-db": "/r/Task_migrate-db"} {
		if got, err := InstanceDir("/r", id); err != nil || got != want {
			t.Errorf("InstanceDir(%q) = %q, %v; want %q", id, got, err, want)
		}
	}
}

// collect gathers what Follow emits and lets the test wait for a line.
type collect struct {
	ch chan string
}

func (c collect) emit(l Line) error {
	c.ch <- l.Text
	return nil
}

func (c collect) want(t *testing.T, texts ...string) {
	t.Helper()
	for _, want := range texts {
		select {
		case got := <-c.ch:
			if got != want {
				t.Fatalf("followed %q, want %q", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("timed out waiting for %q", want)
		}
	}
}

func TestFollowAcrossRotationAndRestart(t *testing.T) {
	dir := t.TempDir()
	lim := Limits{MaxFileBytes: MinMaxFileBytes, MaxFiles: 3}
	w, err := Create(dir, lim, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := w.Write(Stdout, fmt.Appendf(nil, "old %d\n", i)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := collect{ch: make(chan string, 100)}
	done := make(chan error, 1)
	go func() { done <- Follow(ctx, dir, Options{Tail: 1}, 5*time.Millisecond, c.emit, nil) }()
	c.want(t, "old 2")

	// A line bigger than half a file makes every next one rotate.
	big := strings.Repeat("b", int(lim.MaxFileBytes)/2)
	for i := range 4 {
		if err := w.Write(Stdout, fmt.Appendf(nil, "%s%d\n", big, i)); err != nil {
			t.Fatal(err)
		}
		c.want(t, big+fmt.Sprint(i))
	}
	w.Close()

	w2, err := Create(dir, lim, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w2.Write(Stderr, []byte("after restart\n")); err != nil {
		t.Fatal(err)
	}
	c.want(t, "after restart")
	w2.Close()

	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Follow = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Follow did not end when the directory went")
	}
}

func TestDriverDrainsWhenTheDirectoryIsUnusable(t *testing.T) {
	// A file where the directory should be: the driver cannot write, but
	// must read on so the container never blocks on a full pipe.
	parent := t.TempDir()
	bad := filepath.Join(parent, "blocked")
	if err := os.WriteFile(bad, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	outR, outW, _ := os.Pipe()
	errR, errW, _ := os.Pipe()
	readyR, readyW, _ := os.Pipe()
	done := make(chan error, 1)
	go func() { done <- drive(Spec{Dir: bad}, outR, errR, readyW) }()
	if _, err := readyR.Read(make([]byte, 1)); err == nil {
		t.Fatal("ready pipe carried data; it should only close")
	}
	// Far more than a pipe holds: this blocks unless the driver reads.
	if _, err := outW.Write(make([]byte, 4<<20)); err != nil {
		t.Fatal(err)
	}
	outW.Close()
	errW.Close()
	if err := <-done; err == nil {
		t.Fatal("drive reported no error for an unusable directory")
	}
}

func TestDriverWritesBothStreams(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "Task_x")
	outR, outW, _ := os.Pipe()
	errR, errW, _ := os.Pipe()
	_, readyW, _ := os.Pipe()
	done := make(chan error, 1)
	go func() { done <- drive(Spec{Dir: dir}, outR, errR, readyW) }()
	fmt.Fprintln(outW, "to stdout")
	fmt.Fprintln(errW, "to stderr")
	outW.Close()
	errW.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got, err := Read(dir, Options{Tail: -1})
	if err != nil {
		t.Fatal(err)
	}
	if s := texts(got); len(s) != 2 || !slices.Contains(s, "out:to stdout") || !slices.Contains(s, "err:to stderr") {
		t.Fatalf("lines = %q", s)
	}
}

func TestDriverArgRoundTrip(t *testing.T) {
	spec := Spec{Dir: "/var/lib/cellsync/logs/LRP_web_0", Limits: Limits{MaxFileBytes: 1 << 20, MaxFiles: 3}}
	got, err := ParseDriverArg(EncodeDriverArg(spec))
	if err != nil || got != spec {
		t.Fatalf("round trip = %+v, %v", got, err)
	}
	for _, bad := range []string{"", "1:2", "x:2:/d", "1048576:x:/d", "1048576:2:relative", "10:2:/d", "1048576:101:/d"} {
		if _, err := ParseDriverArg(bad); err == nil {
			t.Errorf("ParseDriverArg(%q) accepted", bad)
		}
	}
	if _, ok := RunDriver([]string{"cellsync", "status"}); ok {
		t.Fatal("RunDriver ran for another command")
	}
}

func TestPaceFor(t *testing.T) {
	tests := []struct {
		name    string
		n       int
		elapsed time.Duration
		want    time.Duration
	}{
		{"nothing read: the longest wait", 0, time.Second, maxPace},
		{"a trickle: the longest wait", 100, 10 * time.Millisecond, maxPace},
		// 512 KiB in 2 ms is 256 MiB/s: half the pipe fills in 2 ms.
		{"a flood: half a pipe's time", pipeSize / 2, 2 * time.Millisecond, 2 * time.Millisecond},
		{"faster than the shortest wait", pipeSize, 100 * time.Microsecond, minPace},
	}
	for _, tt := range tests {
		if got := paceFor(tt.n, tt.elapsed); got != tt.want {
			t.Errorf("%s: paceFor(%d, %s) = %s, want %s", tt.name, tt.n, tt.elapsed, got, tt.want)
		}
	}
}
