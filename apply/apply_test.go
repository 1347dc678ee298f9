package apply

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/cellsync/cellsync/model"
)

func mustCompile(t testing.TB, kind, name string, tree map[string]any, s *Schema) *Intent {
	t.Helper()
	in, err := Compile(kind, name, tree, s)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func TestCompile(t *testing.T) {
	keyed, err := NewSchema(map[string]string{".spec.configs": "name"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		kind    string
		tree    map[string]any
		want    []string
		wantErr bool
	}{
		{name: "scalars and nested maps", kind: "Config", tree: map[string]any{"data": map[string]string{"b": "1", "a.b": "2"}, "n": 3},
			want: []string{".data.b", `.data["a.b"]`, ".n"}},
		{name: "empty maps and lists are fields", kind: "LRP", tree: map[string]any{"spec": map[string]any{"env": map[string]any{}, "configs": []any{}, "command": []string{}}},
			want: []string{".spec.command", ".spec.configs", ".spec.env"}},
		{name: "keyed items", kind: "LRP", tree: map[string]any{"spec": map[string]any{"configs": []any{
			map[string]any{"name": "x", "env": true}, map[string]any{"name": "y"}}}},
			want: []string{`.spec.configs[name="x"]`, `.spec.configs[name="x"].env`, `.spec.configs[name="y"]`}},
		{name: "empty intent", kind: "Config", tree: map[string]any{}, want: nil},
		{name: "no kind", kind: "", tree: map[string]any{}, wantErr: true},
		{name: "keyed item not a map", kind: "LRP", tree: map[string]any{"spec": map[string]any{"configs": []any{"x"}}}, wantErr: true},
		{name: "keyed item without key", kind: "LRP", tree: map[string]any{"spec": map[string]any{"configs": []any{map[string]any{"env": true}}}}, wantErr: true},
		{name: "keyed item with a map key", kind: "LRP", tree: map[string]any{"spec": map[string]any{"configs": []any{map[string]any{"name": map[string]any{}}}}}, wantErr: true},
		{name: "duplicate key", kind: "LRP", tree: map[string]any{"spec": map[string]any{"configs": []any{map[string]any{"name": "x"}, map[string]any{"name": "x"}}}}, wantErr: true},
		{name: "NaN", kind: "Config", tree: map[string]any{"x": math.NaN()}, wantErr: true},
		{name: "unsupported type", kind: "Config", tree: map[string]any{"x": struct{}{}}, wantErr: true},
		{name: "uint64 overflow", kind: "Config", tree: map[string]any{"x": uint64(math.MaxUint64)}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := Compile(tt.kind, "n", tt.tree, keyed)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("err = %v, want ErrInvalid", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(in.Fields(), tt.want) {
				t.Errorf("fields = %q, want %q", in.Fields(), tt.want)
			}
			if in.Hash() != HashTree(tt.tree, keyed) {
				t.Errorf("Hash() = %v, HashTree = %v", in.Hash(), HashTree(tt.tree, keyed))
			}
		})
	}
}

func TestHashTree(t *testing.T) {
	base := map[string]any{"data": map[string]any{"a": "1", "b": int64(2)}, "l": []any{"x", 1.5}}
	tests := []struct {
		name string
		tree map[string]any
		want bool // hash equals base's
	}{
		{name: "same tree", tree: map[string]any{"l": []any{"x", 1.5}, "data": map[string]any{"b": int64(2), "a": "1"}}, want: true},
		{name: "other integer types", tree: map[string]any{"data": map[string]string{"a": "1"}, "l": []any{"x", 1.5}}, want: false},
		{name: "int and float alike", tree: map[string]any{"data": map[string]any{"a": "1", "b": 2.0}, "l": []any{"x", 1.5}}, want: true},
		{name: "json.Number", tree: map[string]any{"data": map[string]any{"a": "1", "b": json.Number("2")}, "l": []any{"x", json.Number("1.5")}}, want: true},
		{name: "changed value", tree: map[string]any{"data": map[string]any{"a": "2", "b": int64(2)}, "l": []any{"x", 1.5}}, want: false},
		{name: "swapped values", tree: map[string]any{"data": map[string]any{"a": int64(2), "b": "1"}, "l": []any{"x", 1.5}}, want: false},
		{name: "list order", tree: map[string]any{"data": map[string]any{"a": "1", "b": int64(2)}, "l": []any{1.5, "x"}}, want: false},
		{name: "string vs number", tree: map[string]any{"data": map[string]any{"a": int64(1), "b": int64(2)}, "l": []any{"x", 1.5}}, want: false},
		{name: "key moved down", tree: map[string]any{"data": map[string]any{"a": map[string]any{"1": nil}, "b": int64(2)}, "l": []any{"x", 1.5}}, want: false},
	}
	h := HashTree(base, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := HashTree(tt.tree, nil) == h; got != tt.want {
				t.Errorf("equal hash = %v, want %v", got, tt.want)
			}
		})
	}
	if HashTree(base, DefaultSchema("LRP")) == h || HashTree(base, DefaultSchema("Config")) != h {
		t.Error("a schema with keyed lists must change the hash, an empty one must not")
	}
	if n := testing.AllocsPerRun(100, func() { HashTree(base, nil) }); n != 0 {
		t.Errorf("HashTree allocates %v times, want 0", n)
	}
}

