package hub_test

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/store"
)

var scale = flag.Int("scale", 0, "run TestScale with this many cells (e.g. 1000)")

// TestScale measures the hub the way Hive's scale test measured itself: N
// cells registered in etcd, 60 SelectorSyncSets of 10 Configs matching all
// of them. It prints the figures docs/performance.md records. Run with
//
//	go test -run TestScale -v ./sync/hub/ -args -scale=1000
func TestScale(t *testing.T) {
	if *scale == 0 {
		t.Skip("run with -scale N")
	}
	const sets, resources = 60, 10
	f := newFixture(t)
	var ops []store.Op
	for i := 0; i < *scale; i++ {
		c := model.Cell{Name: fmt.Sprintf("cell-%04d", i), Zone: fmt.Sprintf("z%d", i%5), Labels: map[string]string{"env": "prod"},
			Capacity: model.Capacity{MemoryMB: 16384, DiskMB: 65536, Containers: 100}}
		f.cells[c.Name] = c
		v, _ := store.Encode(c)
		ops = append(ops, store.Op{Key: store.CellKey(c.Name), Value: v})
	}
	if _, err := f.c.Write(f.ctx, ops); err != nil {
		t.Fatal(err)
	}
	gen := func(edit int) string {
		var docs []string
		for s := 0; s < sets; s++ {
			var cfgs []string
			for r := 0; r < resources; r++ {
				v := "value-" + strings.Repeat("x", 150)
				if s == 0 && r == 0 {
					v += fmt.Sprint(edit)
				}
				cfgs = append(cfgs, fmt.Sprintf("cm-%02d-%02d=%s", s, r, v))
			}
			docs = append(docs, set(fmt.Sprintf("set-%02d", s), "Sync", `cell.labels["env"] == "prod"`, cfgs...))
		}
		return strings.Join(docs, "\n---\n")
	}
	want := *scale * sets
	count := func() int {
		n := 0
		for _, srcs := range f.assignments() {
			n += len(srcs)
		}
		return n
	}
	revBefore := func() int64 {
		_, rev, err := f.c.List(f.ctx, store.DesiredPrefix)
		if err != nil {
			t.Fatal(err)
		}
		return rev
	}

	// Phase: commit the sets.
	r0 := revBefore()
	start := time.Now()
	f.commit("c1", gen(0))
	waitScaled(f, "c1")
	stored := time.Since(start)
	if n := count(); n != want {
		t.Fatalf("stored %d per-cell instances, want %d", n, want)
	}
	kvs, _, _ := f.c.List(f.ctx, store.DesiredPrefix)
	bytes := 0
	for _, kv := range kvs {
		bytes += len(kv.Key) + len(kv.Value)
	}
	t.Logf("commit → %d per-cell instances stored: %v (%.0f instances/s), %d etcd revisions, %.0f bytes/instance",
		want, stored.Round(time.Millisecond), float64(want)/stored.Seconds(), revBefore()-r0, float64(bytes)/float64(want))

	// Phase: one resource edited in one set matching every cell.
	r1 := revBefore()
	start = time.Now()
	f.commit("c2", gen(1))
	waitScaled(f, "c2")
	t.Logf("one resource edited → %d cells updated: %v, %d desired keys written", *scale, time.Since(start).Round(time.Millisecond), written(t, f, r1))

	// Phase: hub restart.
	f.stop()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heapBefore := ms.HeapAlloc
	r2 := revBefore()
	start = time.Now()
	f.start()
	f.commit("c2", gen(1))
	waitScaled(f, "c2")
	resync := time.Since(start)
	runtime.ReadMemStats(&ms)
	t.Logf("hub restart → resynced: %v, %d desired keys written, heap %d MB (test process, includes embedded etcd), RSS %s",
		resync.Round(time.Millisecond), written(t, f, r2), (ms.HeapAlloc-min(heapBefore, ms.HeapAlloc))>>20, rss())
}

// waitScaled waits until the hub has stored commit everywhere, for as long
// as a large fleet may need: the figures, not a deadline, are the result.
func waitScaled(f *fixture, commit string) {
	f.t.Helper()
	f.eventuallyWithin(30*time.Minute, "hub synced at "+commit, func() (bool, string) {
		st := f.hub.Status()
		return st.Leading && st.Commit == commit && st.Synced, fmt.Sprintf("%+v", st.Queues)
	})
}

func written(t *testing.T, f *fixture, after int64) int {
	kvs, _, err := f.c.List(f.ctx, store.DesiredPrefix)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, kv := range kvs {
		if kv.ModRevision > after {
			n++
		}
	}
	return n
}

func rss() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			return strings.TrimSpace(strings.TrimPrefix(line, "VmRSS:"))
		}
	}
	return "unknown"
}
