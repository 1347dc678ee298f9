package containerd_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cellsync/cellsync/cell"
	"github.com/cellsync/cellsync/cell/runtime/sim"
	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/store"
	"github.com/cellsync/cellsync/store/storetest"
)

// runningCount reads how many instances the cell reports RUNNING.
func runningCount(tb testing.TB, st *store.Client, cellName string) int {
	tb.Helper()
	r, _, _, err := store.GetJSON[model.CellReport](context.Background(), st, store.ActualKey(cellName, model.ReportID))
	if err != nil {
		tb.Fatal(err)
	}
	return r.Running
}

// BenchmarkLRPStart measures, for one cell and one LRP of n `sleep`
// instances, the time from the desired key written to all n RUNNING in
// etcd. The simulated runtime in the same run is the baseline: the ratio is
// what containerd adds to the agent's own work; host against bridge
// networking is what CNI adds.
func BenchmarkLRPStart(b *testing.B) {
	for _, n := range []int{1, 20} {
		var simSeconds float64
		for _, run := range []struct{ rt, network string }{{"sim", ""}, {"containerd", model.NetworkHost}, {"containerd", model.NetworkBridge}} {
			rtName := run.rt
			label := rtName
			if run.network != "" {
				label += "/network=" + run.network
			}
			b.Run(fmt.Sprintf("runtime=%s/instances=%d", label, n), func(b *testing.B) {
				var rt cell.Runtime
				if rtName == "sim" {
					rt = sim.New(nil)
				} else {
					rt = newRuntime(b)
				}
				st, _ := storetest.New(b)
				h := hub{b, st}
				name := fmt.Sprintf("bench-%s%s-%d", rtName, run.network, n)
				startAgent(b, st, rt, name, cell.Evacuate, b.TempDir())
				l := lrp("sleeper", "sleep", "3600")
				l.Spec.Network = run.network
				spec := h.put(l)
				idx := make([]int32, n)
				for i := range idx {
					idx[i] = int32(i)
				}
				b.ReportAllocs()
				b.ResetTimer()
				var total time.Duration
				for range b.N {
					t0 := time.Now()
					h.assign(name, "LRP/sleeper", model.Item{Kind: model.KindLRP, Name: "sleeper", Spec: spec, Indexes: idx})
					eventually(b, "all running", 60*time.Second, func() bool { return runningCount(b, st, name) == n })
					total += time.Since(t0)
					b.StopTimer()
					if got := countContainers(b, rt, name); got != n {
						b.Fatalf("containers = %d, want %d", got, n)
					}
					h.unassign(name, "LRP/sleeper")
					eventually(b, "all stopped", 60*time.Second, func() bool {
						return countContainers(b, rt, name) == 0 && runningCount(b, st, name) == 0
					})
					b.StartTimer()
				}
				secs := total.Seconds() / float64(b.N)
				b.ReportMetric(secs, "s-to-all-running")
				if rtName == "sim" {
					simSeconds = secs
				} else if simSeconds > 0 {
					b.ReportMetric(secs/simSeconds, "x-sim")
				}
			})
		}
	}
}
