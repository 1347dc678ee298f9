package rollout

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cellsync/cellsync/model"
)

// doneCell is a cell that runs v, applied and healthy long before now.
func doneCell(name string, partition int, v string) Cell {
	return Cell{Name: name, Partition: partition, Version: v, Applied: true, HealthySince: t0}
}

// cells returns n cells c00, c01... done at v; part gives each its
// partition.
func cells(n int, v string, part func(i int) int, over ...Cell) []Cell {
	out := make([]Cell, 0, n)
	for i := range n {
		p := 0
		if part != nil {
			p = part(i)
		}
		out = append(out, doneCell(fmt.Sprintf("c%02d", i), p, v))
	}
	for _, o := range over {
		i := slices.IndexFunc(out, func(c Cell) bool { return c.Name == o.Name })
		if i < 0 {
			out = append(out, o)
		} else {
			out[i] = o
		}
	}
	return out
}

func setPolicy(maxUnavailable int, mod ...func(*SetPolicy)) SetPolicy {
	p := SetPolicy{MaxUnavailable: maxUnavailable, MinHealthy: 10 * time.Second, ProgressDeadline: 10 * time.Minute}
	for _, m := range mod {
		m(&p)
	}
	return p
}

func cellMoves(spec string) []CellMove {
	if spec == "" {
		return nil
	}
	var out []CellMove
	for _, m := range strings.Split(spec, " ") {
		c, v, _ := strings.Cut(m, "→")
		out = append(out, CellMove{Cell: c, Version: v})
	}
	return out
}

