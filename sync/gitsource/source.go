package gitsource

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cellsync/cellsync/loader"
)

// Clock is the time the Source waits on; tests pass a fake one.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// After returns a channel that receives once d has elapsed.
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Deps are the Source's collaborators. Every field is optional.
type Deps struct {
	// Logger receives sync events; default: discard.
	Logger *slog.Logger
	// Registerer receives the metrics; default: a private registry.
	Registerer prometheus.Registerer
	// Clock times polling and retries; default: the real clock.
	Clock Clock
	// OnSnapshot receives every new snapshot, in commit order, on the
	// goroutine that runs Sync or Run. It must return promptly and must not
	// call Sync.
	OnSnapshot func(*Snapshot)
}

// Status is the Source's health, for status pages and the CLI.
type Status struct {
	// Commit is the commit of the latest snapshot; "" before the first.
	Commit string
	// LastAttempt and LastSuccess are the times of the last fetch and of the
	// last successful one.
	LastAttempt, LastSuccess time.Time
	// Err is the last fetch's error, nil when it succeeded. While Err is set
	// the latest snapshot is still served.
	Err error
	// Failures counts fetches failed in a row.
	Failures int
}

// Source follows one branch of one repository and turns its commits into
// snapshots of the desired model. Create it with New, start it with Run.
type Source struct {
	cfg        Config
	localDir   string // set for file:// and local-path URLs
	log        *slog.Logger
	clock      Clock
	metrics    *metrics
	onSnapshot func(*Snapshot)
	mirror     *git.Repository
	fetcher    fetcher
	trigger    chan struct{}
	running    atomic.Bool

	// Owned by the goroutine that runs Sync.
	desired *desired
	head    plumbing.Hash
	tree    *object.Tree

	mu     sync.Mutex
	latest *Snapshot
	status Status
}

// New validates cfg, opens (or creates) the mirror in cfg.DataDir and
// registers the metrics. It does no network I/O: the first fetch happens in
// Run or Sync.
func New(cfg Config, deps Deps) (*Source, error) {
	kind, dir, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if deps.Registerer == nil {
		deps.Registerer = prometheus.NewRegistry()
	}
	if deps.Clock == nil {
		deps.Clock = realClock{}
	}
	m, err := newMetrics(deps.Registerer)
	if err != nil {
		return nil, err
	}
	mirror, err := openMirror(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	s := &Source{
		cfg:        cfg,
		log:        deps.Logger.With("url", redactURL(cfg.URL), "branch", cfg.Branch),
		clock:      deps.Clock,
		metrics:    m,
		onSnapshot: deps.OnSnapshot,
		mirror:     mirror,
		trigger:    make(chan struct{}, 1),
		desired:    newDesired(loader.Options{MaxFileSize: cfg.MaxFileSize}, cfg.MassDeleteFraction),
	}
	switch kind {
	case remoteLocal:
		s.localDir = dir
		s.fetcher = &localFetcher{url: cfg.URL, dir: dir, branch: cfg.Branch, mirror: mirror}
	default:
		s.fetcher = &networkFetcher{url: cfg.URL, branch: cfg.Branch, auth: cfg.Auth, mirror: mirror}
	}
	return s, nil
}

// Run fetches at once, then whenever a trigger arrives (Trigger, the
// webhook, a ref change of a local repository) or PollInterval passes; after
// a failed fetch it retries with exponential backoff between RetryMin and
// RetryMax, serving the last snapshot meanwhile. Run returns nil when ctx is
// canceled, after its goroutines have exited; it may be called once.
func (s *Source) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("gitsource: Run called twice")
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	if s.localDir != "" && !s.cfg.DisableWatch {
		w, err := s.newWatcher()
		if err != nil {
			s.log.Warn("cannot watch the repository's refs; polling only", "err", err)
		} else {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.watch(ctx, w)
			}()
		}
	}
	failures := 0
	for {
		_, err := s.Sync(ctx)
		if ctx.Err() != nil {
			return nil
		}
		wait := s.cfg.PollInterval
		if err != nil {
			failures++
			wait = s.backoff(failures)
			s.log.Warn("git sync failed; serving the last good snapshot", "err", err, "retry_in", wait)
		} else {
			failures = 0
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.trigger:
		case <-s.clock.After(wait):
		}
	}
}

// backoff is the wait after the n-th failure in a row.
func (s *Source) backoff(n int) time.Duration {
	d := s.cfg.RetryMin
	for i := 1; i < n && d < s.cfg.RetryMax; i++ {
		d *= 2
	}
	return min(d, s.cfg.RetryMax)
}

// Trigger asks Run for a fetch now. It never blocks: triggers that arrive
// while one is pending collapse into it. Safe for concurrent use.
func (s *Source) Trigger() {
	select {
	case s.trigger <- struct{}{}:
	default:
	}
}

// Latest returns the latest snapshot, nil before the first. Safe for
// concurrent use.
func (s *Source) Latest() *Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.latest
}

// Status returns the Source's health. Safe for concurrent use.
func (s *Source) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

// Sync fetches once and, when the branch moved, builds, records and
// delivers a new snapshot, which it returns.
// It returns nil and no error when nothing changed. Errors wrap
// ErrBranchNotFound or ErrPathNotFound where those apply and name the URL
// without credentials; the previous snapshot stays in force. Sync must not
// be called concurrently with itself or with Run.
func (s *Source) Sync(ctx context.Context) (*Snapshot, error) {
	start := time.Now()
	head, err := s.fetcher.fetch(ctx)
	s.metrics.fetchDuration.Observe(time.Since(start).Seconds())
	if errors.Is(err, errRefBusy) {
		return nil, nil
	}
	if err == nil {
		var snap *Snapshot
		if snap, err = s.process(ctx, head); err == nil {
			s.record(nil)
			if snap != nil {
				s.deliver(snap)
			}
			return snap, nil
		}
	}
	s.metrics.fetchErrors.Inc()
	s.record(err)
	return nil, err
}

