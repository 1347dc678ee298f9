package hub

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/placement"
	"github.com/cellsync/cellsync/store"
)

// Task handling lives in this file: placing a Task, creating its record,
// following the records, and completing or re-placing a Task whose cell is
// gone. A Task runs at most once: its record is created PENDING for one cell
// by compare-and-swap before any cell hears of it.

// taskEntry is the hub's copy of one task record.
type taskEntry struct {
	rec model.TaskRecord
	rev int64
	// fresh marks a record this term created whose cell has never been
	// offered the Task (no intent was set while the cell was registered):
	// if that cell disappears, the Task has not run and is placed again.
	fresh bool
}

func (e taskEntry) active() bool {
	return e.rec.State == model.TaskPending || e.rec.State == model.TaskRunning
}

// placeTask decides where a Task's intent lives. A Task with a record stays
// on its record's cell while it is active and leaves when it completes; a
// Task without one is placed, and the returned record must be created
// before any cell is told about it. Callers hold t.mu.
func (t *term) placeTask(w *workload) (*model.TaskRecord, error) {
	want := map[string][]model.Item{}
	te, ok := t.tasks[w.name]
	if !ok {
		plan, err := t.sched.PlaceTask(placement.Task{Name: w.name, Resources: w.needs, Cells: t.index.Matches(w.id)})
		if err != nil {
			return nil, fmt.Errorf("place %s: %w", w.id, err)
		}
		t.setUnplaced(w.id, plan.Unplaced)
		if len(plan.Tasks) == 0 {
			return nil, nil // unplaced; a cell change queues it again
		}
		return &model.TaskRecord{Name: w.name, State: model.TaskPending, Cell: plan.Tasks[0].Cell, Spec: w.items[0].Spec,
			Commit: t.model().commit, Updated: time.Now().UTC()}, nil
	}
	delete(t.unplaced, w.id)
	if te.active() {
		if _, alive := t.registry[te.rec.Cell]; alive {
			want[te.rec.Cell] = w.items
			te.fresh = false
			t.tasks[w.name] = te
		}
	}
	t.setIntents(w.id, want)
	return nil, nil
}

