// Package cell is the cell agent: it registers a worker machine in etcd,
// runs what the hub assigns to the cell through a container Runtime, and
// reports the actual state back.
//
// # What it owns
//
// Under the keys of package store, for its own cell only:
//   - cells/<cell>: the model.Cell registration, under a lease kept alive
//     for the life of the agent and granted anew after a lost session;
//   - actual/<cell>/<InstanceID>: a model.Actual per LRP instance, and
//     actual/<cell>/agent: the model.CellReport, both under the lease,
//     batched (one write per FlushInterval) and written only on change;
//   - the RUNNING and COMPLETED transitions of tasks/<task> records the hub
//     created PENDING for the cell, each a compare-and-swap;
//   - events/cells/<cell>/: its events (package events): cell joined and
//     evacuating, instances started, crashed, OOM-killed and stopped, Task
//     transitions.
//
// It reads desired/<cell>/... (model.Assignment values, one per source) and
// the content-addressed bodies at specs/<hash>, which it caches by hash.
// On the machine it owns the containers labelled with its cell (LabelCell),
// the Config files under Config.StateDir, and the output of every
// container under StateDir/logs (package cell/logs): the runtime captures
// it, bounded by Config.Logs, and the agent removes an LRP instance's when
// the instance leaves the cell (kept across a crash, and across a new
// version, whose predecessor's output becomes the previous run) and a
// Task's TaskLogRetention after the Task leaves. The cell's log server
// (package cell/logserver, run by the caller) serves it at Config.LogsURL,
// which the registration publishes.
//
// # What operators see
//
// A model.Actual carries, besides the state, the commit of its assignment,
// restarts, failed health checks in a row and how the last run ended
// (model.Exit: exit code, OOM-killed with its limit, health check failed N
// times, image not found, start failed, killed by the hub). A Task's record
// gets when it started, its exit code or why it failed (OOM kill, timeout,
// unreadable result file) and its result: the first model.MaxTaskResult
// bytes of spec.resultFile, read from the exited container's filesystem,
// else the tail of its output. A Task running past spec.timeoutSeconds
// (counted from its claim, also across an agent restart) is killed and
// completed as failed.
//
// # What the hub writes for the cell to act
//
//   - an LRP instance: an Item{Kind: LRP, Spec: hash, Indexes} in any
//     assignment of the cell, with the body at specs/<hash>. The cell runs
//     one container per index. The record carrying it says how many crashes
//     the cell restarts at once (Assignment.ImmediateRestarts, the hub's
//     policy, so that the two cannot disagree); after that an instance
//     stays CRASHED until the hub rewrites one of the desired keys carrying
//     it (a Put, even with the same value), which restarts it once more.
//   - an instance's version: model.InstanceVersion of its body and the
//     Configs it mounts, either pinned by the item (Item.Configs, bodies at
//     specs/<hash>) or, unpinned, the cell's Config items of those names.
//     During a rollout one assignment names an LRP in several items, one
//     per version; the cell runs each index at its item's version and
//     replaces a container only when its index's version changes, so a
//     rollout step restarts exactly the indexes it moves and a scale change
//     restarts nothing.
//   - a Task: the record tasks/<name> with State PENDING and Cell set to the
//     cell, plus an Item{Kind: Task}. The agent waits for the record if the
//     item comes first.
//   - a Config: an Item{Kind: Config}; it is materialised as files (one per
//     key under <StateDir>/configs/<name>-<hash>) only when a container
//     references it with a mountPath, and restarts the containers that
//     reference it when its body changes.
//
// # Lifecycle
//
// New checks the Config; Run registers the cell, lists the runtime's
// containers for adoption (a restarted agent takes over running containers
// whose labels match, instead of starting duplicates), then watches the
// desired prefix and reconciles each change: start missing instances, stop
// removed ones, replace changed ones. Each instance is owned by one runner
// goroutine: LRP instances go CLAIMED → RUNNING (once the health check, if
// any, passes) → CRASHED; the first crashes (the record's
// ImmediateRestarts) restart at once. Each model.Actual carries the
// instance's version, HealthySince (cleared by any failed check, set again
// by the next pass, so the hub can ask for a minimum time of continuous
// health) and how its last run ended (see "What operators see"). A Task is
// claimed PENDING → RUNNING, run once and recorded COMPLETED; a RUNNING
// record of this cell whose container is gone after an agent restart is
// completed as failed (ReasonLost), never run again.
//
// When Run's context ends the agent either evacuates (the default: mark the
// cell evacuating, wait for the hub to take its LRPs, stop everything and
// revoke the lease) or detaches (leave containers running for the next
// agent). Run returns after all its goroutines have exited.
//
// Containers get their own network on the cell's bridge unless a workload
// says network: host (the cell's network) or none (loopback only). The
// ports an LRP names are mapped to host ports the agent allocates from
// Config.PortRange (ports.go, pure): new ones at every start, released when
// the instance stops, handed out again only after every other free one.
// Actual state carries, per named port, Config.Address with the host port
// and the container's address, and the LRP's routes, which is all a router
// needs. TCP and HTTP checks reach the container's address. Before a
// routed, RUNNING instance is stopped the agent reports it Draining, waits
// for that write and Config.DrainPeriod, then stops it (network.go).
//
// # Usage
//
//	rt := sim.New(nil) // or containerd.New(...)
//	agent, err := cell.New(cell.Config{
//		Name: "c1", Zone: "z1", StateDir: "/var/lib/cellsync",
//		Capacity: model.Capacity{MemoryMB: 8192, DiskMB: 51200, Containers: 100},
//	}, cell.Deps{Store: st, Runtime: rt, Logger: log, Registerer: reg})
//	if err != nil {
//		return err
//	}
//	return agent.Run(ctx)
package cell
