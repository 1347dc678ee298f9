package ops

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/cellsync/cellsync/apply"
	"github.com/cellsync/cellsync/loader"
	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/selectors"
	"github.com/cellsync/cellsync/store"
	"github.com/cellsync/cellsync/sync/hub"
)

// planCommit is the commit name the plan's private hub works at.
const planCommit = "plan"

// LoadError lists the problems of a workload directory, each
// "file:line: message". ComputePlan returns it (use errors.As) when the
// directory does not load cleanly.
type LoadError struct {
	Dir      string
	Problems []error
}

func (e *LoadError) Error() string {
	return fmt.Sprintf("%d problem(s) in %s: run `cellsync validate %s`", len(e.Problems), e.Dir, e.Dir)
}

// PlanOptions say what to plan and against what.
type PlanOptions struct {
	// Dir is the workload directory, as it would be committed.
	Dir    string
	Loader loader.Options
	// Cells, when non-nil, makes the plan offline: these cells, nothing
	// assigned yet. Otherwise the plan reads the cells, assignments, task
	// records and bodies from Target's etcd.
	Cells  []model.Cell
	Target Target
	// Logger receives the private hub's log; default discards.
	Logger *slog.Logger
	// Timeout bounds the private hub's work; default 60s.
	Timeout time.Duration
}

// Plan is what committing a directory would change.
type Plan struct {
	// Against says what the plan compares with: "cells.yaml (offline)" or
	// "etcd http://...".
	Against   string         `json:"against"`
	Cells     int            `json:"cells"`
	Workloads []WorkloadPlan `json:"workloads"`
	// Unplaced lists what could not be placed, with the reason.
	Unplaced []string `json:"unplaced,omitempty"`
	// Conflicts are objects two workloads set differently on one cell.
	Conflicts []hub.Conflict `json:"conflicts,omitempty"`
	// Errors are the hub's own problems with the directory (selectors
	// that do not compile against the cells, ...).
	Errors []string `json:"errors,omitempty"`
}

// WorkloadPlan is one workload's part of a plan.
type WorkloadPlan struct {
	ID string `json:"id"`
	// Change is "new" for a workload the hub does not have yet, "removed"
	// for one DIR no longer holds, and empty otherwise.
	Change string `json:"change,omitempty"`
	// Cells are the cells the workload would be on.
	Cells   []string     `json:"cells"`
	Changes []ItemChange `json:"changes,omitempty"`
}

// Change kinds of an ItemChange.
const (
	ChangeAdd    = "add"
	ChangeRemove = "remove"
	ChangeUpdate = "update"
)

// ItemChange is one object of a workload changing on one cell.
type ItemChange struct {
	Cell string     `json:"cell"`
	Op   string     `json:"op"`
	Kind model.Kind `json:"kind"`
	Name string     `json:"name"`
	// AddedIndexes and RemovedIndexes are LRP instance indexes.
	AddedIndexes   []int32 `json:"addedIndexes,omitempty"`
	RemovedIndexes []int32 `json:"removedIndexes,omitempty"`
	// Diff lists the field changes of an updated object.
	Diff []string `json:"diff,omitempty"`
	// Reason explains a removal: "Sync-mode deletion", "workload removed".
	Reason string `json:"reason,omitempty"`
}

// Changed reports whether the plan changes anything on any cell.
func (p *Plan) Changed() bool {
	for _, w := range p.Workloads {
		if len(w.Changes) > 0 || w.Change != "" {
			return true
		}
	}
	return false
}

// ReadCellsFile reads a YAML (or JSON) list of model.Cell for an offline
// plan; see ParseCells.
func ReadCellsFile(path string) ([]model.Cell, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read cells: %w", err)
	}
	return ParseCells(path, b)
}

