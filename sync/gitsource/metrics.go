package gitsource

import (
	"fmt"

	"github.com/cellsync/cellsync/model"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the Git source's collectors, named cellsync_git_<name>_<unit>.
type metrics struct {
	fetchDuration  prometheus.Histogram
	fetchErrors    prometheus.Counter
	parseDuration  prometheus.Histogram
	commitTime     prometheus.Gauge
	parseErrors    prometheus.Gauge
	heldDeletions  prometheus.Gauge
	workloads      *prometheus.GaugeVec
	snapshotsTotal prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		fetchDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "cellsync_git_fetch_duration_seconds",
			Help:    "Time to fetch the branch into the mirror, failed fetches included.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}),
		fetchErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cellsync_git_fetch_errors_total",
			Help: "Syncs that failed: unreachable remote, missing branch or path, bad credentials.",
		}),
		parseDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "cellsync_git_parse_duration_seconds",
			Help:    "Time to turn a commit into a snapshot: diff, read, parse, validate.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}),
		commitTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cellsync_git_last_synced_commit_timestamp_seconds",
			Help: "Committer time of the commit of the last snapshot, in Unix seconds.",
		}),
		parseErrors: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cellsync_git_parse_errors",
			Help: "Problems in workload files at the last synced commit.",
		}),
		heldDeletions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cellsync_git_held_deletions",
			Help: "Workloads whose deletion the mass-deletion guard holds.",
		}),
		workloads: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cellsync_git_workloads",
			Help: "Workloads in the last snapshot, by kind.",
		}, []string{"kind"}),
		snapshotsTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cellsync_git_snapshots_total",
			Help: "Snapshots delivered.",
		}),
	}
	for _, c := range []prometheus.Collector{m.fetchDuration, m.fetchErrors, m.parseDuration, m.commitTime,
		m.parseErrors, m.heldDeletions, m.workloads, m.snapshotsTotal} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register git source metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) snapshot(s *Snapshot) {
	m.snapshotsTotal.Inc()
	m.parseDuration.Observe(s.ParseDuration.Seconds())
	m.commitTime.Set(float64(s.Time.Unix()))
	m.parseErrors.Set(float64(s.ErrorCount()))
	held := 0
	if s.Held != nil {
		held = len(s.Held.Keys)
	}
	m.heldDeletions.Set(float64(held))
	counts := map[model.Kind]int{model.KindLRP: 0, model.KindTask: 0, model.KindConfig: 0, model.KindSelectorSyncSet: 0}
	for _, o := range s.Objects {
		counts[o.Head().Kind]++
	}
	for k, n := range counts {
		m.workloads.WithLabelValues(string(k)).Set(float64(n))
	}
}
