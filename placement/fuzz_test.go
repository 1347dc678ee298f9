package placement

import (
	"fmt"
	"slices"
	"testing"

	"github.com/cellsync/cellsync/model"
)

// fuzzReader hands out small numbers from the fuzz input, zeros once it
// runs out.
type fuzzReader struct{ data []byte }

func (r *fuzzReader) n(limit int) int {
	if len(r.data) == 0 {
		return 0
	}
	v := int(r.data[0]) % limit
	r.data = r.data[1:]
	return v
}

// fuzzInput builds a small cluster and workload from data: up to 8 cells in
// up to 3 zones, some evacuating, up to 4 LRPs with random matching subsets
// and some existing instances, up to 3 pending tasks.
func fuzzInput(r *fuzzReader) Input {
	var in Input
	nc := 1 + r.n(8)
	nz := 1 + r.n(3)
	var names []string
	for i := range nc {
		c := model.Cell{
			Name: fmt.Sprintf("c%d", i), Zone: fmt.Sprintf("z%d", r.n(nz)),
			Capacity: model.Capacity{MemoryMB: int64(256 * (1 + r.n(8))), DiskMB: int64(256 * (1 + r.n(8))), Containers: 1 + r.n(6)},
		}
		if r.n(6) == 0 {
			c.State = model.CellEvacuating
		}
		names = append(names, c.Name)
		in.Cells = append(in.Cells, c)
	}
	subset := func() []string {
		var out []string
		for _, n := range names {
			if r.n(4) != 0 {
				out = append(out, n)
			}
		}
		return out
	}
	for i := range 1 + r.n(4) {
		l := LRP{
			Name: fmt.Sprintf("l%d", i), Instances: r.n(7),
			Resources: model.Resources{MemoryMB: int64(64 * (1 + r.n(8))), DiskMB: int64(64 * (1 + r.n(8)))},
			Cells:     subset(),
		}
		if r.n(3) == 0 {
			l.Spread = model.SpreadNone
		}
		in.LRPs = append(in.LRPs, l)
		for idx := range r.n(5) {
			in.Instances = append(in.Instances, Instance{LRP: l.Name, Index: idx, Cell: names[r.n(nc)], Resources: l.Resources})
		}
	}
	for i := range r.n(4) {
		in.Pending = append(in.Pending, Task{Name: fmt.Sprintf("t%d", i),
			Resources: model.Resources{MemoryMB: int64(64 * (1 + r.n(8))), DiskMB: 64}, Cells: subset()})
	}
	return in
}

