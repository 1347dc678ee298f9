package cell

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"
	clientv3 "go.etcd.io/etcd/client/v3"
	"golang.org/x/sync/errgroup"

	"github.com/cellsync/cellsync/events"
	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/store"
)

// Agent is one cell's agent. Build it with New and call Run once.
type Agent struct {
	cfg     Config
	st      *store.Client
	rt      Runtime
	log     *slog.Logger
	clock   clockwork.Clock
	m       *metrics
	rep     *reporter
	files   configFiles
	desired *watcher
	portMu  sync.Mutex
	ports   *portPool
	// ev writes the cell's events; nil when EventCapacity is negative.
	ev *events.Writer
	// logsRoot holds the instances' output; "" discards it.
	logsRoot string

	leaseMu    sync.Mutex
	lease      clientv3.LeaseID
	state      string // model.CellReady or model.CellEvacuating
	registered chan struct{}
	regOnce    sync.Once

	evacuating atomic.Bool
	drained    chan struct{}
	drainOnce  sync.Once

	// Owned by the reconcile goroutine, then by Run after it exits.
	runners   map[string]*runner
	adopt     map[string]Container // by instance ID, until the first pass
	crashSeed map[string]model.Actual
	specs     map[string]model.Object
	wg        sync.WaitGroup // runners
	runBase   context.Context
}

// New checks cfg and deps and returns an agent ready to Run.
func New(cfg Config, deps Deps) (*Agent, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := deps.validate(); err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.Name, deps.Registerer)
	if err != nil {
		return nil, err
	}
	a := &Agent{
		cfg: cfg, st: deps.Store, rt: deps.Runtime, log: deps.Logger, clock: deps.Clock, m: m,
		files:      configFiles{dir: cfg.StateDir},
		ports:      newPortPool(cfg.PortRange),
		state:      model.CellReady,
		registered: make(chan struct{}),
		drained:    make(chan struct{}),
		runners:    map[string]*runner{},
		specs:      map[string]model.Object{},
	}
	a.rep = newReporter(cfg.Name, deps.Store, deps.Clock, deps.Logger, m, cfg.FlushInterval, cfg.RetryInterval)
	a.desired = newWatcher(cfg.Name, deps.Store, deps.Clock, deps.Logger, cfg.RetryInterval)
	if cfg.StateDir != "" {
		a.logsRoot = filepath.Join(cfg.StateDir, "logs")
	}
	if cfg.EventCapacity >= 0 {
		a.ev, err = events.New(events.Config{Prefix: store.CellEventsPrefix(cfg.Name), Capacity: cfg.EventCapacity},
			events.Deps{Store: deps.Store, Clock: deps.Clock, Logger: deps.Logger})
		if err != nil {
			return nil, err
		}
	}
	return a, nil
}

// Registered is closed once the cell is first registered in etcd.
func (a *Agent) Registered() <-chan struct{} { return a.registered }

// Run registers the cell, runs what the hub assigns to it and reports actual
// state until ctx ends; then it shuts down as Config.Shutdown says. It
// returns after every goroutine it started has exited; the error is nil
// after a clean shutdown.
func (a *Agent) Run(ctx context.Context) error {
	base := context.WithoutCancel(ctx)
	a.runBase = base
	sessCtx, stopSession := context.WithCancel(base)
	defer stopSession()
	sess, sessCtx := errgroup.WithContext(sessCtx)
	sess.Go(func() error { return a.session(sessCtx) })
	sess.Go(func() error { return a.rep.run(sessCtx) })
	if a.ev != nil {
		sess.Go(func() error { return a.ev.Run(sessCtx) })
	}

	workCtx, stopWork := context.WithCancel(base)
	defer stopWork()
	work, workCtx := errgroup.WithContext(workCtx)
	work.Go(func() error { return a.desired.run(workCtx) })
	work.Go(func() error { return a.reconcileLoop(workCtx) })

	select {
	case <-ctx.Done():
	case <-workCtx.Done():
	case <-sessCtx.Done():
	}
	if a.cfg.Shutdown == Evacuate && ctx.Err() != nil {
		a.evacuate(base)
	}
	stopWork()
	werr := work.Wait()

	kill := a.cfg.Shutdown == Evacuate
	a.stopRunners(a.runnerIDs(), kill, ReasonEvacuated)
	// The session ends before the lease goes, or it would see the lease
	// lost and register the cell again.
	stopSession()
	serr := sess.Wait()
	if kill {
		a.revoke(base) // also deletes the actual state kept under the lease
	}
	if werr != nil {
		return fmt.Errorf("cell %s: %w", a.cfg.Name, werr)
	}
	if serr != nil {
		return fmt.Errorf("cell %s: %w", a.cfg.Name, serr)
	}
	return nil
}

