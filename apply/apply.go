package apply

import (
	"fmt"
	"maps"
	"sort"
)

// Options tune one Apply.
type Options struct {
	// Force takes over the fields other managers own with a different value
	// instead of failing with a *ConflictError: they lose those fields (and
	// their intent hash, so their next apply is recomputed and conflicts).
	Force bool
}

// Result is the outcome of Apply.
type Result struct {
	// Object is the new live object. When Changed is false it is the object
	// passed in, untouched. It is nil when Deleted, and when an empty intent
	// is applied to no object.
	Object *Object
	// Changed reports that the object (its value or its managed fields)
	// differs from the one passed in and must be written.
	Changed bool
	// Deleted reports that no manager is left: the object must be deleted.
	Deleted bool
	// Taken lists the fields taken from other managers by Options.Force.
	Taken []Conflict
}

// Apply merges manager's intent into live (nil when the object does not
// exist yet) and returns the new object without modifying live.
//
// The manager ends up owning exactly the fields of the intent. Fields it
// owned before and no longer sets are removed from the object unless another
// manager owns them. Fields it shares with other managers at the same value
// become co-owned. An intent changing a field another manager owns returns a
// *ConflictError listing every such field and its owners, unless
// opts.Force. Re-applying the intent a manager last applied is detected by
// its hash and returns live unchanged without allocating.
//
// Apply returns an error wrapping ErrInvalid when live is another object
// than the intent's. It is safe for concurrent use on shared objects.
func Apply(live *Object, manager string, in *Intent, opts Options) (Result, error) {
	if live.Current(manager, in.Hash()) {
		if live.Kind != in.kind || live.Name != in.name {
			return Result{}, mismatch(live, in)
		}
		return Result{Object: live}, nil
	}
	return applyChanged(live, manager, in, opts)
}

func mismatch(live *Object, in *Intent) error {
	return fmt.Errorf("apply %s/%s to object %s/%s: %w", in.kind, in.name, live.Kind, live.Name, ErrInvalid)
}

// owners answers ownership questions about the managers of an object other
// than the one applying, plus the applying manager's new field set.
type owners struct {
	managers []Manager
	skip     int      // index of the applying manager in managers, or -1
	fields   []string // the applying manager's fields after the apply
	schema   *schemaNode
}

// others reports whether another manager owns p or a field below it.
func (w *owners) others(p string) bool {
	for i := range w.managers {
		if i != w.skip && coversOrBelow(w.managers[i].Fields, p) {
			return true
		}
	}
	return false
}

// keep reports whether anyone owns container path p after the apply, so
// that it survives becoming empty.
func (w *owners) keep(p string) bool {
	if contains(w.fields, p) {
		return true
	}
	for i := range w.managers {
		if i != w.skip && contains(w.managers[i].Fields, p) {
			return true
		}
	}
	return false
}

// removeFields deletes paths from val unless another manager owns them or
// something below them.
func (w *owners) removeFields(val map[string]any, paths []string) (map[string]any, bool) {
	changed := false
	for _, p := range paths {
		if w.others(p) {
			continue
		}
		nv, _, found := without(val, p, 0, w.keep)
		if found {
			val, changed = nv.(map[string]any), true
		}
	}
	return val, changed
}

func applyChanged(live *Object, manager string, in *Intent, opts Options) (Result, error) {
	if in == nil || manager == "" {
		return Result{}, fmt.Errorf("apply: an intent and a manager name are required: %w", ErrInvalid)
	}
	var old map[string]any
	w := owners{skip: -1, fields: in.fields, schema: in.schema.rootNode()}
	if live != nil {
		if live.Kind != in.kind || live.Name != in.name {
			return Result{}, mismatch(live, in)
		}
		old, w.managers, w.skip = live.Value, live.Managers, live.manager(manager)
	}
	var oldFields []string
	var oldHash Hash
	if w.skip >= 0 {
		oldFields, oldHash = w.managers[w.skip].Fields, w.managers[w.skip].Hash
	}

	// Drop first, then merge: a field the manager turns from a scalar into a
	// map must be removed before its new children are set.
	val, treeChanged := w.removeFields(old, minus(oldFields, in.fields))
	val, merged := mergeMap(val, &in.root)
	treeChanged = treeChanged || merged

	var conflicts []Conflict
	if treeChanged {
		conflicts = w.conflicts(old, val)
	}
	if len(conflicts) > 0 && !opts.Force {
		return Result{}, &ConflictError{Kind: in.kind, Name: in.name, Manager: manager, Conflicts: conflicts}
	}

	managersChanged := len(conflicts) > 0
	if w.skip >= 0 {
		managersChanged = managersChanged || oldHash != in.hash || !sameSet(oldFields, in.fields)
	} else {
		managersChanged = managersChanged || len(in.fields) > 0
	}
	if !treeChanged && !managersChanged {
		return Result{Object: live}, nil
	}

	ms := make([]Manager, 0, len(w.managers)+1)
	for i, m := range w.managers {
		if i == w.skip {
			continue
		}
		if taken := takenFrom(conflicts, m.Name); len(taken) > 0 {
			m.Fields, m.Hash = minus(m.Fields, taken), 0
			if len(m.Fields) == 0 {
				continue
			}
		}
		ms = append(ms, m)
	}
	if len(in.fields) > 0 {
		i := sort.Search(len(ms), func(i int) bool { return ms[i].Name >= manager })
		ms = append(ms, Manager{})
		copy(ms[i+1:], ms[i:])
		ms[i] = Manager{Name: manager, Hash: in.hash, Fields: in.fields}
	}
	res := Result{Changed: true, Taken: conflicts}
	if len(ms) == 0 {
		res.Deleted = true
		return res, nil
	}
	if val == nil {
		val = map[string]any{}
	}
	res.Object = &Object{Kind: in.kind, Name: in.name, Value: val, Managers: ms}
	return res, nil
}

