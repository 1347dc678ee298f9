package apply

import (
	"encoding/json"
	"sort"
	"strings"
)

// Op is the kind of one Change.
type Op byte

// The kinds of change.
const (
	Added    Op = '+'
	Removed  Op = '-'
	Modified Op = '~'
)

// Change is one field that differs between two versions of an object.
type Change struct {
	Op   Op
	Path string
	// Old and New are the values before and after; Old is nil for Added,
	// New is nil for Removed.
	Old, New any
}

// String renders the change for people: `~ .data.level: "info" → "debug"`.
func (c Change) String() string {
	switch c.Op {
	case Added:
		return "+ " + c.Path + ": " + render(c.New)
	case Removed:
		return "- " + c.Path + ": " + render(c.Old)
	}
	return "~ " + c.Path + ": " + render(c.Old) + " → " + render(c.New)
}

// Changes is a diff: changes sorted by path.
type Changes []Change

// String renders one change per line.
func (cs Changes) String() string {
	var b strings.Builder
	for _, c := range cs {
		b.WriteString(c.String())
		b.WriteByte('\n')
	}
	return b.String()
}

func render(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "<unprintable>"
	}
	return string(b)
}

// Diff returns the value changes from before to after, either of which may be nil
// (object created or deleted), for `cellsync plan` and logs. Maps are
// compared key by key and the keyed lists of schema (may be nil) item by
// item; other lists are compared whole. Managed fields are not part of the
// diff. Diff is meant for people, not for the hot path: it allocates.
func Diff(before, after *Object, schema *Schema) Changes {
	var ov, nv map[string]any
	if before != nil {
		ov = before.Value
	}
	if after != nil {
		nv = after.Value
	}
	var out Changes
	diffMap(&out, "", ov, nv, schema.rootNode())
	sort.SliceStable(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

func diffMap(out *Changes, path string, a, b map[string]any, s *schemaNode) {
	for k, av := range a {
		p := appendKey(path, k)
		if bv, ok := b[k]; ok {
			diffValue(out, p, av, bv, s.child(k))
		} else {
			*out = append(*out, Change{Op: Removed, Path: p, Old: av})
		}
	}
	for k, bv := range b {
		if _, ok := a[k]; !ok {
			*out = append(*out, Change{Op: Added, Path: appendKey(path, k), New: bv})
		}
	}
}

func diffValue(out *Changes, path string, a, b any, s *schemaNode) {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		diffMap(out, path, am, bm, s)
		return
	}
	al, aok := a.([]any)
	bl, bok := b.([]any)
	if aok && bok && s != nil && s.key != "" && keyedItems(al, s.key) && keyedItems(bl, s.key) {
		for _, it := range al {
			im := it.(map[string]any)
			ip := appendItem(path, s.key, im[s.key])
			if j := findItem(bl, s.key, im[s.key]); j >= 0 {
				diffMap(out, ip, im, bl[j].(map[string]any), s)
			} else {
				*out = append(*out, Change{Op: Removed, Path: ip, Old: im})
			}
		}
		for _, it := range bl {
			im := it.(map[string]any)
			if findItem(al, s.key, im[s.key]) < 0 {
				*out = append(*out, Change{Op: Added, Path: appendItem(path, s.key, im[s.key]), New: im})
			}
		}
		return
	}
	if !equal(a, b) {
		*out = append(*out, Change{Op: Modified, Path: path, Old: a, New: b})
	}
}

// keyedItems reports whether every item of l is a map with a valid key.
func keyedItems(l []any, key string) bool {
	for _, it := range l {
		m, ok := it.(map[string]any)
		if !ok || !validKey(m[key]) {
			return false
		}
	}
	return true
}
