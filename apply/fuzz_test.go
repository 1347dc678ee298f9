package apply

import (
	"errors"
	"fmt"
	"testing"
)

// byteSource turns fuzz input into choices; it yields zeros when exhausted
// so every input is a valid program.
type byteSource struct {
	data []byte
	pos  int
}

func (s *byteSource) next(n int) int {
	if s.pos >= len(s.data) {
		return 0
	}
	b := s.data[s.pos]
	s.pos++
	return int(b) % n
}

func (s *byteSource) done() bool { return s.pos >= len(s.data) }

var fuzzManagers = []string{"set:a", "set:b", "scheduler"}

// fuzzValue picks a value of every shape the engine distinguishes, nested
// at most three deep so that no input makes a step slow.
func fuzzValue(s *byteSource) any { return fuzzNested(s, 3) }

func fuzzNested(s *byteSource, depth int) any {
	k := s.next(8)
	if k == 6 && depth == 0 {
		k = 0
	}
	switch k {
	case 0:
		return "1"
	case 1:
		return "2"
	case 2:
		return int64(s.next(3))
	case 3:
		return true
	case 4:
		return []any{"a", int64(s.next(2))}
	case 5:
		return map[string]any{}
	case 6:
		return map[string]any{"z": fuzzNested(s, depth-1)}
	default:
		return nil
	}
}

// fuzzIntent builds a random intent over a small universe of fields, so
// that managers overlap often: map keys, nested maps, a keyed list and an
// atomic list.
func fuzzIntent(s *byteSource) map[string]any {
	tree := map[string]any{}
	n := s.next(6)
	for i := 0; i < n; i++ {
		switch s.next(5) {
		case 0, 1:
			data, _ := tree["data"].(map[string]any)
			if data == nil {
				data = map[string]any{}
				tree["data"] = data
			}
			data[[]string{"a", "b", "c.d"}[s.next(3)]] = fuzzValue(s)
		case 2:
			spec, _ := tree["spec"].(map[string]any)
			if spec == nil {
				spec = map[string]any{}
				tree["spec"] = spec
			}
			res, _ := spec["resources"].(map[string]any)
			if res == nil {
				res = map[string]any{}
				spec["resources"] = res
			}
			res[[]string{"memoryMB", "diskMB"}[s.next(2)]] = fuzzValue(s)
		case 3:
			spec, _ := tree["spec"].(map[string]any)
			if spec == nil {
				spec = map[string]any{}
				tree["spec"] = spec
			}
			var items []any
			for _, name := range []string{"x", "y"} {
				if s.next(2) == 0 {
					continue
				}
				item := map[string]any{"name": name}
				if s.next(2) == 0 {
					item["mountPath"] = fuzzValue(s)
				}
				if s.next(2) == 0 {
					item["env"] = s.next(2) == 0
				}
				items = append(items, item)
			}
			spec["configs"] = items
		case 4:
			spec, _ := tree["spec"].(map[string]any)
			if spec == nil {
				spec = map[string]any{}
				tree["spec"] = spec
			}
			spec["command"] = fuzzValue(s)
		}
	}
	return tree
}

// FuzzApply runs random applies by random managers, and deletions of the
// object, and checks after each step that every field has an owner, every
// owned field exists, a successful apply leaves the manager's values in
// place, and re-applying the same intent (via the hash or computed in full)
// changes nothing.
func FuzzApply(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 3, 0, 0, 0, 1, 3, 0, 0, 1, 1, 0})
	f.Add([]byte{0, 4, 3, 1, 1, 1, 2, 3, 3, 1, 1, 0, 1, 0, 9, 1, 1, 3, 0, 1, 1, 1})
	schema, err := NewSchema(map[string]string{".spec.configs": "name"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := &byteSource{data: data}
		var live *Object
		for step := 0; step < 32 && !s.done(); step++ {
			op, manager := s.next(8), fuzzManagers[s.next(len(fuzzManagers))]
			if op == 0 {
				live = nil // the store deleted the object
				continue
			}
			tree := fuzzIntent(s)
			in, err := Compile("LRP", "web", tree, schema)
			if err != nil {
				t.Fatalf("step %d: compile %s: %v", step, render(tree), err)
			}
			if HashTree(tree, schema) != in.Hash() {
				t.Fatalf("step %d: HashTree differs from the compiled hash", step)
			}
			force := op == 1
			res, err := Apply(live, manager, in, Options{Force: force})
			var ce *ConflictError
			if errors.As(err, &ce) {
				if force || len(ce.Conflicts) == 0 {
					t.Fatalf("step %d: conflict error with force=%v: %v", step, force, err)
				}
				for _, c := range ce.Conflicts {
					for _, m := range c.Managers {
						if !contains(live.Fields(m), c.Path) {
							t.Fatalf("step %d: conflict names %s for %s it does not own", step, m, c.Path)
						}
					}
				}
				continue
			}
			if err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
			if !res.Changed && res.Object != live {
				t.Fatalf("step %d: unchanged result is a new object", step)
			}
			live = res.Object
			if err := verify(live, schema); err != nil {
				t.Fatalf("step %d: apply %s %s: %v", step, manager, render(tree), err)
			}
			if err := holds(live, in); err != nil {
				t.Fatalf("step %d: apply %s %s: %v", step, manager, render(tree), err)
			}
			again, err := Apply(live, manager, in, Options{})
			if err != nil || again.Changed || again.Object != live {
				t.Fatalf("step %d: re-apply changed=%v err=%v", step, again.Changed, err)
			}
			if live == nil {
				continue
			}
			full, err := applyChanged(live, manager, in, Options{})
			if err != nil || full.Changed || full.Object != live {
				t.Fatalf("step %d: full re-apply changed=%v err=%v diff=%s", step, full.Changed, err, Diff(live, full.Object, schema))
			}
		}
	})
}

// holds reports whether live carries every field of in with in's value.
func holds(live *Object, in *Intent) error {
	for _, f := range in.Fields() {
		want, _ := lookup(in.Tree(), f)
		var got any
		ok := false
		if live != nil {
			got, ok = lookup(live.Value, f)
		}
		if !ok {
			return fmt.Errorf("field %s missing after apply", f)
		}
		if _, isMap := want.(map[string]any); isMap {
			if _, isMap = got.(map[string]any); !isMap {
				return fmt.Errorf("field %s is %s, want a map", f, render(got))
			}
			continue
		}
		if _, isList := want.([]any); isList && keyedAt(in.schema.rootNode(), f) {
			if _, isList = got.([]any); !isList {
				return fmt.Errorf("field %s is %s, want a list", f, render(got))
			}
			continue
		}
		if !equal(got, want) {
			return fmt.Errorf("field %s is %s, want %s", f, render(got), render(want))
		}
	}
	return nil
}
