package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"go.etcd.io/etcd/client/v3/concurrency"
	"golang.org/x/sync/errgroup"

	"github.com/cellsync/cellsync/apply"
	"github.com/cellsync/cellsync/metrics"
	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/placement"
	"github.com/cellsync/cellsync/selectors"
	"github.com/cellsync/cellsync/store"
	"github.com/cellsync/cellsync/sync/workqueue"
)

// Workers sizes the worker pools of the hub's controllers.
type Workers struct {
	// Fanout workers turn workloads into per-cell intents. Default 8.
	Fanout int
	// Apply workers turn one cell's intents into etcd writes. Default 32.
	Apply int
	// Convergence workers fail lost Tasks. Default 2.
	Convergence int
}

func (w Workers) withDefaults() Workers {
	if w.Fanout <= 0 {
		w.Fanout = 8
	}
	if w.Apply <= 0 {
		w.Apply = 32
	}
	if w.Convergence <= 0 {
		w.Convergence = 2
	}
	return w
}

// Config tunes a Hub.
type Config struct {
	Workers Workers
	// ResyncInterval is how often every workload is fanned out again even
	// without events, as a safety net. Default 10m.
	ResyncInterval time.Duration
	// Identity names this hub in the leader election; default host:pid.
	Identity string
	// SessionTTL is the leader session's lease TTL: how long a standby waits
	// after the leader dies. Default 10s.
	SessionTTL time.Duration
	// MaxTxnOps caps the operations the hub packs into one etcd
	// transaction; it must not exceed the server's --max-txn-ops. Default
	// 128, etcd's default.
	MaxTxnOps int
	// Flushers is the number of transactions the hub keeps in flight while
	// it fills the next ones. Default 4.
	Flushers int
	// Crash restarts follow Diego: a cell restarts an instance itself for its
	// first ImmediateRestarts crashes (3); after that the hub restarts it
	// after CrashBackoff (default 30s), doubling with every crash up to
	// MaxCrashBackoff (default 16m), and gives up at MaxCrashes (default
	// 200). A cell resets the count once an instance has run for 5 minutes.
	ImmediateRestarts int
	CrashBackoff      time.Duration
	MaxCrashBackoff   time.Duration
	MaxCrashes        int
}

// Deps are the Hub's collaborators.
type Deps struct {
	Store  *store.Client
	Env    *selectors.Env
	Logger *slog.Logger
	// Metrics records what the hub does; nil records nothing.
	Metrics *metrics.Hub
	// Events receives the hub's events (see events.go); nil records none.
	Events EventSink
}

// Hub reconciles the desired model into per-cell assignments. Create it with
// New; SetDesired, Status and Resize are safe to call from any goroutine.
type Hub struct {
	cfg  Config
	deps Deps
	log  *slog.Logger

	// latest is the newest desired model; wake (capacity 1) collapses a
	// burst of SetDesired calls into one compile.
	latestMu sync.Mutex
	latest   *Desired
	wake     chan struct{}

	workersMu sync.Mutex
	workers   Workers

	// mu guards the term state below: everything a leadership term builds.
	mu sync.Mutex
	t  *term

	// appliedReported is the last commit reported applied everywhere;
	// owned by statusLoop.
	appliedReported string
}

// term is the state of one leadership term, rebuilt from etcd each time this
// hub becomes the leader.
type term struct {
	// ended is closed when the term's context ends: from then on its state
	// is abandoned (writes in flight are dropped) and it reports nothing.
	ended <-chan struct{}
	// haveDesired is set once the first desired model is compiled; until
	// then nothing is applied, so nothing is pruned.
	haveDesired bool
	commit      string
	errors      []error
	workloads   map[string]*workload
	// bodies and specsStored: every body the workloads need, and the hashes
	// known to be in etcd.
	specsStored map[string]bool
	bodies      map[string][]byte
	// shared holds the objects ("Kind/name") that more than one workload
	// carries: only those can need a merge on a cell.
	shared map[string]bool
	// applyIntents caches the apply intent of each body that had to be merged.
	applyIntents map[string]*apply.Intent
	compiled     map[string]*selectors.Selector
	index        *selectors.Index
	sched        *placement.State
	cells        map[string]model.Cell
	// intents[cell][source] is what the fan-out wants on the cell.
	intents map[string]map[string][]model.Item
	// stored[cell][source] mirrors the assignments in etcd.
	stored map[string]map[string]storedAssignment
	// written[cell] is the revision of the hub's last write to the cell, and
	// writtenCommit[cell] the commit it came from; appliedCommit[cell] is
	// the newest commit whose writes the cell has reported applied.
	written                      map[string]int64
	writtenCommit, appliedCommit map[string]string
	// inflight cells have a write with the writer; dirty ones changed
	// meanwhile and are assembled again when it lands.
	inflight, dirty map[string]bool
	tasks           map[string]taskEntry
	actual          map[string]map[string]model.Actual
	reports         map[string]model.CellReport
	// unplaced and conflicts, by workload ID, for status.
	unplaced  map[string][]placement.Unplaced
	conflicts map[string][]Conflict
	// workloadErrors are hub-side problems (selectors that do not compile).
	workloadErrors map[string]error
	// tooLarge holds assignments too large for one etcd request, by
	// "<cell> <source>".
	tooLarge map[string]error
	revision int64

	fanout, apply, converge *workqueue.Queue
	writer                  *writer
}

