package model

import "fmt"

// Check applies the rules that span documents and files to a whole
// repository's objects: names are unique per kind, and every Config a
// workload references exists, either at the top level or in the same
// SelectorSyncSet. Errors point at the later definition or the reference.
func Check(objs []Object) []error {
	var errs []error
	type key struct {
		kind Kind
		name string
	}
	first := map[key]Source{}
	configs := map[string]bool{}
	for _, o := range objs {
		h := o.Head()
		k := key{h.Kind, h.Metadata.Name}
		if prev, dup := first[k]; dup {
			errs = append(errs, &Error{File: h.Source.File, Doc: h.Source.Doc, Line: h.Source.Line, Field: "metadata.name",
				Msg: fmt.Sprintf("%s %q is already defined at %s:%d", h.Kind, h.Metadata.Name, prev.File, prev.Line)})
			continue
		}
		first[k] = h.Source
		if h.Kind == KindConfig {
			configs[h.Metadata.Name] = true
		}
	}
	refs := func(h *Header, p *Process, path string, local map[string]bool) {
		for i, c := range p.Configs {
			if !configs[c.Name] && !local[c.Name] {
				errs = append(errs, &Error{File: h.Source.File, Doc: h.Source.Doc, Line: h.Source.Line,
					Field: fmt.Sprintf("%s.configs[%d].name", path, i), Msg: fmt.Sprintf("Config %q is not defined", c.Name)})
			}
		}
	}
	for _, o := range objs {
		switch o := o.(type) {
		case *LRP:
			refs(&o.Header, &o.Spec.Process, "spec", nil)
		case *Task:
			refs(&o.Header, &o.Spec.Process, "spec", nil)
		case *SelectorSyncSet:
			local := map[string]bool{}
			for _, r := range o.Spec.Resources {
				if r.Config != nil {
					local[r.Config.Metadata.Name] = true
				}
			}
			for i, r := range o.Spec.Resources {
				path := fmt.Sprintf("spec.resources[%d].spec", i)
				switch {
				case r.LRP != nil:
					refs(&o.Header, &r.LRP.Spec.Process, path, local)
				case r.Task != nil:
					refs(&o.Header, &r.Task.Spec.Process, path, local)
				}
			}
		}
	}
	errs = append(errs, checkRoutes(objs)...)
	SortErrors(errs)
	return errs
}
