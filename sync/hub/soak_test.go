package hub_test

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/selectors"
	"github.com/cellsync/cellsync/store"
	"github.com/cellsync/cellsync/sync/hub"
)

var soak = flag.Int("soak", 0, "run TestSoak with this many commits (e.g. 500)")

// etcdDirEnv, set, makes the test binary serve an embedded etcd in that
// directory instead of running tests: the soak test measures the hub's heap
// with etcd in another process.
const etcdDirEnv = "CELLSYNC_TEST_ETCD_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(etcdDirEnv); dir != "" {
		serveEtcd(dir)
		return
	}
	os.Exit(m.Run())
}

// serveEtcd runs an embedded etcd, prints its endpoint and serves until
// SIGTERM or its stdin closes (its parent died).
func serveEtcd(dir string) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	srv, err := store.StartEmbedded(ctx, store.EmbedConfig{Dir: dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer srv.Close()
	fmt.Println("endpoint", srv.Endpoints()[0])
	go func() {
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
		stop()
	}()
	<-ctx.Done()
}

// etcdProcess starts an embedded etcd in a child process and connects.
func etcdProcess(t *testing.T) *store.Client {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), etcdDirEnv+"="+t.TempDir())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	endpoint, ok := strings.CutPrefix(strings.TrimSpace(line), "endpoint ")
	if err != nil || !ok {
		t.Fatalf("etcd process: %q, %v", line, err)
	}
	c, err := store.Connect(context.Background(), store.Config{Endpoints: []string{endpoint}, MaxTxnOps: 1024})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// liveHeap returns the heap in use after two collections.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestSoak runs the hub through N commits that add, edit and remove sets
// and rescale LRPs, with 200 of 1,000 cells leaving and coming back, and
// checks that its live heap ends within 10% of where it started: the state
// of workloads and cells that are gone is freed. etcd runs in a child
// process, so the heap is the hub's. Run with
//
//	go test -run TestSoak -v -timeout 60m ./sync/hub/ -args -soak=500
func TestSoak(t *testing.T) {
	if *soak == 0 {
		t.Skip("run with -soak N")
	}
	const cells, sets, configs, leaving = 1000, 40, 5, 20
	c := etcdProcess(t)
	env, err := selectors.NewEnv(selectors.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := hub.New(hub.Config{}, hub.Deps{Store: c, Env: env, Logger: slog.New(slog.DiscardHandler)})
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	register := func(from, to int, put bool) {
		t.Helper()
		var ops []store.Op
		for i := from; i < to; i++ {
			name := fmt.Sprintf("cell-%04d", i)
			if !put {
				ops = append(ops, store.Op{Key: store.CellKey(name), Delete: true})
				continue
			}
			v, _ := store.Encode(model.Cell{Name: name, Zone: fmt.Sprintf("z%d", i%5), Capacity: model.Capacity{MemoryMB: 16384, DiskMB: 65536, Containers: 100}})
			ops = append(ops, store.Op{Key: store.CellKey(name), Value: v})
		}
		if _, err := c.Write(ctx, ops); err != nil {
			t.Fatal(err)
		}
	}
	register(0, cells, true)

	// modelAt returns commit i's workloads: the 40 sets, one of them edited
	// (a new 2 KB body) and another left out; a short-lived set with a
	// selector of its own that lives five commits; two LRPs whose size and
	// image vary. Commit 0 and the last have the same shape; everything in
	// between is garbage the hub must free.
	modelAt := func(i int, last bool) []model.Object {
		var docs []string
		for s := 0; s < sets; s++ {
			if !last && i > 0 && s == (i+13)%sets {
				continue
			}
			var cfgs []string
			for r := 0; r < configs; r++ {
				v := "v"
				if !last && s == i%sets && r == 0 {
					v = fmt.Sprintf("edit-%d-%s", i, strings.Repeat("x", 2048))
				}
				cfgs = append(cfgs, fmt.Sprintf("cm-%02d-%d=%s", s, r, v))
			}
			docs = append(docs, set(fmt.Sprintf("s%02d", s), "Sync", "", cfgs...))
		}
		if !last && i > 0 {
			docs = append(docs, set(fmt.Sprintf("x%d", i/5), "Sync", fmt.Sprintf("cell.capacity.memoryMB >= %d", i/5), fmt.Sprintf("only-%d=1", i/5)))
		}
		for l := 0; l < 2; l++ {
			n, image := 50, "busybox"
			if !last {
				n, image = 40+(i*7+l*3)%30, fmt.Sprintf("busybox:%d", i)
			}
			docs = append(docs, fmt.Sprintf("apiVersion: cellsync.io/v1\nkind: LRP\nmetadata: {name: l%d}\nspec: {image: %q, instances: %d, resources: {memoryMB: 64, diskMB: 64}}", l, image, n))
		}
		return parseAll(t, strings.Join(docs, "\n---\n"))
	}
	waitSynced := func(commit string, present int) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Minute)
		for {
			st := h.Status()
			if st.Leading && st.Commit == commit && st.Synced && len(st.Cells) == present {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("commit %s not synced: %+v, %d cells", commit, st.Condition, len(st.Cells))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	compact := func() {
		t.Helper()
		resp, err := c.Etcd().Get(ctx, "/")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Etcd().Compact(ctx, resp.Header.Revision); err != nil {
			t.Fatal(err)
		}
	}

	h.SetDesired(hub.Desired{Commit: "c0", Objects: modelAt(0, false)})
	waitSynced("c0", cells)
	compact()
	start := liveHeap()
	began := time.Now()
	present := cells
	// Every 50 commits 20 other cells leave; 25 commits later they return.
	group := func(i int) (int, int) {
		g := (i/50 - 1) % 10
		return cells - leaving*(g+1), cells - leaving*g
	}
	for i := 1; i <= *soak; i++ {
		if i%50 == 0 {
			from, to := group(i)
			register(from, to, false)
			present -= leaving
		}
		if i%50 == 25 && i > 50 {
			from, to := group(i - 25)
			register(from, to, true)
			present += leaving
		}
		commit := fmt.Sprintf("c%d", i)
		h.SetDesired(hub.Desired{Commit: commit, Objects: modelAt(i, i == *soak)})
		waitSynced(commit, present)
	}
	if present != cells {
		register(0, cells, true)
		waitSynced(fmt.Sprintf("c%d", *soak), cells)
	}
	compact()
	end := liveHeap()
	ratio := float64(end) / float64(start)
	t.Logf("soak: %d commits, %d cells left and came back, %v: live heap %d MB → %d MB (%.3f×)",
		*soak, leaving*(*soak/50), time.Since(began).Round(time.Second), start>>20, end>>20, ratio)
	if ratio > 1.10 {
		t.Errorf("live heap grew %.1f%% over the soak, want at most 10%%", (ratio-1)*100)
	}
}
