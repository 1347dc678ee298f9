package apply

import (
	"encoding/json"
	"fmt"
	"sort"
)

// Object is a live per-cell object: its value tree and who manages which of
// its fields. It is what the hub stores in etcd (Encode, Decode). Objects are
// immutable once built: Apply and Remove return new Objects that share
// unchanged subtrees with the old one, so an Object may be read from many
// goroutines and must never be modified in place.
type Object struct {
	// Kind and Name identify the object on its cell, e.g. Config/agent-conf.
	Kind string `json:"kind"`
	Name string `json:"name"`
	// Value is the object's content in the normalised value domain.
	Value map[string]any `json:"value"`
	// Managers are the field managers with at least one field, sorted by
	// name.
	Managers []Manager `json:"managers"`
}

// Manager is one field manager's share of an object.
type Manager struct {
	// Name identifies the manager, e.g. "set:node-agent" or "scheduler".
	Name string `json:"name"`
	// Hash is the content hash of the intent the manager last applied, or
	// zero when its fields were since taken by force.
	Hash Hash `json:"hash"`
	// Fields are the sorted paths the manager owns; shared, never modified.
	Fields []string `json:"fields"`
}

// manager returns the index of the named manager, or -1.
func (o *Object) manager(name string) int {
	for i := range o.Managers {
		if o.Managers[i].Name == name {
			return i
		}
	}
	return -1
}

// Current reports whether manager's last applied intent has hash h, which
// means applying an intent with that hash again changes nothing. It
// allocates nothing.
func (o *Object) Current(manager string, h Hash) bool {
	if o == nil || h == 0 {
		return false
	}
	i := o.manager(manager)
	return i >= 0 && o.Managers[i].Hash == h
}

// Owners returns the managers owning path, sorted.
func (o *Object) Owners(path string) []string {
	var out []string
	for _, m := range o.Managers {
		if contains(m.Fields, path) {
			out = append(out, m.Name)
		}
	}
	return out
}

// Fields returns the sorted fields owned by manager; nil if it owns none.
// The slice is shared: callers must not modify it.
func (o *Object) Fields(manager string) []string {
	if i := o.manager(manager); i >= 0 {
		return o.Managers[i].Fields
	}
	return nil
}

// Encode returns the object's JSON form, with map keys sorted, so equal
// objects encode to equal bytes.
func (o *Object) Encode() ([]byte, error) {
	b, err := json.Marshal(o)
	if err != nil {
		return nil, fmt.Errorf("encode %s/%s: %w", o.Kind, o.Name, err)
	}
	return b, nil
}

// Decode parses an object Encode produced, normalises its value and checks
// its managed fields. It returns an error wrapping ErrInvalid for malformed
// content.
func Decode(data []byte) (*Object, error) {
	var raw struct {
		Kind     string          `json:"kind"`
		Name     string          `json:"name"`
		Value    json.RawMessage `json:"value"`
		Managers []Manager       `json:"managers"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("decode object: %w: %w", ErrInvalid, err)
	}
	o := &Object{Kind: raw.Kind, Name: raw.Name, Managers: raw.Managers}
	what := raw.Kind + "/" + raw.Name
	if raw.Kind == "" || raw.Name == "" {
		return nil, fmt.Errorf("decode object %s: kind and name must be set: %w", what, ErrInvalid)
	}
	tree := map[string]any{}
	if len(raw.Value) > 0 && string(raw.Value) != "null" {
		t, err := decodeTree(raw.Value)
		if err != nil {
			return nil, fmt.Errorf("decode object %s: value: %w: %w", what, ErrInvalid, err)
		}
		n, err := normalize(t, "")
		if err != nil {
			return nil, fmt.Errorf("decode object %s: %w", what, err)
		}
		tree = n.(map[string]any)
	}
	o.Value = tree
	for i := range o.Managers {
		m := &o.Managers[i]
		if m.Name == "" || len(m.Fields) == 0 {
			return nil, fmt.Errorf("decode object %s: manager %d: needs a name and fields: %w", what, i, ErrInvalid)
		}
		if i > 0 && o.Managers[i-1].Name >= m.Name {
			return nil, fmt.Errorf("decode object %s: managers not sorted or repeated at %q: %w", what, m.Name, ErrInvalid)
		}
		for j, f := range m.Fields {
			if err := checkPath(f); err != nil {
				return nil, fmt.Errorf("decode object %s: manager %s: %w", what, m.Name, err)
			}
			if j > 0 && m.Fields[j-1] >= f {
				return nil, fmt.Errorf("decode object %s: manager %s: fields not sorted or repeated at %q: %w", what, m.Name, f, ErrInvalid)
			}
		}
	}
	return o, nil
}

// sortManagers sorts ms by name in place.
func sortManagers(ms []Manager) {
	sort.Slice(ms, func(i, j int) bool { return ms[i].Name < ms[j].Name })
}
