package hub

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/placement"
	"github.com/cellsync/cellsync/selectors"
	"github.com/cellsync/cellsync/store"
)

type loadRevisions struct{ cells, tasks, actual int64 }

// load fills a term from etcd: cells, stored records and the bodies they
// name, task records and actual state. Existing LRP instances and tasks
// seed the placement state, so nothing healthy moves after a restart.
// Records that do not decode are kept as broken, to be overwritten.
func (t *term) load(ctx context.Context) (loadRevisions, error) {
	var revs loadRevisions
	cells, rev, err := t.st.List(ctx, store.CellsPrefix)
	if err != nil {
		return revs, err
	}
	revs.cells = rev
	for _, kv := range cells {
		t.cellPut(kv)
	}
	specs, _, err := t.st.List(ctx, store.SpecsPrefix)
	if err != nil {
		return revs, err
	}
	bodies := make(map[string][]byte, len(specs))
	for _, kv := range specs {
		hash := strings.TrimPrefix(kv.Key, store.SpecsPrefix)
		t.bodies.markStored(hash)
		bodies[hash] = kv.Value
	}
	needs := map[string]model.Resources{}
	needsOf := func(spec string) model.Resources {
		r, ok := needs[spec]
		if !ok {
			r = resourcesOf(bodies[spec])
			needs[spec] = r
		}
		return r
	}
	desired, _, err := t.st.List(ctx, store.DesiredPrefix)
	if err != nil {
		return revs, err
	}
	for _, kv := range desired {
		cell, src, ok := store.SplitCellKey(store.DesiredPrefix, kv.Key)
		if !ok {
			continue
		}
		r := decodeRecord(kv)
		if r.broken {
			t.h.log.Warn("stored record does not decode; it will be overwritten", "key", kv.Key)
		}
		t.cellFor(cell).loadRecord(src, r)
		if _, known := t.registry[cell]; !known || !strings.HasPrefix(src, string(model.KindLRP)+"/") {
			continue // a cell that died while no hub led is re-placed by the fan-out
		}
		for _, it := range r.a.Items {
			for _, idx := range it.Indexes {
				if err := t.sched.AddInstance(placement.Instance{LRP: it.Name, Index: int(idx), Cell: cell, Resources: needsOf(it.Spec)}); err != nil {
					t.h.log.Warn("dropping stored instance", "lrp", it.Name, "index", idx, "cell", cell, "err", err)
				}
			}
		}
	}
	tasks, rev, err := t.st.List(ctx, store.TasksPrefix)
	if err != nil {
		return revs, err
	}
	revs.tasks = rev
	for _, kv := range tasks {
		t.taskPut(kv, needsOf)
	}
	actual, rev, err := t.st.List(ctx, store.ActualPrefix)
	if err != nil {
		return revs, err
	}
	revs.actual = rev
	for _, kv := range actual {
		t.actualEvent(store.Event{Type: store.Put, KV: kv})
	}
	t.h.log.Info("loaded state from etcd", "cells", len(t.registry), "assignments", len(desired), "specs", len(specs), "tasks", len(tasks),
		"revision", max(revs.cells, revs.tasks, revs.actual))
	return revs, nil
}

// decodeRecord reads a stored record; one that does not decode is broken.
func decodeRecord(kv store.KV) record {
	var a model.Assignment
	if err := store.Decode(kv, &a); err != nil {
		return record{rev: kv.ModRevision, broken: true}
	}
	return record{a: a, rev: kv.ModRevision}
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
func (t *term) watchLoop(ctx context.Context, prefix string, rev int64, on func([]store.Event)) error {
	for ctx.Err() == nil {
		for b, err := range t.st.Watch(ctx, prefix, rev) {
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				t.h.log.Warn("watch failed; re-listing", "prefix", prefix, "err", err, "compacted", errors.Is(err, store.ErrCompacted))
				break
			}
			on(b.Events)
			rev = b.Revision
		}
		if ctx.Err() != nil {
			return nil
		}
		kvs, lrev, err := t.st.List(ctx, prefix)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("re-list %s: %w", prefix, err)
		}
		on(t.resyncEvents(prefix, kvs))
		rev = lrev
	}
	return nil
}

