package hub

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/store"
)

// Convergence keys: a Task whose cell is gone, and a crashed LRP instance
// ("restart/<cell>/<InstanceID>") due for a restart.
const (
	convergeTaskKey    = "task/"
	convergeRestartKey = "restart/"
)

// restartDelay returns how long the hub waits before restarting an
// instance that crashed for the crashes-th time, and false when the cell
// restarts it itself or the hub has given up.
func (h *Hub) restartDelay(crashes int) (time.Duration, bool) {
	if crashes <= h.cfg.ImmediateRestarts || crashes >= h.cfg.MaxCrashes {
		return 0, false
	}
	d := h.cfg.CrashBackoff
	for i := h.cfg.ImmediateRestarts + 1; i < crashes && d < h.cfg.MaxCrashBackoff; i++ {
		d *= 2
	}
	return min(d, h.cfg.MaxCrashBackoff), true
}

// restartInstance re-puts the assignment that carries a crashed instance:
// the cell restarts an instance it gave up on when the key is written again.
func (h *Hub) restartInstance(ctx context.Context, t *term, key string) error {
	cell, id, _ := strings.Cut(strings.TrimPrefix(key, convergeRestartKey), "/")
	h.mu.Lock()
	ops, next, err := h.restartOps(t, cell, id, key)
	commit := t.commit
	if len(ops) > 0 {
		t.inflight[cell] = true
	}
	h.mu.Unlock()
	if err != nil || len(ops) == 0 {
		return err
	}
	start := time.Now()
	h.log.Info("restarting crashed instance", "cell", cell, "instance", id)
	// Submitted without the lock: the writer calls back into writeDone.
	t.writer.Submit(ctx, ops, func(res store.WriteResult, err error) {
		h.writeDone(t, cell, commit, ops, next, res, err, start)
	})
	return nil
}

// restartOps returns the re-put of the assignment carrying a crashed
// instance, or nothing when it needs no restart. Callers hold h.mu.
func (h *Hub) restartOps(t *term, cell, id, key string) ([]store.Op, map[string]model.Assignment, error) {
	a, ok := t.actual[cell][id]
	if !ok || a.State != model.StateCrashed {
		return nil, nil, nil // running again, or gone
	}
	if _, due := h.restartDelay(a.CrashCount); !due {
		return nil, nil, nil
	}
	if t.inflight[cell] {
		t.converge.AddAfter(key, 100*time.Millisecond)
		return nil, nil, nil
	}
	for _, src := range slices.Sorted(maps.Keys(t.stored[cell])) {
		st := t.stored[cell][src]
		if !carries(st.a.Items, a.Name, a.Index) {
			continue
		}
		val, err := store.Encode(st.a)
		if err != nil {
			return nil, nil, err
		}
		return []store.Op{{Key: store.DesiredKey(cell, src), Value: val, IfModRevision: store.Revision(st.rev)}},
			map[string]model.Assignment{src: st.a}, nil
	}
	return nil, nil, nil
}

func carries(items []model.Item, lrp string, index int32) bool {
	for _, it := range items {
		if it.Kind == model.KindLRP && it.Name == lrp {
			for _, i := range it.Indexes {
				if i == index {
					return true
				}
			}
		}
	}
	return false
}

// convergeKey handles one convergence item: a crashed instance due for a
// restart, or a Task whose cell is gone, which is completed as failed by
// compare-and-swap (so that a cell that claimed it meanwhile wins) and is
// never placed again.
func (h *Hub) convergeKey(ctx context.Context, t *term, key string) error {
	if m := h.deps.Metrics; m != nil {
		defer func(start time.Time) { m.ConvergenceDuration.Observe(time.Since(start).Seconds()) }(time.Now())
	}
	if strings.HasPrefix(key, convergeRestartKey) {
		return h.restartInstance(ctx, t, key)
	}
	name, ok := strings.CutPrefix(key, convergeTaskKey)
	if !ok {
		return nil
	}
	h.mu.Lock()
	te, known := t.tasks[name]
	_, cellAlive := t.cells[te.rec.Cell]
	h.mu.Unlock()
	active := te.rec.State == model.TaskPending || te.rec.State == model.TaskRunning
	if !known || !active || cellAlive {
		return nil
	}
	rec := te.rec
	rec.State, rec.Failed, rec.Reason, rec.Updated = model.TaskCompleted, true, "cell disappeared", time.Now().UTC()
	val, err := store.Encode(rec)
	if err != nil {
		return err
	}
	wrote, cur, err := h.deps.Store.CompareAndSwap(ctx, store.TaskKey(name), te.rev, val)
	if err != nil {
		return fmt.Errorf("fail task %s: %w", name, err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !wrote {
		if cur.ModRevision != 0 {
			h.taskPut(t, cur, nil)
			t.converge.Add(key) // look again at what the record says now
		}
		return nil
	}
	t.tasks[name] = taskEntry{rec: rec, rev: cur.ModRevision}
	t.sched.ReleaseTask(name)
	t.fanout.Add(workloadID(model.KindTask, name))
	h.log.Info("task failed: its cell disappeared", "task", name, "cell", te.rec.Cell)
	h.emit(model.Event{Type: model.EventTaskFailed, Severity: model.SeverityWarning, Workload: workloadID(model.KindTask, name), Cell: te.rec.Cell,
		Message: fmt.Sprintf("task %s failed: its cell %s disappeared", name, te.rec.Cell)})
	return nil
}
