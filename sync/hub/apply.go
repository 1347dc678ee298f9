package hub

import (
	"context"
	"errors"
	"time"

	"github.com/cellsync/cellsync/metrics"
	"github.com/cellsync/cellsync/store"
)

// applyCell brings one cell's stored records to what the hub wants of it:
// the cell's record plans the write, which goes to the group-commit writer
// and is finished in writeDone. Until the term's first model is compiled it
// does nothing: every record would look unwanted, and a restarted hub would
// prune what it simply had not recomputed yet.
func (t *term) applyCell(ctx context.Context, name string) error {
	t.mu.Lock()
	c, ready := t.cells[name], t.haveDesired
	t.mu.Unlock()
	if c == nil || !ready {
		return nil
	}
	now := time.Now()
	w, wait, errs := c.plan(planInput{
		model:             t.model(),
		bodies:            t.bodies,
		bodyStored:        t.bodies.stored,
		maxOp:             t.st.MaxOpBytes(),
		immediateRestarts: t.h.cfg.Restart.ImmediateRestarts,
		now:               now,
	})
	for _, err := range errs {
		t.h.log.Error("merge shared objects", "cell", name, "err", err)
	}
	if wait > 0 {
		t.apply.AddAfter(name, wait)
		return nil
	}
	if w == nil {
		t.mu.Lock()
		t.maybeForget(name)
		t.mu.Unlock()
		return nil
	}
	t.writer.Submit(ctx, w.ops, func(res store.WriteResult, err error) { t.writeDone(c, w, res, err) })
	return nil
}

// writeDone finishes one cell's write: a fenced write deposes the term
// (never retried as a conflict), a failed one is retried after a delay, a
// landed one updates the cell's mirror and plans the cell again when it
// changed meanwhile or lost a compare-and-swap.
func (t *term) writeDone(c *cellState, w *cellWrite, res store.WriteResult, err error) {
	if err != nil {
		if t.ctx.Err() != nil || errors.Is(err, store.ErrFenced) {
			c.abandon()
			t.writeFailed(err)
			return
		}
		delay := c.failed(err, time.Now())
		t.writeFailed(err)
		t.h.log.Warn("write records; retrying", "cell", c.name, "ops", len(w.ops), "in", delay, "err", err)
		t.apply.AddAfter(c.name, delay)
		return
	}
	t.writeLanded()
	for _, hash := range w.bodies {
		t.bodies.markStored(hash)
	}
	again, delay, lost := c.landed(w, res, t.h.cfg.MaxLostRounds, time.Now())
	if m := t.h.deps.Metrics; m != nil {
		written, bytes := 0, 0
		for i, op := range w.ops {
			if res.Revisions[i] != 0 {
				written++
				bytes += len(op.Key) + len(op.Value)
			}
		}
		m.ApplyDuration.Observe(time.Since(w.start).Seconds())
		m.ObserveEtcd("txn", time.Since(w.start))
		m.ResourcesApplied.WithLabelValues(metrics.ApplyChanged).Add(float64(written))
		m.Wrote(written, bytes)
		m.LostCAS.Add(float64(lost))
	}
	if lost > 0 {
		t.h.log.Info("records changed under the hub; reloaded", "cell", c.name, "keys", lost, "retry_in", delay)
	}
	if again {
		t.apply.AddAfter(c.name, delay)
		return
	}
	t.mu.Lock()
	t.maybeForget(c.name)
	t.mu.Unlock()
}
