// Package rollout decides how a workload moves from one version to the
// next: an LRP's instances within its spec.update budget, a
// SelectorSyncSet's cells within its spec.rollout budget and partitions.
// It does no I/O, like package placement: the hub observes, calls Next or
// NextSet, writes what the step says, and persists the step's Record.
// (Hub integration pending: sync/hub does not call it yet.)
//
// # Versions
//
// An LRP instance's version is model.InstanceVersion of its cell body and
// the Config bodies it mounts. The hub carries it per index: an assignment
// names the LRP in one model.Item per version, each with its Spec, its
// pinned Configs (Item.Configs) and its Indexes, and the cell runs each
// index at its item's version and reports it in model.Actual.Version, with
// HealthySince and, for a crash, how it ended (LastExit). Scaling never changes a
// version; only a change of what runs does. A set's version, for its
// rollout, is SetVersion of the items it writes to a cell.
//
// # One step
//
// A step reads the desired version and policy, the pause annotation, the
// Record of the last step, the version the hub has assigned to every index
// (cell), what the cells report, how much room placement has for extra
// instances, and the time. It returns the moves to make now and the Record
// to persist. It is a pure function: the same input gives the same step,
// so a hub that restarts mid-rollout reads the Record back, observes the
// same assignments and reports, and carries on without restarting any
// instance twice.
//
// An instance is available when it runs its assigned version, RUNNING,
// healthy for at least minHealthySeconds. For an LRP of N instances the
// step:
//
//   - moves old indexes to the goal version: an unavailable one at no cost,
//     an available one only while more than N-maxUnavailable instances
//     stay available (the budget);
//   - starts extras, indexes from N up, at the goal version beside the
//     others, within Room: canaries first (the old version is not touched
//     until they are healthy and promoted), then up to maxSurge while old
//     indexes remain; promoted canaries serve as surge until the end;
//   - gives a new index (scale-up) the goal version, or the stable one while
//     the rollout is paused, failed or in its canary phase;
//   - removes the extras once every index runs the goal, available.
//
// For a set, a cell is done when it has applied the goal version and the
// set's LRPs on it have been healthy for minHealthySeconds; at most
// maxUnavailable cells change at once, the partitions in order (a partition
// starts when every cell of the earlier ones is done; reverts ignore
// partitions). A cell that starts matching gets the stable version at once
// while the new one is unproven, and otherwise waits for its turn.
//
// # State machine
//
//	a new version is desired (from any phase)
//	     │
//	     ▼
//	Progressing ── every index (cell) at Target, available ──► Succeeded (Stable = Target)
//	     │
//	     │ a Target instance crashed, or no progress for
//	     │ progressDeadlineSeconds (not while paused or awaiting promotion)
//	     ▼
//	  Failed ── autoRevert, Stable known ──► Reverting ── all at Stable ──► Reverted
//	(nothing moves)                          (same budget)
//
// Paused (the cellsync.io/paused annotation) and awaiting promotion
// (healthy canaries, no autoPromote, canary still > 0) are not persisted
// phases but conditions of Progressing: nothing moves and the progress
// deadline does not run; on resume the deadline counts from then.
// Promotion is a commit that sets canary to 0, so Git stays the source of
// truth. A Failed or Reverted rollout stays so, reporting "failed at
// commit X, running the version of commit Y" (Status.String), until a new
// version is desired.
//
// # The persisted record
//
// Record holds the target and stable revisions (version, commit and the
// items to write them again), the phase, the failure reason, when the
// rollout started and last progressed, whether canaries were promoted and
// whether the workload was paused: a few hundred bytes per workload. The
// hub keeps it at rollouts/<Kind>/<name> and writes it only when a step
// returns it changed (Record.Equal).
//
// # Usage
//
//	step := rollout.Next(rollout.LRP{
//		Desired:   rollout.Revision{Version: v, Commit: commit, Items: items},
//		Policy:    rollout.LRPPolicy(lrp.Spec.Update, int(lrp.Spec.Replicas())),
//		Instances: int(lrp.Spec.Replicas()),
//		Paused:    model.Paused(lrp),
//		Observed:  observed, // index → assigned version and model.Actual
//		Assigned:  revisions,
//		Room:      room, // from placement
//		Record:    rec,  // read from etcd
//		Now:       clock.Now(),
//	})
//	// assign step.Moves, drop indexes ≥ N not in step.Extras,
//	// persist step.Record if !step.Record.Equal(rec), report step.Status.
//
// DescribeLRP and DescribeSet render, for `cellsync plan`, how a changed
// workload will roll, and never hide an everything-at-once restart.
package rollout
