package rollout

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cellsync/cellsync/model"
)

// bytesIn reads small numbers from fuzz input, zero once it runs out.
type bytesIn []byte

func (b *bytesIn) next(n int) int {
	if len(*b) == 0 || n <= 0 {
		return 0
	}
	v := int((*b)[0]) % n
	*b = (*b)[1:]
	return v
}

var fuzzVersions = []string{"", "v1", "v2", "v3"}

func (b *bytesIn) actual(idx int32) *model.Actual {
	if b.next(4) == 0 {
		return nil
	}
	a := &model.Actual{Index: idx, Version: fuzzVersions[b.next(4)]}
	a.State = []string{model.StateClaimed, model.StateRunning, model.StateCrashed}[b.next(3)]
	a.CrashCount = b.next(3)
	a.LastExit = &model.Exit{Cause: []string{"", model.ExitExited, model.ExitStartFailed, model.ExitHealthCheck}[b.next(4)]}
	if b.next(2) == 1 {
		a.HealthySince = now.Add(-time.Duration(b.next(30)) * time.Second)
	}
	return a
}

func (b *bytesIn) record() Record {
	phases := []Phase{"", Progressing, Succeeded, Failed, Reverting, Reverted}
	r := Record{Phase: phases[b.next(len(phases))], Promoted: b.next(2) == 1, Paused: b.next(2) == 1}
	if r.Phase != "" {
		r.Target = rev(fuzzVersions[1+b.next(3)])
		if v := fuzzVersions[b.next(4)]; v != "" {
			r.Stable = rev(v)
		}
		r.Started = now.Add(-time.Duration(b.next(1200)) * time.Second)
		r.Progress = r.Started
	}
	return r
}

