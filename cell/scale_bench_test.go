package cell_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cellsync/cellsync/cell"
	"github.com/cellsync/cellsync/cell/runtime/sim"
	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/store"
	"github.com/cellsync/cellsync/store/storetest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// rssBytes reads the process's resident set size.
func rssBytes(tb testing.TB) int64 {
	tb.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				tb.Fatal(err)
			}
			return kb << 10
		}
	}
	tb.Fatal("no VmRSS")
	return 0
}

// registerCells starts n simulated cells in this process and returns how
// long it took until all n were registered in etcd, and the RSS they added.
func registerCells(b *testing.B, st *store.Client, n int, prefix string) (time.Duration, footprint) {
	runtime.GC()
	before := measure(b)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, n)
	t0 := time.Now()
	for i := range n {
		cfg := testConfig(fmt.Sprintf("%s%04d", prefix, i))
		cfg.FlushInterval = 100 * time.Millisecond
		cfg.LeaseTTL = 30 * time.Second
		cfg.Shutdown = cell.Detach
		a, err := cell.New(cfg, cell.Deps{Store: st, Runtime: sim.New(nil)})
		if err != nil {
			b.Fatal(err)
		}
		go func() {
			defer func() { done <- struct{}{} }()
			if err := a.Run(ctx); err != nil {
				b.Error(err)
			}
		}()
	}
	// Registered means visible in etcd, as the hub sees it.
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := st.Etcd().Get(ctx, store.CellsPrefix+prefix, clientWithPrefixCount()...)
		if err != nil {
			b.Fatal(err)
		}
		if resp.Count == int64(n) {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d cells registered after 60s", resp.Count, n)
		}
		<-tick.C
	}
	elapsed := time.Since(t0)
	runtime.GC()
	after := measure(b)
	cancel()
	for range n {
		<-done
	}
	return elapsed, footprint{
		rss:        after.rss - before.rss,
		heap:       after.heap - before.heap,
		goroutines: after.goroutines - before.goroutines,
	}
}

// footprint is what the process holds: resident memory, Go heap in use and
// goroutines (the embedded etcd server's share included, as it serves the
// cells' leases and watches).
type footprint struct {
	rss, heap  int64
	goroutines int
}

func measure(tb testing.TB) footprint {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return footprint{rss: rssBytes(tb), heap: int64(ms.HeapInuse), goroutines: runtime.NumGoroutine()}
}

// BenchmarkRegisterSimCells measures how long n simulated cells in one
// process take to register, and the memory each adds. The baseline is one
// cell in the same run; the ratio says how registration scales.
func BenchmarkRegisterSimCells(b *testing.B) {
	st, _ := storetest.New(b)
	base, _ := registerCells(b, st, 1, "base")
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("cells=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			var total time.Duration
			var fp footprint
			for i := range b.N {
				d, f := registerCells(b, st, n, fmt.Sprintf("n%d-%d-", n, i))
				total += d
				if i == 0 {
					// Later iterations reuse the pages the first one freed,
					// so only the first RSS delta is the cells' cost.
					fp = f
				}
			}
			avg := total / time.Duration(b.N)
			b.ReportMetric(avg.Seconds(), "s-register-all")
			b.ReportMetric(float64(fp.rss)/float64(n)/1024, "KiB-rss/cell")
			b.ReportMetric(float64(fp.heap)/float64(n)/1024, "KiB-heap/cell")
			b.ReportMetric(float64(fp.goroutines)/float64(n), "goroutines/cell")
			b.ReportMetric(avg.Seconds()/base.Seconds(), "x-one-cell")
		})
	}
}

// BenchmarkSimLRP20 measures the agent alone (simulated runtime): from the
// desired key written to 20 instances RUNNING in etcd. It is the baseline
// of the containerd runtime's figure.
func BenchmarkSimLRP20(b *testing.B) {
	st, _ := storetest.New(b)
	rt := sim.New(nil)
	start(b, st, rt, testConfig("c1"), nil)
	h := hub{b, st}
	spec := h.put(lrp("web", "img", nil))
	idx := make([]int32, 20)
	for i := range idx {
		idx[i] = int32(i)
	}
	b.ReportAllocs()
	var total time.Duration
	for range b.N {
		t0 := time.Now()
		h.assign("c1", "LRP/web", model.Item{Kind: model.KindLRP, Name: "web", Spec: spec, Indexes: idx})
		eventually(b, "20 running", func() bool { return h.report("c1").Running == 20 })
		total += time.Since(t0)
		b.StopTimer()
		h.unassign("c1", "LRP/web")
		eventually(b, "all stopped", func() bool {
			cs, _ := rt.List(context.Background())
			return len(cs) == 0 && h.report("c1").Running == 0
		})
		b.StartTimer()
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s-to-20-running")
}

func clientWithPrefixCount() []clientv3.OpOption {
	return []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithCountOnly()}
}
