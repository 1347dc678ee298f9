// Package ops is the operator's side of cellsync: what the `up`, `status`,
// `cells` and `plan` commands compute and print, kept out of cmd/cellsync so
// that the commands only wire flags to it.
//
// # What it owns
//
//   - Target and Resolve: where the hub and etcd are, from flags, the
//     environment (CELLSYNC_HUB, CELLSYNC_ETCD_ENDPOINTS, CELLSYNC_CONFIG),
//     the hub config file, or the endpoints file `cellsync up` writes in its
//     data dir (UpFile).
//   - FetchStatus, ReadCells and their renderers: the hub's status from
//     GET /status or from etcd, and the cells with their usage, as aligned
//     tables, JSON or YAML; StatusProblem says why a hub is not synced and
//     ready, for `cellsync status`'s exit code.
//   - ComputePlan: what committing a directory would change, computed by a
//     private hub on a throw-away embedded etcd seeded with the current
//     cells and assignments (or with a cells file, offline), so the plan
//     runs exactly the code the real hub runs.
//   - Local: `cellsync up`, a whole installation in one process (embedded
//     etcd, hub, N cell agents, a router) on a local Git repository it
//     creates from repo-example when none is given. SplitNetworks (pure)
//     gives each local cell its own bridge, subnet part and host port
//     range; the bridges are removed when the cells have stopped.
//   - HostAddress: the address a cell advertises for its host ports.
//
// Nothing here keeps state between calls except a running Local, whose
// Run returns after every goroutine it started has exited.
//
//	t, err := ops.Resolve(ops.Lookup{Hub: hubFlag, Getenv: os.Getenv})
//	st, err := ops.FetchStatus(ctx, t)
//	err = ops.RenderStatus(os.Stdout, st, "table")
package ops
