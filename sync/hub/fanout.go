package hub

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/placement"
	"github.com/cellsync/cellsync/selectors"
	"github.com/cellsync/cellsync/store"
)

type selectorChange = selectors.Change

// setDesired compiles a desired model, writes the bodies etcd lacks, and
// queues every workload that is new, changed or gone. A workload whose
// selector does not compile keeps its previous version.
func (h *Hub) setDesired(ctx context.Context, t *term, d *Desired) error {
	h.mu.Lock()
	topConfigs := map[string]bool{}
	for _, o := range d.Objects {
		if o.Head().Kind == model.KindConfig {
			topConfigs[o.Head().Metadata.Name] = true
		}
	}
	compile := func(expr string) (*selectors.Selector, error) {
		if s, ok := t.compiled[expr]; ok {
			return s, nil
		}
		s, err := h.deps.Env.Compile(expr)
		if err == nil {
			t.compiled[expr] = s
		}
		return s, err
	}
	next := make(map[string]*workload, len(d.Objects))
	errs := map[string]error{}
	for _, o := range d.Objects {
		w, err := compileWorkload(o, d.Commit, compile, topConfigs)
		id := workloadID(o.Head().Kind, o.Head().Metadata.Name)
		if err != nil {
			errs[id] = err
			if prev, ok := t.workloads[id]; ok {
				next[id] = prev // keep the last good version
			}
			continue
		}
		if prev, ok := t.workloads[id]; ok && prev.fingerprint == w.fingerprint {
			next[id] = prev
			continue
		}
		if prev, ok := t.workloads[id]; ok {
			// An edit that no cell could run would stop what runs now: keep
			// the running version, as for any other bad change.
			if err := unplaceable(w, t.cells); err != nil {
				errs[id] = err
				next[id] = prev
				continue
			}
		}
		next[id] = w
	}
	// Identical resources in several workloads share one body: write each
	// body once (etcd rejects a transaction naming a key twice).
	var missing []store.Op
	bodies := map[string][]byte{}
	for _, id := range slices.Sorted(maps.Keys(next)) {
		for hash, body := range next[id].bodies {
			if _, dup := bodies[hash]; dup {
				continue
			}
			bodies[hash] = body
			if !t.specsStored[hash] {
				missing = append(missing, store.Op{Key: store.SpecKey(hash), Value: body})
			}
		}
	}
	h.mu.Unlock()

	// Bodies go first: a cell must find every body its assignments name.
	if len(missing) > 0 {
		if _, err := h.deps.Store.Write(ctx, missing); err != nil {
			return fmt.Errorf("write %d bodies: %w", len(missing), err)
		}
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	for _, op := range missing {
		t.specsStored[op.Key[len(store.SpecsPrefix):]] = true
	}
	prev := t.workloads
	prevCommit, prevErrs := t.commit, errorStrings(t)
	t.workloads, t.commit, t.errors, t.workloadErrors = next, d.Commit, d.Errors, errs
	first := !t.haveDesired
	h.desiredEvents(t, prevCommit, prevErrs, d, next, first)
	for hash, body := range t.bodies {
		if _, ok := bodies[hash]; !ok && t.applyIntents[hash] == nil {
			bodies[hash] = body // a merged body still in use
		}
	}
	t.bodies = bodies
	t.shared = sharedObjects(next)
	for id, w := range next {
		if old, ok := prev[id]; ok && old == w {
			continue
		}
		if w.selector != nil {
			h.enqueueChanges(t, h.evaluate(func() []selectorChange { return t.index.SetSelector(id, w.selector) }))
		}
		t.fanout.Add(id)
		if w.kind == model.KindConfig {
			// Cells that hold this Config need its new body.
			for cell, srcs := range t.stored {
				if _, ok := srcs[id]; ok {
					t.apply.Add(cell)
				}
			}
		}
	}
	for id, w := range prev {
		if _, ok := next[id]; !ok {
			if w.selector != nil {
				t.index.RemoveSelector(id)
			}
			t.fanout.Add(id)
		}
	}
	if first {
		// Every intent must exist before the first apply, or the apply
		// would prune what a restarted hub simply has not recomputed yet.
		// Fan out inline; only new Tasks (a record write) wait in the queue.
		for _, id := range slices.Sorted(maps.Keys(next)) {
			if w := next[id]; w.kind == model.KindTask {
				if _, placed := t.tasks[w.name]; !placed {
					continue // queued above; placing it writes a record
				}
			}
			if _, _, err := h.fanoutLocked(t, id); err != nil {
				h.log.Warn("fan out", "workload", id, "err", err)
			}
		}
		t.haveDesired = true
		for cell := range t.stored {
			t.apply.Add(cell)
		}
	}
	h.log.Info("desired model", "commit", d.Commit, "workloads", len(next), "bodies written", len(missing), "errors", len(d.Errors)+len(errs))
	return nil
}

// fanoutWorkload recomputes one workload's per-cell intents.
func (h *Hub) fanoutWorkload(ctx context.Context, t *term, id string) error {
	h.mu.Lock()
	w, create, err := h.fanoutLocked(t, id)
	h.mu.Unlock()
	if err != nil || create == nil {
		return err
	}
	return h.createTask(ctx, t, w, create)
}

// fanoutLocked recomputes one workload's intents. For a Task not yet
// placed it returns the record to create first. Callers hold h.mu.
func (h *Hub) fanoutLocked(t *term, id string) (*workload, *model.TaskRecord, error) {
	w := t.workloads[id]
	if w != nil && w.kind == model.KindTask {
		create, err := h.placeTask(t, w)
		return w, create, err
	}
	want := map[string][]model.Item{}
	switch {
	case w == nil:
		if name, isLRP := cutKind(id, model.KindLRP); isLRP {
			t.sched.RemoveLRP(name)
			h.enqueuePlan(t, t.sched.Retry()) // freed capacity may fit others
		}
		delete(t.unplaced, id)
	case w.kind == model.KindSelectorSyncSet:
		for _, cell := range t.index.Matches(id) {
			want[cell] = w.items
		}
	case w.kind == model.KindLRP:
		start := time.Now()
		plan, err := t.sched.Place(placement.LRP{Name: w.name, Instances: w.instances, Resources: w.needs, Spread: w.spread, Cells: t.index.Matches(id)})
		if h.deps.Metrics != nil {
			h.deps.Metrics.PlacementDuration.Observe(time.Since(start).Seconds())
		}
		if err != nil {
			return w, nil, fmt.Errorf("place %s: %w", id, err)
		}
		t.unplaced[id] = plan.Unplaced
		if len(plan.Remove) > 0 {
			h.enqueuePlan(t, t.sched.Retry()) // a scale-down may fit others
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
	case w.kind == model.KindConfig:
		return w, nil, nil // delivered with the workloads that mount it
	}
	h.setIntents(t, id, want)
	return w, nil, nil
}

// setIntents replaces one source's intents and queues the cells that changed.
func (h *Hub) setIntents(t *term, id string, want map[string][]model.Item) {
	for cell, srcs := range t.intents {
		if _, ok := want[cell]; !ok {
			if _, had := srcs[id]; had {
				delete(srcs, id)
				t.apply.Add(cell)
			}
		}
	}
	for cell, items := range want {
		srcs := t.intents[cell]
		if srcs == nil {
			srcs = map[string][]model.Item{}
			t.intents[cell] = srcs
		}
		if old, ok := srcs[id]; ok && itemsEqual(old, items) {
			continue
		}
		srcs[id] = items
		t.apply.Add(cell)
	}
}

func cutKind(id string, kind model.Kind) (string, bool) {
	p := string(kind) + "/"
	if len(id) > len(p) && id[:len(p)] == p {
		return id[len(p):], true
	}
	return "", false
}

// placeTask decides where a Task's intent lives. A Task with a record stays
// on its record's cell while it is active and leaves when it completes; a
// Task without one is placed, and the returned record must be created
// before any cell is told about it. Callers hold h.mu.
func (h *Hub) placeTask(t *term, w *workload) (*model.TaskRecord, error) {
	want := map[string][]model.Item{}
	te, ok := t.tasks[w.name]
	switch {
	case ok:
		if te.rec.State == model.TaskPending || te.rec.State == model.TaskRunning {
			want[te.rec.Cell] = w.items
		}
		delete(t.unplaced, w.id)
	default:
		plan, err := t.sched.PlaceTask(placement.Task{Name: w.name, Resources: w.needs, Cells: t.index.Matches(w.id)})
		if err != nil {
			return nil, fmt.Errorf("place %s: %w", w.id, err)
		}
		t.unplaced[w.id] = plan.Unplaced
		if len(plan.Tasks) == 0 {
			return nil, nil // unplaced; a cell change re-queues it
		}
		return &model.TaskRecord{Name: w.name, State: model.TaskPending, Cell: plan.Tasks[0].Cell, Spec: w.items[0].Spec, Commit: t.commit, Updated: time.Now().UTC()}, nil
	}
	h.setIntents(t, w.id, want)
	return nil, nil
}

// createTask writes a new task record (create-only) and then the intent.
func (h *Hub) createTask(ctx context.Context, t *term, w *workload, rec *model.TaskRecord) error {
	val, err := store.Encode(rec)
	if err != nil {
		return err
	}
	wrote, cur, err := h.deps.Store.CompareAndSwap(ctx, store.TaskKey(rec.Name), 0, val)
	if err != nil {
		h.mu.Lock()
		t.sched.ReleaseTask(rec.Name)
		h.mu.Unlock()
		return fmt.Errorf("create task record %s: %w", rec.Name, err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !wrote {
		// Another hub (or an earlier term) created it: that record rules.
		t.sched.ReleaseTask(rec.Name)
		h.taskPut(t, cur, nil)
	} else {
		t.tasks[rec.Name] = taskEntry{rec: *rec, rev: cur.ModRevision}
	}
	_, err = h.placeTask(t, w)
	return err
}

func itemsEqual(a, b []model.Item) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := &a[i], &b[i]
		if x.Kind != y.Kind || x.Name != y.Name || x.Spec != y.Spec || len(x.Indexes) != len(y.Indexes) {
			return false
		}
		for j := range x.Indexes {
			if x.Indexes[j] != y.Indexes[j] {
				return false
			}
		}
	}
	return true
}

// sharedObjects returns the objects that more than one workload carries (a
// top-level Config counts once, however many workloads mount it).
func sharedObjects(ws map[string]*workload) map[string]bool {
	seen := map[string]string{}
	shared := map[string]bool{}
	for id, w := range ws {
		for _, it := range w.items {
			if it.Kind == model.KindTask {
				continue
			}
			key := string(it.Kind) + "/" + it.Name
			if first, ok := seen[key]; ok && first != id {
				shared[key] = true
			}
			seen[key] = id
		}
	}
	return shared
}
