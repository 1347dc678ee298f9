// Package scaletest is cellsync's scale test, after Hive's hack/scaletest:
// it adopts N synthetic cells, commits SelectorSyncSets that match all of
// them, and measures the hub phase by phase, end to end through the real
// hub process and real cell agents.
//
// # What it runs
//
// Everything runs in one process: etcd (embedded, or the endpoints given),
// the hub exactly as `cellsync hub` assembles it (package sync/hubserver,
// with a config file it watches), and Options.Cells cell agents (package
// cell) on the simulated runtime (cell/runtime/sim). The cells are adopted
// copies of one template cell: the same capacity, zones z0..z4 and labels
// that vary by copy, all labelled template=scaletest. A real local Git
// repository (go-git) receives the generated workloads: Options.Sets
// SelectorSyncSets of Options.Resources Configs each, and Options.LRPs LRPs
// of Options.Instances instances, as Diego's fezzik deploys; every selector
// matches every cell.
//
// # Phases
//
//  1. adopt: start the agents; until the hub knows every cell.
//  2. commit: commit the sets and LRPs; until the hub has compiled the
//     commit, until every per-cell instance is stored (hub synced at the
//     head commit), then until every cell has applied its last write
//     (model.CellReport.AppliedRevision).
//  3. add-res: add one Config to one set; the same two times.
//  4. add-set: add one set.
//  5. restart: stop the hub and start a new one on the same etcd; resync
//     time, desired keys written (mod revisions after the restart), memory.
//  6. resize: rewrite the worker counts in the config file, wait until the
//     hub's pools have the new size, then repeat phase 3.
//  7. kill: cancel Options.KillFraction of the agents without evacuation
//     (cell.Detach, as a dead machine); until their LRP instances are placed
//     on, and running on, the other cells. The target is the lease TTL + 2 s.
//
// After each phase a correctness check compares etcd with the workload:
// every live cell holds exactly one assignment per set with exactly its
// Configs, every LRP index is on exactly one live cell, dead cells hold
// nothing, every named body is stored, and the hub reports every cell
// applied. Before the phases, a raw put loop (store.Client.Write in batches
// of up to 1,024 operations) measures the store's write rate, which the hub's
// rate is compared with.
//
// A sampler observes the run every Options.SampleInterval: queue depths per
// controller and keys written from the hub's Prometheus registry, etcd
// revisions per second, RSS, Go heap and goroutines. The hub's apply
// duration histogram is reported per phase. With Options.ProfileDir set,
// each phase also gets a CPU profile of the whole process.
//
// # What it owns
//
// A work directory (temporary unless Options.WorkDir is set) holding etcd's
// data, the repository, the hub's config file and data; the goroutines of
// the hub, the agents and the sampler, all stopped before Run returns.
//
// # Usage
//
//	rep, err := scaletest.Run(ctx, scaletest.Options{Cells: 1000, Out: "out"})
//	if rep != nil {
//		rep.WriteTable(os.Stdout)
//	}
//	if errors.Is(err, scaletest.ErrFailed) {
//		os.Exit(1) // a phase failed its correctness check
//	}
//
// The process's memory includes the hub, every cell agent (each caches the
// bodies it runs, as a real cell would on its own machine) and the embedded
// etcd; the restart phase also reports the hub's own live heap, measured as
// the heap with the hub minus the heap without it.
package scaletest
