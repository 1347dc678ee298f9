package selectors

import (
	"fmt"

	"github.com/cellsync/cellsync/model"
)

// SelectorOf returns the selector expression of a workload object and
// whether the object kind has one: LRPs, Tasks and SelectorSyncSets do,
// Configs do not.
func SelectorOf(o model.Object) (string, bool) {
	switch o := o.(type) {
	case *model.LRP:
		return o.Spec.Selector, true
	case *model.Task:
		return o.Spec.Selector, true
	case *model.SelectorSyncSet:
		return o.Spec.Selector, true
	}
	return "", false
}

// CompileObject compiles the selector of o; objects without a selector
// field (Configs) give nil, nil. A compile failure is returned as a
// *model.Error naming the object's file, document and line, the field
// spec.selector and, in the message, the position inside the expression.
func (e *Env) CompileObject(o model.Object) (*Selector, error) {
	expr, ok := SelectorOf(o)
	if !ok {
		return nil, nil
	}
	s, err := e.Compile(expr)
	if err != nil {
		h := o.Head()
		return nil, &model.Error{File: h.Source.File, Doc: h.Source.Doc, Line: h.Source.Line,
			Field: "spec.selector", Msg: fmt.Sprintf("%s %q: %v", h.Kind, h.Metadata.Name, err)}
	}
	return s, nil
}

// CheckObjects compiles the selector of every object, and the partition
// selectors of a set's rollout, as `cellsync validate` does, and returns
// one *model.Error per selector that does not compile, in the order of
// objs.
func CheckObjects(env *Env, objs []model.Object) []error {
	var errs []error
	for _, o := range objs {
		if _, err := env.CompileObject(o); err != nil {
			errs = append(errs, err)
		}
		if s, ok := o.(*model.SelectorSyncSet); ok && s.Spec.Rollout != nil {
			errs = append(errs, env.checkPartitions(s)...)
		}
	}
	return errs
}

// checkPartitions compiles the partition selectors of a set's rollout.
func (e *Env) checkPartitions(s *model.SelectorSyncSet) []error {
	var errs []error
	for i, p := range s.Spec.Rollout.Partitions {
		if _, err := e.Compile(p.Selector); err != nil {
			h := s.Head()
			errs = append(errs, &model.Error{File: h.Source.File, Doc: h.Source.Doc, Line: h.Source.Line,
				Field: fmt.Sprintf("spec.rollout.partitions[%d].selector", i), Msg: fmt.Sprintf("%s %q partition %q: %v", h.Kind, h.Metadata.Name, p.Name, err)})
		}
	}
	return errs
}
