package hub

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/store"
)

// convergeTaskKey prefixes convergence keys that concern one Task.
const convergeTaskKey = "task/"

// convergeKey handles one convergence item. Today that is a Task whose cell
// is gone: it is completed as failed, by compare-and-swap so that a cell
// that claimed it in the meantime wins, and it is never placed again.
func (h *Hub) convergeKey(ctx context.Context, t *term, key string) error {
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
	return nil
}