// FuzzNext feeds arbitrary observed states and records to Next: it must
// not panic, must decide alike twice, move only indexes below N or extras
// it keeps, to the target or the stable version, keep no more extras than
// maxSurge or canary allow, and never stop more available instances than
// the budget of maxUnavailable allows.
func FuzzNext(f *testing.F) {
	f.Add([]byte{6, 1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
	f.Add([]byte{3, 0, 1, 2, 1, 2, 1, 1, 2, 1, 0, 1, 3, 1, 1, 2, 0, 2, 1, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		b := bytesIn(data)
		n := b.next(12)
		p := Policy{MaxUnavailable: b.next(n + 2), MaxSurge: b.next(n + 2), Canary: b.next(4), AutoPromote: b.next(2) == 1,
			AutoRevert: b.next(2) == 1, MinHealthy: time.Duration(b.next(20)) * time.Second, ProgressDeadline: time.Duration(1+b.next(900)) * time.Second}
		if p.MaxUnavailable == 0 && p.MaxSurge == 0 {
			p.MaxUnavailable = 1 // as LRPPolicy resolves it
		}
		in := LRP{Desired: rev(fuzzVersions[1+b.next(3)]), Policy: p, Instances: n, Paused: b.next(4) == 0, Room: b.next(4), Record: b.record(), Now: now,
			Assigned: []Revision{rev("v1"), rev("v2")}}
		seen := map[int32]bool{}
		for range b.next(n + 5) {
			idx := int32(b.next(n + 5))
			if seen[idx] {
				continue
			}
			seen[idx] = true
			in.Observed = append(in.Observed, Instance{Index: idx, Version: fuzzVersions[b.next(4)], Actual: b.actual(idx)})
		}
		s := Next(in)
		if s2 := Next(in); !slices.Equal(s.Moves, s2.Moves) || !slices.Equal(s.Extras, s2.Extras) || !s.Record.Equal(s2.Record) {
			t.Fatal("Next is not deterministic")
		}
		// Leftover extras may wait for the budget, but a step that starts
		// one stays within maxSurge (or canary).
		started := slices.ContainsFunc(s.Moves, func(m Move) bool { return int(m.Index) >= n && !seen[m.Index] })
		if started && len(s.Extras) > max(p.MaxSurge, p.Canary) {
			t.Fatalf("%d extras kept, limit %d", len(s.Extras), max(p.MaxSurge, p.Canary))
		}
		v := newLRPView(&in)
		available, lost := 0, 0
		v.all(func(o *Instance) {
			if !v.available(o) {
				return
			}
			available++
			moved := slices.ContainsFunc(s.Moves, func(m Move) bool { return m.Index == o.Index && m.Version != o.Version })
			dropped := int(o.Index) >= n && !slices.Contains(s.Extras, o.Index)
			if moved || dropped {
				lost++
			}
		})
		// Extras over their limit (after a policy change) and a finished
		// rollout's extras go whatever the budget; neither leaves fewer
		// than N-maxUnavailable available when all N were.
		if lost > 0 && available-lost < n-p.MaxUnavailable && s.Record.Phase != Succeeded && s.Record.Phase != Reverted {
			t.Fatalf("stops %d of %d available instances; budget allows %d", lost, available, available-(n-p.MaxUnavailable))
		}
		for _, m := range s.Moves {
			if int(m.Index) >= n && !slices.Contains(s.Extras, m.Index) {
				t.Fatalf("moves index %d, neither below %d nor a kept extra", m.Index, n)
			}
			if m.Version != s.Record.Target.Version && m.Version != s.Record.Stable.Version {
				t.Fatalf("moves index %d to %q, neither target %q nor stable %q", m.Index, m.Version, s.Record.Target.Version, s.Record.Stable.Version)
			}
		}
		if s.Record.Target.Version != in.Desired.Version {
			t.Fatalf("target %q, desired %q", s.Record.Target.Version, in.Desired.Version)
		}
	})
}

// FuzzNextSet does the same for sets: deterministic, moves only matching
// cells to the target or stable version, and never more cells changing
// than maxUnavailable allows.
func FuzzNextSet(f *testing.F) {
	f.Add([]byte{6, 2, 1, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
	f.Fuzz(func(t *testing.T, data []byte) {
		b := bytesIn(data)
		n := b.next(20)
		p := SetPolicy{MaxUnavailable: 1 + b.next(n+1), MinHealthy: time.Duration(b.next(20)) * time.Second, ProgressDeadline: time.Duration(1+b.next(900)) * time.Second, AutoRevert: b.next(2) == 1}
		in := Set{Desired: rev(fuzzVersions[1+b.next(3)]), Policy: p, Partitions: []string{"a", "b"}, Paused: b.next(4) == 0, Record: b.record(), Now: now,
			Assigned: []Revision{rev("v1"), rev("v2")}}
		for i := range n {
			c := Cell{Name: fmt.Sprintf("c%d", i), Partition: b.next(3), Version: fuzzVersions[b.next(4)], Applied: b.next(2) == 1}
			if b.next(2) == 1 {
				c.HealthySince = now.Add(-time.Duration(b.next(30)) * time.Second)
			}
			if b.next(5) == 0 {
				c.Crashed = b.actual(0)
			}
			in.Cells = append(in.Cells, c)
		}
		s := NextSet(in)
		if s2 := NextSet(in); !slices.Equal(s.Moves, s2.Moves) || !s.Record.Equal(s2.Record) {
			t.Fatal("NextSet is not deterministic")
		}
		v := setView{in: &in}
		goal := s.Record.goal()
		changing := 0
		for _, c := range in.Cells {
			if c.Version == goal && !v.done(&c, goal) {
				changing++
			}
		}
		moved := 0
		for _, m := range s.Moves {
			if !slices.ContainsFunc(in.Cells, func(c Cell) bool { return c.Name == m.Cell }) {
				t.Fatalf("moves %s, which the set does not match", m.Cell)
			}
			if m.Version != s.Record.Target.Version && m.Version != s.Record.Stable.Version {
				t.Fatalf("moves %s to %q", m.Cell, m.Version)
			}
			if m.Version == goal {
				moved++
			}
		}
		if moved > 0 && changing+moved > p.MaxUnavailable {
			t.Fatalf("%d cells changing and %d moved, budget %d", changing, moved, p.MaxUnavailable)
		}
	})
}