type storedAssignment struct {
	a   model.Assignment
	rev int64
}

type taskEntry struct {
	rec model.TaskRecord
	rev int64
}

// New returns a Hub; call Run to start it.
func New(cfg Config, deps Deps) *Hub {
	if cfg.ResyncInterval <= 0 {
		cfg.ResyncInterval = 10 * time.Minute
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 10 * time.Second
	}
	if cfg.MaxTxnOps <= 0 {
		cfg.MaxTxnOps = store.DefaultMaxTxnOps
	}
	if cfg.Flushers <= 0 {
		cfg.Flushers = 4
	}
	if cfg.ImmediateRestarts <= 0 {
		cfg.ImmediateRestarts = 3
	}
	if cfg.CrashBackoff <= 0 {
		cfg.CrashBackoff = 30 * time.Second
	}
	if cfg.MaxCrashBackoff <= 0 {
		cfg.MaxCrashBackoff = 16 * time.Minute
	}
	if cfg.MaxCrashes <= 0 {
		cfg.MaxCrashes = 200
	}
	if cfg.Identity == "" {
		host, _ := os.Hostname()
		cfg.Identity = fmt.Sprintf("%s:%d", host, os.Getpid())
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	return &Hub{cfg: cfg, deps: deps, log: deps.Logger, wake: make(chan struct{}, 1), workers: cfg.Workers.withDefaults()}
}

// SetDesired hands the hub a new desired model. Only the newest is kept: a
// burst of commits becomes one reconcile. It never blocks.
func (h *Hub) SetDesired(d Desired) {
	h.latestMu.Lock()
	h.latest = &d
	h.latestMu.Unlock()
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// Resize changes the worker counts of the running controllers and of the
// terms to come. Zero fields keep their current value.
func (h *Hub) Resize(w Workers) {
	h.workersMu.Lock()
	if w.Fanout > 0 {
		h.workers.Fanout = w.Fanout
	}
	if w.Apply > 0 {
		h.workers.Apply = w.Apply
	}
	if w.Convergence > 0 {
		h.workers.Convergence = w.Convergence
	}
	cur := h.workers
	h.workersMu.Unlock()
	h.mu.Lock()
	t := h.t
	h.mu.Unlock()
	if t != nil {
		t.fanout.Resize(cur.Fanout)
		t.apply.Resize(cur.Apply)
		t.converge.Resize(cur.Convergence)
	}
	h.recordWorkers(cur)
	h.log.Info("worker pools resized", "fanout", cur.Fanout, "apply", cur.Apply, "convergence", cur.Convergence)
}

// Run campaigns for leadership and reconciles while it leads, until ctx
// ends. A lost session (etcd unreachable for longer than SessionTTL, or a
// deposed leader) ends the term; Run then campaigns again. It returns nil
// when ctx ends, after every goroutine it started has exited.
func (h *Hub) Run(ctx context.Context) error {
	backoff := time.Second
	for ctx.Err() == nil {
		err := h.runTerm(ctx)
		if ctx.Err() != nil {
			return nil
		}
		h.log.Warn("hub term ended; campaigning again", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
	return nil
}

func (h *Hub) runTerm(ctx context.Context) error {
	// The session outlives ctx so that Close can still revoke its lease: a
	// hub that stops hands over at once instead of after SessionTTL.
	session, err := concurrency.NewSession(h.deps.Store.Etcd(), concurrency.WithTTL(int(h.cfg.SessionTTL/time.Second)), concurrency.WithContext(context.WithoutCancel(ctx)))
	if err != nil {
		return fmt.Errorf("open leader session: %w", err)
	}
	defer session.Close()
	election := concurrency.NewElection(session, store.LeaderKey)
	if err := election.Campaign(ctx, h.cfg.Identity); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("campaign for hub leadership: %w", err)
	}
	h.log.Info("leading", "identity", h.cfg.Identity)
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(lctx)
	g.Go(func() error {
		select {
		case <-session.Done():
			cancel()
			return errors.New("leader session lost")
		case <-gctx.Done():
			return nil
		}
	})
	g.Go(func() error { return h.lead(gctx) })
	err = g.Wait()
	h.mu.Lock()
	h.t = nil
	h.mu.Unlock()
	if ctx.Err() == nil {
		rctx, rcancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = election.Resign(rctx)
		rcancel()
	}
	return err
}

// lead runs one term: load everything from etcd, then keep it current and
// reconcile until ctx ends.
func (h *Hub) lead(ctx context.Context) error {
	h.workersMu.Lock()
	w := h.workers
	h.workersMu.Unlock()
	t := &term{
		ended:          ctx.Done(),
		workloads:      map[string]*workload{},
		specsStored:    map[string]bool{},
		bodies:         map[string][]byte{},
		applyIntents:   map[string]*apply.Intent{},
		compiled:       map[string]*selectors.Selector{},
		sched:          placement.New(),
		cells:          map[string]model.Cell{},
		intents:        map[string]map[string][]model.Item{},
		stored:         map[string]map[string]storedAssignment{},
		written:        map[string]int64{},
		writtenCommit:  map[string]string{},
		appliedCommit:  map[string]string{},
		inflight:       map[string]bool{},
		dirty:          map[string]bool{},
		tasks:          map[string]taskEntry{},
		actual:         map[string]map[string]model.Actual{},
		reports:        map[string]model.CellReport{},
		unplaced:       map[string][]placement.Unplaced{},
		conflicts:      map[string][]Conflict{},
		workloadErrors: map[string]error{},
		tooLarge:       map[string]error{},
		fanout:         workqueue.New("fanout", h.queueOptions("fanout")),
		apply:          workqueue.New("apply", h.queueOptions("apply")),
		converge:       workqueue.New("convergence", h.queueOptions("convergence")),
	}
	t.index = selectors.NewIndex(selectors.IndexOptions{})
	t.writer = newWriter(h.deps.Store, h.cfg.MaxTxnOps)
	revs, err := h.load(ctx, t)
	if err != nil {
		return err
	}
	h.mu.Lock()
	h.t = t
	h.mu.Unlock()

	h.recordWorkers(w)
	g, ctx := errgroup.WithContext(ctx)
	for range h.cfg.Flushers {
		g.Go(func() error { return t.writer.run(ctx) })
	}
	g.Go(func() error { return t.fanout.Run(ctx, w.Fanout, h.reconciler("fanout", t, h.fanoutWorkload)) })
	g.Go(func() error { return t.apply.Run(ctx, w.Apply, h.reconciler("apply", t, h.applyCell)) })
	g.Go(func() error { return t.converge.Run(ctx, w.Convergence, h.reconciler("convergence", t, h.convergeKey)) })
	g.Go(func() error { return h.watchLoop(ctx, t, store.CellsPrefix, revs.cells, h.onCells) })
	g.Go(func() error { return h.watchLoop(ctx, t, store.TasksPrefix, revs.tasks, h.onTasks) })
	g.Go(func() error { return h.watchLoop(ctx, t, store.ActualPrefix, revs.actual, h.onActual) })
	g.Go(func() error { return h.desiredLoop(ctx, t) })
	g.Go(func() error { return h.resyncLoop(ctx, t) })
	g.Go(func() error { return h.statusLoop(ctx, 2*time.Second) })
	return g.Wait()
}

// reconciler adapts a controller step to a queue handler that records its
// result.
func (h *Hub) reconciler(name string, t *term, step func(context.Context, *term, string) error) workqueue.Handler {
	return func(ctx context.Context, key string) error {
		err := step(ctx, t, key)
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

// desiredLoop compiles each new desired model as it arrives.
func (h *Hub) desiredLoop(ctx context.Context, t *term) error {
	// A model set before this term began is waiting already.
	select {
	case h.wake <- struct{}{}:
	default:
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-h.wake:
		}
		h.latestMu.Lock()
		d := h.latest
		h.latestMu.Unlock()
		if d == nil {
			continue
		}
		if err := h.setDesired(ctx, t, d); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			h.log.Error("apply desired model; will retry", "commit", d.Commit, "err", err)
			select {
			case h.wake <- struct{}{}:
			default:
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Second):
			}
		}
	}
}

// resyncLoop re-queues every workload and cell periodically.
func (h *Hub) resyncLoop(ctx context.Context, t *term) error {
	tick := time.NewTicker(h.cfg.ResyncInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		h.mu.Lock()
		for id := range t.workloads {
			t.fanout.Add(id)
		}
		for cell := range t.stored {
			t.apply.Add(cell)
		}
		h.mu.Unlock()
	}
}

// Workers returns the current worker counts.
func (h *Hub) Workers() Workers {
	h.workersMu.Lock()
	defer h.workersMu.Unlock()
	return h.workers
}
