package apply

import (
	"fmt"
	"sort"
	"strings"
)

// Schema says which lists of an object are keyed (Kubernetes'
// listType=map): their items are maps identified by a key field and merge
// item by item, so two managers can each own their own items. Every other
// list is atomic: it is one field, replaced whole. A nil *Schema has no
// keyed lists. A Schema is immutable and safe for concurrent use.
type Schema struct {
	root *schemaNode
	keys map[string]string
}

// schemaNode is one map key on the way to keyed lists. Items of a keyed
// list continue from the list's own node, so patterns ignore item steps.
type schemaNode struct {
	key      string // non-empty: the list here is keyed by this field
	children map[string]*schemaNode
}

func (n *schemaNode) child(k string) *schemaNode {
	if n == nil {
		return nil
	}
	return n.children[k]
}

// NewSchema builds a Schema from keyed-list patterns: each maps a dotted
// path of map keys, with item steps left out, to the name of the key field
// of the list found there. For example {".spec.configs": "name"} keys the
// configs list of an LRP by name, and {".spec.containers.ports": "port"}
// would key the ports list inside every item of a keyed containers list.
func NewSchema(lists map[string]string) (*Schema, error) {
	s := &Schema{root: &schemaNode{}, keys: make(map[string]string, len(lists))}
	patterns := make([]string, 0, len(lists))
	for p := range lists {
		patterns = append(patterns, p)
	}
	sort.Strings(patterns)
	for _, p := range patterns {
		field := lists[p]
		if !isIdent(field) {
			return nil, fmt.Errorf("schema pattern %q: key field %q must be letters, digits, '_' or '-': %w", p, field, ErrInvalid)
		}
		if !strings.HasPrefix(p, ".") {
			return nil, fmt.Errorf("schema pattern %q: must start with '.': %w", p, ErrInvalid)
		}
		n := s.root
		for _, k := range strings.Split(p[1:], ".") {
			if !isIdent(k) {
				return nil, fmt.Errorf("schema pattern %q: bad key %q: %w", p, k, ErrInvalid)
			}
			c := n.children[k]
			if c == nil {
				if n.children == nil {
					n.children = make(map[string]*schemaNode)
				}
				c = &schemaNode{}
				n.children[k] = c
			}
			n = c
		}
		n.key = field
		s.keys[p] = field
	}
	return s, nil
}

// Lists returns a copy of the schema's keyed-list patterns.
func (s *Schema) Lists() map[string]string {
	out := make(map[string]string)
	if s == nil {
		return out
	}
	for k, v := range s.keys {
		out[k] = v
	}
	return out
}

func (s *Schema) rootNode() *schemaNode {
	if s == nil {
		return nil
	}
	return s.root
}

// DefaultSchema returns the schema of one of cellsync's kinds ("LRP",
// "Task", "Config"): the configs list of a process is keyed by name; Config
// data is a map and needs no schema. Unknown kinds get an empty schema.
func DefaultSchema(kind string) *Schema {
	var lists map[string]string
	switch kind {
	case "LRP", "Task":
		lists = map[string]string{".spec.configs": "name"}
	}
	s, err := NewSchema(lists)
	if err != nil {
		// The patterns above are constants; failing here is a programming error.
		panic(fmt.Sprintf("apply: default schema of %s: %v", kind, err))
	}
	return s
}

// keyedAt reports whether the schema keys the list at path p.
func keyedAt(n *schemaNode, p string) bool {
	for off := 0; off < len(p) && n != nil; {
		s, w, err := parseStep(p[off:])
		if err != nil {
			return false
		}
		off += w
		if !s.item {
			n = n.child(s.key)
		}
	}
	return n != nil && n.key != ""
}