// createTask writes a new task record (create-only) and then the intent. A
// record that another hub created first rules. If the chosen cell vanished
// while the record was being created, the Task is handed to the lost-task
// queue, which places it again: it has not run.
func (t *term) createTask(ctx context.Context, w *workload, rec *model.TaskRecord) error {
	val, err := store.Encode(rec)
	if err != nil {
		return err
	}
	wrote, cur, err := t.st.CompareAndSwap(ctx, store.TaskKey(rec.Name), 0, val)
	if err != nil {
		t.mu.Lock()
		t.sched.ReleaseTask(rec.Name)
		t.mu.Unlock()
		t.writeFailed(err)
		return fmt.Errorf("create task record %s: %w", rec.Name, err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !wrote {
		t.sched.ReleaseTask(rec.Name)
		t.taskPut(cur, nil)
	} else {
		t.tasks[rec.Name] = taskEntry{rec: *rec, rev: cur.ModRevision, fresh: true}
	}
	if _, alive := t.registry[rec.Cell]; wrote && !alive {
		t.lostTasks.Add(rec.Name)
	}
	_, err = t.placeTask(w)
	return err
}

// lostAction is what to do with a task whose cell is gone.
type lostAction int

const (
	lostNothing lostAction = iota
	// lostReplace deletes the record so the Task is placed again: it was
	// never offered to a cell, so it has not run.
	lostReplace
	// lostFail completes the Task as failed: it may have run.
	lostFail
)

// decideLost says what happens to a task whose cell may be gone. It does no
// I/O.
func decideLost(te taskEntry, known, cellAlive bool) lostAction {
	switch {
	case !known || !te.active() || cellAlive:
		return lostNothing
	case te.fresh && te.rec.State == model.TaskPending:
		return lostReplace
	default:
		return lostFail
	}
}

// convergeTask handles one task whose cell may be gone: a Task never
// offered to its cell is placed again; any other active one is completed as
// failed. Both are compare-and-swaps on the record, so a cell that claimed
// the Task meanwhile wins.
func (t *term) convergeTask(ctx context.Context, name string) error {
	if m := t.h.deps.Metrics; m != nil {
		defer func(start time.Time) { m.ConvergenceDuration.Observe(time.Since(start).Seconds()) }(time.Now())
	}
	t.mu.Lock()
	te, known := t.tasks[name]
	_, alive := t.registry[te.rec.Cell]
	t.mu.Unlock()
	var op store.Op
	switch decideLost(te, known, alive) {
	case lostNothing:
		return nil
	case lostReplace:
		op = store.Op{Key: store.TaskKey(name), Delete: true, IfModRevision: store.Revision(te.rev)}
	case lostFail:
		rec := te.rec
		rec.State, rec.Failed, rec.Reason, rec.Updated = model.TaskCompleted, true, "cell disappeared", time.Now().UTC()
		val, err := store.Encode(rec)
		if err != nil {
			return err
		}
		op = store.Op{Key: store.TaskKey(name), Value: val, IfModRevision: store.Revision(te.rev)}
	}
	res, err := t.st.Write(ctx, []store.Op{op})
	if err != nil {
		t.writeFailed(err)
		return fmt.Errorf("converge task %s: %w", name, err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(res.Conflicts) > 0 {
		if cur := res.Conflicts[0].Current; cur.ModRevision != 0 {
			t.taskPut(cur, nil)
			t.lostTasks.Add(name) // look again at what the record says now
		}
		return nil
	}
	t.sched.ReleaseTask(name)
	if op.Delete {
		delete(t.tasks, name)
		t.h.log.Info("task placed again: its cell disappeared before it was offered", "task", name, "cell", te.rec.Cell)
	} else {
		var rec model.TaskRecord
		_ = store.Decode(store.KV{Key: op.Key, Value: op.Value}, &rec)
		t.tasks[name] = taskEntry{rec: rec, rev: res.Revisions[0]}
		t.h.log.Info("task failed: its cell disappeared", "task", name, "cell", te.rec.Cell)
		t.h.emit(model.Event{Type: model.EventTaskFailed, Severity: model.SeverityWarning, Workload: workloadID(model.KindTask, name), Cell: te.rec.Cell,
			Message: fmt.Sprintf("task %s failed: its cell %s disappeared", name, te.rec.Cell)})
	}
	t.fanout.Add(workloadID(model.KindTask, name))
	return nil
}

// onTasks follows the task records.
func (t *term) onTasks(evs []store.Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, ev := range evs {
		name := strings.TrimPrefix(ev.KV.Key, store.TasksPrefix)
		if te, ok := t.tasks[name]; ok && te.rev > ev.KV.ModRevision {
			continue // older than what this term already knows
		}
		if ev.Type == store.Delete {
			delete(t.tasks, name)
			t.unignore(ev.KV.Key)
			if t.sched.ReleaseTask(name) {
				t.enqueuePlan(t.sched.Retry())
			}
			t.fanout.Add(workloadID(model.KindTask, name))
			continue
		}
		t.taskPut(ev.KV, nil)
		t.fanout.Add(workloadID(model.KindTask, name))
	}
}

// taskPut records a task record, named by its key: a record naming
// another task is ignored and reported. At load (seed non-nil, giving the
// resources of a body), an active record takes its cell's resources in
// placement, or goes to the lost-task queue when its cell is unknown.
// Callers hold t.mu, or own t during load.
func (t *term) taskPut(kv store.KV, seed func(spec string) model.Resources) {
	name := strings.TrimPrefix(kv.Key, store.TasksPrefix)
	rec, ok := decodeKeyed(t, kv, name, "the record of task", func(r *model.TaskRecord) string { return r.Name })
	if !ok {
		return
	}
	prev, had := t.tasks[name]
	if had && kv.ModRevision < prev.rev {
		return // older than what this term already knows
	}
	next := taskEntry{rec: rec, rev: kv.ModRevision, fresh: had && prev.fresh && prev.rev == kv.ModRevision}
	t.tasks[name] = next
	switch {
	case seed != nil && next.active():
		if _, ok := t.registry[rec.Cell]; ok {
			_ = t.sched.AddTask(placement.TaskAssignment{Task: name, Cell: rec.Cell, Resources: seed(rec.Spec)})
		} else {
			t.lostTasks.Add(name)
		}
	case !next.active() && had && prev.active():
		if t.sched.ReleaseTask(name) {
			t.enqueuePlan(t.sched.Retry())
		}
	}
}