// ParseCells parses a YAML (or JSON) list of model.Cell read from the file
// name, rejecting unknown fields, invalid cells and duplicate names.
func ParseCells(name string, data []byte) ([]model.Cell, error) {
	var cells []model.Cell
	if err := yaml.UnmarshalStrict(data, &cells); err != nil {
		return nil, fmt.Errorf("%s: %w (want a list of cells: name, zone, labels, capacity {memoryMB, diskMB, containers})", name, err)
	}
	seen := map[string]bool{}
	for i := range cells {
		if err := cells[i].Validate(); err != nil {
			return nil, fmt.Errorf("%s: cell %d (%s): %w", name, i+1, cells[i].Name, err)
		}
		if seen[cells[i].Name] {
			return nil, fmt.Errorf("%s: cell %s listed twice", name, cells[i].Name)
		}
		seen[cells[i].Name] = true
	}
	return cells, nil
}

// ComputePlan loads opts.Dir and computes what committing it would change.
// It runs a private hub, the same code as the real one, on a throw-away
// embedded etcd seeded with the current state (or the offline cells), then
// compares the assignments it writes with the ones there were.
func ComputePlan(ctx context.Context, opts PlanOptions) (*Plan, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Timeout == 0 {
		opts.Timeout = 60 * time.Second
	}
	info, err := os.Stat(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("plan: %s is not a directory", opts.Dir)
	}
	res, err := loader.LoadDir(opts.Dir, opts.Loader)
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	env, err := selectors.NewEnv(selectors.Config{})
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	if problems := append(res.Errors(), selectors.CheckObjects(env, res.Objects())...); len(problems) > 0 {
		model.SortErrors(problems)
		return nil, &LoadError{Dir: opts.Dir, Problems: problems}
	}

	seed, against, err := planSeed(ctx, opts)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "cellsync-plan-")
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	defer os.RemoveAll(dir)
	emb, err := store.StartEmbedded(ctx, store.EmbedConfig{Dir: filepath.Join(dir, "etcd")})
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	defer emb.Close()
	st, err := store.Connect(ctx, store.Config{Endpoints: emb.Endpoints()})
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	defer st.Close()
	if len(seed.ops) > 0 {
		if _, err := st.Write(ctx, seed.ops); err != nil {
			return nil, fmt.Errorf("plan: seed the private etcd: %w", err)
		}
	}

	status, err := runPrivateHub(ctx, st, env, res.Objects(), opts)
	if err != nil {
		return nil, err
	}
	after, err := readAssignments(ctx, st)
	if err != nil {
		return nil, err
	}
	p := &Plan{Against: against, Cells: seed.cells, Errors: status.Errors, Conflicts: status.Conflicts}
	for _, ws := range status.Workloads {
		p.Unplaced = append(p.Unplaced, ws.Unplaced...)
	}
	bodies := bodyReader{ctx: ctx, st: st, cache: map[string]map[string]any{}}
	modes := map[string]model.ApplyMode{}
	for _, o := range res.Objects() {
		if s, ok := o.(*model.SelectorSyncSet); ok {
			modes[string(model.KindSelectorSyncSet)+"/"+s.Metadata.Name] = s.Spec.Mode()
		}
	}
	ids := maps.Clone(seed.known)
	for _, o := range res.Objects() {
		ids[string(o.Head().Kind)+"/"+o.Head().Metadata.Name] = true
	}
	for _, m := range []map[string]map[string]model.Assignment{seed.before, after} {
		for src := range m {
			ids[src] = true
		}
	}
	for _, id := range slices.Sorted(maps.Keys(ids)) {
		w := WorkloadPlan{ID: id, Cells: slices.Sorted(maps.Keys(after[id]))}
		switch {
		case !workloadIn(res.Objects(), id):
			w.Change = "removed"
		case !seed.known[id] && len(seed.before[id]) == 0:
			w.Change = "new"
		}
		for _, cell := range slices.Sorted(maps.Keys(union(seed.before[id], after[id]))) {
			b, a := seed.before[id][cell], after[id][cell]
			removal := "moved or scaled down"
			switch {
			case !workloadIn(res.Objects(), id):
				removal = "workload removed"
			case modes[id] == model.ApplySync:
				removal = "Sync-mode deletion"
			}
			changes, err := itemChanges(cell, b.Items, a.Items, removal, &bodies)
			if err != nil {
				return nil, err
			}
			w.Changes = append(w.Changes, changes...)
		}
		p.Workloads = append(p.Workloads, w)
	}
	return p, nil
}