func (s *Source) record(err error) {
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status.LastAttempt, s.status.Err = now, err
	if err != nil {
		s.status.Failures++
		return
	}
	s.status.LastSuccess, s.status.Failures = now, 0
}

func (s *Source) deliver(snap *Snapshot) {
	s.mu.Lock()
	s.latest = snap
	s.status.Commit = snap.Commit
	s.mu.Unlock()
	s.metrics.snapshot(snap)
	s.log.Info("git snapshot", "commit", snap.Commit, "workloads", len(snap.Objects), "parsed_files", snap.Parsed,
		"file_errors", snap.ErrorCount(), "parse_duration", snap.ParseDuration, "force_push", snap.ForcePush)
	if snap.Held != nil {
		s.log.Warn("mass deletion held", "held", snap.Held.String())
	}
	if s.onSnapshot != nil {
		s.onSnapshot(snap)
	}
}

// process turns head into a snapshot, diffing against the previous tree; nil
// when there is nothing new.
func (s *Source) process(ctx context.Context, head plumbing.Hash) (*Snapshot, error) {
	if head == s.head {
		return nil, nil
	}
	commit, sub, err := s.commitTree(head)
	if err != nil {
		return nil, err
	}
	if s.tree == nil {
		s.restore(head)
	}
	fsys := newTreeFS(s.mirror.Storer, sub, commit.Committer.When)
	changed := map[string]bool{}
	var treeErrs []error
	switch {
	case s.tree == nil:
		changed, treeErrs = listAll(fsys)
	case s.tree.Hash != sub.Hash:
		if err := diffTrees(ctx, s.mirror.Storer, s.tree, sub, "", changed); err != nil {
			return nil, fmt.Errorf("diff %s..%s: %w", short(s.head.String()), short(head.String()), err)
		}
	}
	info := commitInfo{sha: head.String(), when: commit.Committer.When}
	if !s.head.IsZero() && s.head != head {
		if old, err := s.mirror.CommitObject(s.head); err == nil {
			isAncestor, err := old.IsAncestor(commit)
			info.forcePush = err == nil && !isAncestor
		}
	}
	snap := s.desired.apply(fsys, info, changed, treeErrs)
	s.head, s.tree = head, sub
	if len(snap.FileErrors) == 0 && snap.Held == nil {
		if err := s.mirror.Storer.SetReference(plumbing.NewHashReference(cleanRef, head)); err != nil {
			s.log.Warn("cannot record the clean commit in the mirror", "err", err)
		}
	}
	return snap, nil
}

// cleanRef records, in the mirror, the latest synced commit whose snapshot
// had no file error and no held deletion: its tree alone is a good state, so
// a restarted Source can rebuild from it.
const cleanRef = plumbing.ReferenceName("refs/cellsync/last-clean")

// restore loads, without delivering it, the last clean commit of a previous
// run, when it differs from head. The first snapshot after a restart is then
// a diff against it: a file broken at head keeps its version from that
// commit (which may be older than the last good version the previous run
// held, never missing), and the mass-deletion guard has a baseline. Best
// effort: on any problem the first snapshot is a plain full load.
func (s *Source) restore(head plumbing.Hash) {
	ref, err := s.mirror.Storer.Reference(cleanRef)
	if err != nil || ref.Hash() == head {
		return
	}
	commit, sub, err := s.commitTree(ref.Hash())
	if err != nil {
		s.log.Warn("cannot restore the last clean commit", "commit", ref.Hash().String(), "err", err)
		return
	}
	fsys := newTreeFS(s.mirror.Storer, sub, commit.Committer.When)
	changed, treeErrs := listAll(fsys)
	s.desired.apply(fsys, commitInfo{sha: ref.Hash().String(), when: commit.Committer.When}, changed, treeErrs)
	s.head, s.tree = ref.Hash(), sub
	s.log.Info("restored the last clean commit", "commit", ref.Hash().String())
}

// commitTree reads a commit and its tree at Config.Path.
func (s *Source) commitTree(h plumbing.Hash) (*object.Commit, *object.Tree, error) {
	commit, err := s.mirror.CommitObject(h)
	if err != nil {
		return nil, nil, fmt.Errorf("read commit %s: %w", h, err)
	}
	root, err := commit.Tree()
	if err != nil {
		return nil, nil, fmt.Errorf("read tree of commit %s: %w", h, err)
	}
	if s.cfg.Path == "" {
		return commit, root, nil
	}
	sub, err := root.Tree(s.cfg.Path)
	if err != nil {
		if errors.Is(err, object.ErrDirectoryNotFound) || errors.Is(err, object.ErrEntryNotFound) {
			err = ErrPathNotFound
		}
		return nil, nil, fmt.Errorf("commit %s: %w: %q", short(h.String()), err, s.cfg.Path)
	}
	return commit, sub, nil
}

// listAll marks every workload file of fsys as present.
func listAll(fsys fs.FS) (map[string]bool, []error) {
	paths, errs := loader.List(fsys)
	changed := make(map[string]bool, len(paths))
	for _, p := range paths {
		changed[p] = false
	}
	return changed, errs
}
