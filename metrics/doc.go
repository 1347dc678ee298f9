// Package metrics defines the hub's Prometheus collectors, the registry with
// the Go runtime and process collectors that the hub and the cell agents
// (whose own collectors live in package cell) register on, and the
// /metrics HTTP handler.
//
// Names follow cellsync_<subsystem>_<name>_<unit> with Prometheus'
// conventions (_total for counters, _seconds and _bytes for units). The set
// mirrors the graphs of Hive's 1,000-cluster scale test, so that an operator
// watches a rollout the same way:
//
//	Hive graph                              cellsync metric
//	workqueue_depth                         cellsync_workqueue_depth{controller}
//	syncsetinstance apply duration          cellsync_apply_duration_seconds
//	syncsetinstance resources applied rate  rate(cellsync_apply_resources_applied_total[1m])
//	kube client request seconds             cellsync_etcd_request_duration_seconds{op}
//	kube client requests rate               rate(cellsync_etcd_request_duration_seconds_count[5m])
//	controller_runtime_reconcile_total      cellsync_controller_reconcile_total{controller,result}
//	selectorsyncset apply duration          cellsync_selectors_evaluation_duration_seconds
//
// plus placement and convergence durations, cells and actual LRPs by state,
// etcd keys and bytes written, whether the hub is synced and its condition
// (cellsync_sync_synced, cellsync_sync_condition{state,reason}), lost
// compare-and-swaps, delayed write retries, ignored records, and the Go
// runtime and process collectors (memory) from NewRegistry.
//
// # What it owns
//
// Nothing global: every collector is created by NewHub and
// registered on the prometheus.Registerer passed in, so tests use a fresh
// registry and two hubs in one process use two registries.
//
// # Usage
//
//	reg := metrics.NewRegistry()
//	m, err := metrics.NewHub(reg)
//	if err != nil { ... }
//	q := workqueue.New("fanout", workqueue.Options{Metrics: m.Queue("fanout")})
//	m.Queue("fanout").Workers(cfg.Workers.Fanout)
//	m.Reconciled("fanout", metrics.ResultSuccess)
//	http.Handle("/metrics", metrics.Handler(reg))
package metrics
