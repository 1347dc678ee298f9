package metrics

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes every cellsync metric name.
const Namespace = "cellsync"

// Reconcile results, the values of the "result" label of
// cellsync_controller_reconcile_total.
const (
	// ResultSuccess is a reconcile that finished its work.
	ResultSuccess = "success"
	// ResultError is a reconcile that failed and will be retried.
	ResultError = "error"
	// ResultRequeue is a reconcile that asked to run again later.
	ResultRequeue = "requeue"
	// ResultPermanent is a reconcile that failed and will not be retried.
	ResultPermanent = "permanent_error"
)

// Apply results, the values of the "result" label of
// cellsync_apply_resources_applied_total.
const (
	// ApplyChanged is a resource whose per-cell object changed.
	ApplyChanged = "changed"
	// ApplyUnchanged is a resource whose apply was a no-op.
	ApplyUnchanged = "unchanged"
	// ApplyDeleted is a resource removed from a cell (Sync mode).
	ApplyDeleted = "deleted"
	// ApplyConflict is a resource with a field-manager conflict.
	ApplyConflict = "conflict"
)

// FastBuckets returns histogram buckets for in-memory work (an apply, a
// selector evaluation, a placement), which takes microseconds: 10µs to 2.6s,
// ×4 per bucket.
func FastBuckets() []float64 { return prometheus.ExponentialBuckets(10e-6, 4, 10) }

// SlowBuckets returns histogram buckets for work that touches etcd or covers
// many keys: 100µs to 26s, ×4 per bucket.
func SlowBuckets() []float64 { return prometheus.ExponentialBuckets(100e-6, 4, 10) }

// Hub holds the hub's collectors. Fields are exported so that a reconciler can
// observe directly; the methods cover the common cases. Build it with NewHub.
// All methods are safe for concurrent use.
type Hub struct {
	// QueueDepth is cellsync_workqueue_depth{controller}: keys waiting for a
	// worker.
	QueueDepth *prometheus.GaugeVec
	// QueueAdds is cellsync_workqueue_adds_total{controller}: keys queued
	// (de-duplicated adds are not counted).
	QueueAdds *prometheus.CounterVec
	// QueueWorkDuration is cellsync_workqueue_work_duration_seconds{controller}:
	// time of one handler run.
	QueueWorkDuration *prometheus.HistogramVec
	// QueueRetries is cellsync_workqueue_retries_total{controller}: failed
	// runs scheduled again with backoff.
	QueueRetries *prometheus.CounterVec
	// QueueWorkers is cellsync_workqueue_workers{controller}: the configured
	// size of the worker pool.
	QueueWorkers *prometheus.GaugeVec

	// Reconciles is cellsync_controller_reconcile_total{controller,result}.
	Reconciles *prometheus.CounterVec

	// ApplyDuration is cellsync_apply_duration_seconds: time to apply one
	// per-cell instance in memory (merge, conflict check, diff).
	ApplyDuration prometheus.Histogram
	// ResourcesApplied is cellsync_apply_resources_applied_total{result}:
	// resources applied to per-cell instances, by Apply* result.
	ResourcesApplied *prometheus.CounterVec
	// Conflicts is cellsync_apply_conflicts: field-manager conflicts now
	// recorded in status.
	Conflicts prometheus.Gauge

	// EtcdRequestDuration is cellsync_etcd_request_duration_seconds{op}: one
	// etcd request (op is e.g. "get", "txn", "put", "delete", "lease").
	EtcdRequestDuration *prometheus.HistogramVec
	// EtcdWrites is cellsync_etcd_writes_total: keys written (puts and
	// deletes) by the hub.
	EtcdWrites prometheus.Counter
	// EtcdBytesWritten is cellsync_etcd_written_bytes_total: key and value
	// bytes the hub sent in writes.
	EtcdBytesWritten prometheus.Counter

	// SelectorDuration is cellsync_selectors_evaluation_duration_seconds:
	// one selector evaluated against the cell index.
	SelectorDuration prometheus.Histogram
	// PlacementDuration is cellsync_placement_duration_seconds: one
	// placement computation for a workload.
	PlacementDuration prometheus.Histogram
	// RolloutDuration is cellsync_sync_rollout_duration_seconds: from a
	// commit being handed to the hub to the hub being synced at it.
	RolloutDuration prometheus.Histogram
	// SyncedCommitTime is cellsync_sync_last_synced_timestamp_seconds: when
	// the last commit was first synced (Unix time).
	SyncedCommitTime prometheus.Gauge

	// Synced is cellsync_sync_synced: 1 when the hub's status says synced
	// (newest commit compiled, every write landed), else 0.
	Synced prometheus.Gauge
	// Condition is cellsync_sync_condition{state,reason}: 1 for the hub's
	// current condition, 0 for the ones it had before.
	Condition *prometheus.GaugeVec
	// LostCAS is cellsync_hub_cas_lost_total: record writes that lost their
	// compare-and-swap (someone else changed the key).
	LostCAS prometheus.Counter
	// RetryingCells is cellsync_hub_write_retries_pending: cells whose write
	// waits in a delayed retry.
	RetryingCells prometheus.Gauge
	// IgnoredRecords is cellsync_hub_ignored_records_total{prefix}: records
	// the hub ignored because their content disagrees with their key or
	// does not decode (cells, actual, tasks).
	IgnoredRecords *prometheus.CounterVec

	// Cells is cellsync_hub_cells{state}: registered cells by state.
	Cells *prometheus.GaugeVec
	// ActualLRPs is cellsync_hub_actual_lrps{state}: LRP instances by state
	// (UNCLAIMED, CLAIMED, RUNNING, CRASHED).
	ActualLRPs *prometheus.GaugeVec
	// ConvergenceDuration is cellsync_convergence_duration_seconds: one pass
	// of the convergence loop.
	ConvergenceDuration prometheus.Histogram

	mu        sync.Mutex
	cellSeen  map[string]bool // states ever set on Cells, to zero vanished ones
	lrpSeen   map[string]bool // states ever set on ActualLRPs
	condSeen  map[[2]string]bool
	queueByID map[string]*Queue
}