func workloadIn(objs []model.Object, id string) bool {
	for _, o := range objs {
		if string(o.Head().Kind)+"/"+o.Head().Metadata.Name == id {
			return true
		}
	}
	return false
}

func union(a, b map[string]model.Assignment) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

// seed is what the private etcd starts with.
type seed struct {
	ops   []store.Op
	cells int
	// before are the assignments by source, then cell.
	before map[string]map[string]model.Assignment
	// known are the workloads the hub has now, from its status.
	known map[string]bool
}

func planSeed(ctx context.Context, opts PlanOptions) (seed, string, error) {
	s := seed{before: map[string]map[string]model.Assignment{}, known: map[string]bool{}}
	if opts.Cells != nil {
		for _, c := range opts.Cells {
			v, err := store.Encode(c)
			if err != nil {
				return s, "", fmt.Errorf("plan: %w", err)
			}
			s.ops = append(s.ops, store.Op{Key: store.CellKey(c.Name), Value: v})
		}
		s.cells = len(opts.Cells)
		return s, fmt.Sprintf("%d cells from a file (offline)", s.cells), nil
	}
	if len(opts.Target.Etcd) == 0 {
		return s, "", fmt.Errorf("plan needs the cells: pass --cells cells.yaml (offline), or --etcd-endpoints of a running hub (with `cellsync up`, run plan from its directory)")
	}
	c, err := connect(ctx, opts.Target)
	if err != nil {
		return s, "", err
	}
	defer c.Close()
	st, _, ok, err := store.GetJSON[hub.Status](ctx, c, store.StatusKey("hub"))
	if err != nil {
		return s, "", fmt.Errorf("plan: read hub status: %w", err)
	}
	if ok {
		for _, w := range st.Workloads {
			s.known[w.ID] = true
		}
	}
	for _, prefix := range []string{store.CellsPrefix, store.DesiredPrefix, store.TasksPrefix, store.SpecsPrefix} {
		kvs, _, err := c.List(ctx, prefix)
		if err != nil {
			return s, "", fmt.Errorf("plan: read %s: %w", prefix, err)
		}
		for _, kv := range kvs {
			s.ops = append(s.ops, store.Op{Key: kv.Key, Value: kv.Value})
			switch prefix {
			case store.CellsPrefix:
				s.cells++
			case store.TasksPrefix:
				// A Task with a record is known even when its status
				// has not been mirrored yet and it holds no cell.
				s.known[string(model.KindTask)+"/"+strings.TrimPrefix(kv.Key, store.TasksPrefix)] = true
			case store.DesiredPrefix:
				cell, src, ok := store.SplitCellKey(store.DesiredPrefix, kv.Key)
				if !ok {
					continue
				}
				var a model.Assignment
				if err := store.Decode(kv, &a); err != nil {
					return s, "", err
				}
				if s.before[src] == nil {
					s.before[src] = map[string]model.Assignment{}
				}
				s.before[src][cell] = a
			}
		}
	}
	return s, fmt.Sprintf("%d cells and their assignments in etcd %s", s.cells, strings.Join(opts.Target.Etcd, ",")), nil
}

