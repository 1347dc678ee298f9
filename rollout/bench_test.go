package rollout

import (
	"fmt"
	"testing"
	"time"

	"github.com/cellsync/cellsync/internal/cputime"
	"github.com/cellsync/cellsync/model"
)

// midRollout is an LRP of n instances a quarter of the way from v1 to v2:
// the first n/4 indexes run v2, healthy; the next n/10 were just moved and
// are starting; the rest run v1. maxUnavailable and maxSurge are 25%.
func midRollout(n int) LRP {
	obs := make([]Instance, 0, n)
	for i := range n {
		switch {
		case i < n/4:
			obs = append(obs, healthy(int32(i), "v2"))
		case i < n/4+n/10:
			obs = append(obs, claimed(int32(i), "v2"))
		default:
			obs = append(obs, healthy(int32(i), "v1"))
		}
	}
	p := LRPPolicy(&model.Update{MaxUnavailable: model.Percent(25), MaxSurge: model.Percent(0)}, n)
	return LRP{Desired: rev("v2"), Policy: p, Instances: n, Observed: obs, Record: rolling(now.Add(-time.Minute)), Room: n, Now: now}
}

// BenchmarkNext times one rollout step of an LRP mid-rollout, next to the
// baseline of one pass over the observed instances that only counts the
// available ones (the least any decision reads).
func BenchmarkNext(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		in := midRollout(n)
		// The step is right before it is timed: the moves fill the budget.
		want := n/4 - n/10
		if s := Next(in); len(s.Moves) != want || s.Record.Phase != Progressing {
			b.Fatalf("n=%d: %d moves (want %d), phase %s", n, len(s.Moves), want, s.Record.Phase)
		}
		b.Run(fmt.Sprintf("instances=%d", n), func(b *testing.B) { timeCPU(b, func() { Next(in) }) })
		b.Run(fmt.Sprintf("baseline/instances=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				v := newLRPView(&in)
				k := 0
				v.all(func(o *Instance) {
					if v.available(o) {
						k++
					}
				})
				if k == 0 {
					b.Fatal("nothing available")
				}
			}
		})
	}
}

// BenchmarkNextSet times one step of a set's rollout over n cells in three
// partitions, a quarter done, with maxUnavailable 10%, next to a baseline
// that indexes the cells and counts the done ones.
func BenchmarkNextSet(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		part := func(i int) int { // half the cells in the first partition, a quarter in each other
			switch {
			case i < n/2:
				return 0
			case i < 3*n/4:
				return 1
			}
			return 2
		}
		cs := cells(n, "v1", part)
		for i := range n / 4 {
			cs[i].Version = "v2"
		}
		in := Set{Desired: rev("v2"), Policy: SetPolicyOf(&model.SetRollout{MaxUnavailable: model.Percent(10)}, n), Partitions: []string{"a", "b"},
			Cells: cs, Record: rolling(now.Add(-time.Minute)), Now: now}
		if s := NextSet(in); len(s.Moves) != n/10 {
			b.Fatalf("n=%d: %d moves, want %d", n, len(s.Moves), n/10)
		}
		b.Run(fmt.Sprintf("cells=%d", n), func(b *testing.B) { timeCPU(b, func() { NextSet(in) }) })
		b.Run(fmt.Sprintf("baseline/cells=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				v := setView{in: &in, cells: make([]*Cell, len(in.Cells))}
				for i := range in.Cells {
					v.cells[i] = &in.Cells[i]
				}
				k := 0
				for _, c := range v.cells {
					if v.done(c, "v2") {
						k++
					}
				}
				if k == 0 {
					b.Fatal("no cell done")
				}
			}
		})
	}
}

// timeCPU runs f in the benchmark loop and reports its CPU time per op next
// to the wall time, which other sessions' load inflates.
func timeCPU(b *testing.B, f func()) {
	b.ReportAllocs()
	cpu := cputime.Used()
	for b.Loop() {
		f()
	}
	b.ReportMetric(float64(cputime.Used()-cpu)/float64(b.N), "cpu-ns/op")
}
