package scaletest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cellsync/cellsync/config"
	"github.com/cellsync/cellsync/metrics"
	"github.com/cellsync/cellsync/store"
	"github.com/cellsync/cellsync/sync/hub"
	"github.com/cellsync/cellsync/sync/hubserver"
)

// ErrFailed is returned, with the report, when a phase failed its wait or
// its correctness check.
var ErrFailed = errors.New("scaletest failed")

// Hive's figures (hive-scaletest-1000-clusters, 2019-11-29 and 2020-07-16
// observations), shown beside cellsync's.
const (
	hiveAdoption  = "30 min (4 terminals); 60 min in 2019"
	hiveSetsAll   = "60,000 SSIs: 13.8 h at 1.2/s; 16 min at 90/s on 96 vCPU"
	hiveRate      = "1.2/s (temp-file apply); 90/s (SSA, 100 goroutines, 96 vCPU)"
	hivePerRes    = "0.54-0.71 s; 0.02 s with server-side apply"
	hiveMemory    = "185-320 MB; 1.3 GB on 96 vCPU"
	hiveAddRes    = "≈2.5 min"
	hiveAddSet    = "≈10 min"
	hiveRestart   = "1.22 GB RSS after restart (5-6 GB with 100 goroutines)"
	hiveResize    = "5→100 goroutines: rate unchanged at ≈6/s, apply 0.6 s → 14.5 s"
	hiveNoReplace = "n/a (Hive places nothing)"
)

// runner holds one run's parts.
type runner struct {
	o        Options
	targets  targets
	start    time.Time
	work     string
	embedded *store.Embedded
	st       *store.Client
	clients  []*store.Client
	repo     *repo
	wl       *workload
	cfgPath  string
	hubCfg   config.Hub
	fleet    *fleet
	smp      *sampler
	rep      *Report
	ctx      context.Context

	srv       *hubserver.Server
	hubReg    *prometheus.Registry
	hubCancel context.CancelFunc
	hubDone   chan error
}

// Run runs the scale test: it starts etcd (or uses Options.EtcdEndpoints),
// the hub and Options.Cells cell agents in this process, runs the seven
// phases and returns the report. It writes the report files when
// Options.Out is set. The error is ErrFailed (with a complete report) when a
// phase failed its check, or another error when the test could not run.
func Run(ctx context.Context, o Options) (_ *Report, err error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	// The workload is empty until phase 2 commits it.
	r := &runner{o: o, targets: targetsFor(o.Cells), start: time.Now(), ctx: ctx, wl: newWorkload(0, 0, 0, o.Instances)}
	r.rep = &Report{
		Cells: o.Cells, Sets: o.Sets, Resources: o.Resources, LRPs: o.LRPs, Instances: o.Instances,
		Workers: o.Workers.String(), ResizedWorkers: o.ResizeTo.String(), LeaseTTLSeconds: o.LeaseTTL.Seconds(),
		CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), LoadStart: loadAvg(), Etcd: "embedded",
	}
	defer r.close()
	if err := r.setup(); err != nil {
		return nil, err
	}
	sctx, stopSampler := context.WithCancel(ctx)
	sdone := make(chan struct{})
	go func() { r.smp.run(sctx); close(sdone) }()

	r.phases()

	stopSampler()
	<-sdone
	r.rep.Samples = r.smp.all()
	r.rep.LoadEnd = loadAvg()
	r.rep.OK = true
	for _, p := range r.rep.Phases {
		if p.Error != "" {
			r.rep.OK = false
		}
	}
	if o.Out != "" {
		if err := r.rep.writeFiles(o.Out); err != nil {
			return r.rep, err
		}
	}
	if !r.rep.OK {
		return r.rep, ErrFailed
	}
	return r.rep, nil
}

// setup starts etcd, measures the baseline, creates the repository and the
// config file, and starts the hub.
func (r *runner) setup() error {
	var err error
	r.work = r.o.WorkDir
	if r.work == "" {
		if r.work, err = os.MkdirTemp("", "cellsync-scaletest-"); err != nil {
			return fmt.Errorf("create work dir: %w", err)
		}
	}
	endpoints := r.o.EtcdEndpoints
	maxOps := r.o.MaxTxnOps
	if len(endpoints) == 0 {
		// Loopback TCP, not the embedded etcd's default unix socket: a
		// fleet reaches etcd over TCP, and at 1,000 cells in one process
		// the socket is 10-20% slower to store a rollout
		// (docs/performance.md). Only this process uses it, for the run.
		ec := store.EmbedConfig{Dir: filepath.Join(r.work, "etcd"), ClientURL: "http://127.0.0.1:0"}
		if r.embedded, err = store.StartEmbedded(r.ctx, ec); err != nil {
			return err
		}
		endpoints = r.embedded.Endpoints()
		maxOps = 1024
	} else {
		r.rep.Etcd = strings.Join(endpoints, ",")
	}
	connect := func() (*store.Client, error) {
		return store.Connect(r.ctx, store.Config{Endpoints: endpoints, MaxTxnOps: maxOps})
	}
	if r.st, err = connect(); err != nil {
		return err
	}
	if kvs, _, err := r.st.List(r.ctx, store.CellsPrefix); err != nil {
		return err
	} else if len(kvs) > 0 {
		return fmt.Errorf("etcd %v already holds %d cells: the scale test needs an empty cellsync keyspace", endpoints, len(kvs))
	}
	// Cells share a few connections, as a fleet behind a proxy would.
	for range max(1, r.o.Cells/250) {
		c, err := connect()
		if err != nil {
			return err
		}
		r.clients = append(r.clients, c)
	}
	r.smp = newSampler(r.start, r.o.SampleInterval, r.st.Etcd(), r.o.Progress)
	if r.o.BaselineKeys > 0 {
		if r.rep.Baseline, err = baseline(r.ctx, r.st, r.o.BaselineKeys, maxOps); err != nil {
			return err
		}
	}
	if r.repo, err = initRepo(filepath.Join(r.work, "repo")); err != nil {
		return err
	}
	r.cfgPath = filepath.Join(r.work, "conf", "hub.yaml")
	if err := r.writeConfig(r.o.Workers); err != nil {
		return err
	}
	if r.hubCfg, err = config.Load(r.cfgPath); err != nil {
		return fmt.Errorf("scaletest hub config: %w", err)
	}
	return r.startHub()
}

