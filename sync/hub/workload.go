package hub

import (
	"fmt"
	"strings"

	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/selectors"
)

// workload is one compiled top-level object of the desired model. It is
// immutable once compiled.
type workload struct {
	id   string
	kind model.Kind
	name string
	// fingerprint changes whenever anything the fan-out reads changes; an
	// unchanged workload is not fanned out again on a new commit.
	fingerprint string
	// commit is the commit this version was compiled at: the commit where
	// the workload last changed.
	commit   string
	selector *selectors.Selector
	mode     model.ApplyMode
	// items is what a cell gets: for a set, every resource (shared by all
	// matching cells); for an LRP or a Task, its one item without indexes.
	items []model.Item
	// bodies holds the encoded bodies of items, by hash.
	bodies map[string][]byte
	// configs names the top-level Configs the workload's processes mount.
	configs []string
	// src is where the workload is defined, for errors.
	src model.Source
	// LRP and Task placement inputs.
	needs     model.Resources
	instances int
	spread    string
}

func workloadID(kind model.Kind, name string) string { return string(kind) + "/" + name }

// cutKind returns the name of a workload ID of the given kind.
func cutKind(id string, kind model.Kind) (string, bool) {
	return strings.CutPrefix(id, string(kind)+"/")
}

func indexes(n int32) []int32 {
	out := make([]int32, n)
	for i := range out {
		out[i] = int32(i)
	}
	return out
}

// compileWorkload turns a model object into a workload. compile is the
// selector compiler (cached by expression by the caller); a body over
// maxBody bytes is an error naming the file, line and limit.
func compileWorkload(o model.Object, compile func(string) (*selectors.Selector, error), topConfigs map[string]bool, maxBody int) (*workload, error) {
	h := o.Head()
	w := &workload{id: workloadID(h.Kind, h.Metadata.Name), kind: h.Kind, name: h.Metadata.Name, src: h.Source, bodies: map[string][]byte{}}
	bodies, err := model.CellBodies(o, maxBody)
	if err != nil {
		return nil, err
	}
	refs := func(p *model.Process, local map[string]bool) {
		for _, c := range p.Configs {
			if topConfigs[c.Name] && !local[c.Name] {
				w.configs = append(w.configs, c.Name)
			}
		}
	}
	local := map[string]bool{}
	if set, ok := o.(*model.SelectorSyncSet); ok {
		for _, r := range set.Spec.Resources {
			if r.Config != nil {
				local[r.Config.Metadata.Name] = true
			}
		}
	}
	for _, b := range bodies {
		var idx []int32
		switch obj := b.Object.(type) {
		case *model.LRP:
			refs(&obj.Spec.Process, local)
			if b.Field != "" {
				idx = indexes(obj.Spec.Replicas())
			}
		case *model.Task:
			if b.Field != "" {
				return nil, &model.Error{File: h.Source.File, Doc: h.Source.Doc, Line: h.Source.Line, Field: b.Field,
					Msg: fmt.Sprintf("Task %s: Tasks inside a SelectorSyncSet are not supported yet; declare the Task at the top level", obj.Metadata.Name)}
			}
			refs(&obj.Spec.Process, local)
		}
		w.bodies[b.Hash] = b.Data
		w.items = append(w.items, model.Item{Kind: b.Object.Head().Kind, Name: b.Object.Head().Metadata.Name, Spec: b.Hash, Indexes: idx})
	}
	var expr string
	switch o := o.(type) {
	case *model.SelectorSyncSet:
		expr, w.mode = o.Spec.Selector, o.Spec.Mode()
	case *model.LRP:
		expr = o.Spec.Selector
		w.needs, w.instances, w.spread = o.Spec.Needs(), int(o.Spec.Replicas()), o.Spec.Spread
	case *model.Task:
		expr = o.Spec.Selector
		w.needs = o.Spec.Needs()
	}
	if w.kind != model.KindConfig {
		if w.selector, err = compile(expr); err != nil {
			return nil, &model.Error{File: h.Source.File, Doc: h.Source.Doc, Line: h.Source.Line, Field: "spec.selector", Msg: err.Error()}
		}
	}
	var fp strings.Builder
	fmt.Fprintf(&fp, "%s|%s|%d|%s|%v", expr, w.mode, w.instances, w.spread, w.configs)
	for _, it := range w.items {
		fp.WriteString("|" + it.Spec)
	}
	w.fingerprint = fp.String()
	return w, nil
}

// unplaceable returns an error when no registered cell that the LRP's
// selector matches could hold one instance even if it ran nothing else, or
// nil. With no cells registered it cannot tell, and returns nil. A selector
// that fails to evaluate on a cell is reported as such, not as "matches
// none".
func unplaceable(w *workload, cells []model.Cell) error {
	if w.kind != model.KindLRP || w.instances == 0 || len(cells) == 0 {
		return nil
	}
	matching, failed := 0, 0
	var evalErr error
	var largest model.Capacity
	for i := range cells {
		c := &cells[i]
		ok, err := w.selector.Match(c)
		if err != nil {
			failed++
			evalErr = fmt.Errorf("cell %s: %w", c.Name, err)
		}
		if !ok || c.State == model.CellEvacuating {
			continue
		}
		matching++
		if c.Capacity.MemoryMB >= w.needs.MemoryMB && c.Capacity.DiskMB >= w.needs.DiskMB && c.Capacity.Containers >= 1 {
			return nil
		}
		if c.Capacity.MemoryMB > largest.MemoryMB {
			largest = c.Capacity
		}
	}
	var msg string
	switch {
	case matching > 0:
		msg = fmt.Sprintf("no matching cell can hold an instance: it needs %d MB memory and %d MB disk, the largest of the %d matching cells has %d MB and %d MB",
			w.needs.MemoryMB, w.needs.DiskMB, matching, largest.MemoryMB, largest.DiskMB)
	case failed > 0:
		msg = fmt.Sprintf("the selector failed to evaluate on %d of the %d ready cells (%v)", failed, len(cells), evalErr)
	default:
		msg = fmt.Sprintf("the selector matches none of the %d ready cells", len(cells))
	}
	return &model.Error{File: w.src.File, Doc: w.src.Doc, Line: w.src.Line, Field: "spec",
		Msg: fmt.Sprintf("LRP %s: %s; keeping the running version", w.name, msg)}
}

// sharedObjects returns the objects that more than one workload carries (a
// top-level Config counts once, however many workloads mount it).
func sharedObjects(ws map[string]*workload) map[string]bool {
	seen := map[string]string{}
	shared := map[string]bool{}
	for id, w := range ws {
		for _, it := range w.items {
			if it.Kind == model.KindTask {
				continue
			}
			key := objectKey(it)
			if first, ok := seen[key]; ok && first != id {
				shared[key] = true
			}
			seen[key] = id
		}
	}
	return shared
}
