package metrics

import (
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Cell holds a cell agent's collectors. Several in-process cells (the scale
// test's synthetic cells, `cellsync up`) share one Cell, so its figures are
// sums over the process's cells. Build it with NewCell; its methods are safe
// for concurrent use.
type Cell struct {
	// Instances is cellsync_cell_instances{state}: instances this process
	// runs, by state.
	Instances *prometheus.GaugeVec
	// RuntimeRequestDuration is cellsync_cell_runtime_request_duration_seconds{op}:
	// one container runtime call (op is e.g. "create", "start", "stop",
	// "delete").
	RuntimeRequestDuration *prometheus.HistogramVec
	// ReconcileDuration is cellsync_cell_reconcile_duration_seconds: one pass
	// of a cell over its desired state.
	ReconcileDuration prometheus.Histogram
	// Restarts is cellsync_cell_restarts_total: crashed instances restarted.
	Restarts prometheus.Counter
	// EtcdRequestDuration is cellsync_cell_etcd_request_duration_seconds{op}:
	// one etcd request made by a cell.
	EtcdRequestDuration *prometheus.HistogramVec

	mu   sync.Mutex
	seen map[string]bool
}

// NewCell builds a cell agent's collectors and registers them on reg. It
// returns an error, wrapping the registry's, if a collector is already
// registered.
func NewCell(reg prometheus.Registerer) (*Cell, error) {
	c := &Cell{
		Instances: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Subsystem: "cell", Name: "instances",
			Help: "Instances run by this process's cells, by state.",
		}, []string{"state"}),
		RuntimeRequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "cell", Name: "runtime_request_duration_seconds",
			Help:    "Time of one container runtime call, by operation.",
			Buckets: SlowBuckets(),
		}, []string{"op"}),
		ReconcileDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "cell", Name: "reconcile_duration_seconds",
			Help:    "Time of one pass of a cell over its desired state.",
			Buckets: SlowBuckets(),
		}),
		Restarts: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "cell", Name: "restarts_total",
			Help: "Crashed instances restarted.",
		}),
		EtcdRequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "cell", Name: "etcd_request_duration_seconds",
			Help:    "Time of one etcd request made by a cell, by operation.",
			Buckets: SlowBuckets(),
		}, []string{"op"}),
		seen: make(map[string]bool),
	}
	if err := register(reg, c.Instances, c.RuntimeRequestDuration, c.ReconcileDuration, c.Restarts, c.EtcdRequestDuration); err != nil {
		return nil, fmt.Errorf("register cell metrics: %w", err)
	}
	return c, nil
}

// SetInstances sets the instances gauge from counts by state, zeroing states
// reported before and absent now.
func (c *Cell) SetInstances(byState map[string]int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	setStates(c.Instances, c.seen, byState)
}

// ObserveRuntime records one container runtime call of kind op that took d.
func (c *Cell) ObserveRuntime(op string, d time.Duration) {
	c.RuntimeRequestDuration.WithLabelValues(op).Observe(d.Seconds())
}
