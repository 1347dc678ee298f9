package hub

import (
	"fmt"

	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/selectors"
)

// Desired is the desired model at one commit, as the Git source emits it:
// the last good version of every workload, and the problems of the files
// that failed (for status; their workloads keep their last good version).
type Desired struct {
	Commit  string
	Objects []model.Object
	Errors  []error
}

// workload is one compiled top-level object of the desired model.
type workload struct {
	id   string
	kind model.Kind
	name string
	// fingerprint changes whenever anything the fan-out reads changes; an
	// unchanged workload is not fanned out again on a new commit.
	fingerprint string
	commit      string
	selector    *selectors.Selector
	mode        model.ApplyMode
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

// cellBody returns what a cell runs of an object: placement-only fields
// (selector, instances, spread) are dropped, so scaling an LRP or editing its
// selector does not change its body and restarts nothing.
func cellBody(o model.Object) model.Object {
	switch o := o.(type) {
	case *model.LRP:
		c := *o
		c.Spec.Selector, c.Spec.Instances, c.Spec.Spread = "", nil, ""
		return &c
	case *model.Task:
		c := *o
		c.Spec.Selector = ""
		return &c
	}
	return o
}

func indexes(n int32) []int32 {
	out := make([]int32, n)
	for i := range out {
		out[i] = int32(i)
	}
	return out
}

// compileWorkload turns a model object into a workload. compile is the
// selector compiler (cached by expression by the caller).
func compileWorkload(o model.Object, commit string, compile func(string) (*selectors.Selector, error), topConfigs map[string]bool) (*workload, error) {
	h := o.Head()
	w := &workload{id: workloadID(h.Kind, h.Metadata.Name), kind: h.Kind, name: h.Metadata.Name, commit: commit, src: h.Source, bodies: map[string][]byte{}}
	add := func(obj model.Object, idx []int32) error {
		body, hash, err := model.EncodeObject(cellBody(obj))
		if err != nil {
			return err
		}
		w.bodies[hash] = body
		w.items = append(w.items, model.Item{Kind: obj.Head().Kind, Name: obj.Head().Metadata.Name, Spec: hash, Indexes: idx})
		return nil
	}
	refs := func(p *model.Process, local map[string]bool) {
		for _, c := range p.Configs {
			if topConfigs[c.Name] && !local[c.Name] {
				w.configs = append(w.configs, c.Name)
			}
		}
	}
	var expr string
	var err error
	switch o := o.(type) {
	case *model.SelectorSyncSet:
		expr, w.mode = o.Spec.Selector, o.Spec.Mode()
		local := map[string]bool{}
		for _, r := range o.Spec.Resources {
			if r.Config != nil {
				local[r.Config.Metadata.Name] = true
			}
		}
		for _, r := range o.Spec.Resources {
			switch {
			case r.Config != nil:
				err = add(r.Config, nil)
			case r.LRP != nil:
				refs(&r.LRP.Spec.Process, local)
				err = add(r.LRP, indexes(r.LRP.Spec.Replicas()))
			case r.Task != nil:
				return nil, fmt.Errorf("%s: Task %s: Tasks inside a SelectorSyncSet are not supported yet; declare the Task at the top level", w.id, r.Task.Metadata.Name)
			}
			if err != nil {
				return nil, err
			}
		}
	case *model.LRP:
		expr = o.Spec.Selector
		refs(&o.Spec.Process, nil)
		w.needs, w.instances, w.spread = o.Spec.Needs(), int(o.Spec.Replicas()), o.Spec.Spread
		err = add(o, nil)
	case *model.Task:
		expr = o.Spec.Selector
		refs(&o.Spec.Process, nil)
		w.needs = o.Spec.Needs()
		err = add(o, nil)
	case *model.Config:
		err = add(o, nil)
	}
	if err != nil {
		return nil, err
	}
	if w.kind != model.KindConfig {
		if w.selector, err = compile(expr); err != nil {
			src := h.Source
			return nil, &model.Error{File: src.File, Doc: src.Doc, Line: src.Line, Field: "spec.selector", Msg: err.Error()}
		}
	}
	fp := fmt.Sprintf("%s|%s|%d|%s|%v", expr, w.mode, w.instances, w.spread, w.configs)
	for _, it := range w.items {
		fp += "|" + it.Spec
	}
	w.fingerprint = fp
	return w, nil
}

// unplaceable returns an error when no registered cell that the LRP's
// selector matches could hold one instance even if it ran nothing else, or
// nil. With no cells registered it cannot tell, and returns nil.
func unplaceable(w *workload, cells map[string]model.Cell) error {
	if w.kind != model.KindLRP || w.instances == 0 || len(cells) == 0 {
		return nil
	}
	matching := 0
	var largest model.Capacity
	for _, c := range cells {
		if ok, _ := w.selector.Match(&c); !ok || c.State == model.CellEvacuating {
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
	msg := fmt.Sprintf("the selector matches none of the %d ready cells", len(cells))
	if matching > 0 {
		msg = fmt.Sprintf("no matching cell can hold an instance: it needs %d MB memory and %d MB disk, the largest of the %d matching cells has %d MB and %d MB",
			w.needs.MemoryMB, w.needs.DiskMB, matching, largest.MemoryMB, largest.DiskMB)
	}
	return &model.Error{File: w.src.File, Doc: w.src.Doc, Line: w.src.Line, Field: "spec",
		Msg: fmt.Sprintf("LRP %s: %s; keeping the running version", w.name, msg)}
}
