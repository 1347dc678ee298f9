package hub

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/cellsync/cellsync/metrics"
	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/placement"
	"github.com/cellsync/cellsync/selectors"
	"github.com/cellsync/cellsync/store"
	"github.com/cellsync/cellsync/sync/workqueue"
)

// errNotLeading ends a term whose writes were fenced off: another hub leads.
var errNotLeading = errors.New("not leading: another hub holds the leader key")

// term is the state of one leadership term, rebuilt from etcd each time this
// hub becomes the leader and abandoned when it stops leading.
type term struct {
	h *Hub
	// st is the store fenced by this term's election key: a deposed
	// leader's writes fail with store.ErrFenced.
	st     *store.Client
	ctx    context.Context
	depose context.CancelCauseFunc

	// cm is the compiled desired model (nil until the first).
	cm atomic.Pointer[compiledModel]

	// mu guards the cross-cell state below. Lock order: mu, then a
	// cellState's lock, then the tally's, bodies' and health's.
	mu          sync.Mutex
	haveDesired bool
	// selectors caches compiled selectors by expression, for the model.
	selectors map[string]*selectors.Selector
	index     *selectors.Index
	sched     *placement.State
	// registry holds the registered cells; cells holds every cell's
	// record (registered or with something left in etcd).
	registry map[string]model.Cell
	cells    map[string]*cellState
	spread   map[string]*spread
	unplaced map[string]unplacedSummary
	tasks    map[string]taskEntry
	// ignored holds the keys whose record the hub does not trust (content
	// disagreeing with the key, or undecodable), with why.
	ignored map[string]string

	bodies  *bodyCache
	tally   *tally
	health  health
	maxBody int

	fanout, apply, lostTasks *workqueue.Queue
	writer                   *writer
}

// health remembers the last write error until a write lands.
type health struct {
	mu  sync.Mutex
	err error
	at  time.Time
}

func newTerm(h *Hub, ctx context.Context, depose context.CancelCauseFunc, st *store.Client) *term {
	return &term{
		h: h, st: st, ctx: ctx, depose: depose,
		selectors: map[string]*selectors.Selector{},
		index:     selectors.NewIndex(),
		sched:     placement.New(),
		registry:  map[string]model.Cell{},
		cells:     map[string]*cellState{},
		spread:    map[string]*spread{},
		unplaced:  map[string]unplacedSummary{},
		tasks:     map[string]taskEntry{},
		ignored:   map[string]string{},
		bodies:    newBodyCache(),
		tally:     newTally(),
		maxBody:   store.MaxBodyBytes(st.MaxOpBytes()),
		fanout:    workqueue.New("fanout", h.queueOptions("fanout")),
		apply:     workqueue.New("apply", h.queueOptions("apply")),
		lostTasks: workqueue.New("convergence", h.queueOptions("convergence")),
		writer:    newWriter(st),
	}
}

// model returns the compiled desired model; an empty one before the first.
func (t *term) model() *compiledModel {
	if m := t.cm.Load(); m != nil {
		return m
	}
	return emptyModel
}

// writeFailed records a write that etcd refused or never answered; a
// fenced write deposes the term.
func (t *term) writeFailed(err error) {
	if errors.Is(err, store.ErrFenced) {
		t.depose(fmt.Errorf("%w: %v", errNotLeading, err))
		return
	}
	if t.ctx.Err() != nil {
		return
	}
	t.health.mu.Lock()
	t.health.err, t.health.at = err, time.Now()
	t.health.mu.Unlock()
}

// writeLanded records that a write reached etcd.
func (t *term) writeLanded() {
	t.health.mu.Lock()
	t.health.err = nil
	t.health.mu.Unlock()
}

func (t *term) writeError() error {
	t.health.mu.Lock()
	defer t.health.mu.Unlock()
	return t.health.err
}

