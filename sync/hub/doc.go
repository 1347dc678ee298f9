// Package hub is cellsync's reconciler: it fans the desired model out into
// per-cell assignments in etcd and keeps them converged with what cells report.
//
// # What it owns
//
// A Hub keeps, in memory, the cells, the compiled workloads of the latest
// desired model, the selector index (package selectors), the placement state
// (package placement), the per-cell intents it computed and a cache of the
// assignments stored in etcd. etcd is the source of truth: at start the Hub
// lists cells, assignments, task records and actual state, then follows them
// with watches, re-listing when a watch falls behind compaction. A restarted
// hub recomputes the same assignments and writes nothing.
//
// # Flow
//
//	SetDesired(d) ─▶ compile workloads, write new bodies ─▶ fanout queue (key: workload)
//	fanout: selector matches ─▶ sets: every matching cell; LRPs and Tasks: placement
//	        ─▶ intents[cell][workload] ─▶ apply queue (key: cell)
//	apply:  intents of one cell ─▶ assignments (objects shared by several
//	        workloads merged by package apply) ─▶ only changed ones, batched
//	        transactions with compare-and-swap on the stored revision
//	cells, tasks, actual (watches) ─▶ index/placement updates ─▶ fanout, converge
//
// Each queue de-duplicates keys, so a burst of events for one workload or cell
// becomes one reconcile, and has its own pool of workers whose size comes
// from the config file and can change while running (Resize).
//
// # Lifecycle
//
//	h := hub.New(cfg, hub.Deps{Store: client, Env: env, Logger: log, Metrics: m})
//	go src.Run(ctx)               // the Git source calls h.SetDesired
//	err := h.Run(ctx)            // returns after every goroutine has exited
//
// Run holds the leadership of the hub election for as long as it reconciles:
// a standby hub's Run waits in the election and takes over when the leader's
// session ends.
package hub
