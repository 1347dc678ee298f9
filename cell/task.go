package cell

import (
	"context"
	"fmt"

	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/store"
)

// Reasons recorded on Tasks that did not run to their end.
const (
	// ReasonLost: the Task was RUNNING on this cell but its container was
	// gone when the agent restarted.
	ReasonLost = "container lost across agent restart"
	// ReasonRemoved: the hub took the Task off the cell while it ran.
	ReasonRemoved = "task removed from the cell"
	// ReasonEvacuated: the cell shut down while the Task ran.
	ReasonEvacuated = "cell evacuated"
)

// runTask runs one Task at most once: claim the PENDING record by
// compare-and-swap, run the container, record COMPLETED. A record already
// RUNNING on this cell is only ever adopted (its container still exists
// after an agent restart) or failed, never started again.
func (a *Agent) runTask(ctx context.Context, r *runner, w taskWant, adopted *Container) {
	defer close(r.done)
	key := store.TaskKey(w.name)
	rec, kv, ok := a.readTask(ctx, key)
	if !ok {
		return
	}
	for {
		if rec.Cell != a.cfg.Name {
			a.log.Warn("task is assigned to another cell", "cell", a.cfg.Name, "task", w.name, "owner", rec.Cell)
			a.idle(ctx, r, adopted)
			return
		}
		switch rec.State {
		case model.TaskPending:
			claimed := rec
			claimed.State, claimed.Updated = model.TaskRunning, a.clock.Now().UTC()
			won, cur, err := a.cas(ctx, key, kv.ModRevision, claimed)
			if err != nil {
				a.log.Warn("claim task", "cell", a.cfg.Name, "task", w.name, "err", err)
				if sleep(ctx, a.clock, a.cfg.RetryInterval) != nil {
					return
				}
				if rec, kv, ok = a.readTask(ctx, key); !ok {
					return
				}
				continue
			}
			if !won {
				if cur.ModRevision == 0 {
					a.log.Warn("task record deleted before claim", "cell", a.cfg.Name, "task", w.name)
					a.idle(ctx, r, adopted)
					return
				}
				if err := store.Decode(cur, &rec); err != nil {
					a.log.Warn("read task", "cell", a.cfg.Name, "task", w.name, "err", err)
					a.idle(ctx, r, adopted)
					return
				}
				kv = cur
				continue
			}
			a.log.Info("task claimed", "cell", a.cfg.Name, "task", w.name)
			a.execTask(ctx, r, w, claimed, cur.ModRevision, nil)
			return
		case model.TaskRunning:
			if adopted == nil {
				a.complete(ctx, w.name, rec, kv.ModRevision, Exit{Code: -1}, ReasonLost)
				a.idle(ctx, r, nil)
				return
			}
			a.execTask(ctx, r, w, rec, kv.ModRevision, adopted)
			return
		default: // COMPLETED or RESOLVED: it ran.
			a.idle(ctx, r, adopted)
			return
		}
	}
}

// execTask starts (or adopts) a claimed Task's container, waits for it and
// records the outcome.
func (a *Agent) execTask(ctx context.Context, r *runner, w taskWant, rec model.TaskRecord, modRev int64, adopted *Container) {
	a.rep.taskDelta(1)
	defer a.rep.taskDelta(-1)
	if adopted == nil {
		t0 := a.clock.Now()
		spec, err := a.files.containerSpec(r.cid, a.labels(r), &w.task.Spec.Process, w.configs)
		if err == nil {
			spec.Output = true
			a.removeContainer(ctx, r.cid)
			err = a.rt.Start(ctx, spec)
		}
		if err != nil {
			a.complete(ctx, w.name, rec, modRev, Exit{Code: -1}, fmt.Sprintf("start container: %v", err))
			a.idle(ctx, r, nil)
			return
		}
		a.m.startLatency.Observe(a.clock.Since(t0).Seconds())
	} else {
		a.log.Info("adopt task container", "cell", a.cfg.Name, "task", w.name, "container", r.cid)
	}
	exits, stopWait := a.waitExit(ctx, r.cid)
	select {
	case res := <-exits:
		stopWait()
		if res.err != nil {
			a.complete(ctx, w.name, rec, modRev, Exit{Code: -1}, fmt.Sprintf("wait for container: %v", res.err))
		} else {
			a.complete(ctx, w.name, rec, modRev, res.exit, "")
		}
		a.removeContainer(ctx, r.cid)
		a.idle(ctx, r, nil)
	case <-ctx.Done():
		stopWait()
		if !r.kill.Load() {
			return // Detach: the next agent adopts the container.
		}
		a.removeContainer(ctx, r.cid)
		reason := ReasonRemoved
		if p := r.reason.Load(); p != nil && *p != "" {
			reason = *p
		}
		a.complete(ctx, w.name, rec, modRev, Exit{Code: -1}, reason)
	}
}

