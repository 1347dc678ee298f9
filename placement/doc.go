// Package placement assigns LRP instances and Tasks to cells: Diego's
// auctioneer as one central, in-memory scheduler. It is pure computation:
// it imports no etcd, no containerd and no CEL. Package selectors tells it
// which cells match each workload; the hub acts on the plans it returns.
//
// # What it owns
//
// A State holds the cells (zone, capacity, ready or evacuating), what each
// has reserved, and every placed LRP instance (LRP name and index) and task.
// It does not own the desired workloads: the caller passes each LRP's
// current spec to Place, and the State remembers the last one so it can
// re-place instances when a cell goes away.
//
// # Lifecycle
//
// The hub builds a State once from its full view (New followed by AddCell,
// AddInstance and AddTask), then keeps it current with one call per event, each returning only the delta as a Plan that the State has already
// applied:
//
//   - Place(lrp) when an LRP is created or changes, or when its matching
//     cell set changes (a cell is a candidate for an LRP only once its name
//     is in the Cells of the LRP's last Place);
//   - RemoveLRP(name) when an LRP is deleted;
//   - PlaceTask(task) for a new task, ReleaseTask(name) when it completes;
//   - AddCell(cell) when a cell registers, changes or starts evacuating;
//   - RemoveCell(name) when a cell's lease expires;
//   - Retry() when capacity may have freed or grown (a task released, an
//     LRP removed or scaled down, a cell added), to place what earlier
//     calls reported unplaced.
//
// A State is not safe for concurrent use; Clone gives an independent copy
// for dry runs, and Cells and Where report usage and placements.
//
// # Guarantees
//
//   - Stable: healthy instances never move. Scaling 5 to 7 places indexes
//     5 and 6 only; scaling down removes the highest indexes; a lost or
//     evacuating cell re-places only its own instances. An instance is
//     re-placed only when its cell is gone or evacuating, no longer matches,
//     or cannot hold the LRP's grown resources.
//   - Never over-committed: every placement checks the cell's free memory,
//     disk and container slots, including what earlier placements of the
//     same plan took. Existing placements given to AddInstance or AddTask
//     are taken as facts, even if they over-commit a cell; such a cell
//     simply receives nothing new. Evacuating cells receive nothing new.
//   - Deterministic: the same calls give the same plan, whatever the order
//     of the cells. Ties break by cell name.
//   - Tasks run at most once: a task on a lost cell is reported in
//     Plan.LostTasks for the hub to fail, never re-placed.
//   - Explained: whatever cannot be placed is listed in Plan.Unplaced with
//     a reason such as "needs 2048 MB memory, largest free is 512 MB on any
//     of 12 matching cells", "no cell matches the selector" or "all 12
//     matching cells are evacuating". Placing is best effort: the rest of
//     the plan still applies.
//
// # Scoring
//
// For one LRP instance, the candidates are the matching cells that are
// ready and fit it. They are ranked by, in order:
//
//  1. Zone balance (spread "zone", the default): only cells in the zones
//     with the fewest instances of this LRP compete, so per-zone counts
//     differ by at most one while capacity allows. Zone balance comes
//     before anti-affinity, as in Diego: when a zone has fewer matching
//     cells than its share, its cells take a second instance rather than
//     the zone being skipped. With spread "none" all cells form one zone.
//  2. Anti-affinity: fewer instances of this LRP on the cell. A free cell
//     always beats one that already runs the LRP, however loaded.
//  3. Score, lower is better: the cell's weighted utilisation,
//     0.5 × memory used/capacity + 0.25 × disk used/capacity
//     + 0.25 × containers used/capacity.
//     Memory weighs most because it is what cells run out of first; the
//     fractions make cells of different sizes comparable. The score is
//     taken before the instance is added (Diego scores after), so it does
//     not depend on what is being placed and each zone's cells can be kept
//     ordered by it once for all LRPs.
//  4. Cell name, for determinism.
//
// Tasks use the same score over their matching, ready, fitting cells (fit
// and load spread) without zones or anti-affinity.
//
// # Cost
//
// The State keeps, per zone, a binary min-heap of its cells by score,
// updated in O(log cells) whenever a cell's usage changes. To place an
// instance it walks the heaps of the least-loaded zones best first and
// takes the first cell that matches, fits and holds no instance of the LRP:
// usually the first or second cell visited, so an instance costs O(zones ×
// log cells) whatever the number of matching cells. When that walk cannot
// decide (a zone's free cells all hold an instance already, nothing fits,
// or 128 cells were visited) the rest of the LRP falls back to one heap per
// zone of its fitting matching cells ranked as above: O(M) for M matching
// cells, then O(zones + log M) per instance. Each LRP also remembers its
// resolved match set (as cell slots and a bit set) while its cell list and
// the cell registry are unchanged. Place and RemoveCell thus cost about the
// size of the affected LRPs, not of the cluster; per-cell scratch arrays are
// reused, so a call allocates little beyond its plan. Tests check every
// plan against a naive scan-every-cell placer with the same rules. See
// docs/performance.md for measurements.
//
// # Example
//
//	s := placement.New()
//	for _, c := range cells {
//		if _, err := s.AddCell(c); err != nil {
//			return fmt.Errorf("add cell %s: %w", c.Name, err)
//		}
//	}
//	for _, in := range running { // what etcd says already runs
//		if err := s.AddInstance(in); err != nil {
//			return fmt.Errorf("add instance: %w", err)
//		}
//	}
//	plan, err := s.Place(placement.LRP{
//		Name:      "web",
//		Instances: 6,
//		Resources: model.Resources{MemoryMB: 256, DiskMB: 512},
//		Spread:    model.SpreadZone,
//		Cells:     matching, // from package selectors
//	})
//	if err != nil {
//		return fmt.Errorf("place web: %w", err)
//	}
//	for _, a := range plan.Add {
//		// write instance a.LRP/a.Index to cell a.Cell
//	}
//	for _, u := range plan.Unplaced {
//		log.Warn("unplaced", "what", u.String())
//	}
//	// later, when a cell's lease expires:
//	plan = s.RemoveCell("cell-17")
package placement
