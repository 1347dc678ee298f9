package cell

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cellsync/cellsync/model"
)

// metrics are one agent's collectors, labelled with its cell so that many
// agents (the simulated cells of a scale test) can share a registry.
type metrics struct {
	containers   *prometheus.GaugeVec
	startLatency prometheus.Histogram
	crashes      prometheus.Counter
	etcdWrites   prometheus.Counter
	etcdTxns     prometheus.Counter
}

func newMetrics(cell string, reg prometheus.Registerer) (*metrics, error) {
	labels := prometheus.Labels{"cell": cell}
	m := &metrics{
		containers: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name:        "cellsync_cell_containers",
			Help:        "Instances on the cell by state (CLAIMED, RUNNING, CRASHED for LRP instances; TASK for running Tasks).",
			ConstLabels: labels,
		}, []string{"state"}),
		startLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:        "cellsync_cell_start_latency_seconds",
			Help:        "Time from deciding to start an instance to its container running.",
			ConstLabels: labels,
			Buckets:     prometheus.ExponentialBuckets(0.005, 2, 14),
		}),
		crashes: prometheus.NewCounter(prometheus.CounterOpts{
			Name:        "cellsync_cell_crashes_total",
			Help:        "LRP instance crashes, failed health checks included.",
			ConstLabels: labels,
		}),
		etcdWrites: prometheus.NewCounter(prometheus.CounterOpts{
			Name:        "cellsync_cell_etcd_writes_total",
			Help:        "Keys written or deleted in etcd by the agent.",
			ConstLabels: labels,
		}),
		etcdTxns: prometheus.NewCounter(prometheus.CounterOpts{
			Name:        "cellsync_cell_etcd_txns_total",
			Help:        "etcd transactions sent by the agent.",
			ConstLabels: labels,
		}),
	}
	for _, s := range []string{model.StateClaimed, model.StateRunning, model.StateCrashed, stateTask} {
		m.containers.WithLabelValues(s)
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.containers, m.startLatency, m.crashes, m.etcdWrites, m.etcdTxns} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics of cell %s: %w", cell, err)
		}
	}
	return m, nil
}

// stateTask labels running Tasks in cellsync_cell_containers.
const stateTask = "TASK"
