package apply

import (
	"encoding/json"
	"fmt"
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

// Into stores the object's value in v, typically a pointer to a model type
// (*model.LRP, *model.Config), through its JSON form: what a cell agent
// needs to act on the object.
func (o *Object) Into(v any) error {
	data, err := json.Marshal(o.Value)
	if err != nil {
		return fmt.Errorf("encode value of %s/%s: %w", o.Kind, o.Name, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode value of %s/%s into %T: %w", o.Kind, o.Name, v, err)
	}
	return nil
}