func TestPaths(t *testing.T) {
	root := map[string]any{
		"data": map[string]any{"a.b": "dots", "": "empty", `q"uote`: "q"},
		"spec": map[string]any{
			"configs": []any{map[string]any{"name": "x", "mountPath": "/x"}},
			"ports":   []any{map[string]any{"port": int64(8080), "tls": true}},
			"flags":   []any{map[string]any{"on": true, "v": "t"}},
		},
	}
	tests := []struct {
		name string
		path string
		want any
	}{
		{name: "quoted key", path: appendKey(".data", "a.b"), want: "dots"},
		{name: "empty key", path: appendKey(".data", ""), want: "empty"},
		{name: "escaped key", path: appendKey(".data", `q"uote`), want: "q"},
		{name: "string item", path: appendKey(appendItem(".spec.configs", "name", "x"), "mountPath"), want: "/x"},
		{name: "int item", path: appendKey(appendItem(".spec.ports", "port", int64(8080)), "tls"), want: true},
		{name: "bool item", path: appendKey(appendItem(".spec.flags", "on", true), "v"), want: "t"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := checkPath(tt.path); err != nil {
				t.Fatal(err)
			}
			got, ok := lookup(root, tt.path)
			if !ok || !equal(got, tt.want) {
				t.Errorf("lookup(%s) = %v, %v; want %v", tt.path, got, ok, tt.want)
			}
		})
	}
	for _, bad := range []string{"", "x", ".", ".a..b", "[", `["unterminated`, `["a"`, "[=1]", "[k=]", "[k=1", `[k="x"`, "[k=x]"} {
		t.Run("bad "+bad, func(t *testing.T) {
			if err := checkPath(bad); !errors.Is(err, ErrInvalid) {
				t.Errorf("checkPath(%q) = %v, want ErrInvalid", bad, err)
			}
		})
	}
}

