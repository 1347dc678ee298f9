package scaletest

import (
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/cellsync/cellsync/config"
	"github.com/cellsync/cellsync/store"
)

// Options size and steer a run. Zero fields take the defaults named in
// their comments.
type Options struct {
	// Cells is the number of synthetic cells adopted. Default 1000.
	Cells int
	// Sets is the number of SelectorSyncSets committed. Default 60.
	Sets int
	// Resources is the number of Configs in each set. Default 10.
	Resources int
	// LRPs is the number of LRPs in the workload; Instances is each one's
	// instance count. Defaults 5 and 40; LRPs < 0 means none.
	LRPs      int
	Instances int
	// EtcdEndpoints, if set, are used instead of an embedded etcd. The
	// cluster must hold no cellsync keys.
	EtcdEndpoints []string
	// MaxTxnOps is the --max-txn-ops of the etcd at EtcdEndpoints, which
	// the hub's transactions must not exceed. Default 128, etcd's own
	// default (the embedded etcd allows 1024).
	MaxTxnOps int
	// KillDuringCommit, if set, is called once in the middle of the commit
	// phase, as soon as the hub's first per-cell write has landed: a fault
	// the phase must survive with the exact end state (e.g. killing an
	// etcd member with SIGKILL).
	KillDuringCommit func() error
	// Workers sizes the hub's pools at the start; default
	// config.DefaultWorkers(). ResizeTo is what phase 6 writes to the
	// config file; default twice Workers' fan-out and apply pools.
	Workers  config.Workers
	ResizeTo config.Workers
	// LeaseTTL is each cell's registration lease TTL; phase 7's target is
	// LeaseTTL + 2 s. Whole seconds, at least 2 s. Default 10s, the cell
	// agent's: with 1,000 agents in one 2-core process, 5 s leases lapse
	// during the largest rollout.
	LeaseTTL time.Duration
	// KillFraction is the fraction of cells phase 7 kills. Default 0.1.
	KillFraction float64
	// Out is the directory the JSON report and the SVG chart are written
	// to; "" writes none.
	Out string
	// WorkDir holds etcd's data, the Git repository and the hub's data; a
	// temporary directory, removed afterwards, when "".
	WorkDir string
	// SampleInterval is how often the run is observed. Default 250ms.
	SampleInterval time.Duration
	// PhaseTimeout bounds each phase's wait. Default 5m.
	PhaseTimeout time.Duration
	// BaselineKeys is the number of keys the raw put loop writes; default
	// Cells × Sets capped to 60,000. Negative skips the baseline.
	BaselineKeys int
	// ProfileDir, if set, receives a CPU profile of each phase,
	// cpu-<phase>.pprof, and the live heap at its end, heap-<phase>.pprof
	// (the whole process: hub, cells and etcd).
	ProfileDir string
	// MetricsAddr, if set, serves the hub's /metrics and /status there
	// while the test runs.
	MetricsAddr string
	// Logger receives the hub's and the cells' logs; default discards.
	Logger *slog.Logger
	// Progress receives a progress line, rewritten in place, while the
	// test runs; nil prints none.
	Progress io.Writer
}

func (o *Options) defaults() error {
	if o.Cells == 0 {
		o.Cells = 1000
	}
	if o.Sets == 0 {
		o.Sets = 60
	}
	if o.Resources == 0 {
		o.Resources = 10
	}
	switch {
	case o.LRPs == 0:
		o.LRPs = 5
	case o.LRPs < 0:
		o.LRPs = 0
	}
	if o.Instances == 0 {
		o.Instances = 40
	}
	if o.Workers == (config.Workers{}) {
		o.Workers = config.DefaultWorkers()
	}
	if o.ResizeTo == (config.Workers{}) {
		o.ResizeTo = o.Workers
		o.ResizeTo.Fanout = min(2*o.Workers.Fanout, config.MaxWorkers)
		o.ResizeTo.Apply = min(2*o.Workers.Apply, config.MaxWorkers)
	}
	if o.LeaseTTL == 0 {
		o.LeaseTTL = 10 * time.Second
	}
	if o.KillFraction == 0 {
		o.KillFraction = 0.1
	}
	if o.SampleInterval == 0 {
		o.SampleInterval = 250 * time.Millisecond
	}
	if o.PhaseTimeout == 0 {
		o.PhaseTimeout = 5 * time.Minute
	}
	if o.MaxTxnOps == 0 {
		o.MaxTxnOps = store.DefaultMaxTxnOps
	}
	if o.BaselineKeys == 0 {
		o.BaselineKeys = min(o.Cells*o.Sets, 60000)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case o.Cells < 1 || o.Sets < 1 || o.Resources < 1 || o.Instances < 1:
		return fmt.Errorf("scaletest: cells (%d), sets (%d), resources (%d) and instances (%d) must be positive", o.Cells, o.Sets, o.Resources, o.Instances)
	case o.Sets > 900 || o.Resources > 900:
		return fmt.Errorf("scaletest: at most 900 sets and 900 resources per set")
	case o.LeaseTTL < 2*time.Second || o.LeaseTTL%time.Second != 0:
		return fmt.Errorf("scaletest: lease TTL %s must be whole seconds, at least 2s", o.LeaseTTL)
	case o.KillFraction < 0 || o.KillFraction >= 1:
		return fmt.Errorf("scaletest: kill fraction %g must be in [0, 1)", o.KillFraction)
	}
	return nil
}
