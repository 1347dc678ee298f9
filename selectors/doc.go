// Package selectors compiles the CEL selectors of workloads and keeps, for
// each selector, the set of live cells it matches.
//
// Every LRP, Task and SelectorSyncSet has a selector: a CEL expression over
// the variable `cell`, such as
//
//	cell.zone in ["z1", "z2"] && cell.labels["env"] == "prod" && cell.capacity.memoryMB >= 4096
//
// The empty selector matches every cell. The package is pure computation: it
// imports neither etcd nor containerd.
//
// # The cell variable
//
// `cell` is typed (cellsync.Cell), built from model.Cell and named as its
// JSON form:
//
//	cell.name      string
//	cell.zone      string
//	cell.labels    map(string, string)
//	cell.capacity  cellsync.Capacity: memoryMB, diskMB, containers (int)
//	cell.runtime   string
//	cell.version   string
//	cell.state     string: "ready" or "evacuating"; an empty state reads as "ready"
//
// Expressions are parsed and type-checked once, by Env.Compile. Unknown
// fields, type mismatches (`cell.zone == 1`), a non-bool result, an invalid
// constant passed to semver and object literals are compile errors: a
// *CompileError with the 1-based line and column inside the expression.
// CompileObject and CheckObjects turn them into *model.Error values naming the
// workload's file, document and line and the field spec.selector, for
// `cellsync validate`.
//
// A missing label is an evaluation error, as in standard CEL:
// `cell.labels["env"] == "prod"` does not match a cell without an env label
// (and Index.Errors counts it). Write `"env" in cell.labels && ...`,
// `cell.labels[?"env"].orValue("dev")` or the label helper below when a
// default is meant. An evaluation error always means "no match".
//
// # Helper functions
//
// cell.label(key, default) returns the value of a label, or default when the
// cell has no such label:
//
//	cell.label("tier", "standard") == "gpu"
//
// semver(s) parses a semantic version (MAJOR.MINOR.PATCH, optional leading
// "v", pre-release and build metadata); semver values compare with <, <=, >,
// >=, == and != by semver precedence (1.10.0 > 1.9.0, 2.0.0-rc.1 < 2.0.0,
// build metadata ignored). A constant argument is checked at compile time; a
// cell version that does not parse is an evaluation error (no match):
//
//	semver(cell.version) >= semver("1.2.0") && semver(cell.version) < semver("2.0.0")
//
// Optional values are enabled too: `cell.labels[?"k"].orValue("default")`.
//
// # Cost limits
//
// A selector can never hang the hub. At compile time, cel-go estimates the
// worst-case cost of the expression, assuming a cell has at most
// MaxLabelsHint (64) labels and string attributes of at most MaxStringHint
// (256) bytes; a selector whose estimate exceeds Config.MaxEstimatedCost
// (default DefaultMaxEstimatedCost, 5,000 cost units) is rejected. Ordinary
// selectors cost 2 to 60 units; one loop over the labels with a string test
// per label about 500; two nested loops over the labels are rejected.
//
// At run time, one evaluation of one selector against one cell is limited to
// Config.MaxRuntimeCost (default DefaultMaxRuntimeCost, 10,000 units) by
// cel.CostLimit; a selector that exhausts it does not match, and the error
// wraps ErrCostLimit. Measured on the project machine, an evaluation cut off
// at 10,000 units inside nested loops has spent about 4 ms of CPU (cel-go's
// cost tracking is slow inside comprehensions); an ordinary selector takes
// under 1 µs.
//
// Cost tracking costs about half of an ordinary evaluation, so it is skipped
// where it cannot trigger: for a selector without comprehensions (all,
// exists, exists_one, map, filter) whose estimate is within the budget,
// evaluated on a cell within the size hints, the estimate bounds the actual
// cost (TestEstimateBoundsActualCost and the fuzz test check this). Every
// other evaluation, in particular every loop, runs cost-limited.
//
// # The index
//
// An Index holds the live cells and the compiled selectors, keyed by an ID the
// caller chooses ("LRP/web", "SelectorSyncSet/node-agent"), and keeps the set
// of cells each selector matches. Updates evaluate only what they can change
// and return the Changes (selector, cell, matched) to act on:
//
//   - UpsertCell and RemoveCell evaluate one cell against every selector;
//     an update that changes no attribute evaluates nothing.
//   - SetSelector and RemoveSelector evaluate one selector against every cell.
//   - Matches returns a selector's cells sorted by name; Matching tests one.
//
// Before running CEL, a selector's top-level conjuncts of the forms
// `cell.<attr> == "v"`, `cell.<attr> in ["a", "b"]` and the same on
// `cell.labels["k"]` are tested in Go: if one is false, the whole selector is
// false (CEL's && is false when any operand is false, even if another is an
// error), so the result is exactly that of full evaluation; a property test
// compares the index with full re-evaluation over random update sequences.
//
// The Index is safe for concurrent use (a mutex serialises updates; reads
// share a lock). Env and Selector are immutable and safe for concurrent use.
//
// # Lifecycle
//
// The hub builds one Env at start-up, compiles each workload's selector when
// a commit is loaded (Env.Compile or Env.CompileObject), registers it in its
// Index under the workload's ID, and feeds the Index the cells it watches in
// etcd. Nothing here runs in the background.
//
// # Example
//
//	env, err := selectors.NewEnv(selectors.Config{}) // default limits
//	if err != nil {
//		return err
//	}
//	web, err := env.Compile(`cell.zone in ["z1", "z2"] && cell.label("env", "dev") == "prod"`)
//	if err != nil {
//		return fmt.Errorf("compile selector of LRP web: %w", err)
//	}
//	idx := selectors.NewIndex()
//	idx.SetSelector("LRP/web", web)
//	for _, ch := range idx.UpsertCell(model.Cell{Name: "c1", Zone: "z1", Labels: map[string]string{"env": "prod"}}) {
//		fmt.Println(ch.Selector, ch.Cell, ch.Matched) // LRP/web c1 true
//	}
//	fmt.Println(idx.Matches("LRP/web")) // [c1]
package selectors