// session keeps the cell registered under a lease, and registers again under
// a new lease when the old one is lost.
func (a *Agent) session(ctx context.Context) error {
	etcd := a.st.Etcd()
	ttl := int64(a.cfg.LeaseTTL.Seconds())
	for {
		grant, err := etcd.Grant(ctx, ttl)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			a.log.Warn("grant lease", "cell", a.cfg.Name, "err", err)
			if sleep(ctx, a.clock, a.cfg.RetryInterval) != nil {
				return nil
			}
			continue
		}
		kaCtx, kaCancel := context.WithCancel(ctx)
		ka, err := etcd.KeepAlive(kaCtx, grant.ID)
		if err == nil {
			a.leaseMu.Lock()
			a.lease = grant.ID
			a.leaseMu.Unlock()
			err = a.register(ctx)
		}
		if err != nil {
			kaCancel()
			if ctx.Err() != nil {
				return nil
			}
			a.log.Warn("register cell", "cell", a.cfg.Name, "err", err)
			if sleep(ctx, a.clock, a.cfg.RetryInterval) != nil {
				return nil
			}
			continue
		}
		a.rep.setLease(int64(grant.ID))
		first := false
		a.regOnce.Do(func() { close(a.registered); first = true })
		a.log.Info("cell registered", "cell", a.cfg.Name, "lease", int64(grant.ID))
		if first {
			a.event(model.Event{Type: model.EventCellJoined, Message: fmt.Sprintf("cell %s registered (zone %q, runtime %s)", a.cfg.Name, a.cfg.Zone, a.rt.Name())})
		} else {
			a.event(model.Event{Type: model.EventCellJoined, Severity: model.SeverityWarning, Message: fmt.Sprintf("cell %s registered again after losing its lease", a.cfg.Name)})
		}
	alive:
		for {
			select {
			case <-ctx.Done():
				kaCancel()
				return nil
			case _, ok := <-ka:
				if !ok {
					break alive
				}
			}
		}
		kaCancel()
		if ctx.Err() != nil {
			return nil
		}
		a.log.Warn("lease lost; registering again", "cell", a.cfg.Name, "lease", int64(grant.ID))
		a.rep.setLease(0)
	}
}

// register writes the cell record under the current lease.
func (a *Agent) register(ctx context.Context) error {
	a.leaseMu.Lock()
	lease, state := a.lease, a.state
	a.leaseMu.Unlock()
	rec := model.Cell{
		Name: a.cfg.Name, Zone: a.cfg.Zone, Labels: a.cfg.Labels, Capacity: a.cfg.Capacity,
		Runtime: a.rt.Name(), Version: a.cfg.Version, State: state, LogsURL: a.cfg.LogsURL,
	}
	v, err := store.Encode(rec)
	if err != nil {
		return fmt.Errorf("encode cell %s: %w", a.cfg.Name, err)
	}
	res, err := a.st.Write(ctx, []store.Op{{Key: store.CellKey(a.cfg.Name), Value: v, Lease: int64(lease)}})
	a.m.etcdTxns.Add(float64(res.Txns))
	a.m.etcdWrites.Add(float64(res.Written))
	if err != nil {
		return fmt.Errorf("register cell %s: %w", a.cfg.Name, err)
	}
	return nil
}

// evacuate marks the cell evacuating and waits, at most EvacuationTimeout,
// until the hub has taken every LRP instance away from it.
func (a *Agent) evacuate(ctx context.Context) {
	a.log.Info("cell evacuating", "cell", a.cfg.Name, "timeout", a.cfg.EvacuationTimeout)
	a.event(model.Event{Type: model.EventCellEvacuating, Message: fmt.Sprintf("cell %s is shutting down: waiting up to %s for the hub to move its LRPs", a.cfg.Name, a.cfg.EvacuationTimeout)})
	a.leaseMu.Lock()
	a.state = model.CellEvacuating
	a.leaseMu.Unlock()
	a.evacuating.Store(true)
	a.rep.setEvacuating()
	wctx, cancel := context.WithTimeout(ctx, a.cfg.StopTimeout)
	if err := a.register(wctx); err != nil {
		a.log.Warn("mark cell evacuating", "cell", a.cfg.Name, "err", err)
	}
	cancel()
	a.desired.poke()
	t := a.clock.NewTimer(a.cfg.EvacuationTimeout)
	defer t.Stop()
	select {
	case <-a.drained:
		a.log.Info("cell drained", "cell", a.cfg.Name)
	case <-t.Chan():
		a.log.Warn("evacuation timed out; stopping remaining instances", "cell", a.cfg.Name)
	}
}

