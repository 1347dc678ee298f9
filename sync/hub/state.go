package hub

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/placement"
	"github.com/cellsync/cellsync/store"
)

type loadRevisions struct{ cells, tasks, actual int64 }

// load fills a term from etcd: cells, stored assignments and the bodies they
// name, task records and actual state. Existing LRP instances and tasks seed
// the placement state, so nothing healthy moves after a restart.
func (h *Hub) load(ctx context.Context, t *term) (loadRevisions, error) {
	var revs loadRevisions
	cells, rev, err := h.deps.Store.List(ctx, store.CellsPrefix)
	if err != nil {
		return revs, err
	}
	revs.cells = rev
	for _, kv := range cells {
		h.cellPut(t, kv)
	}
	specs, _, err := h.deps.Store.List(ctx, store.SpecsPrefix)
	if err != nil {
		return revs, err
	}
	bodies := make(map[string][]byte, len(specs))
	for _, kv := range specs {
		hash := strings.TrimPrefix(kv.Key, store.SpecsPrefix)
		t.specsStored[hash] = true
		bodies[hash] = kv.Value
	}
	desired, _, err := h.deps.Store.List(ctx, store.DesiredPrefix)
	if err != nil {
		return revs, err
	}
	needs := map[string]model.Resources{}
	for _, kv := range desired {
		cell, src, ok := store.SplitCellKey(store.DesiredPrefix, kv.Key)
		if !ok {
			continue
		}
		var a model.Assignment
		if err := store.Decode(kv, &a); err != nil {
			h.log.Warn("skipping undecodable assignment", "key", kv.Key, "err", err)
			continue
		}
		if t.stored[cell] == nil {
			t.stored[cell] = map[string]storedAssignment{}
		}
		t.stored[cell][src] = storedAssignment{a: a, rev: kv.ModRevision}
		if !strings.HasPrefix(src, string(model.KindLRP)+"/") {
			continue
		}
		for _, it := range a.Items {
			r, ok := needs[it.Spec]
			if !ok {
				r = resourcesOf(bodies[it.Spec])
				needs[it.Spec] = r
			}
			for _, idx := range it.Indexes {
				if _, known := t.cells[cell]; !known {
					continue // the cell died while no hub led: the fan-out re-places it
				}
				if err := t.sched.AddInstance(placement.Instance{LRP: it.Name, Index: int(idx), Cell: cell, Resources: r}); err != nil {
					h.log.Warn("dropping stored instance", "lrp", it.Name, "index", idx, "cell", cell, "err", err)
				}
			}
		}
	}
	tasks, rev, err := h.deps.Store.List(ctx, store.TasksPrefix)
	if err != nil {
		return revs, err
	}
	revs.tasks = rev
	for _, kv := range tasks {
		h.taskPut(t, kv, bodies)
	}
	actual, rev, err := h.deps.Store.List(ctx, store.ActualPrefix)
	if err != nil {
		return revs, err
	}
	revs.actual = rev
	for _, kv := range actual {
		h.actualEvent(t, store.Event{Type: store.Put, KV: kv})
	}
	t.revision = max(revs.cells, revs.tasks, revs.actual)
	h.log.Info("loaded state from etcd", "cells", len(t.cells), "assignments", len(desired), "specs", len(specs), "tasks", len(tasks), "revision", t.revision)
	return revs, nil
}

func resourcesOf(body []byte) model.Resources {
	if o, err := model.DecodeObject(body); err == nil {
		switch o := o.(type) {
		case *model.LRP:
			return o.Spec.Needs()
		case *model.Task:
			return o.Spec.Needs()
		}
	}
	return model.DefaultResources
}