func TestNextSet(t *testing.T) {
	ring := func(i int) int { // c00 in partition 0, c01-c02 in 1, the rest last
		switch {
		case i == 0:
			return 0
		case i < 3:
			return 1
		}
		return 2
	}
	changing := func(name string, part int, v string) Cell { return Cell{Name: name, Partition: part, Version: v} }
	tests := []struct {
		name    string
		in      Set
		moves   string
		phase   Phase
		reason  Reason
		stable  string
		waiting string
	}{
		{
			name:  "a first rollout goes through the budget too",
			in:    Set{Desired: rev("v1"), Policy: setPolicy(2), Cells: []Cell{{Name: "a"}, {Name: "b"}, {Name: "c"}}, Now: now},
			moves: "a→v1 b→v1", phase: Progressing,
		},
		{
			name:  "a first step takes what runs healthy everywhere as stable",
			in:    Set{Desired: rev("v1"), Policy: setPolicy(2), Cells: cells(3, "v1", nil), Assigned: []Revision{rev("v1")}, Now: now},
			phase: Succeeded, stable: "v1",
		},
		{
			name:  "new version: maxUnavailable cells at once, in partition and name order",
			in:    Set{Desired: rev("v2"), Policy: setPolicy(3), Cells: cells(6, "v1", nil), Record: succeeded("v1"), Now: now},
			moves: "c00→v2 c01→v2 c02→v2", phase: Progressing, stable: "v1", waiting: "3 cells changing",
		},
		{
			name:  "the first partition rolls alone",
			in:    Set{Desired: rev("v2"), Policy: setPolicy(3), Partitions: []string{"canary", "early"}, Cells: cells(6, "v1", ring), Record: succeeded("v1"), Now: now},
			moves: "c00→v2", phase: Progressing, stable: "v1", waiting: "partition canary: 1 cells changing",
		},
		{
			name:  "a partition waits until every cell of the one before is done",
			in:    Set{Desired: rev("v2"), Policy: setPolicy(3), Partitions: []string{"canary", "early"}, Cells: cells(6, "v1", ring, Cell{Name: "c00", Version: "v2", Applied: true}), Record: rolling(now), Now: now},
			phase: Progressing, stable: "v1", waiting: "partition canary: 1 cells changing",
		},
		{
			name:  "applied but healthy for less than the minimum is not done",
			in:    Set{Desired: rev("v2"), Policy: setPolicy(3), Partitions: []string{"canary", "early"}, Cells: cells(6, "v1", ring, Cell{Name: "c00", Version: "v2", Applied: true, HealthySince: now.Add(-5 * time.Second)}), Record: rolling(now), Now: now},
			phase: Progressing, stable: "v1",
		},
		{
			name:  "once the first partition is done, the next one rolls",
			in:    Set{Desired: rev("v2"), Policy: setPolicy(3), Partitions: []string{"canary", "early"}, Cells: cells(6, "v1", ring, doneCell("c00", 0, "v2")), Record: rolling(now), Now: now},
			moves: "c01→v2 c02→v2", phase: Progressing, stable: "v1",
		},
		{
			name:  "the budget counts the cells still changing",
			in:    Set{Desired: rev("v2"), Policy: setPolicy(3), Cells: cells(6, "v1", nil, changing("c00", 0, "v2"), changing("c01", 0, "v2")), Record: rolling(now), Now: now},
			moves: "c02→v2", phase: Progressing, stable: "v1",
		},
		{
			name:  "every cell done: the target becomes stable",
			in:    Set{Desired: rev("v2"), Policy: setPolicy(3), Cells: cells(6, "v2", nil), Record: rolling(t0), Now: now},
			phase: Succeeded, stable: "v2",
		},
		{
			name: "a crash on a changed cell fails the rollout; nothing more moves",
			in: Set{Desired: rev("v2"), Policy: setPolicy(3), Cells: cells(6, "v1", nil, Cell{Name: "c00", Version: "v2", Applied: true,
				Crashed: &model.Actual{Name: "agent", Index: 0, Version: "v2", State: model.StateCrashed, LastExit: &model.Exit{Cause: model.ExitExited, Message: "exited with status 2"}}}), Record: rolling(now), Now: now},
			phase: Failed, reason: ReasonCrashed, stable: "v1",
		},
		{
			name: "a failing partition with autoRevert goes back to the stable version",
			in: Set{Desired: rev("v2"), Policy: setPolicy(3, func(p *SetPolicy) { p.AutoRevert = true }), Partitions: []string{"canary"}, Cells: cells(6, "v1", ring,
				Cell{Name: "c00", Version: "v2", Applied: true, Crashed: &model.Actual{Version: "v2", State: model.StateCrashed, LastExit: &model.Exit{Cause: model.ExitHealthCheck}}}), Record: rolling(now), Now: now},
			moves: "c00→v1", phase: Reverting, reason: ReasonHealthCheck, stable: "v1",
		},
		{
			name:  "no cell done within the deadline fails the rollout",
			in:    Set{Desired: rev("v2"), Policy: setPolicy(3), Cells: cells(6, "v1", nil, changing("c00", 0, "v2")), Record: rolling(now.Add(-11 * time.Minute)), Now: now},
			phase: Failed, reason: ReasonDeadline, stable: "v1",
		},
		{
			name:  "paused: nothing moves",
			in:    Set{Desired: rev("v2"), Policy: setPolicy(3), Paused: true, Cells: cells(6, "v1", nil), Record: rolling(t0), Now: now},
			phase: Progressing, stable: "v1", waiting: "paused: remove the cellsync.io/paused annotation to resume",
		},
		{
			name:  "a newly matching cell gets the stable version at once during a rollout",
			in:    Set{Desired: rev("v2"), Policy: setPolicy(1), Cells: cells(3, "v1", nil, changing("c00", 0, "v2"), Cell{Name: "new"}), Record: rolling(now), Now: now},
			moves: "new→v1", phase: Progressing, stable: "v1",
		},
		{
			name:  "a newly matching cell after a success goes through the budget",
			in:    Set{Desired: rev("v1"), Policy: setPolicy(1), Cells: cells(3, "v1", nil, Cell{Name: "new1"}, Cell{Name: "new2"}), Record: succeeded("v1"), Now: now},
			moves: "new1→v1", phase: Succeeded, stable: "v1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NextSet(tt.in)
			if got, want := s.Moves, cellMoves(tt.moves); !slices.Equal(got, want) {
				t.Errorf("moves = %v, want %v", got, want)
			}
			if s.Record.Phase != tt.phase || s.Status.Phase != tt.phase {
				t.Errorf("phase = %s, want %s", s.Record.Phase, tt.phase)
			}
			if s.Record.Reason != tt.reason {
				t.Errorf("reason = %q (%s), want %q", s.Record.Reason, s.Record.Message, tt.reason)
			}
			if s.Record.Stable.Version != tt.stable {
				t.Errorf("stable = %q, want %q", s.Record.Stable.Version, tt.stable)
			}
			if tt.waiting != "" && s.Status.Waiting != tt.waiting {
				t.Errorf("waiting = %q, want %q", s.Status.Waiting, tt.waiting)
			}
			again := tt.in
			b, _ := json.Marshal(tt.in.Record)
			if err := json.Unmarshal(b, &again.Record); err != nil {
				t.Fatal(err)
			}
			if s2 := NextSet(again); !slices.Equal(s2.Moves, s.Moves) || !s2.Record.Equal(s.Record) {
				t.Errorf("a restarted hub decides differently: %+v, then %+v", s, s2)
			}
		})
	}
}