// revoke ends the lease, which removes the registration and actual state.
func (a *Agent) revoke(ctx context.Context) {
	a.leaseMu.Lock()
	lease := a.lease
	a.leaseMu.Unlock()
	if lease == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, a.cfg.StopTimeout)
	defer cancel()
	if _, err := a.st.Etcd().Revoke(ctx, lease); err != nil {
		a.log.Warn("revoke lease", "cell", a.cfg.Name, "err", err)
		return
	}
	a.log.Info("cell deregistered", "cell", a.cfg.Name)
}

// reconcileLoop adopts the containers a previous agent left, then applies
// every change of the desired state.
func (a *Agent) reconcileLoop(ctx context.Context) error {
	if !a.prepare(ctx) {
		return nil
	}
	var retry <-chan struct{}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-a.desired.changed:
		case <-retry:
		}
		retry = nil
		snap, ok := a.desired.current()
		if !ok {
			continue
		}
		if !a.reconcile(ctx, snap) && ctx.Err() == nil {
			retry = a.after(ctx, a.cfg.RetryInterval)
		}
	}
}

// after returns a channel closed after d, or never if ctx ends first.
func (a *Agent) after(ctx context.Context, d time.Duration) <-chan struct{} {
	ch := make(chan struct{})
	t := a.clock.AfterFunc(d, func() { close(ch) })
	context.AfterFunc(ctx, func() { t.Stop() })
	return ch
}

// prepare lists the runtime's containers of this cell for adoption and
// reads the crash counts a previous agent reported.
func (a *Agent) prepare(ctx context.Context) bool {
	for {
		cs, err := a.rt.List(ctx)
		if err == nil {
			a.adopt = map[string]Container{}
			for _, c := range cs {
				if c.Labels[LabelCell] == a.cfg.Name && c.Labels[LabelInstance] != "" {
					a.adopt[c.Labels[LabelInstance]] = c
				}
			}
			break
		}
		a.log.Warn("list containers", "cell", a.cfg.Name, "err", err)
		if sleep(ctx, a.clock, a.cfg.RetryInterval) != nil {
			return false
		}
	}
	a.crashSeed = map[string]model.Actual{}
	kvs, _, err := a.st.List(ctx, store.ActualCellPrefix(a.cfg.Name))
	if err != nil {
		a.log.Warn("read previous actual state", "cell", a.cfg.Name, "err", err)
		return ctx.Err() == nil
	}
	for _, kv := range kvs {
		id := strings.TrimPrefix(kv.Key, store.ActualCellPrefix(a.cfg.Name))
		var act model.Actual
		if id == model.ReportID || store.Decode(kv, &act) != nil {
			continue
		}
		a.crashSeed[id] = act
	}
	return true
}

// reconcile makes the runners match one desired snapshot and reports the
// snapshot's revision as applied; it returns false when something must be
// retried (a spec body could not be read).
func (a *Agent) reconcile(ctx context.Context, snap snapshot) bool {
	complete := a.fetchSpecs(ctx, snap)
	w, problems := computeWant(snap, a.specs)
	for _, p := range problems {
		a.log.Warn("desired state", "cell", a.cfg.Name, "problem", p)
	}

	// Stop what left the cell or changed, all at once. While some body is
	// unreadable the desired state is partial: stopping on it could kill
	// instances over a passing etcd error, so only starts happen.
	var gone []string
	replaced := map[string]bool{}
	for id, r := range a.runners {
		if !complete {
			break
		}
		if r.isTask {
			if _, ok := w.tasks[strings.TrimPrefix(id, string(model.KindTask)+"/")]; !ok {
				gone = append(gone, id)
				r.stop(true, ReasonRemoved)
			}
			continue
		}
		switch l, ok := w.lrps[id]; {
		case !ok:
			gone = append(gone, id)
			r.stop(true, ReasonRemoved)
		case l.version != r.version:
			gone = append(gone, id)
			replaced[id] = true
			r.stop(true, reasonReplaced)
		}
	}
	a.awaitRunners(gone)

	// Start what is new; wake crashed instances whose key the hub rewrote.
	for _, id := range sortedKeys(w.lrps) {
		l := w.lrps[id]
		if r, ok := a.runners[id]; ok {
			if r.version != l.version {
				continue // replaced once the desired state is complete
			}
			r.restarts.Store(int64(l.restarts))
			if l.bump > r.bumpRev {
				r.bumpRev = l.bump
				select {
				case r.bump <- struct{}{}:
				default:
				}
			}
			continue
		}
		r := a.newRunner(id, l.version, false)
		r.bumpRev = l.bump
		r.restarts.Store(int64(l.restarts))
		adopted := a.takeAdopted(id, l.version)
		if adopted != nil && !a.adoptPorts(r, adopted, l.lrp.Spec.Ports) {
			adopted = nil
		}
		var seed model.Actual
		if prev, ok := a.crashSeed[id]; ok && prev.Version == l.version {
			seed = prev
		}
		if replaced[id] {
			seed.LastExit = &model.Exit{Code: -1, Cause: model.ExitKilled, Message: "stopped by the hub: replaced by a new version", At: a.clock.Now().UTC()}
		}
		a.spawn(r, func(ctx context.Context) { a.runLRP(ctx, r, l, adopted, seed) })
	}
	for _, name := range sortedKeys(w.tasks) {
		t := w.tasks[name]
		id := model.InstanceID(model.KindTask, name, 0)
		if _, ok := a.runners[id]; ok {
			continue
		}
		r := a.newRunner(id, t.hash, true)
		adopted := a.takeAdopted(id, "")
		a.spawn(r, func(ctx context.Context) { a.runTask(ctx, r, t, adopted) })
	}

	if !complete {
		return false
	}
	// Containers of a previous agent that nothing claimed are orphans.
	for id, c := range a.adopt {
		a.log.Info("remove orphan container", "cell", a.cfg.Name, "instance", id, "container", c.ID)
		a.removeContainer(ctx, c.ID)
	}
	clear(a.adopt)
	a.crashSeed = nil

	if err := a.files.gc(w.allConfigs()); err != nil {
		a.log.Warn("clean configs", "cell", a.cfg.Name, "err", err)
	}
	a.gcLogs()
	a.gcSpecs(snap)

	if a.evacuating.Load() && len(w.lrps) == 0 {
		a.drainOnce.Do(func() { close(a.drained) })
	}
	a.rep.setApplied(snap.rev)
	return true
}