// complete records a Task's outcome, once: the write is a compare-and-swap
// on the RUNNING record this agent holds.
func (a *Agent) complete(ctx context.Context, name string, rec model.TaskRecord, modRev int64, e Exit, reason string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.StopTimeout)
	defer cancel()
	rec.State, rec.ExitCode, rec.Updated = model.TaskCompleted, e.Code, a.clock.Now().UTC()
	rec.Failed = reason != "" || e.Code != 0
	rec.Reason = reason
	if reason == "" && e.Code != 0 {
		rec.Reason = fmt.Sprintf("exited with status %d", e.Code)
	}
	out := e.Output
	if len(out) > model.MaxTaskResult {
		out = out[len(out)-model.MaxTaskResult:]
	}
	rec.Result = string(out)
	for {
		won, cur, err := a.cas(ctx, store.TaskKey(name), modRev, rec)
		if err == nil && !won {
			a.log.Warn("task record changed while it ran; outcome not recorded", "cell", a.cfg.Name, "task", name, "revision", cur.ModRevision)
			return
		}
		if err == nil {
			a.log.Info("task completed", "cell", a.cfg.Name, "task", name, "exit", e.Code, "failed", rec.Failed, "reason", rec.Reason)
			return
		}
		a.log.Warn("record task outcome", "cell", a.cfg.Name, "task", name, "err", err)
		if sleep(ctx, a.clock, a.cfg.RetryInterval) != nil {
			return
		}
	}
}

// cas writes a Task record if its mod revision is still modRev.
func (a *Agent) cas(ctx context.Context, key string, modRev int64, rec model.TaskRecord) (bool, store.KV, error) {
	v, err := store.Encode(rec)
	if err != nil {
		return false, store.KV{}, fmt.Errorf("encode task %s: %w", rec.Name, err)
	}
	won, cur, err := a.st.CompareAndSwap(ctx, key, modRev, v)
	a.m.etcdTxns.Inc()
	if won {
		a.m.etcdWrites.Inc()
	}
	return won, cur, err
}

// readTask reads a Task record, waiting for the hub to create it; ok is
// false when ctx ended first.
func (a *Agent) readTask(ctx context.Context, key string) (model.TaskRecord, store.KV, bool) {
	for {
		rec, kv, ok, err := store.GetJSON[model.TaskRecord](ctx, a.st, key)
		if err == nil && ok {
			return rec, kv, true
		}
		if err != nil && ctx.Err() == nil {
			a.log.Warn("read task", "cell", a.cfg.Name, "key", key, "err", err)
		}
		if sleep(ctx, a.clock, a.cfg.RetryInterval) != nil {
			return model.TaskRecord{}, store.KV{}, false
		}
	}
}

// idle holds a finished Task's runner until the Task leaves the cell, so
// that it is not started again; a leftover container is removed first.
func (a *Agent) idle(ctx context.Context, r *runner, leftover *Container) {
	if leftover != nil {
		a.removeContainer(ctx, r.cid)
	}
	<-ctx.Done()
}