// watchLoop follows a prefix from rev, re-listing it when the watch fails
// (compaction, lost connection) so that no change is missed.
func (h *Hub) watchLoop(ctx context.Context, t *term, prefix string, rev int64, on func(*term, []store.Event)) error {
	for ctx.Err() == nil {
		for b, err := range h.deps.Store.Watch(ctx, prefix, rev) {
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				h.log.Warn("watch failed; re-listing", "prefix", prefix, "err", err, "compacted", errors.Is(err, store.ErrCompacted))
				break
			}
			on(t, b.Events)
			rev = b.Revision
		}
		if ctx.Err() != nil {
			return nil
		}
		kvs, lrev, err := h.deps.Store.List(ctx, prefix)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("re-list %s: %w", prefix, err)
		}
		on(t, h.resyncEvents(t, prefix, kvs))
		rev = lrev
	}
	return nil
}

// resyncEvents turns a fresh listing into the events that bring the cache
// to it: puts for every key, deletes for cached keys that are gone.
func (h *Hub) resyncEvents(t *term, prefix string, kvs []store.KV) []store.Event {
	seen := map[string]bool{}
	evs := make([]store.Event, 0, len(kvs))
	for _, kv := range kvs {
		seen[kv.Key] = true
		evs = append(evs, store.Event{Type: store.Put, KV: kv})
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	switch prefix {
	case store.CellsPrefix:
		for name := range t.cells {
			if k := store.CellKey(name); !seen[k] {
				evs = append(evs, store.Event{Type: store.Delete, KV: store.KV{Key: k}})
			}
		}
	case store.TasksPrefix:
		for name := range t.tasks {
			if k := store.TaskKey(name); !seen[k] {
				evs = append(evs, store.Event{Type: store.Delete, KV: store.KV{Key: k}})
			}
		}
	case store.ActualPrefix:
		for cell, m := range t.actual {
			for id := range m {
				if k := store.ActualKey(cell, id); !seen[k] {
					evs = append(evs, store.Event{Type: store.Delete, KV: store.KV{Key: k}})
				}
			}
		}
	}
	return evs
}

func (h *Hub) onCells(t *term, evs []store.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ev := range evs {
		if ev.Type == store.Put {
			h.cellPut(t, ev.KV)
			continue
		}
		name := strings.TrimPrefix(ev.KV.Key, store.CellsPrefix)
		if _, ok := t.cells[name]; !ok {
			continue
		}
		h.log.Info("cell gone", "cell", name)
		h.cellGoneEvent(t.cells[name])
		delete(t.cells, name)
		delete(t.reports, name)
		h.enqueueChanges(t, h.evaluate(func() []selectorChange { return t.index.RemoveCell(name) }))
		h.enqueuePlan(t, t.sched.RemoveCell(name))
		// Its tasks that have not completed fail: they never run twice.
		for tname, te := range t.tasks {
			if te.rec.Cell == name && (te.rec.State == model.TaskPending || te.rec.State == model.TaskRunning) {
				t.converge.Add(convergeTaskKey + tname)
			}
		}
		t.apply.Add(name)
	}
}

// cellPut records a registered or changed cell. Callers hold h.mu, or own t
// exclusively during load.
func (h *Hub) cellPut(t *term, kv store.KV) {
	var c model.Cell
	if err := store.Decode(kv, &c); err != nil {
		h.log.Warn("ignoring undecodable cell", "key", kv.Key, "err", err)
		return
	}
	old, had := t.cells[c.Name]
	t.cells[c.Name] = c
	if had && old.State == c.State && old.Zone == c.Zone && old.Capacity == c.Capacity && labelsEqual(old.Labels, c.Labels) {
		return
	}
	h.enqueueChanges(t, h.evaluate(func() []selectorChange { return t.index.UpsertCell(c) }))
	plan, err := t.sched.AddCell(c)
	if err != nil {
		h.log.Warn("placement rejected cell", "cell", c.Name, "err", err)
		return
	}
	h.enqueuePlan(t, plan)
	h.enqueuePlan(t, t.sched.Retry()) // a new or grown cell may fit what did not
	if !had {
		t.apply.Add(c.Name)
	}
}

func labelsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// evaluate runs one selector-index update and records how long it took.
func (h *Hub) evaluate(update func() []selectorChange) []selectorChange {
	start := time.Now()
	changes := update()
	if h.deps.Metrics != nil {
		h.deps.Metrics.SelectorDuration.Observe(time.Since(start).Seconds())
	}
	return changes
}

// enqueueChanges fans out every workload whose match set changed.
func (h *Hub) enqueueChanges(t *term, changes []selectorChange) {
	if t.fanout == nil {
		return
	}
	for _, ch := range changes {
		t.fanout.Add(ch.Selector)
	}
}

// enqueuePlan fans out the LRPs a placement plan touched and fails its lost
// tasks.
func (h *Hub) enqueuePlan(t *term, p placement.Plan) {
	if t.fanout == nil {
		return
	}
	for _, a := range p.Add {
		t.fanout.Add(workloadID(model.KindLRP, a.LRP))
	}
	for _, r := range p.Remove {
		t.fanout.Add(workloadID(model.KindLRP, r.LRP))
	}
	for _, lt := range p.LostTasks {
		t.converge.Add(convergeTaskKey + lt.Task)
	}
}

func (h *Hub) onTasks(t *term, evs []store.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ev := range evs {
		name := strings.TrimPrefix(ev.KV.Key, store.TasksPrefix)
		if ev.Type == store.Delete {
			delete(t.tasks, name)
			if t.sched.ReleaseTask(name) {
				h.enqueuePlan(t, t.sched.Retry())
			}
			continue
		}
		h.taskPut(t, ev.KV, nil)
		t.fanout.Add(workloadID(model.KindTask, name))
	}
}

// taskPut records a task record; an active one holds its cell's resources.
func (h *Hub) taskPut(t *term, kv store.KV, bodies map[string][]byte) {
	var rec model.TaskRecord
	if err := store.Decode(kv, &rec); err != nil {
		h.log.Warn("ignoring undecodable task record", "key", kv.Key, "err", err)
		return
	}
	prev, had := t.tasks[rec.Name]
	t.tasks[rec.Name] = taskEntry{rec: rec, rev: kv.ModRevision}
	active := rec.State == model.TaskPending || rec.State == model.TaskRunning
	switch {
	case active && !had && bodies != nil:
		if _, ok := t.cells[rec.Cell]; ok {
			_ = t.sched.AddTask(placement.TaskAssignment{Task: rec.Name, Cell: rec.Cell, Resources: resourcesOf(bodies[rec.Spec])})
		} else if t.converge != nil {
			t.converge.Add(convergeTaskKey + rec.Name)
		}
	case !active && had && (prev.rec.State == model.TaskPending || prev.rec.State == model.TaskRunning):
		if t.sched.ReleaseTask(rec.Name) && t.fanout != nil {
			h.enqueuePlan(t, t.sched.Retry())
		}
	}
}

func (h *Hub) onActual(t *term, evs []store.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ev := range evs {
		h.actualEvent(t, ev)
	}
}

func (h *Hub) actualEvent(t *term, ev store.Event) {
	cell, id, ok := store.SplitCellKey(store.ActualPrefix, ev.KV.Key)
	if !ok {
		return
	}
	if id == model.ReportID {
		if ev.Type == store.Delete {
			delete(t.reports, cell)
			return
		}
		var r model.CellReport
		if store.Decode(ev.KV, &r) == nil {
			t.reports[cell] = r
			if r.AppliedRevision >= t.written[cell] {
				t.appliedCommit[cell] = t.writtenCommit[cell]
			}
		}
		return
	}
	if ev.Type == store.Delete {
		delete(t.actual[cell], id)
		return
	}
	var a model.Actual
	if store.Decode(ev.KV, &a) != nil {
		return
	}
	if t.actual[cell] == nil {
		t.actual[cell] = map[string]model.Actual{}
	}
	t.actual[cell][id] = a
	if a.State == model.StateCrashed && t.converge != nil {
		if delay, ok := h.restartDelay(a.CrashCount); ok {
			t.converge.AddAfter(convergeRestartKey+cell+"/"+id, delay)
		}
	}
}