// runPrivateHub runs a hub on st with the objects as the desired model
// until it has settled (written everything it can), and returns its status.
func runPrivateHub(ctx context.Context, st *store.Client, env *selectors.Env, objs []model.Object, opts PlanOptions) (hub.Status, error) {
	h := hub.New(hub.Config{ResyncInterval: time.Hour}, hub.Deps{Store: st, Env: env, Logger: opts.Logger})
	hctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- h.Run(hctx) }()
	defer func() {
		cancel()
		<-done
	}()
	h.SetDesired(hub.Desired{Commit: planCommit, Objects: objs})
	deadline := time.NewTimer(opts.Timeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		// Settled: nothing under way. A record refused for its size or a
		// failed workload never becomes synced; the plan reports them.
		if s := h.Status(); s.Leading && s.Commit == planCommit && s.Condition.State != hub.Progressing {
			return s, nil
		}
		select {
		case <-ctx.Done():
			return hub.Status{}, fmt.Errorf("plan: %w", ctx.Err())
		case err := <-done:
			return hub.Status{}, fmt.Errorf("plan: private hub stopped: %v", err)
		case <-deadline.C:
			return hub.Status{}, fmt.Errorf("plan: the private hub did not settle in %s", opts.Timeout)
		case <-tick.C:
		}
	}
}

// readAssignments returns the stored assignments by source, then cell.
func readAssignments(ctx context.Context, st *store.Client) (map[string]map[string]model.Assignment, error) {
	kvs, _, err := st.List(ctx, store.DesiredPrefix)
	if err != nil {
		return nil, fmt.Errorf("plan: read assignments: %w", err)
	}
	out := map[string]map[string]model.Assignment{}
	for _, kv := range kvs {
		cell, src, ok := store.SplitCellKey(store.DesiredPrefix, kv.Key)
		if !ok {
			continue
		}
		var a model.Assignment
		if err := store.Decode(kv, &a); err != nil {
			return nil, err
		}
		if out[src] == nil {
			out[src] = map[string]model.Assignment{}
		}
		out[src][cell] = a
	}
	return out, nil
}

// bodyReader reads object bodies by hash from the private etcd, which holds
// the old ones (seeded) and the new ones (written by the private hub).
type bodyReader struct {
	ctx   context.Context
	st    *store.Client
	cache map[string]map[string]any
}

func (r *bodyReader) get(hash string) (map[string]any, error) {
	if v, ok := r.cache[hash]; ok {
		return v, nil
	}
	kv, ok, err := r.st.Get(r.ctx, store.SpecKey(hash))
	if err != nil {
		return nil, fmt.Errorf("plan: read body %s: %w", hash, err)
	}
	var v map[string]any
	if ok {
		if err := json.Unmarshal(kv.Value, &v); err != nil {
			return nil, fmt.Errorf("plan: decode body %s: %w", hash, err)
		}
	}
	r.cache[hash] = v
	return v, nil
}

// itemChanges compares one source's items on one cell.
func itemChanges(cell string, before, after []model.Item, removal string, bodies *bodyReader) ([]ItemChange, error) {
	key := func(it model.Item) string { return string(it.Kind) + "/" + it.Name }
	old := map[string]model.Item{}
	for _, it := range before {
		old[key(it)] = it
	}
	var out []ItemChange
	for _, it := range after {
		prev, ok := old[key(it)]
		delete(old, key(it))
		if !ok {
			out = append(out, ItemChange{Cell: cell, Op: ChangeAdd, Kind: it.Kind, Name: it.Name, AddedIndexes: it.Indexes})
			continue
		}
		ch := ItemChange{Cell: cell, Op: ChangeUpdate, Kind: it.Kind, Name: it.Name,
			AddedIndexes: minus(it.Indexes, prev.Indexes), RemovedIndexes: minus(prev.Indexes, it.Indexes)}
		if prev.Spec != it.Spec {
			a, err := bodies.get(prev.Spec)
			if err != nil {
				return nil, err
			}
			b, err := bodies.get(it.Spec)
			if err != nil {
				return nil, err
			}
			for _, c := range apply.Diff(&apply.Object{Value: a}, &apply.Object{Value: b}, apply.DefaultSchema(string(it.Kind))) {
				ch.Diff = append(ch.Diff, c.String())
			}
		}
		if len(ch.AddedIndexes) > 0 || len(ch.RemovedIndexes) > 0 || len(ch.Diff) > 0 {
			out = append(out, ch)
		}
	}
	for _, it := range old {
		out = append(out, ItemChange{Cell: cell, Op: ChangeRemove, Kind: it.Kind, Name: it.Name, RemovedIndexes: it.Indexes, Reason: removal})
	}
	slices.SortFunc(out, func(a, b ItemChange) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Name, b.Name), cmp.Compare(a.Op, b.Op))
	})
	return out, nil
}

