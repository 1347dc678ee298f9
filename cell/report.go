package cell

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/store"
)

// reporter owns the cell's actual state in etcd: the latest model.Actual of
// every LRP instance and the cell's model.CellReport. Runners set states at
// any rate; run writes what changed since the last write, in one batch per
// FlushInterval, under the current lease.
type reporter struct {
	cell     string
	st       *store.Client
	clock    clockwork.Clock
	log      *slog.Logger
	m        *metrics
	interval time.Duration
	retry    time.Duration

	mu      sync.Mutex
	cur     map[string]model.Actual
	written map[string][]byte // last value written per instance ID
	tasks   int               // Tasks running now
	applied int64
	evac    bool
	report  []byte // last CellReport written (without time)
	lease   int64
	notify  chan struct{}
	flushed chan struct{} // closed and replaced after every flush
	// seq counts changes; wroteSeq is the seq a flush last wrote through.
	seq      uint64
	wroteSeq uint64
}

func newReporter(cell string, st *store.Client, clock clockwork.Clock, log *slog.Logger, m *metrics, interval, retry time.Duration) *reporter {
	return &reporter{
		cell: cell, st: st, clock: clock, log: log, m: m, interval: interval, retry: retry,
		cur:     map[string]model.Actual{},
		written: map[string][]byte{},
		notify:  make(chan struct{}, 1),
		flushed: make(chan struct{}),
	}
}

func (r *reporter) poke() {
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

// set records an instance's state. Since is kept from the previous state
// when the state itself did not change, so only real changes are written.
// It returns the change's sequence number, for waitWritten.
func (r *reporter) set(id string, a model.Actual) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if prev, ok := r.cur[id]; ok && prev.State == a.State {
		a.Since = prev.Since
	}
	if a.Since.IsZero() {
		a.Since = r.clock.Now().UTC()
	}
	r.cur[id] = a
	r.seq++
	r.poke()
	return r.seq
}

// get returns an instance's last state.
func (r *reporter) get(id string) (model.Actual, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a, ok := r.cur[id]
	return a, ok
}

// remove forgets an instance; its key is deleted at the next flush.
func (r *reporter) remove(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.cur, id)
	r.seq++
	r.poke()
}

// taskDelta counts Tasks starting (+1) and ending (-1).
func (r *reporter) taskDelta(d int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tasks += d
	r.m.containers.WithLabelValues(stateTask).Set(float64(r.tasks))
}

func (r *reporter) setApplied(rev int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rev > r.applied {
		r.applied = rev
		r.poke()
	}
}

func (r *reporter) setEvacuating() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evac = true
	r.poke()
}

// setLease switches to a new lease: keys under the old one are gone, so
// everything is written again.
func (r *reporter) setLease(lease int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lease = lease
	clear(r.written)
	r.report = nil
	r.poke()
}

// waitFlushed returns a channel closed after the next flush.
func (r *reporter) waitFlushed() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.flushed
}

// waitWritten returns once the change numbered seq (from set) is in
// etcd, or ctx's error.
func (r *reporter) waitWritten(ctx context.Context, seq uint64) error {
	for {
		r.mu.Lock()
		done, ch := r.wroteSeq >= seq, r.flushed
		r.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// run writes changes until ctx ends.
func (r *reporter) run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-r.notify:
		}
		// Collect a burst of changes into one write.
		if err := sleep(ctx, r.clock, r.interval); err != nil {
			return nil
		}
		if err := r.flush(ctx); err != nil {
			r.log.Warn("write actual state", "cell", r.cell, "err", err)
			r.poke()
			if err := sleep(ctx, r.clock, r.retry); err != nil {
				return nil
			}
		}
	}
}

// flush writes every change since the last flush in one Write.
func (r *reporter) flush(ctx context.Context) error {
	r.mu.Lock()
	lease := r.lease
	if lease == 0 {
		r.mu.Unlock()
		return nil // no session: setLease pokes again
	}
	seq := r.seq
	var ops []store.Op
	pending := map[string][]byte{}
	counts := map[string]int{}
	for id, a := range r.cur {
		counts[a.State]++
		v, err := store.Encode(a)
		if err != nil {
			r.mu.Unlock()
			return fmt.Errorf("encode actual %s: %w", id, err)
		}
		if bytes.Equal(r.written[id], v) {
			continue
		}
		pending[id] = v
		ops = append(ops, store.Op{Key: store.ActualKey(r.cell, id), Value: v, Lease: lease})
	}
	for id := range r.written {
		if _, ok := r.cur[id]; !ok && id != model.ReportID {
			pending[id] = nil
			ops = append(ops, store.Op{Key: store.ActualKey(r.cell, id), Delete: true})
		}
	}
	rep := model.CellReport{AppliedRevision: r.applied, Evacuating: r.evac, Running: counts[model.StateRunning], Crashed: counts[model.StateCrashed]}
	repv, err := store.Encode(rep)
	if err != nil {
		r.mu.Unlock()
		return fmt.Errorf("encode cell report: %w", err)
	}
	newReport := !bytes.Equal(repv, r.report)
	if newReport {
		rep.Time = r.clock.Now().UTC()
		v, err := store.Encode(rep)
		if err != nil {
			r.mu.Unlock()
			return fmt.Errorf("encode cell report: %w", err)
		}
		ops = append(ops, store.Op{Key: store.ActualKey(r.cell, model.ReportID), Value: v, Lease: lease})
	}
	for _, s := range []string{model.StateClaimed, model.StateRunning, model.StateCrashed} {
		r.m.containers.WithLabelValues(s).Set(float64(counts[s]))
	}
	r.mu.Unlock()

	if len(ops) > 0 {
		res, err := r.st.Write(ctx, ops)
		r.m.etcdTxns.Add(float64(res.Txns))
		r.m.etcdWrites.Add(float64(res.Written))
		if err != nil {
			return fmt.Errorf("write %d actual keys of cell %s: %w", len(ops), r.cell, err)
		}
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lease != lease {
		return nil // a new session began meanwhile and rewrites everything
	}
	for id, v := range pending {
		if v == nil {
			delete(r.written, id)
		} else {
			r.written[id] = v
		}
	}
	if newReport {
		r.report = repv
	}
	r.wroteSeq = seq
	close(r.flushed)
	r.flushed = make(chan struct{})
	return nil
}

// sleep waits d on clock, or returns ctx's error.
func sleep(ctx context.Context, clock clockwork.Clock, d time.Duration) error {
	t := clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.Chan():
		return nil
	}
}
