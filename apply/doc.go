// Package apply merges what several field managers want a per-cell object to
// contain, the way Kubernetes server-side apply does, entirely in memory. It
// is pure computation: it imports no etcd and no containerd, and the hub
// writes to etcd only the objects it reports as changed.
//
// # What it owns
//
// An Object is one live per-cell object (a Config, an LRP or Task spec on one
// cell): a value tree plus its managed fields, which record, per manager
// ("set:node-agent", "scheduler", "cli:override"), the field paths it owns
// and the content hash of the intent it last applied. The hub merges a
// cell's objects afresh from its workloads' intents, so Objects live in
// memory only; the merged value is what it stores.
//
// Values are generic trees (map[string]any, []any, string, int64, float64,
// bool, nil): the JSON form of the model types. A generic tree lets one
// engine serve every kind, matches what is stored, and lets an intent be
// compiled once and shared: Compile (or FromObject for a model object)
// normalises the tree, lists its field paths and hashes it. Field paths are
// readable strings such as `.spec.configs[name="agent-conf"].mountPath`
// (see path.go), so managed fields and diffs read the same in etcd, in logs
// and in `cellsync plan`.
//
// # Semantics
//
//   - A manager owns exactly the fields of the intent it last applied.
//   - Re-applying the same intent is a no-op: the intent hash equals the one
//     stored for the manager, so Apply returns the live object itself, with
//     no allocation and nothing to write.
//   - A field a manager stops setting is removed unless another manager owns
//     it; maps and keyed lists emptied that way disappear unless owned.
//   - Managers setting a field to the same value co-own it; a different value
//     is a *ConflictError listing fields and owners, unless Options.Force, in
//     which case the applier takes the fields and their former owners lose
//     them (and their hash). A manager left with no field loses its entry.
//   - Maps merge per key. Lists are atomic unless the Schema keys them by a
//     field (listType=map): then items merge per key and each item is a field
//     of its own. DefaultSchema gives cellsync's kinds.
//   - A manager that applies an empty intent withdraws; when the last one
//     leaves, the result is Deleted. Deleting an object outright is the
//     store's business: drop it and the next Apply creates it afresh.
//   - Diff lists value changes (path, old → new) for people; Object.Into
//     turns a value back into a model type for the cell agent.
//
// # Cost
//
// The no-op check compares the stored hash with the intent's: no allocation,
// tens of nanoseconds. HashTree gives the same hash from a bare tree without
// compiling it. A changed apply copies only the maps on the path to what
// changed and checks other managers' fields only when the value changed.
// Figures and the comparison with sigs.k8s.io/structured-merge-diff are in
// docs/performance.md under "apply".
//
// # Lifecycle and concurrency
//
// Intents, Objects and Schemas are immutable once built. Apply never
// modifies its inputs: they return new Objects sharing unchanged
// subtrees with the old ones (intent subtrees are shared too), so any number
// of goroutines may apply to different objects, or read the same one,
// without locks. Compile copies the tree it is given; the trees handed out
// (Intent.Tree, Object.Value, Manager.Fields) are shared and must never be
// modified.
//
// Field sets shared between an Intent and the Objects it was applied to cost
// memory once.
//
// # Usage
//
//	in, err := apply.FromObject(cfg) // once per resource, shared by all cells
//	if err != nil { ... }
//	res, err := apply.Apply(live, "set:node-agent", in, apply.Options{})
//	var conflict *apply.ConflictError
//	switch {
//	case errors.As(err, &conflict):
//		// report conflict.Conflicts in status; do not fight over the fields
//	case err != nil:
//		...
//	case res.Deleted:
//		// delete the key
//	case res.Changed:
//		log.Info("apply", "diff", apply.Diff(live, res.Object, apply.DefaultSchema("Config")).String())
//		data, _ := json.Marshal(res.Object.Value) // store the merged value
//	}
package apply