func minus(a, b []int32) []int32 {
	var out []int32
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// RenderPlan writes the plan for people (per workload, the cells it lands
// on and each change: "+" add, "-" remove, "~" update with field diffs),
// or as JSON or YAML.
func RenderPlan(w io.Writer, p *Plan, format string) error {
	if done, err := encode(w, p, format); done || err != nil {
		return err
	}
	fmt.Fprintf(w, "plan against %s\n\n", p.Against)
	var adds, updates, removes int
	var unchanged []string
	for _, wp := range p.Workloads {
		if len(wp.Changes) == 0 && wp.Change == "" {
			unchanged = append(unchanged, wp.ID)
			continue
		}
		note := ""
		if wp.Change != "" {
			note = "  (" + wp.Change + " workload)"
		}
		fmt.Fprintf(w, "%s → %s%s\n", wp.ID, cellList(wp.Cells), note)
		for _, c := range wp.Changes {
			what := fmt.Sprintf("%s %s", c.Kind, c.Name)
			switch c.Op {
			case ChangeAdd:
				adds++
				fmt.Fprintf(w, "  + %s  %s%s\n", c.Cell, what, indexes("", c.AddedIndexes))
			case ChangeRemove:
				removes++
				fmt.Fprintf(w, "  - %s  %s%s  (%s)\n", c.Cell, what, indexes("", c.RemovedIndexes), c.Reason)
			default:
				updates++
				fmt.Fprintf(w, "  ~ %s  %s%s%s\n", c.Cell, what, indexes("+", c.AddedIndexes), indexes("-", c.RemovedIndexes))
				for _, d := range c.Diff {
					fmt.Fprintf(w, "        %s\n", d)
				}
			}
		}
	}
	if len(unchanged) > 0 {
		fmt.Fprintf(w, "unchanged: %s\n", strings.Join(unchanged, ", "))
	}
	section(w, "UNPLACEABLE", p.Unplaced)
	section(w, "ERRORS", p.Errors)
	if len(p.Conflicts) > 0 {
		var lines []string
		for _, c := range p.Conflicts {
			lines = append(lines, fmt.Sprintf("%s on %s: %s sets %s, owned by %s", c.Object, c.Cell, c.Workload, strings.Join(c.Fields, ","), strings.Join(c.Owners, ",")))
		}
		section(w, "CONFLICTS", lines)
	}
	if !p.Changed() {
		_, err := fmt.Fprintln(w, "\nno changes")
		return err
	}
	var news, gone int
	for _, wp := range p.Workloads {
		switch wp.Change {
		case "new":
			news++
		case "removed":
			gone++
		}
	}
	_, err := fmt.Fprintf(w, "\nworkloads: %d new, %d removed; objects on cells: %d to add, %d to update, %d to remove\n", news, gone, adds, updates, removes)
	return err
}

func cellList(cells []string) string {
	if len(cells) == 0 {
		return "(no cell)"
	}
	return strings.Join(cells, ", ")
}

func indexes(sign string, xs []int32) string {
	if len(xs) == 0 {
		return ""
	}
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprint(x)
	}
	return fmt.Sprintf(" %sinstances [%s]", sign, strings.Join(parts, " "))
}
