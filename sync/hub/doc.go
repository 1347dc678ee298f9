// Package hub is cellsync's reconciler: it fans the desired model out into
// per-cell assignments in etcd, keeps them converged with what cells report,
// and says honestly where it stands.
//
// # What it owns
//
// A Hub leads one term at a time (an etcd election on store.LeaderKey).
// A term keeps, in memory:
//
//   - cross-cell state, under the term's lock: the compiled desired model
//     (immutable once installed, so readers need no lock), the cell
//     registry, the selector index (package selectors), the placement state
//     (package placement), where each workload's intents are, task records;
//   - one record per cell (cellState, cell.go), under its own lock: what the
//     fan-out wants on the cell, a mirror of its records in etcd, the write
//     in flight, what the cell reported. Its methods do no I/O: plan turns
//     intents and stored records into the operations to write; landed,
//     failed and abandon do the bookkeeping. Forgetting a cell is one delete;
//   - a tally of per-workload figures (tally.go), updated by deltas, so that
//     status costs O(workloads + cells) and walks nothing under a lock.
//
// etcd is the source of truth: a term starts by listing cells, records,
// bodies, task records and actual state, then follows them with watches
// (re-listing after compaction), and re-reads desired/ every ResyncInterval.
// A restarted hub recomputes the same records and writes nothing.
//
// # Flow
//
//	SetDesired(d) ─▶ setDesired: compile ─▶ write bodies ─▶ install ─▶ fan out the first model
//	fanout queue (key: workload ID): selector matches; sets: every matching cell;
//	        LRPs and Tasks: placement ─▶ cellState.setIntent ─▶ apply queue
//	apply queue (key: cell): cellState.plan ─▶ group-commit writer ─▶ cellState.landed
//	convergence queue (key: task name): the Tasks of lost cells, failed or placed again
//	watches: cells, tasks, actual ─▶ index, placement and cell records ─▶ queues
//
// Each queue de-duplicates keys, so a burst of events for one workload or
// cell becomes one reconcile, and has its own pool of workers whose size
// comes from the config file and can change while running (Resize).
//
// # Fencing
//
// Every write of a term goes through a store client fenced by the term's
// election key (store.Client.WithFence): a hub that lost its leadership
// without noticing yet (frozen, partitioned) cannot write; its first write
// fails with store.ErrFenced and ends its term as "not leading".
//
// # Status
//
// Status (GET /status, and a copy at status/hub in etcd) is synced only when
// the newest commit of the Source is fetched and compiled and every write
// has landed: nothing queued, in flight, waiting in a delayed retry, refused
// for its size or refused by etcd. The hub and every workload carry a
// Condition (ready, progressing or failed, a Reason and a message, with file
// and line for errors in workload files); metrics carry the same
// (cellsync_sync_synced, cellsync_sync_condition).
//
// # Lifecycle
//
//	h := hub.New(cfg, hub.Deps{Store: client, Env: env, Logger: log, Metrics: m, Source: src})
//	go src.Run(ctx)               // the Git source calls h.SetDesired
//	err := h.Run(ctx)            // returns after every goroutine has exited
//
// Run holds the leadership of the hub election for as long as it reconciles:
// a standby hub's Run waits in the election and takes over when the leader's
// session ends.
package hub