func TestApplyErrors(t *testing.T) {
	cfg := mustCompile(t, "Config", "c", map[string]any{"data": map[string]any{"a": "1"}}, nil)
	other := mustCompile(t, "Config", "d", map[string]any{"data": map[string]any{"a": "1"}}, nil)
	first, err := Apply(nil, "m", cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		live    *Object
		manager string
		in      *Intent
	}{
		{name: "nil intent", live: first.Object, manager: "m", in: nil},
		{name: "no manager", live: nil, manager: "", in: cfg},
		{name: "other object", live: first.Object, manager: "m", in: other},
		{name: "other object, same hash", live: first.Object, manager: "m", in: mustCompile(t, "Config", "x", map[string]any{"data": map[string]any{"a": "1"}}, nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Apply(tt.live, tt.manager, tt.in, Options{}); !errors.Is(err, ErrInvalid) {
				t.Errorf("err = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestConflictError(t *testing.T) {
	a := mustCompile(t, "Config", "c", map[string]any{"data": map[string]any{"level": "debug"}}, nil)
	b := mustCompile(t, "Config", "c", map[string]any{"data": map[string]any{"level": "info"}}, nil)
	res, err := Apply(nil, "set:a", a, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Apply(res.Object, "cli:b", b, Options{})
	var ce *ConflictError
	if !errors.As(fmtWrap(err), &ce) {
		t.Fatalf("err = %v, want a *ConflictError through wrapping", err)
	}
	want := "apply Config/c as cli:b: 1 conflicting field(s): .data.level owned by set:a"
	if err.Error() != want {
		t.Errorf("Error() = %q, want %q", err.Error(), want)
	}
}

func fmtWrap(err error) error { return errors.Join(errors.New("context"), err) }

// TestApplyDoesNotMutate checks that Apply leaves its inputs alone, which
// is what lets the hub share objects and intents.
func TestApplyDoesNotMutate(t *testing.T) {
	s := DefaultSchema("LRP")
	a := mustCompile(t, "LRP", "w", map[string]any{"spec": map[string]any{"image": "i", "env": map[string]any{"A": "1"},
		"configs": []any{map[string]any{"name": "x", "mountPath": "/x"}}}}, s)
	b := mustCompile(t, "LRP", "w", map[string]any{"spec": map[string]any{"env": map[string]any{"B": "2"},
		"configs": []any{map[string]any{"name": "x", "mountPath": "/y"}, map[string]any{"name": "z"}}}}, s)
	a2 := mustCompile(t, "LRP", "w", map[string]any{"spec": map[string]any{"image": "j"}}, s)
	res, err := Apply(nil, "a", a, Options{})
	if err != nil {
		t.Fatal(err)
	}
	snapshot := func(o *Object) string {
		data, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	live := res.Object
	before, aTree, bTree := snapshot(live), render(a.Tree()), render(b.Tree())
	forced, err := Apply(live, "b", b, Options{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Apply(forced.Object, "a", a2, Options{}); err != nil {
		t.Fatal(err)
	}
	if snapshot(live) != before || render(a.Tree()) != aTree || render(b.Tree()) != bTree {
		t.Fatal("apply modified its inputs")
	}
	if got := forced.Object.Fields("a"); !reflect.DeepEqual(got, []string{`.spec.configs[name="x"]`, ".spec.env.A", ".spec.image"}) {
		t.Errorf("a's fields after force = %q", got)
	}
	if forced.Object.Current("a", a.Hash()) {
		t.Error("a lost fields by force but still looks current")
	}
}

func TestNoOpAllocs(t *testing.T) {
	in := mustCompile(t, "Config", "c", configTree(10, 0), nil)
	res, err := Apply(nil, "set:a", in, Options{})
	if err != nil {
		t.Fatal(err)
	}
	n := testing.AllocsPerRun(100, func() {
		r, err := Apply(res.Object, "set:a", in, Options{})
		if err != nil || r.Changed {
			t.Fatal("not a no-op")
		}
	})
	if n != 0 {
		t.Errorf("no-op apply allocates %v times, want 0", n)
	}
}

func TestFromObject(t *testing.T) {
	two := int32(2)
	tests := []struct {
		name    string
		obj     model.Object
		want    []string
		wantErr bool
	}{
		{name: "config", obj: &model.Config{Header: model.Header{Kind: model.KindConfig, Metadata: model.Meta{Name: "c"}}, Data: map[string]string{"level": "debug"}},
			want: []string{".data.level", ".kind", ".metadata.name"}},
		{name: "lrp with keyed configs", obj: &model.LRP{Header: model.Header{APIVersion: model.APIVersion, Kind: model.KindLRP, Metadata: model.Meta{Name: "web"}},
			Spec: model.LRPSpec{Instances: &two, Process: model.Process{Image: "web:1", Configs: []model.ConfigRef{{Name: "agent", MountPath: "/etc/agent"}}}}},
			want: []string{".apiVersion", ".kind", ".metadata.name", `.spec.configs[name="agent"]`, `.spec.configs[name="agent"].mountPath`, ".spec.image", ".spec.instances"}},
		{name: "no name", obj: &model.Config{Header: model.Header{Kind: model.KindConfig}}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := FromObject(tt.obj)
			if tt.wantErr {
				if err == nil {
					t.Fatal("want an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(in.Fields(), tt.want) {
				t.Errorf("fields = %q, want %q", in.Fields(), tt.want)
			}
		})
	}
}

func TestInto(t *testing.T) {
	two := int32(2)
	lrp := &model.LRP{Header: model.Header{APIVersion: model.APIVersion, Kind: model.KindLRP, Metadata: model.Meta{Name: "web"}},
		Spec: model.LRPSpec{Instances: &two, Process: model.Process{Image: "web:1", Env: map[string]string{"A": "1"},
			Configs: []model.ConfigRef{{Name: "agent", MountPath: "/etc/agent"}}}}}
	in, err := FromObject(lrp)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Apply(nil, "set:a", in, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got model.LRP
	if err := res.Object.Into(&got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&got, lrp) {
		t.Errorf("Into = %+v, want %+v", got, *lrp)
	}
	if err := res.Object.Into(&[]string{}); err == nil {
		t.Error("Into a slice: want an error")
	}
}

func TestNewSchema(t *testing.T) {
	tests := []struct {
		name    string
		lists   map[string]string
		wantErr bool
	}{
		{name: "valid", lists: map[string]string{".spec.configs": "name", ".spec.ports": "port"}},
		{name: "nil", lists: nil},
		{name: "no dot", lists: map[string]string{"spec.configs": "name"}, wantErr: true},
		{name: "bad key field", lists: map[string]string{".spec.configs": "a.b"}, wantErr: true},
		{name: "empty step", lists: map[string]string{".spec..configs": "name"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSchema(tt.lists)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("err = %v, want ErrInvalid", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Lists(); len(got) != len(tt.lists) {
				t.Errorf("Lists() = %v, want %v", got, tt.lists)
			}
		})
	}
}

func TestDiffString(t *testing.T) {
	s := DefaultSchema("LRP")
	old := &Object{Kind: "LRP", Name: "w", Value: map[string]any{"spec": map[string]any{"image": "a",
		"configs": []any{map[string]any{"name": "x", "env": true}}, "command": []any{"a"}}}}
	cur := &Object{Kind: "LRP", Name: "w", Value: map[string]any{"spec": map[string]any{"image": "b",
		"configs": []any{map[string]any{"name": "y"}}, "command": []any{"b"}, "spread": "zone"}}}
	got := Diff(old, cur, s).String()
	want := strings.Join([]string{
		`~ .spec.command: ["a"] → ["b"]`,
		`- .spec.configs[name="x"]: {"env":true,"name":"x"}`,
		`+ .spec.configs[name="y"]: {"name":"y"}`,
		`~ .spec.image: "a" → "b"`,
		`+ .spec.spread: "zone"`,
	}, "\n") + "\n"
	if got != want {
		t.Errorf("diff:\n%s\nwant:\n%s", got, want)
	}
	if d := Diff(nil, nil, nil); len(d) != 0 {
		t.Errorf("Diff(nil, nil) = %v", d)
	}
}

// TestConcurrentApply applies one shared intent to one shared object from
// several goroutines; run with -race it checks that Apply never writes to
// what it is given.
func TestConcurrentApply(t *testing.T) {
	s := DefaultSchema("LRP")
	base := mustCompile(t, "LRP", "w", lrpTree(1), s)
	next := mustCompile(t, "LRP", "w", lrpTree(2), s)
	res, err := Apply(nil, "set:a", base, Options{})
	if err != nil {
		t.Fatal(err)
	}
	live := res.Object
	errs := make(chan error, 4)
	for g := 0; g < 4; g++ {
		go func() {
			for i := 0; i < 50; i++ {
				r, err := Apply(live, "set:a", next, Options{})
				if err == nil && !r.Changed {
					err = errors.New("apply of a changed intent reported no change")
				}
				if err == nil {
					_, err = Apply(r.Object, "set:b", base, Options{Force: true})
				}
				if err == nil {
					Diff(live, r.Object, s)
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for g := 0; g < 4; g++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