// resyncEvents turns a fresh listing into the events that bring the term's
// copy to it: puts for every key, deletes for known keys that are gone.
func (t *term) resyncEvents(prefix string, kvs []store.KV) []store.Event {
	seen := make(map[string]bool, len(kvs))
	evs := make([]store.Event, 0, len(kvs))
	for _, kv := range kvs {
		seen[kv.Key] = true
		evs = append(evs, store.Event{Type: store.Put, KV: kv})
	}
	gone := func(k string) {
		if !seen[k] {
			evs = append(evs, store.Event{Type: store.Delete, KV: store.KV{Key: k}})
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	switch prefix {
	case store.CellsPrefix:
		for name := range t.registry {
			gone(store.CellKey(name))
		}
	case store.TasksPrefix:
		for name := range t.tasks {
			gone(store.TaskKey(name))
		}
	case store.ActualPrefix:
		for name, c := range t.cells {
			for _, id := range c.actualIDs() {
				gone(store.ActualKey(name, id))
			}
		}
	}
	return evs
}

func (t *term) onCells(evs []store.Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, ev := range evs {
		if ev.Type == store.Put {
			t.cellPut(ev.KV)
			continue
		}
		t.unignore(ev.KV.Key)
		t.cellGone(strings.TrimPrefix(ev.KV.Key, store.CellsPrefix))
	}
}

// cellPut records a registered or changed cell. The key names the cell: a
// record naming another cell is ignored and reported, so a cell cannot
// pose as another. Any change of the record re-evaluates the selectors and
// placement, since a selector may read any of its fields. Callers hold
// t.mu, or own t during load.
func (t *term) cellPut(kv store.KV) {
	name := strings.TrimPrefix(kv.Key, store.CellsPrefix)
	c, ok := decodeKeyed(t, kv, name, "the registration of cell", func(c *model.Cell) string { return c.Name })
	if !ok {
		return
	}
	old, had := t.registry[name]
	if had && reflect.DeepEqual(old, c) {
		return
	}
	t.registry[name] = c
	t.cellFor(name).register(c)
	t.enqueueChanges(t.evaluate(func() []selectors.Change { return t.index.UpsertCell(c) }))
	plan, err := t.sched.AddCell(c)
	if err != nil {
		t.h.log.Warn("placement rejected cell", "cell", name, "err", err)
		return
	}
	t.enqueuePlan(plan)
	t.enqueuePlan(t.sched.Retry()) // a new or grown cell may fit what did not
	if !had {
		t.apply.Add(name)
	}
}

// cellGone forgets a cell's registration: its matches and placements go,
// its active tasks are handed to the lost-task queue, and its records are
// deleted at its next plan. Callers hold t.mu.
func (t *term) cellGone(name string) {
	if _, ok := t.registry[name]; !ok {
		return
	}
	t.h.log.Info("cell gone", "cell", name)
	t.h.cellGoneEvent(t.registry[name])
	delete(t.registry, name)
	t.cellFor(name).unregister()
	t.enqueueChanges(t.evaluate(func() []selectors.Change { return t.index.RemoveCell(name) }))
	t.enqueuePlan(t.sched.RemoveCell(name))
	for tname, te := range t.tasks {
		if te.rec.Cell == name && te.active() {
			t.lostTasks.Add(tname)
		}
	}
	t.apply.Add(name)
}

// readyCells returns the registered cells. Callers hold t.mu.
func (t *term) readyCells() []model.Cell {
	out := make([]model.Cell, 0, len(t.registry))
	for _, c := range t.registry {
		out = append(out, c)
	}
	return out
}

func (t *term) onActual(evs []store.Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, ev := range evs {
		t.actualEvent(ev)
	}
}

// actualEvent records one instance's reported state or one cell report.
// The key names the instance: a record whose content names another is
// ignored and reported. Callers hold t.mu, or own t during load.
func (t *term) actualEvent(ev store.Event) {
	cell, id, ok := store.SplitCellKey(store.ActualPrefix, ev.KV.Key)
	if !ok {
		return
	}
	if ev.Type == store.Delete {
		t.unignore(ev.KV.Key)
		if c := t.cells[cell]; c != nil {
			if id == model.ReportID {
				c.dropReport()
			} else {
				c.dropActual(id)
			}
			t.maybeForget(cell)
		}
		return
	}
	if id == model.ReportID {
		var r model.CellReport
		if err := store.Decode(ev.KV, &r); err != nil {
			t.ignore(ev.KV.Key, fmt.Sprintf("%s: %v", ev.KV.Key, err))
			return
		}
		t.unignore(ev.KV.Key)
		t.cellFor(cell).setReport(r.AppliedRevision)
		return
	}
	a, ok := decodeKeyed(t, ev.KV, id, "the state of instance", func(a *model.Actual) string { return model.InstanceID(model.KindLRP, a.Name, a.Index) })
	if !ok {
		return
	}
	if d, restart := t.cellFor(cell).setActual(id, a, t.h.cfg.Restart, time.Now()); restart {
		t.apply.AddAfter(cell, d)
	}
}

// decodeKeyed decodes a record that its key names (name, the key's last
// part). A record that does not decode, or whose content names another
// (nameOf) than its key, is ignored and reported: the hub trusts the key,
// which etcd's roles let only its owner write, never the name inside the
// value. what says what the record holds, for the report.
func decodeKeyed[T any](t *term, kv store.KV, name, what string, nameOf func(*T) string) (T, bool) {
	var v T
	if err := store.Decode(kv, &v); err != nil {
		t.ignore(kv.Key, fmt.Sprintf("%s: %v", kv.Key, err))
		return v, false
	}
	if got := nameOf(&v); got != name {
		t.ignore(kv.Key, fmt.Sprintf("%s holds %s %q, not %q: the key decides; ignored", kv.Key, what, got, name))
		return v, false
	}
	t.unignore(kv.Key)
	return v, true
}

// ignore records a key whose record the hub does not trust, with why:
// reported in status, logged once, and counted.
func (t *term) ignore(key, why string) {
	if t.ignored[key] == why {
		return
	}
	t.ignored[key] = why
	t.h.log.Warn("record ignored", "key", key, "why", why)
	if m := t.h.deps.Metrics; m != nil {
		prefix, _, _ := strings.Cut(strings.TrimPrefix(key, store.Root), "/")
		m.IgnoredRecords.WithLabelValues(prefix).Inc()
	}
}

func (t *term) unignore(key string) { delete(t.ignored, key) }

// maybeForget drops a cell's record once nothing of the cell is left.
// Callers hold t.mu.
func (t *term) maybeForget(name string) {
	c := t.cells[name]
	if c == nil || !c.forgettable() {
		return
	}
	if _, holds := t.registry[name]; holds {
		return
	}
	c.release()
	delete(t.cells, name)
}