// setWorld plays the hub and the cells around NextSet.
type setWorld struct {
	t        testing.TB
	policy   SetPolicy
	parts    []string
	now      time.Time
	cells    map[string]*Cell
	changed  map[string]time.Time // when the hub last wrote the cell
	bad      map[string]bool      // cells on which the new version crashes
	record   Record
	desired  Revision
	maxMid   int
	writes   map[string]int
	restarts bool
}

func (w *setWorld) step() SetStep {
	w.t.Helper()
	in := Set{Desired: w.desired, Policy: w.policy, Partitions: w.parts, Record: w.record, Now: w.now}
	for _, c := range w.cells {
		in.Cells = append(in.Cells, *c)
	}
	rand.Shuffle(len(in.Cells), func(i, j int) { in.Cells[i], in.Cells[j] = in.Cells[j], in.Cells[i] })
	s := NextSet(in)
	if w.restarts {
		b, _ := json.Marshal(w.record)
		if err := json.Unmarshal(b, &in.Record); err != nil {
			w.t.Fatal(err)
		}
		if s2 := NextSet(in); !slices.Equal(s.Moves, s2.Moves) || !s.Record.Equal(s2.Record) {
			w.t.Fatalf("a restarted hub decides differently")
		}
	}
	for _, m := range s.Moves {
		c := w.cells[m.Cell]
		c.Version, c.Applied, c.HealthySince, c.Crashed = m.Version, false, time.Time{}, nil
		w.changed[m.Cell] = w.now
		w.writes[m.Cell]++
	}
	goal := s.Record.goal()
	mid := 0
	for _, c := range w.cells {
		if goal != "" && c.Version == goal && !(c.Applied && !c.HealthySince.IsZero() && w.now.Sub(c.HealthySince) >= w.policy.MinHealthy) {
			mid++
		}
	}
	if mid > w.policy.MaxUnavailable && s.Record.Phase != Failed {
		w.t.Fatalf("%d cells mid-change, more than %d", mid, w.policy.MaxUnavailable)
	}
	w.maxMid = max(w.maxMid, mid)
	w.record = s.Record
	return s
}

// tick: a written cell applies after 1 s and turns healthy (or crashes,
// at the new version on a bad cell) at once.
func (w *setWorld) tick() {
	w.now = w.now.Add(time.Second)
	for name, c := range w.cells {
		if c.Applied || w.now.Sub(w.changed[name]) < time.Second {
			continue
		}
		c.Applied = true
		if w.bad[name] && c.Version == "v2" {
			c.Crashed = &model.Actual{Name: "agent", Version: "v2", State: model.StateCrashed, LastExit: &model.Exit{Cause: model.ExitExited, Message: "exited with status 1"}}
		} else {
			c.HealthySince = w.now
		}
	}
}

func newSetWorld(t testing.TB, n int, policy SetPolicy, part func(name string, i int) int) *setWorld {
	w := &setWorld{t: t, policy: policy, now: t0, cells: map[string]*Cell{}, changed: map[string]time.Time{}, bad: map[string]bool{}, writes: map[string]int{},
		record: succeeded("v1"), desired: rev("v2"), restarts: true}
	for i := range n {
		name := fmt.Sprintf("cell%03d", i)
		c := doneCell(name, part(name, i), "v1")
		w.cells[name] = &c
	}
	return w
}

func (w *setWorld) run(limit int) SetStep {
	w.t.Helper()
	for range limit {
		s := w.step()
		if p := s.Record.Phase; (p == Succeeded || p == Failed || p == Reverted) && len(s.Moves) == 0 {
			return s
		}
		w.tick()
	}
	w.t.Fatalf("no final phase after %d steps", limit)
	return SetStep{}
}