// lead runs one term: load everything from etcd, then keep it current and
// reconcile until ctx ends.
func (h *Hub) lead(ctx context.Context, t *term) error {
	w := h.Workers()
	revs, err := t.load(ctx)
	if err != nil {
		return err
	}
	h.term.Store(t)
	h.recordWorkers(w)
	g, ctx := errgroup.WithContext(ctx)
	for range h.cfg.Flushers {
		g.Go(func() error { return t.writer.run(ctx) })
	}
	g.Go(func() error { return t.fanout.Run(ctx, w.Fanout, h.reconciler("fanout", t.fanoutWorkload)) })
	g.Go(func() error { return t.apply.Run(ctx, w.Apply, h.reconciler("apply", t.applyCell)) })
	g.Go(func() error { return t.lostTasks.Run(ctx, w.Convergence, h.reconciler("convergence", t.convergeTask)) })
	g.Go(func() error { return t.watchLoop(ctx, store.CellsPrefix, revs.cells, t.onCells) })
	g.Go(func() error { return t.watchLoop(ctx, store.TasksPrefix, revs.tasks, t.onTasks) })
	g.Go(func() error { return t.watchLoop(ctx, store.ActualPrefix, revs.actual, t.onActual) })
	g.Go(func() error { return h.desiredLoop(ctx, t) })
	g.Go(func() error { return t.resyncLoop(ctx) })
	g.Go(func() error { return h.statusLoop(ctx, t) })
	return g.Wait()
}

// reconciler adapts a controller step to a queue handler that records its
// result.
func (h *Hub) reconciler(name string, step func(context.Context, string) error) workqueue.Handler {
	return func(ctx context.Context, key string) error {
		err := step(ctx, key)
		if h.deps.Metrics != nil {
			result := metrics.ResultSuccess
			if err != nil {
				result = metrics.ResultError
			}
			h.deps.Metrics.Reconciled(name, result)
		}
		return err
	}
}

func (h *Hub) recordWorkers(w Workers) {
	if m := h.deps.Metrics; m != nil {
		m.Queue("fanout").Workers(w.Fanout)
		m.Queue("apply").Workers(w.Apply)
		m.Queue("convergence").Workers(w.Convergence)
	}
}

func (h *Hub) queueOptions(name string) workqueue.Options {
	var opts workqueue.Options
	if h.deps.Metrics != nil {
		opts.Metrics = h.deps.Metrics.Queue(name)
	}
	return opts
}

// desiredLoop compiles each new desired model as it arrives; a model whose
// bodies cannot be written is retried every second.
func (h *Hub) desiredLoop(ctx context.Context, t *term) error {
	// A model set before this term began is waiting already.
	h.poke()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-h.wake:
		}
		d := h.latestDesired()
		if d == nil {
			continue
		}
		if err := t.setDesired(ctx, d); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			h.log.Error("apply desired model; will retry", "commit", d.Commit, "err", err)
			h.poke()
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Second):
			}
		}
	}
}

// resyncLoop periodically re-reads desired/ and fans every workload out
// again: whatever etcd holds that the mirror does not (a write of a
// deposed leader, a manual edit) is corrected.
func (t *term) resyncLoop(ctx context.Context) error {
	tick := time.NewTicker(t.h.cfg.ResyncInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if err := t.resync(ctx); err != nil && ctx.Err() == nil {
			t.h.log.Warn("resync", "err", err)
		}
	}
}

// resync compares desired/ in etcd with the cells' mirrors, takes what
// differs and queues those cells, and queues every workload for the
// fan-out.
func (t *term) resync(ctx context.Context) error {
	kvs, listRev, err := t.st.List(ctx, store.DesiredPrefix)
	if err != nil {
		return fmt.Errorf("re-list desired records: %w", err)
	}
	inEtcd := map[string]map[string]store.KV{}
	for _, kv := range kvs {
		cell, src, ok := store.SplitCellKey(store.DesiredPrefix, kv.Key)
		if !ok {
			continue
		}
		if inEtcd[cell] == nil {
			inEtcd[cell] = map[string]store.KV{}
		}
		inEtcd[cell][src] = kv
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	changed := 0
	for name := range inEtcd {
		t.cellFor(name)
	}
	for name, c := range t.cells {
		revs := c.storedRevs()
		diff := false
		// A record newer than the listing landed after it: keep it.
		for src, kv := range inEtcd[name] {
			if rev, ok := revs[src]; !ok || rev < kv.ModRevision {
				diff = c.loadRecord(src, decodeRecord(kv)) || diff
			}
		}
		for src, rev := range revs {
			if _, ok := inEtcd[name][src]; !ok && rev <= listRev {
				diff = c.dropRecord(src) || diff
			}
		}
		if diff {
			changed++
			t.apply.Add(name)
		}
	}
	for _, id := range t.model().ids {
		t.fanout.Add(id)
	}
	if changed > 0 {
		t.h.log.Warn("resync found records the hub did not write; correcting", "cells", changed)
	}
	return nil
}