// FuzzPlace checks, on random small inputs and random follow-up calls, that
// the heap placer agrees with the naive reference, that the bookkeeping
// stays exact, that no cell is over-committed by a plan, and that every
// desired index is either placed on a ready matching cell or reported.
func FuzzPlace(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{7, 2, 1, 1, 1, 3, 0, 5, 2, 2, 4, 1, 3, 3, 3, 3, 3, 6, 1, 1, 1, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Add([]byte{3, 0, 0, 0, 0, 0, 1, 1, 0, 0, 6, 7, 7, 1, 1, 1, 1, 2, 2, 2, 2, 9, 9, 9})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &fuzzReader{data: data}
		in := fuzzInput(r)
		// Existing placements may already over-commit a cell; keep only
		// inputs where they do not, so the capacity check is meaningful.
		fast, plan, err := Load(in)
		if err != nil {
			return // random existing instances may collide on an index
		}
		slow, naivePlan, err := loadImpl(in, naive)
		if err != nil {
			t.Fatalf("naive Load failed where heap Load did not: %v", err)
		}
		if plan.String() != naivePlan.String() {
			t.Fatalf("heap and naive disagree:\n%s---\n%s", plan.String(), naivePlan.String())
		}
		// Short walks make the fast path give up often: the fallback must
		// reach the same plan.
		limit := 1 + r.n(3)
		_, shortPlan, err := loadImpl(in, func(s *State) { s.walkLimit = limit })
		if err != nil || shortPlan.String() != plan.String() {
			t.Fatalf("walk limit %d: err %v, plan:\n%s---\n%s", limit, err, shortPlan.String(), plan.String())
		}
		if overCommitted(fast) {
			return
		}
		checkState(t, fast)
		checkDesired(t, fast, in.LRPs, plan)
		checkFixedPoint(t, fast)
		for range r.n(6) {
			var p, q Plan
			switch r.n(5) {
			case 0:
				name := fmt.Sprintf("c%d", r.n(len(in.Cells)))
				p, q = fast.RemoveCell(name), slow.RemoveCell(name)
			case 1:
				i := r.n(len(in.LRPs))
				in.LRPs[i].Instances = r.n(7)
				p, err = fast.Place(in.LRPs[i])
				if err != nil {
					t.Fatal(err)
				}
				q, _ = slow.Place(in.LRPs[i])
			case 2:
				c := in.Cells[r.n(len(in.Cells))]
				c.State = model.CellEvacuating
				p, _ = fast.AddCell(c)
				q, _ = slow.AddCell(c)
			case 4:
				p, q = fast.Retry(), slow.Retry()
			case 3:
				// A cell (re-)registers, maybe in another zone; the LRPs' match lists are unchanged
				// and must pick it up on their next Place.
				c := in.Cells[r.n(len(in.Cells))]
				c.State = model.CellReady
				if _, ok := fast.byName[c.Name]; ok {
					c.Zone = fmt.Sprintf("z%d", r.n(3))
				}
				if _, err := fast.AddCell(c); err != nil {
					t.Fatal(err)
				}
				_, _ = slow.AddCell(c)
			}
			if p.String() != q.String() {
				t.Fatalf("heap and naive disagree:\n%s---\n%s", p.String(), q.String())
			}
			checkState(t, fast)
			checkFixedPoint(t, fast)
		}
	})
}

// checkFixedPoint requires Compute on the State's snapshot to add and remove
// nothing: what is placed stays placed. Compute places whatever fits, so a
// copy of the State first retries what it left unplaced.
func checkFixedPoint(t *testing.T, s *State) {
	t.Helper()
	c := s.Clone()
	c.Retry()
	p, err := Compute(c.Snapshot())
	if err != nil {
		t.Fatalf("Compute(snapshot): %v", err)
	}
	if len(p.Add) > 0 || len(p.Remove) > 0 || len(p.Tasks) > 0 || len(p.LostTasks) > 0 {
		t.Fatalf("snapshot is not a fixed point:\n%s", p.String())
	}
}

func overCommitted(s *State) bool {
	for _, c := range s.cells {
		if c.usedMem > c.capMem || c.usedDisk > c.capDisk || c.usedSlots > c.capSlots {
			return true
		}
	}
	return false
}

// checkDesired requires every index of every LRP to be placed on a matching
// cell or reported unplaced, exactly once.
func checkDesired(t *testing.T, s *State, lrps []LRP, plan Plan) {
	t.Helper()
	unplaced := map[string]bool{}
	for _, u := range plan.Unplaced {
		unplaced[fmt.Sprintf("%s/%d", u.Name, u.Index)] = true
	}
	for _, l := range lrps {
		where := s.Where(l.Name)
		if len(where) != l.Instances {
			t.Fatalf("%s: %d indexes tracked, want %d", l.Name, len(where), l.Instances)
		}
		for i, c := range where {
			key := fmt.Sprintf("%s/%d", l.Name, i)
			switch {
			case c == "" && !unplaced[key]:
				t.Fatalf("%s neither placed nor reported", key)
			case c != "" && unplaced[key]:
				t.Fatalf("%s placed on %s and reported unplaced", key, c)
			case c != "" && !slices.Contains(l.Cells, c):
				t.Fatalf("%s on %s, which does not match", key, c)
			}
		}
	}
}
