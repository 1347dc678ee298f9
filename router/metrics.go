package router

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// unknownRoute labels requests for hosts the table does not hold, so that
// arbitrary Host headers cannot grow the metrics without bound.
const unknownRoute = "unknown"

type metrics struct {
	requests *prometheus.CounterVec   // route, code
	duration *prometheus.HistogramVec // route
	upstream *prometheus.CounterVec   // route, reason
	retries  *prometheus.CounterVec   // route
	routes   prometheus.Gauge
	updates  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cellsync_router_requests_total", Help: "Requests answered, by route (host) and HTTP status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "cellsync_router_request_duration_seconds", Help: "Time from a request's arrival to the end of its response headers, by route.",
			Buckets: prometheus.ExponentialBuckets(100e-6, 4, 10),
		}, []string{"route"}),
		upstream: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cellsync_router_upstream_errors_total", Help: "Failed attempts to reach an instance, by route and reason (refused, dial, body: broke in the middle of a small answer, other).",
		}, []string{"route", "reason"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cellsync_router_retries_total", Help: "Idempotent requests retried on another instance after a failed or broken connection, by route.",
		}, []string{"route"}),
		routes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cellsync_router_routes", Help: "Hosts in the route table.",
		}),
		updates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cellsync_router_table_updates_total", Help: "Route tables built from actual-state changes.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.upstream, m.retries, m.routes, m.updates} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, errors.New("router metrics: already registered")
			}
			return nil, err
		}
	}
	return m, nil
}
