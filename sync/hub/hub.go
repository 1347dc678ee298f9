package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/client/v3/concurrency"
	"golang.org/x/sync/errgroup"

	"github.com/cellsync/cellsync/metrics"
	"github.com/cellsync/cellsync/selectors"
	"github.com/cellsync/cellsync/store"
)

// Workers sizes the worker pools of the hub's controllers.
type Workers struct {
	// Fanout workers turn workloads into per-cell intents. Default 8.
	Fanout int
	// Apply workers turn one cell's intents into etcd writes. Default 32.
	Apply int
	// Convergence workers complete or re-place the Tasks of lost cells.
	// Default 2.
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

// Config tunes a Hub. The transaction size comes from the store client
// (store.Client.MaxTxnOps), so the hub and the store cannot disagree.
type Config struct {
	Workers Workers
	// ResyncInterval is how often the hub re-reads desired/ and fans every
	// workload out again even without events, as a safety net. Default 10m.
	ResyncInterval time.Duration
	// Identity names this hub in the leader election; default host:pid.
	Identity string
	// SessionTTL is the leader session's lease TTL: how long a standby waits
	// after the leader dies. Default 10s.
	SessionTTL time.Duration
	// Flushers is the number of transactions the hub keeps in flight while
	// it fills the next ones. Default 4.
	Flushers int
	// Restart is the crash-restart policy, which the hub hands to the cells.
	Restart RestartPolicy
	// MaxLostRounds is how many compare-and-swap rounds one record may lose
	// in a row before its cell's retries back off exponentially (100 ms
	// doubling to 30 s) and count as a delayed retry. Default 3.
	MaxLostRounds int
	// StatusInterval is how often the status is mirrored into etcd and the
	// status metrics are set. Default 2s.
	StatusInterval time.Duration
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
	// Source, if set, reports on where the desired models come from: the
	// hub is synced only when the source's newest commit was fetched and
	// is the one the hub compiled.
	Source Source
}

// Source is where the desired models come from (the Git source).
type Source interface {
	// SourceStatus returns the newest commit the source has delivered and
	// how its last fetch went. Safe for concurrent use.
	SourceStatus() SourceStatus
}

// SourceStatus is the health of the desired models' source.
type SourceStatus struct {
	// Commit is the newest commit delivered; "" before the first.
	Commit string `json:"commit,omitempty"`
	// Error is the last fetch's error ("" when it succeeded): an
	// unreachable remote, a path that is not a repository, bad
	// credentials. Meanwhile the last good model stays in force.
	Error string `json:"error,omitempty"`
	// Failures counts fetches failed in a row.
	Failures int `json:"failures,omitempty"`
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

	// term is the current leadership term, nil while not leading.
	term atomic.Pointer[term]
	// sync remembers when the current commit was first seen and synced,
	// for the rollout metrics.
	sync syncClock
	// appliedReported is the last commit reported applied everywhere;
	// owned by statusLoop.
	appliedReported string
}

// New returns a Hub; call Run to start it.
func New(cfg Config, deps Deps) *Hub {
	if cfg.ResyncInterval <= 0 {
		cfg.ResyncInterval = 10 * time.Minute
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 10 * time.Second
	}
	if cfg.Flushers <= 0 {
		cfg.Flushers = 4
	}
	if cfg.MaxLostRounds <= 0 {
		cfg.MaxLostRounds = 3
	}
	if cfg.StatusInterval <= 0 {
		cfg.StatusInterval = 2 * time.Second
	}
	cfg.Restart = cfg.Restart.withDefaults()
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
	h.sync.seen(d.Commit)
	h.poke()
}

func (h *Hub) poke() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

func (h *Hub) latestDesired() *Desired {
	h.latestMu.Lock()
	defer h.latestMu.Unlock()
	return h.latest
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
	if t := h.term.Load(); t != nil {
		t.fanout.Resize(cur.Fanout)
		t.apply.Resize(cur.Apply)
		t.lostTasks.Resize(cur.Convergence)
	}
	h.recordWorkers(cur)
	h.log.Info("worker pools resized", "fanout", cur.Fanout, "apply", cur.Apply, "convergence", cur.Convergence)
}

// Workers returns the current worker counts.
func (h *Hub) Workers() Workers {
	h.workersMu.Lock()
	defer h.workersMu.Unlock()
	return h.workers
}

// Run campaigns for leadership and reconciles while it leads, until ctx
// ends. A lost session (etcd unreachable for longer than SessionTTL) or a
// fenced write (another hub leads) ends the term; Run then campaigns again.
// It returns nil when ctx ends, after every goroutine it started has exited.
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

// runTerm waits to be elected, then leads until the session ends, a write
// is fenced off or ctx ends. Every write of the term is conditioned on the
// election key this hub created (its create revision): once another hub
// holds the leadership, this one's writes fail instead of landing.
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
	fence := store.Fence{Key: election.Key(), CreateRevision: election.Rev()}
	h.log.Info("leading", "identity", h.cfg.Identity, "leader_key", fence.Key, "revision", fence.CreateRevision)
	tctx, depose := context.WithCancelCause(ctx)
	defer depose(nil)
	t := newTerm(h, tctx, depose, h.deps.Store.WithFence(fence))
	g, gctx := errgroup.WithContext(tctx)
	g.Go(func() error {
		select {
		case <-session.Done():
			depose(errors.New("leader session lost"))
		case <-gctx.Done():
		}
		return nil
	})
	g.Go(func() error { return h.lead(gctx, t) })
	err = g.Wait()
	h.term.CompareAndSwap(t, nil)
	if err == nil {
		err = context.Cause(tctx)
	}
	if ctx.Err() == nil {
		rctx, rcancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = election.Resign(rctx)
		rcancel()
	}
	return err
}
