package model

import "fmt"

// CellBody is one body a cell receives of a workload: the object as the
// cell runs it, encoded (EncodeObject) and content-addressed.
type CellBody struct {
	// Object is the object the body encodes: the workload itself, or one
	// resource of a SelectorSyncSet.
	Object Object
	// Field is where the object sits in its workload: "" for the workload
	// itself, "spec.resources[i]" for a set's resource.
	Field string
	Data  []byte
	Hash  string
}

// CellBodies encodes the bodies the cells receive of the top-level object o:
// one for a Config, an LRP or a Task, one per resource of a SelectorSyncSet.
// A body over limit bytes (0: no limit) is an *Error naming o's file and
// line, the field and the limit: it cannot be stored in one etcd request,
// which is where the hub keeps bodies.
func CellBodies(o Object, limit int) ([]CellBody, error) {
	var objs []Object
	var fields []string
	if set, ok := o.(*SelectorSyncSet); ok {
		for i, r := range set.Spec.Resources {
			if ro := r.Object(); ro != nil {
				objs = append(objs, ro)
				fields = append(fields, fmt.Sprintf("spec.resources[%d]", i))
			}
		}
	} else {
		objs, fields = []Object{o}, []string{""}
	}
	out := make([]CellBody, 0, len(objs))
	for i, obj := range objs {
		data, hash, err := EncodeObject(cellView(obj))
		if err != nil {
			return nil, err
		}
		if limit > 0 && len(data) > limit {
			h := o.Head()
			field := fields[i]
			switch {
			case field != "":
			case h.Kind == KindConfig:
				field = "data"
			default:
				field = "spec"
			}
			return nil, &Error{File: h.Source.File, Doc: h.Source.Doc, Line: h.Source.Line, Field: field,
				Msg: fmt.Sprintf("%s %s is %d bytes encoded, over the %d-byte limit of one stored body; split it", obj.Head().Kind, obj.Head().Metadata.Name, len(data), limit)}
		}
		out = append(out, CellBody{Object: obj, Field: fields[i], Data: data, Hash: hash})
	}
	return out, nil
}

// cellView returns what a cell runs of an object: placement-only fields
// (selector, instances, spread) are dropped, so scaling an LRP or editing
// its selector does not change its body and restarts nothing.
func cellView(o Object) Object {
	switch o := o.(type) {
	case *LRP:
		c := *o
		c.Spec.Selector, c.Spec.Instances, c.Spec.Spread = "", nil, ""
		return &c
	case *Task:
		c := *o
		c.Spec.Selector = ""
		return &c
	}
	return o
}