// fetchSpecs reads the bodies the snapshot names that are not cached; it
// returns false if some could not be read.
func (a *Agent) fetchSpecs(ctx context.Context, snap snapshot) bool {
	missing := missingSpecs(snap, a.specs)
	if len(missing) == 0 {
		return true
	}
	keys := make([]string, len(missing))
	for i, h := range missing {
		keys[i] = store.SpecKey(h)
	}
	kvs, err := a.st.GetMany(ctx, keys)
	if err != nil {
		if ctx.Err() == nil {
			a.log.Warn("read specs", "cell", a.cfg.Name, "specs", len(keys), "err", err)
		}
		return false
	}
	ok := true
	for i, h := range missing {
		kv, found := kvs[keys[i]]
		if !found {
			a.log.Warn("read spec", "cell", a.cfg.Name, "spec", h, "found", false)
			ok = false
			continue
		}
		obj, err := model.DecodeObject(kv.Value)
		if err != nil {
			// A body the agent cannot decode will not decode later either.
			a.log.Warn("decode spec", "cell", a.cfg.Name, "spec", h, "err", err)
			continue
		}
		a.specs[h] = obj
	}
	return ok
}

// gcSpecs forgets cached bodies no assignment names.
func (a *Agent) gcSpecs(snap snapshot) {
	used := map[string]bool{}
	for _, as := range snap.assigns {
		for _, it := range as.Items {
			used[it.Spec] = true
			for _, c := range it.Configs {
				used[c.Spec] = true
			}
		}
	}
	for h := range a.specs {
		if !used[h] {
			delete(a.specs, h)
		}
	}
}

func (a *Agent) newRunner(id, version string, isTask bool) *runner {
	return &runner{
		id: id, cid: containerID(a.cfg.Name, id), version: version, isTask: isTask,
		done: make(chan struct{}), bump: make(chan struct{}, 1),
	}
}

// takeAdopted returns the previous agent's container for an instance if it
// runs the same version (any version for Tasks), and removes it from the
// orphans either way: a runner that does not adopt it replaces it.
func (a *Agent) takeAdopted(id, version string) *Container {
	c, ok := a.adopt[id]
	if !ok {
		return nil
	}
	delete(a.adopt, id)
	if version != "" && c.Labels[LabelVersion] != version {
		return nil
	}
	return &c
}

// spawn starts a runner's goroutine; Run waits for it.
func (a *Agent) spawn(r *runner, run func(context.Context)) {
	ctx, cancel := context.WithCancel(a.runBase)
	r.cancel = cancel
	a.runners[r.id] = r
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer cancel()
		run(ctx)
	}()
}

// stopRunners stops the named runners in parallel and waits for them.
func (a *Agent) stopRunners(ids []string, kill bool, reason string) {
	for _, id := range ids {
		a.runners[id].stop(kill, reason)
	}
	a.awaitRunners(ids)
}

// awaitRunners waits for stopped runners to end and forgets them.
func (a *Agent) awaitRunners(ids []string) {
	// Each runner removes its own container, so they stop in parallel.
	for _, id := range ids {
		<-a.runners[id].done
		delete(a.runners, id)
	}
	if len(a.runners) == 0 {
		a.wg.Wait()
	}
}

func (a *Agent) runnerIDs() []string {
	return sortedKeys(a.runners)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