// TestSetRolloutOverHundredCells: a set with rollout: {maxUnavailable:
// 10%} over 100 cells never has more than 10 cells mid-change, rolls its
// partitions in order, and stops at a failing partition.
func TestSetRolloutOverHundredCells(t *testing.T) {
	policy := SetPolicyOf(&model.SetRollout{MaxUnavailable: model.Percent(10)}, 100)
	policy.MinHealthy = 2 * time.Second
	if policy.MaxUnavailable != 10 {
		t.Fatalf("10%% of 100 cells = %d", policy.MaxUnavailable)
	}
	ring := func(name string, i int) int {
		switch {
		case i < 5:
			return 0 // canary
		case i < 40:
			return 1 // early
		}
		return 2
	}
	t.Run("good version", func(t *testing.T) {
		w := newSetWorld(t, 100, policy, ring)
		w.parts = []string{"canary", "early"}
		// A cell of a partition changes only once every cell of the
		// partitions before it is done.
		doneBefore := func(part int) bool {
			for _, c := range w.cells {
				if c.Partition < part && !(c.Version == "v2" && c.Applied && !c.HealthySince.IsZero() && w.now.Sub(c.HealthySince) >= policy.MinHealthy) {
					return false
				}
			}
			return true
		}
		changed := 0
		for range 1000 {
			ready := map[int]bool{0: doneBefore(0), 1: doneBefore(1), 2: doneBefore(2)}
			s := w.step()
			for _, m := range s.Moves {
				if !ready[w.cells[m.Cell].Partition] {
					t.Fatalf("%s (partition %d) changed before the partitions ahead were done", m.Cell, w.cells[m.Cell].Partition)
				}
				changed++
			}
			if s.Record.Phase == Succeeded {
				break
			}
			w.tick()
		}
		if w.record.Phase != Succeeded || changed != 100 {
			t.Fatalf("phase %s, %d cells changed", w.record.Phase, changed)
		}
		if w.maxMid != 10 {
			t.Errorf("at most %d cells were mid-change, want the budget of 10 used", w.maxMid)
		}
	})
	t.Run("a failing partition stops the rollout", func(t *testing.T) {
		w := newSetWorld(t, 100, policy, ring)
		w.parts = []string{"canary", "early"}
		w.bad["cell007"] = true // in partition early
		s := w.run(1000)
		if s.Record.Phase != Failed || s.Record.Reason != ReasonCrashed || !strings.Contains(s.Record.Message, "cell007") {
			t.Fatalf("record = %+v", s.Record)
		}
		for name, c := range w.cells {
			if c.Partition == 2 && c.Version != "v1" {
				t.Fatalf("%s of the last partition changed after the failure", name)
			}
		}
	})
	t.Run("a failing partition with autoRevert: every cell back on the stable version", func(t *testing.T) {
		p := policy
		p.AutoRevert = true
		w := newSetWorld(t, 100, p, ring)
		w.parts = []string{"canary", "early"}
		w.bad["cell007"] = true
		s := w.run(1000)
		if s.Record.Phase != Reverted {
			t.Fatalf("record = %+v", s.Record)
		}
		for name, c := range w.cells {
			if c.Version != "v1" {
				t.Fatalf("%s runs %s after the revert", name, c.Version)
			}
			if w.writes[name] > 2 {
				t.Fatalf("%s written %d times", name, w.writes[name])
			}
		}
	})
}

func TestSetPolicyOf(t *testing.T) {
	tests := []struct {
		r    model.SetRollout
		n    int
		want int
	}{
		{model.SetRollout{}, 100, 25},
		{model.SetRollout{}, 3, 1},
		{model.SetRollout{MaxUnavailable: model.Percent(10)}, 1000, 100},
		{model.SetRollout{MaxUnavailable: model.Percent(10)}, 5, 1},
		{model.SetRollout{MaxUnavailable: model.Count(7)}, 5, 7},
	}
	for _, tt := range tests {
		if got := SetPolicyOf(&tt.r, tt.n).MaxUnavailable; got != tt.want {
			t.Errorf("maxUnavailable %v of %d cells = %d, want %d", tt.r.MaxUnavailable, tt.n, got, tt.want)
		}
	}
}