// writeConfig writes the hub's config file with the given pools.
func (r *runner) writeConfig(w config.Workers) error {
	body := fmt.Sprintf(`# Written by cellsync scaletest.
git: {url: %q, branch: main, pollInterval: 30s}
dataDir: %q
workers: {fanout: %d, apply: %d, convergence: %d}
listen: {metrics: %q, webhook: ""}
`, r.repo.dir, filepath.Join(r.work, "hub"), w.Fanout, w.Apply, w.Convergence, r.o.MetricsAddr)
	if err := os.MkdirAll(filepath.Dir(r.cfgPath), 0o755); err != nil {
		return fmt.Errorf("create config dir: %w", err)
	}
	// Write then rename, as an operator's tooling would, so the watcher
	// never reads half a file.
	tmp := r.cfgPath + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
		return fmt.Errorf("write hub config: %w", err)
	}
	if err := os.Rename(tmp, r.cfgPath); err != nil {
		return fmt.Errorf("replace hub config: %w", err)
	}
	return nil
}

// startHub starts a hub process on the shared store, with a new registry.
func (r *runner) startHub() error {
	reg := metrics.NewRegistry()
	srv, err := hubserver.Start(r.ctx, hubserver.Options{Config: r.hubCfg, ConfigPath: r.cfgPath, Logger: r.o.Logger, Registry: reg, Store: r.st})
	if err != nil {
		return fmt.Errorf("start hub: %w", err)
	}
	ctx, cancel := context.WithCancel(r.ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	r.srv, r.hubReg, r.hubCancel, r.hubDone = srv, reg, cancel, done
	if r.smp != nil {
		r.smp.setRegistry(reg)
	}
	return nil
}

// stopHub stops the hub process and waits for it.
func (r *runner) stopHub() error {
	if r.hubCancel == nil {
		return nil
	}
	r.hubCancel()
	err := <-r.hubDone
	r.hubCancel = nil
	if err != nil {
		return fmt.Errorf("hub stopped with: %w", err)
	}
	return nil
}

func (r *runner) close() {
	if r.fleet != nil {
		r.fleet.stop()
	}
	if err := r.stopHub(); err != nil {
		r.o.Logger.Warn("stop hub", "err", err)
	}
	for _, c := range r.clients {
		c.Close()
	}
	if r.st != nil {
		r.st.Close()
	}
	if r.embedded != nil {
		r.embedded.Close()
	}
	if r.o.WorkDir == "" && r.work != "" {
		os.RemoveAll(r.work)
	}
}

// revision returns the store's current revision.
func (r *runner) revision() (int64, error) {
	resp, err := r.st.Etcd().Get(r.ctx, store.LeaderKey, clientv3.WithCountOnly())
	if err != nil {
		return 0, fmt.Errorf("read etcd revision: %w", err)
	}
	return resp.Header.Revision, nil
}

// waitFor polls the hub's status until cond holds or the phase times out.
func (r *runner) waitFor(what string, since time.Time, cond func(hub.Status) bool) (hub.Status, time.Duration, error) {
	deadline := time.Now().Add(r.o.PhaseTimeout)
	var st hub.Status
	for {
		st = r.srv.Hub.Status()
		applied := 0
		for _, c := range st.Cells {
			if c.Applied {
				applied++
			}
		}
		r.smp.setNote(fmt.Sprintf("%s: cells %d, applied %d, writes queued %d", what, len(st.Cells), applied, st.Queues.Writes), applied)
		if cond(st) {
			return st, time.Since(since), nil
		}
		if time.Now().After(deadline) {
			return st, time.Since(since), fmt.Errorf("%s: not reached after %s (commit %.8s, synced %v, cells %d, applied %d, queues %+v, errors %v)",
				what, r.o.PhaseTimeout, st.Commit, st.Synced, len(st.Cells), applied, st.Queues, st.Errors)
		}
		// Status walks every cell and intent under the hub's lock, so it is
		// polled at 5% of the time waited so far (50-250 ms): fine
		// resolution for short phases, little load during long ones.
		wait := time.NewTimer(min(max(time.Since(since)/20, 50*time.Millisecond), 250*time.Millisecond))
		select {
		case <-r.ctx.Done():
			wait.Stop()
			return st, time.Since(since), fmt.Errorf("%s: %w", what, r.ctx.Err())
		case <-wait.C:
		}
	}
}

// stored holds when the hub has the head commit, every live cell, and no
// queued work: every per-cell instance is in etcd.
func (r *runner) stored(st hub.Status) bool {
	return st.Commit == r.repo.head && st.Synced && len(st.Cells) == len(r.fleet.live())
}

// applied holds when, beyond stored, every cell has reconciled its last write.
func (r *runner) applied(st hub.Status) bool {
	if !r.stored(st) {
		return false
	}
	for _, c := range st.Cells {
		if !c.Applied {
			return false
		}
	}
	return true
}
