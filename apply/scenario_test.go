package apply

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// A scenario is a sequence of steps on one object, read from
// testdata/scenarios/*.yaml. Each step applies an intent as a manager,
// removes a manager or deletes the object, and may state what it expects.
type scenario struct {
	Description string            `json:"description"`
	Kind        string            `json:"kind"`
	Name        string            `json:"name"`
	Schema      map[string]string `json:"schema"`
	Steps       []scenarioStep    `json:"steps"`
}

type scenarioStep struct {
	Apply  string         `json:"apply"`
	Force  bool           `json:"force"`
	Intent map[string]any `json:"intent"`
	Delete bool           `json:"delete"`
	Want   *scenarioWant  `json:"want"`
}

type scenarioWant struct {
	// Changed, when set, is the expected Result.Changed.
	Changed *bool `json:"changed"`
	// Deleted is the expected Result.Deleted.
	Deleted bool `json:"deleted"`
	// Conflicts, when set, expects a *ConflictError with these conflicts.
	Conflicts []Conflict `json:"conflicts"`
	// Taken is the expected Result.Taken.
	Taken []Conflict `json:"taken"`
	// Value is the expected object value after the step.
	Value *map[string]any `json:"value"`
	// Managers maps each manager to its expected fields.
	Managers *map[string][]string `json:"managers"`
	// Diff is the expected Diff of the step, one line per change.
	Diff *[]string `json:"diff"`
}

func loadScenario(t *testing.T, path string) scenario {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var sc scenario
	if err := yaml.UnmarshalStrict(data, &sc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if sc.Kind == "" {
		sc.Kind = "Config"
	}
	if sc.Name == "" {
		sc.Name = "test"
	}
	if len(sc.Steps) == 0 {
		t.Fatalf("%s: no steps", path)
	}
	return sc
}

func TestScenarios(t *testing.T) {
	files, err := filepath.Glob("testdata/scenarios/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 11 {
		t.Fatalf("found %d scenario files, want the full conformance table", len(files))
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".yaml"), func(t *testing.T) {
			sc := loadScenario(t, file)
			schema, err := NewSchema(sc.Schema)
			if err != nil {
				t.Fatal(err)
			}
			var live *Object
			for i, st := range sc.Steps {
				live = runStep(t, fmt.Sprintf("step %d", i+1), sc, schema, live, st)
			}
		})
	}
}

func runStep(t *testing.T, name string, sc scenario, schema *Schema, live *Object, st scenarioStep) *Object {
	t.Helper()
	var (
		res Result
		err error
	)
	switch {
	case st.Apply != "":
		in, cerr := Compile(sc.Kind, sc.Name, st.Intent, schema)
		if cerr != nil {
			t.Fatalf("%s: compile: %v", name, cerr)
		}
		res, err = Apply(live, st.Apply, in, Options{Force: st.Force})
	case st.Delete:
		return nil
	default:
		t.Fatalf("%s: step needs apply or delete", name)
	}
	w := st.Want
	if w == nil {
		w = &scenarioWant{}
	}
	if w.Conflicts != nil {
		var ce *ConflictError
		if !errors.As(err, &ce) {
			t.Fatalf("%s: err = %v, want a *ConflictError", name, err)
		}
		if !reflect.DeepEqual(ce.Conflicts, w.Conflicts) {
			t.Fatalf("%s: conflicts = %+v, want %+v", name, ce.Conflicts, w.Conflicts)
		}
		res = Result{Object: live}
	} else if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if w.Changed != nil && res.Changed != *w.Changed {
		t.Errorf("%s: changed = %v, want %v", name, res.Changed, *w.Changed)
	}
	if w.Changed != nil && !*w.Changed && res.Object != live {
		t.Errorf("%s: unchanged result is a new object", name)
	}
	if res.Deleted != w.Deleted {
		t.Errorf("%s: deleted = %v, want %v", name, res.Deleted, w.Deleted)
	}
	if w.Deleted && res.Object != nil {
		t.Errorf("%s: deleted result has an object", name)
	}
	if !reflect.DeepEqual(res.Taken, w.Taken) {
		t.Errorf("%s: taken = %+v, want %+v", name, res.Taken, w.Taken)
	}
	if w.Diff != nil {
		got := []string{}
		for _, c := range Diff(live, res.Object, schema) {
			got = append(got, c.String())
		}
		if !reflect.DeepEqual(got, *w.Diff) {
			t.Errorf("%s: diff = %q, want %q", name, got, *w.Diff)
		}
	}
	obj := res.Object
	if w.Value != nil {
		want, err := normalize(*w.Value, "")
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		if obj != nil {
			got = obj.Value
		}
		if !equal(got, want) {
			t.Errorf("%s: value = %s, want %s", name, render(got), render(want))
		}
	}
	if w.Managers != nil {
		got := map[string][]string{}
		if obj != nil {
			for _, m := range obj.Managers {
				got[m.Name] = m.Fields
			}
		}
		if !reflect.DeepEqual(got, *w.Managers) {
			t.Errorf("%s: managers = %q, want %q", name, got, *w.Managers)
		}
	}
	if err := verify(obj, schema); err != nil {
		t.Errorf("%s: invariant: %v", name, err)
	}
	return obj
}

// verify checks the invariants of a live object: every field of its value
// has an owner, every owned field exists, managers and fields are sorted and
// non-empty, and it survives a JSON round trip.
func verify(o *Object, s *Schema) error {
	if o == nil {
		return nil
	}
	var present []string
	if err := collect(o.Value, "", s.rootNode(), &present); err != nil {
		return fmt.Errorf("value: %w", err)
	}
	for _, p := range present {
		if len(o.Owners(p)) == 0 {
			return fmt.Errorf("field %s has no owner", p)
		}
	}
	if len(o.Managers) == 0 {
		return errors.New("object without managers")
	}
	for i, m := range o.Managers {
		if i > 0 && o.Managers[i-1].Name >= m.Name {
			return fmt.Errorf("managers not sorted at %s", m.Name)
		}
		if len(m.Fields) == 0 || !sort.StringsAreSorted(m.Fields) {
			return fmt.Errorf("manager %s: fields empty or unsorted: %q", m.Name, m.Fields)
		}
		for _, f := range m.Fields {
			if _, ok := lookup(o.Value, f); !ok {
				return fmt.Errorf("manager %s owns missing field %s", m.Name, f)
			}
		}
	}
	return nil
}
