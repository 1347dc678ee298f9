package apply

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/cellsync/cellsync/model"
)

// Intent is what one manager wants an object to contain, compiled once:
// the normalised value tree, the set of field paths it sets and its content
// hash. An Intent is immutable and safe for concurrent use, so the hub
// compiles a SelectorSyncSet's resource once and applies the same Intent to
// every matching cell.
type Intent struct {
	kind, name string
	tree       map[string]any
	fields     []string // sorted
	hash       Hash
	schema     *Schema
}

// Compile checks and normalises tree, the intended content of the object
// kind/name (typically the JSON form of a model object), and returns it as
// an Intent. Keyed lists are those of schema, which may be nil. It returns an
// error wrapping ErrInvalid when a value has no JSON form, a keyed list item
// is not a map, lacks its key or repeats one.
func Compile(kind, name string, tree map[string]any, schema *Schema) (*Intent, error) {
	if kind == "" || name == "" {
		return nil, fmt.Errorf("compile intent: kind %q and name %q must be set: %w", kind, name, ErrInvalid)
	}
	n, err := normalize(tree, "")
	if err != nil {
		return nil, fmt.Errorf("compile intent of %s/%s: %w", kind, name, err)
	}
	in := &Intent{kind: kind, name: name, tree: n.(map[string]any), schema: schema}
	if err := collect(in.tree, "", schema.rootNode(), &in.fields); err != nil {
		return nil, fmt.Errorf("compile intent of %s/%s: %w", kind, name, err)
	}
	sort.Strings(in.fields)
	in.hash = hashOf(in.tree)
	return in, nil
}

// FromObject compiles the JSON form of a model object (what Git holds,
// without its source position) into an Intent under the DefaultSchema of its
// kind.
func FromObject(obj model.Object) (*Intent, error) {
	h := obj.Head()
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encode %s/%s: %w", h.Kind, h.Metadata.Name, err)
	}
	tree, err := decodeTree(data)
	if err != nil {
		return nil, fmt.Errorf("decode %s/%s: %w", h.Kind, h.Metadata.Name, err)
	}
	return Compile(string(h.Kind), h.Metadata.Name, tree, DefaultSchema(string(h.Kind)))
}

// decodeTree decodes a JSON object keeping numbers exact.
func decodeTree(data []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var tree map[string]any
	if err := dec.Decode(&tree); err != nil {
		return nil, err
	}
	return tree, nil
}

// Kind returns the kind of the object the intent is for.
func (in *Intent) Kind() string { return in.kind }

// Name returns the name of the object the intent is for.
func (in *Intent) Name() string { return in.name }

// Hash returns the intent's content hash, equal to HashTree of its tree.
func (in *Intent) Hash() Hash {
	if in == nil {
		return 0
	}
	return in.hash
}

// Fields returns the sorted field paths the intent sets. The slice is shared:
// callers must not modify it.
func (in *Intent) Fields() []string { return in.fields }

// Tree returns the normalised value tree. It is shared: callers must not
// modify it.
func (in *Intent) Tree() map[string]any { return in.tree }

// Hash is a 64-bit content hash of an intent. Zero means "no hash": a
// manager whose fields were taken by force has none, so its next apply is
// never mistaken for a no-op.
type Hash uint64

// MarshalText encodes the hash as 16 hex digits; JSON numbers would lose
// precision above 2^53 in most tools.
func (h Hash) MarshalText() ([]byte, error) {
	return []byte(fmt.Sprintf("%016x", uint64(h))), nil
}

// UnmarshalText decodes the form MarshalText writes.
func (h *Hash) UnmarshalText(b []byte) error {
	var v uint64
	if _, err := fmt.Sscanf(string(b), "%x", &v); err != nil {
		return fmt.Errorf("hash %q: %w", b, ErrInvalid)
	}
	*h = Hash(v)
	return nil
}

// HashTree returns the content hash of a value tree as Compile would compute
// it, without compiling: callers holding only a tree can check
// Object.Current before paying for Compile. It allocates nothing. Map key
// order does not matter; integral numbers hash alike whatever their Go type.
func HashTree(tree map[string]any) Hash { return hashOf(tree) }

func hashOf(tree map[string]any) Hash {
	h := Hash(mix(hashValue(fnvOffset, tree)))
	if h == 0 {
		h = 1
	}
	return h
}

// collect appends to out the field paths that v, at path, sets: scalars,
// atomic lists, empty maps and empty keyed lists are fields; a keyed item is
// a field of its own (its presence) and its other keys are fields below it.
func collect(v any, path string, s *schemaNode, out *[]string) error {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 {
			if path != "" {
				*out = append(*out, path)
			}
			return nil
		}
		for k, c := range x {
			if err := collect(c, appendKey(path, k), s.child(k), out); err != nil {
				return err
			}
		}
		return nil
	case []any:
		if s == nil || s.key == "" || len(x) == 0 {
			*out = append(*out, path)
			return nil
		}
		seen := make(map[any]bool, len(x))
		for i, it := range x {
			m, ok := it.(map[string]any)
			if !ok {
				return fmt.Errorf("%s[%d]: keyed list item must be a map: %w", path, i, ErrInvalid)
			}
			kv, ok := m[s.key]
			if !ok || !validKey(kv) {
				return fmt.Errorf("%s[%d]: key field %q must be a string, integer or bool: %w", path, i, s.key, ErrInvalid)
			}
			if seen[kv] {
				return fmt.Errorf("%s[%d]: duplicate key %s=%s: %w", path, i, s.key, formatKey(kv), ErrInvalid)
			}
			seen[kv] = true
			ip := appendItem(path, s.key, kv)
			*out = append(*out, ip)
			for k, c := range m {
				if k == s.key {
					continue
				}
				if err := collect(c, appendKey(ip, k), s.child(k), out); err != nil {
					return err
				}
			}
		}
		return nil
	}
	*out = append(*out, path)
	return nil
}
