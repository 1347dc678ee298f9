package hub

import (
	"context"
	"fmt"
	"time"

	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/placement"
	"github.com/cellsync/cellsync/selectors"
)

// spread is where one source's intents are: the cells that hold one, and
// the LRP instances placed on them.
type spread struct {
	cells  map[string]struct{}
	placed int
}

// fanoutWorkload recomputes one workload's per-cell intents; for a Task not
// yet placed it first creates the task record.
func (t *term) fanoutWorkload(ctx context.Context, id string) error {
	t.mu.Lock()
	w, create, err := t.fanoutLocked(id)
	t.mu.Unlock()
	if err != nil || create == nil {
		return err
	}
	return t.createTask(ctx, w, create)
}

// fanoutLocked recomputes one workload's intents. For a Task not yet placed
// it returns the record to create first. Callers hold t.mu.
func (t *term) fanoutLocked(id string) (*workload, *model.TaskRecord, error) {
	w := t.model().workloads[id]
	want := map[string][]model.Item{}
	switch {
	case w == nil:
		if name, isLRP := cutKind(id, model.KindLRP); isLRP {
			t.sched.RemoveLRP(name)
			t.enqueuePlan(t.sched.Retry()) // freed capacity may fit others
		}
		delete(t.unplaced, id)
	case w.kind == model.KindTask:
		create, err := t.placeTask(w)
		return w, create, err
	case w.kind == model.KindSelectorSyncSet:
		for _, cell := range t.index.Matches(id) {
			want[cell] = w.items
		}
	case w.kind == model.KindLRP:
		if err := t.placeLRP(w, want); err != nil {
			return w, nil, err
		}
	case w.kind == model.KindConfig:
		return w, nil, nil // delivered with the workloads that mount it
	}
	t.setIntents(id, want)
	return w, nil, nil
}

// placeLRP places an LRP's instances and fills want with the item of each
// cell that runs some.
func (t *term) placeLRP(w *workload, want map[string][]model.Item) error {
	start := time.Now()
	plan, err := t.sched.Place(placement.LRP{Name: w.name, Instances: w.instances, Resources: w.needs, Spread: w.spread, Cells: t.index.Matches(w.id)})
	if m := t.h.deps.Metrics; m != nil {
		m.PlacementDuration.Observe(time.Since(start).Seconds())
	}
	if err != nil {
		return fmt.Errorf("place %s: %w", w.id, err)
	}
	t.setUnplaced(w.id, plan.Unplaced)
	if len(plan.Remove) > 0 {
		t.enqueuePlan(t.sched.Retry()) // a scale-down may fit others
	}
	byCell := map[string][]int32{}
	for idx, cell := range t.sched.Where(w.name) {
		if cell != "" {
			byCell[cell] = append(byCell[cell], int32(idx))
		}
	}
	for cell, idx := range byCell {
		want[cell] = []model.Item{{Kind: model.KindLRP, Name: w.name, Spec: w.items[0].Spec, Indexes: idx}}
	}
	return nil
}

// setIntents replaces one source's intents and queues the cells that
// changed. Callers hold t.mu.
func (t *term) setIntents(id string, want map[string][]model.Item) {
	sp := t.spread[id]
	if sp == nil {
		if len(want) == 0 {
			return
		}
		sp = &spread{cells: map[string]struct{}{}}
		t.spread[id] = sp
	}
	for cell := range sp.cells {
		if _, ok := want[cell]; !ok {
			if c := t.cells[cell]; c != nil && c.setIntent(id, nil) {
				t.apply.Add(cell)
			}
			delete(sp.cells, cell)
		}
	}
	sp.placed = 0
	for cell, items := range want {
		for _, it := range items {
			sp.placed += len(it.Indexes)
		}
		sp.cells[cell] = struct{}{}
		if t.cellFor(cell).setIntent(id, items) {
			t.apply.Add(cell)
		}
	}
	if len(sp.cells) == 0 {
		delete(t.spread, id)
	}
}

// holders returns the cells that hold an intent of source id.
func (t *term) holders(id string) map[string]struct{} {
	if sp := t.spread[id]; sp != nil {
		return sp.cells
	}
	return nil
}

// cellFor returns the cell's record, creating it. Callers hold t.mu.
func (t *term) cellFor(name string) *cellState {
	c := t.cells[name]
	if c == nil {
		c = newCellState(name, t.tally)
		t.cells[name] = c
	}
	return c
}

// evaluate runs one selector-index update and records how long it took.
func (t *term) evaluate(update func() []selectors.Change) []selectors.Change {
	start := time.Now()
	changes := update()
	if m := t.h.deps.Metrics; m != nil {
		m.SelectorDuration.Observe(time.Since(start).Seconds())
	}
	return changes
}

// enqueueChanges fans out every workload whose match set changed.
func (t *term) enqueueChanges(changes []selectors.Change) {
	for _, ch := range changes {
		t.fanout.Add(ch.Selector)
	}
}

// enqueuePlan fans out the LRPs a placement plan touched and fails its lost
// tasks.
func (t *term) enqueuePlan(p placement.Plan) {
	for _, a := range p.Add {
		t.fanout.Add(workloadID(model.KindLRP, a.LRP))
	}
	for _, r := range p.Remove {
		t.fanout.Add(workloadID(model.KindLRP, r.LRP))
	}
	for _, lt := range p.LostTasks {
		t.lostTasks.Add(lt.Task)
	}
}