// NewHub builds the hub's collectors and registers them on reg. It returns
// an error, wrapping the registry's, if a collector is already registered.
func NewHub(reg prometheus.Registerer) (*Hub, error) {
	h := &Hub{
		QueueDepth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Subsystem: "workqueue", Name: "depth",
			Help: "Keys waiting for a worker, per controller queue.",
		}, []string{"controller"}),
		QueueAdds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "workqueue", Name: "adds_total",
			Help: "Keys queued, per controller queue; adds of a key already queued are not counted.",
		}, []string{"controller"}),
		QueueWorkDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "workqueue", Name: "work_duration_seconds",
			Help:    "Time of one handler run, per controller queue.",
			Buckets: FastBuckets(),
		}, []string{"controller"}),
		QueueRetries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "workqueue", Name: "retries_total",
			Help: "Failed handler runs scheduled again with backoff, per controller queue.",
		}, []string{"controller"}),
		QueueWorkers: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Subsystem: "workqueue", Name: "workers",
			Help: "Configured worker goroutines, per controller queue.",
		}, []string{"controller"}),
		Reconciles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "controller", Name: "reconcile_total",
			Help: "Reconciles by controller and result (success, error, requeue, permanent_error).",
		}, []string{"controller", "result"}),
		ApplyDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "apply", Name: "duration_seconds",
			Help:    "Time to apply one per-cell instance in memory.",
			Buckets: FastBuckets(),
		}),
		ResourcesApplied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "apply", Name: "resources_applied_total",
			Help: "Resources applied to per-cell instances, by result (changed, unchanged, deleted, conflict).",
		}, []string{"result"}),
		Conflicts: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Subsystem: "apply", Name: "conflicts",
			Help: "Field-manager conflicts currently recorded in status.",
		}),
		EtcdRequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "etcd", Name: "request_duration_seconds",
			Help:    "Time of one etcd request, by operation.",
			Buckets: SlowBuckets(),
		}, []string{"op"}),
		EtcdWrites: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "etcd", Name: "writes_total",
			Help: "Keys written (puts and deletes) to etcd.",
		}),
		EtcdBytesWritten: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "etcd", Name: "written_bytes_total",
			Help: "Key and value bytes sent to etcd in writes.",
		}),
		SelectorDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "selectors", Name: "evaluation_duration_seconds",
			Help:    "Time to evaluate one selector against the cell index.",
			Buckets: FastBuckets(),
		}),
		PlacementDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "placement", Name: "duration_seconds",
			Help:    "Time of one placement computation for a workload.",
			Buckets: FastBuckets(),
		}),
		RolloutDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "sync", Name: "rollout_duration_seconds",
			Help:    "Time from a commit being seen to every changed per-cell instance being stored.",
			Buckets: SlowBuckets(),
		}),
		SyncedCommitTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Subsystem: "sync", Name: "last_synced_timestamp_seconds",
			Help: "Unix time at which the last commit was fully fanned out.",
		}),
		Synced: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Subsystem: "sync", Name: "synced",
			Help: "1 when the newest commit is compiled and every write has landed, else 0.",
		}),
		Condition: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Subsystem: "sync", Name: "condition",
			Help: "1 for the hub's current condition (state: ready, progressing, failed; reason), 0 for earlier ones.",
		}, []string{"state", "reason"}),
		LostCAS: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "hub", Name: "cas_lost_total",
			Help: "Record writes that lost their compare-and-swap.",
		}),
		RetryingCells: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Subsystem: "hub", Name: "write_retries_pending",
			Help: "Cells whose write waits in a delayed retry.",
		}),
		IgnoredRecords: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "hub", Name: "ignored_records_total",
			Help: "Records ignored because their content disagrees with their key or does not decode, by key prefix.",
		}, []string{"prefix"}),
		Cells: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Subsystem: "hub", Name: "cells",
			Help: "Registered cells by state.",
		}, []string{"state"}),
		ActualLRPs: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Subsystem: "hub", Name: "actual_lrps",
			Help: "LRP instances by state (UNCLAIMED, CLAIMED, RUNNING, CRASHED).",
		}, []string{"state"}),
		ConvergenceDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "convergence", Name: "duration_seconds",
			Help:    "Time of one pass of the convergence loop.",
			Buckets: SlowBuckets(),
		}),
		cellSeen:  make(map[string]bool),
		lrpSeen:   make(map[string]bool),
		condSeen:  make(map[[2]string]bool),
		queueByID: make(map[string]*Queue),
	}
	err := register(reg,
		h.QueueDepth, h.QueueAdds, h.QueueWorkDuration, h.QueueRetries, h.QueueWorkers,
		h.Reconciles, h.ApplyDuration, h.ResourcesApplied, h.Conflicts,
		h.EtcdRequestDuration, h.EtcdWrites, h.EtcdBytesWritten,
		h.SelectorDuration, h.PlacementDuration, h.RolloutDuration, h.SyncedCommitTime,
		h.Synced, h.Condition, h.LostCAS, h.RetryingCells, h.IgnoredRecords,
		h.Cells, h.ActualLRPs, h.ConvergenceDuration,
	)
	if err != nil {
		return nil, fmt.Errorf("register hub metrics: %w", err)
	}
	return h, nil
}

