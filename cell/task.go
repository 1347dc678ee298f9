package cell

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/cellsync/cellsync/cell/logs"
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
			claimed.Started = claimed.Updated
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
			a.event(model.Event{Type: model.EventTaskRunning, Workload: r.id, Instance: r.id, Commit: rec.Commit, Message: fmt.Sprintf("task %s running", w.name)})
			a.execTask(ctx, r, w, claimed, cur.ModRevision, nil)
			return
		case model.TaskRunning:
			if adopted == nil {
				a.complete(ctx, w.name, rec, kv.ModRevision, outcome{code: -1, reason: ReasonLost})
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

// execTask starts (or adopts) a claimed Task's container, waits for it (at
// most its timeoutSeconds, counted from the claim) and records the outcome.
func (a *Agent) execTask(ctx context.Context, r *runner, w taskWant, rec model.TaskRecord, modRev int64, adopted *Container) {
	a.rep.taskDelta(1)
	defer a.rep.taskDelta(-1)
	spec := w.task.Spec
	if adopted == nil {
		t0 := a.clock.Now()
		cs, err := a.files.containerSpec(r.cid, a.labels(r), &spec.Process, w.configs)
		if err == nil {
			cs.Logs = a.logSpec(r.id)
			a.removeContainer(ctx, r.cid)
			err = a.rt.Start(ctx, cs)
		}
		if err != nil {
			a.complete(ctx, w.name, rec, modRev, outcome{code: -1, reason: fmt.Sprintf("start container: %v", err)})
			a.idle(ctx, r, nil)
			return
		}
		a.m.startLatency.Observe(a.clock.Since(t0).Seconds())
	} else {
		a.log.Info("adopt task container", "cell", a.cfg.Name, "task", w.name, "container", r.cid)
	}
	var timeout <-chan time.Time
	if spec.TimeoutSeconds > 0 {
		limit := time.Duration(spec.TimeoutSeconds) * time.Second
		if !rec.Started.IsZero() {
			limit -= a.clock.Since(rec.Started) // adopted: it has run already
		}
		t := a.clock.NewTimer(max(0, limit))
		defer t.Stop()
		timeout = t.Chan()
	}
	exits, stopWait := a.waitExit(ctx, r.cid)
	select {
	case res := <-exits:
		stopWait()
		a.complete(ctx, w.name, rec, modRev, a.taskOutcome(ctx, r, spec, res))
		a.idle(ctx, r, nil)
	case <-timeout:
		stopWait()
		a.removeContainer(ctx, r.cid)
		a.complete(ctx, w.name, rec, modRev, outcome{code: -1, reason: fmt.Sprintf("timed out: still running after timeoutSeconds %d; killed", spec.TimeoutSeconds),
			result: a.outputTail(r.id)})
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
		a.complete(ctx, w.name, rec, modRev, outcome{code: -1, reason: reason, result: a.outputTail(r.id)})
	}
}

// outcome is how a Task ended, as its record says it.
type outcome struct {
	code int
	// reason says why it failed when the exit code alone does not.
	reason string
	result []byte
}

// taskOutcome reads a finished Task's result, removes its container (which
// completes its output on disk) and says how it ended. The result is the
// first bytes of spec.ResultFile, read before the container goes, or the
// tail of the output.
func (a *Agent) taskOutcome(ctx context.Context, r *runner, spec model.TaskSpec, res exitResult) outcome {
	if res.err != nil {
		a.removeContainer(ctx, r.cid)
		return outcome{code: -1, reason: fmt.Sprintf("wait for container: %v", res.err), result: a.outputTail(r.id)}
	}
	o := outcome{code: res.exit.Code}
	if spec.ResultFile != "" {
		b, err := a.rt.ReadFile(ctx, r.cid, spec.ResultFile, model.MaxTaskResult)
		if err != nil {
			o.reason = fmt.Sprintf("result file %s: %v", spec.ResultFile, err)
		}
		o.result = b
	}
	a.removeContainer(ctx, r.cid)
	if spec.ResultFile == "" {
		o.result = a.outputTail(r.id)
	}
	if res.exit.OOMKilled {
		o.reason = fmt.Sprintf("OOM-killed at its %d MiB memory limit (exit status %d)", spec.Needs().MemoryMB, res.exit.Code)
	}
	return o
}

// outputTail returns the last model.MaxTaskResult bytes of an instance's
// output, or nil.
func (a *Agent) outputTail(id string) []byte {
	dir := a.logSpec(id).Dir
	if dir == "" {
		return nil
	}
	b, err := logs.Tail(dir, model.MaxTaskResult)
	if err != nil {
		a.log.Warn("read task output", "cell", a.cfg.Name, "instance", id, "err", err)
	}
	return b
}

// complete records a Task's outcome, once: the write is a compare-and-swap
// on the RUNNING record this agent holds.
func (a *Agent) complete(ctx context.Context, name string, rec model.TaskRecord, modRev int64, o outcome) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.StopTimeout)
	defer cancel()
	rec.State, rec.ExitCode, rec.Updated = model.TaskCompleted, o.code, a.clock.Now().UTC()
	rec.Failed = o.reason != "" || o.code != 0
	rec.Reason = o.reason
	if o.reason == "" && o.code != 0 {
		rec.Reason = fmt.Sprintf("exited with status %d", o.code)
	}
	out := o.result
	if len(out) > model.MaxTaskResult {
		out = out[len(out)-model.MaxTaskResult:]
	}
	rec.Result = strings.ToValidUTF8(string(out), "\uFFFD")
	for {
		won, cur, err := a.cas(ctx, store.TaskKey(name), modRev, rec)
		if err == nil && !won {
			a.log.Warn("task record changed while it ran; outcome not recorded", "cell", a.cfg.Name, "task", name, "revision", cur.ModRevision)
			return
		}
		if err == nil {
			a.log.Info("task completed", "cell", a.cfg.Name, "task", name, "exit", o.code, "failed", rec.Failed, "reason", rec.Reason)
			id := model.InstanceID(model.KindTask, name, 0)
			if rec.Failed {
				a.event(model.Event{Type: model.EventTaskFailed, Severity: model.SeverityWarning, Workload: id, Instance: id, Commit: rec.Commit,
					Message: fmt.Sprintf("task %s failed: %s", name, rec.Reason)})
			} else {
				a.event(model.Event{Type: model.EventTaskCompleted, Workload: id, Instance: id, Commit: rec.Commit,
					Message: fmt.Sprintf("task %s completed in %s", name, rec.Updated.Sub(rec.Started).Round(time.Millisecond))})
			}
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
