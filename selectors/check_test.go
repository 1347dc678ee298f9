package selectors

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cellsync/cellsync/model"
)

func parseFile(t *testing.T, path string) []model.Object {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	objs, errs := model.ParseFile(filepath.ToSlash(path), data)
	if len(errs) > 0 {
		t.Fatalf("ParseFile(%s): %v", path, errs)
	}
	return objs
}

func TestCheckObjects(t *testing.T) {
	env := newEnv(t, Config{})
	errs := CheckObjects(env, parseFile(t, "testdata/selectors.yaml"))
	want := []struct {
		line int
		doc  int
		msg  string
	}{
		{line: 10, doc: 1, msg: `LRP "typo": column 5: undefined field 'zoen'`},
		{line: 17, doc: 2, msg: `Task "migrate": column 1: selector must be a bool expression, not int`},
		{line: 29, doc: 4, msg: `SelectorSyncSet "agents": line 2, column 34: invalid semantic version "1.2"`},
	}
	if len(errs) != len(want) {
		t.Fatalf("CheckObjects returned %d errors, want %d: %v", len(errs), len(want), errs)
	}
	for i, w := range want {
		var me *model.Error
		if !errors.As(errs[i], &me) {
			t.Fatalf("error %d (%T) is not a *model.Error", i, errs[i])
		}
		if me.File != "testdata/selectors.yaml" || me.Line != w.line || me.Doc != w.doc || me.Field != "spec.selector" {
			t.Errorf("error %d at %s:%d doc %d field %s, want testdata/selectors.yaml:%d doc %d spec.selector",
				i, me.File, me.Line, me.Doc, me.Field, w.line, w.doc)
		}
		if !strings.HasPrefix(me.Msg, w.msg) {
			t.Errorf("error %d message %q, want prefix %q", i, me.Msg, w.msg)
		}
	}
}

func TestCheckObjectsExampleRepository(t *testing.T) {
	env := newEnv(t, Config{})
	paths, err := filepath.Glob("../repo-example/*/*.yaml")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no example files: %v", err)
	}
	var objs []model.Object
	for _, p := range paths {
		objs = append(objs, parseFile(t, p)...)
	}
	if errs := CheckObjects(env, objs); len(errs) != 0 {
		t.Errorf("example repository selectors do not compile: %v", errs)
	}
}

func TestSelectorOf(t *testing.T) {
	tests := []struct {
		name   string
		obj    model.Object
		want   string
		wantOK bool
	}{
		{name: "LRP", obj: &model.LRP{Spec: model.LRPSpec{Process: model.Process{Selector: "a"}}}, want: "a", wantOK: true},
		{name: "Task", obj: &model.Task{Spec: model.TaskSpec{Process: model.Process{Selector: "b"}}}, want: "b", wantOK: true},
		{name: "SelectorSyncSet", obj: &model.SelectorSyncSet{Spec: model.SetSpec{Selector: "c"}}, want: "c", wantOK: true},
		{name: "Config", obj: &model.Config{}, want: "", wantOK: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := SelectorOf(tt.obj)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("SelectorOf = %q, %v; want %q, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestCheckObjectsPartitions(t *testing.T) {
	env := newEnv(t, Config{})
	src := `apiVersion: cellsync.io/v1
kind: SelectorSyncSet
metadata: {name: rolled}
spec:
  resources: [{kind: Config, metadata: {name: c}}]
  rollout:
    partitions:
    - {name: ring0, selector: 'cell.labels["ring"] == "0"'}
    - {name: typo, selector: 'cell.zoen == "z1"'}
`
	objs, perrs := model.ParseFile("s.yaml", []byte(src))
	if len(perrs) > 0 {
		t.Fatal(perrs)
	}
	errs := CheckObjects(env, objs)
	if len(errs) != 1 {
		t.Fatalf("CheckObjects returned %v, want one error", errs)
	}
	var me *model.Error
	if !errors.As(errs[0], &me) || me.File != "s.yaml" || me.Line != 2 || me.Field != "spec.rollout.partitions[1].selector" ||
		!strings.Contains(me.Msg, `partition "typo"`) || !strings.Contains(me.Msg, "zoen") {
		t.Errorf("error = %v", errs[0])
	}
}