// register registers every collector, returning the errors joined.
func register(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	var errs []error
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Queue returns the workqueue.Metrics of the named controller's queue (the
// same value for the same name). Its label values are resolved once, so its
// methods do not allocate.
func (h *Hub) Queue(controller string) *Queue {
	h.mu.Lock()
	defer h.mu.Unlock()
	if q, ok := h.queueByID[controller]; ok {
		return q
	}
	q := &Queue{
		depth:    h.QueueDepth.WithLabelValues(controller),
		adds:     h.QueueAdds.WithLabelValues(controller),
		duration: h.QueueWorkDuration.WithLabelValues(controller),
		retries:  h.QueueRetries.WithLabelValues(controller),
		workers:  h.QueueWorkers.WithLabelValues(controller),
	}
	h.queueByID[controller] = q
	return q
}

// Reconciled counts one reconcile of controller with result (one of the
// Result* constants).
func (h *Hub) Reconciled(controller, result string) {
	h.Reconciles.WithLabelValues(controller, result).Inc()
}

// ObserveEtcd records one etcd request of kind op that took d.
func (h *Hub) ObserveEtcd(op string, d time.Duration) {
	h.EtcdRequestDuration.WithLabelValues(op).Observe(d.Seconds())
}

// Wrote counts keys keys written to etcd, carrying bytes bytes of keys and
// values.
func (h *Hub) Wrote(keys, bytes int) {
	h.EtcdWrites.Add(float64(keys))
	h.EtcdBytesWritten.Add(float64(bytes))
}

// SetCells sets the cells gauge from counts by state. States reported before
// and absent from counts are set to zero, so a vanished state does not keep
// its last value.
func (h *Hub) SetCells(byState map[string]int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	setStates(h.Cells, h.cellSeen, byState)
}

// SetActualLRPs sets the actual LRPs gauge from counts by state, zeroing
// states reported before and absent now.
func (h *Hub) SetActualLRPs(byState map[string]int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	setStates(h.ActualLRPs, h.lrpSeen, byState)
}

// SetSync sets the synced gauge and makes (state, reason) the one current
// condition.
func (h *Hub) SetSync(synced bool, state, reason string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if synced {
		h.Synced.Set(1)
	} else {
		h.Synced.Set(0)
	}
	for c := range h.condSeen {
		if c != [2]string{state, reason} {
			h.Condition.WithLabelValues(c[0], c[1]).Set(0)
		}
	}
	h.condSeen[[2]string{state, reason}] = true
	h.Condition.WithLabelValues(state, reason).Set(1)
}

func setStates(g *prometheus.GaugeVec, seen map[string]bool, byState map[string]int) {
	for state := range seen {
		if _, ok := byState[state]; !ok {
			g.WithLabelValues(state).Set(0)
		}
	}
	for state, n := range byState {
		seen[state] = true
		g.WithLabelValues(state).Set(float64(n))
	}
}

// Queue is one controller's work queue metrics; it implements the
// workqueue.Metrics interface. Get one from Hub.Queue.
type Queue struct {
	depth    prometheus.Gauge
	adds     prometheus.Counter
	duration prometheus.Observer
	retries  prometheus.Counter
	workers  prometheus.Gauge
}

// Depth sets the number of keys waiting for a worker.
func (q *Queue) Depth(n int) { q.depth.Set(float64(n)) }

// Added counts one key queued.
func (q *Queue) Added() { q.adds.Inc() }

// Retried counts one failed run scheduled again.
func (q *Queue) Retried() { q.retries.Inc() }

// Done records the duration of one handler run.
func (q *Queue) Done(d time.Duration) { q.duration.Observe(d.Seconds()) }

// Workers sets the configured size of the queue's worker pool; the hub calls
// it at start and on every resize.
func (q *Queue) Workers(n int) { q.workers.Set(float64(n)) }

// NewRegistry returns a registry holding the Go runtime and process
// collectors (memory, goroutines, CPU), to which NewHub and the cell agents
// add cellsync's own.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// Handler serves the metrics of g in the Prometheus text or protobuf format,
// for mounting at /metrics. A failing collector is reported in the response
// and the log of the HTTP server rather than failing the whole scrape.
func Handler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}