// conflicts lists the fields of other managers whose value differs between
// old and val. A container field (an empty map or keyed item someone owns)
// only has to remain a map.
func (w *owners) conflicts(old, val map[string]any) []Conflict {
	var out []Conflict
	for i := range w.managers {
		if i == w.skip {
			continue
		}
		m := &w.managers[i]
		for _, f := range m.Fields {
			ov, oh := lookup(old, f)
			nv, nh := lookup(val, f)
			if w.kept(f, ov, oh, nv, nh) {
				continue
			}
			j := sort.Search(len(out), func(j int) bool { return out[j].Path >= f })
			if j < len(out) && out[j].Path == f {
				out[j].Managers = append(out[j].Managers, m.Name)
				continue
			}
			out = append(out, Conflict{})
			copy(out[j+1:], out[j:])
			out[j] = Conflict{Path: f, Managers: []string{m.Name}}
		}
	}
	return out
}

// kept reports whether field f is unaffected by the change of its value
// from ov to nv (oh, nh: the field exists). Containers (maps and keyed
// lists, owned when empty or as keyed items) only have to remain containers.
func (w *owners) kept(f string, ov any, oh bool, nv any, nh bool) bool {
	if !oh || !nh {
		return oh == nh
	}
	switch ov.(type) {
	case map[string]any:
		_, ok := nv.(map[string]any)
		return ok
	case []any:
		if keyedAt(w.schema, f) {
			_, ok := nv.([]any)
			return ok
		}
	}
	return equal(ov, nv)
}

// takenFrom returns the sorted paths of conflicts that name manager.
func takenFrom(conflicts []Conflict, manager string) []string {
	var out []string
	for _, c := range conflicts {
		for _, m := range c.Managers {
			if m == manager {
				out = append(out, c.Path)
				break
			}
		}
	}
	return out
}

// mergeNode merges compiled intent node n into old (has: old exists) and
// reports whether the result differs. Maps and lists are copied only on the
// first change, so an unchanged subtree costs comparisons and no allocation;
// where nothing was, the intent's own (immutable) subtree is shared.
func mergeNode(old any, has bool, n *cnode) (any, bool) {
	switch n.kind {
	case cMap:
		om, isMap := old.(map[string]any)
		if !has || !isMap {
			return n.val, true
		}
		return mergeMap(om, n)
	case cKeyed:
		ol, isList := old.([]any)
		if !has || !isList {
			return n.val, true
		}
		return mergeKeyed(ol, n)
	}
	if has && equal(old, n.val) {
		return old, false
	}
	return n.val, true
}

func mergeMap(om map[string]any, n *cnode) (map[string]any, bool) {
	var out map[string]any
	for i, k := range n.keys {
		ov, has := om[k]
		nv, ch := mergeNode(ov, has, &n.kids[i])
		if !ch {
			continue
		}
		if out == nil {
			out = maps.Clone(om) // copies the table wholesale: far cheaper than re-inserting
			if out == nil {
				out = make(map[string]any, len(n.keys))
			}
		}
		out[k] = nv
	}
	if out == nil {
		return om, false
	}
	return out, true
}

// mergeKeyed merges a keyed list item by item: existing items keep their
// place, new ones are appended in intent order, items the intent does not
// mention are left alone (removing them is removeFields' job).
func mergeKeyed(ol []any, n *cnode) ([]any, bool) {
	var out []any
	for i := range n.kids {
		item := &n.kids[i]
		j := findItem(ol, n.field, n.ikeys[i])
		if j < 0 {
			if out == nil {
				out = append(make([]any, 0, len(ol)+len(n.kids)), ol...)
			}
			out = append(out, item.val)
			continue
		}
		nm, ch := mergeMap(ol[j].(map[string]any), item)
		if !ch {
			continue
		}
		if out == nil {
			out = append(make([]any, 0, len(ol)+len(n.kids)), ol...)
		}
		out[j] = nm
	}
	if out == nil {
		return ol, false
	}
	return out, true
}
