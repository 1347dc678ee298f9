package model_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cellsync/cellsync/model"
)

const lrpHead = "apiVersion: cellsync.io/v1\nkind: LRP\nmetadata: {name: web}\nspec:\n  image: busybox:1\n"

func TestParseFileErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		// want holds "line: field: message fragment" for every expected error.
		want []string
	}{
		{"valid LRP", lrpHead + "  instances: 3\n", nil},
		{"valid Task", "apiVersion: cellsync.io/v1\nkind: Task\nmetadata: {name: t}\nspec: {image: busybox, command: [echo, hi]}\n", nil},
		{"valid Config", "apiVersion: cellsync.io/v1\nkind: Config\nmetadata: {name: c}\ndata: {a.txt: x, PORT: 8080}\n", nil},
		{"empty documents skipped", "---\n---\n" + lrpHead, nil},
		{"unknown field", lrpHead + "  memory: 3\n", []string{"6: spec.memory: unknown field"}},
		{"unknown field suggests case", lrpHead + "  resources: {memoryMb: 3, diskMB: 1}\n", []string{`6: spec.resources.memoryMb: unknown field (did you mean "memoryMB"?)`}},
		{"duplicate key", lrpHead + "  image: x\n", []string{"6: spec.image: duplicate key"}},
		{"wrong type", lrpHead + "  instances: many\n", []string{`6: spec.instances: must be an integer, got string "many"`}},
		{"list expected", lrpHead + "  command: /bin/sh\n", []string{"6: spec.command: must be a list"}},
		{"integer overflow", lrpHead + "  instances: 99999999999\n", []string{"6: spec.instances: integer 99999999999 out of range"}},
		{"missing kind", "apiVersion: cellsync.io/v1\nmetadata: {name: x}\n", []string{"kind: is required"}},
		{"unknown kind", "apiVersion: cellsync.io/v1\nkind: Pod\n", []string{`2: kind: unknown kind "Pod"`}},
		{"bad apiVersion", "apiVersion: v1\nkind: Config\nmetadata: {name: c}\n", []string{`1: apiVersion: must be "cellsync.io/v1"`}},
		{"not a mapping", "- a\n- b\n", []string{"1: : must be a mapping"}},
		{"name required", "apiVersion: cellsync.io/v1\nkind: Config\nmetadata: {}\n", []string{"3: metadata.name: is required"}},
		{"name not a DNS label", "apiVersion: cellsync.io/v1\nkind: Config\nmetadata: {name: Web_1}\n", []string{`3: metadata.name: "Web_1" must be a DNS label`}},
		{"name too long", "apiVersion: cellsync.io/v1\nkind: Config\nmetadata: {name: " + strings.Repeat("a", 64) + "}\n", []string{"metadata.name: ", "longer than 63"}},
		{"bad label key", "apiVersion: cellsync.io/v1\nkind: Config\nmetadata: {name: c, labels: {'-x': y}}\n", []string{"3: metadata.labels.-x: label key"}},
		{"bad label value", "apiVersion: cellsync.io/v1\nkind: Config\nmetadata: {name: c, labels: {x: 'a b'}}\n", []string{"3: metadata.labels.x: label value"}},
		{"image required", "apiVersion: cellsync.io/v1\nkind: Task\nmetadata: {name: t}\nspec: {command: [x]}\n", []string{"4: spec.image: is required"}},
		{"bad image", lrpHead + "  instances: 1\n  image2: x\n", []string{"7: spec.image2: unknown field"}},
		{"image with spaces", "apiVersion: cellsync.io/v1\nkind: Task\nmetadata: {name: t}\nspec: {image: 'my image'}\n", []string{`4: spec.image: "my image" is not a valid image reference`}},
		{"image with registry, port and digest", "apiVersion: cellsync.io/v1\nkind: Task\nmetadata: {name: t}\nspec: {image: 'reg.example:5000/team/app:v1@sha256:" + strings.Repeat("a", 64) + "'}\n", nil},
		{"empty command", lrpHead + "  command: ['']\n", []string{"6: spec.command[0]: the program to run must not be empty"}},
		{"negative instances", lrpHead + "  instances: -1\n", []string{"6: spec.instances: must be between 0 and 10000, got -1"}},
		{"zero instances allowed", lrpHead + "  instances: 0\n", nil},
		{"memory must be positive", lrpHead + "  resources: {memoryMB: 0, diskMB: 10}\n", []string{"6: spec.resources.memoryMB: must be between 1 and 1048576, got 0"}},
		{"disk must be positive", lrpHead + "  resources: {memoryMB: 10, diskMB: -5}\n", []string{"6: spec.resources.diskMB: must be between 1 and 16777216, got -5"}},
		{"bad env name", lrpHead + "  env: {1X: y}\n", []string{"6: spec.env.1X: environment variable names"}},
		{"bad spread", lrpHead + "  spread: rack\n", []string{`6: spec.spread: must be "zone" or "none", got "rack"`}},
		{"bad network", lrpHead + "  network: overlay\n", []string{`6: spec.network: must be "bridge", "host" or "none"`}},
		{"health check needs one probe", lrpHead + "  healthCheck: {intervalSeconds: 5}\n", []string{"6: spec.healthCheck: set exactly one of exec, tcpPort and http"}},
		{"health check port range", lrpHead + "  healthCheck: {tcpPort: 70000}\n", []string{"6: spec.healthCheck.tcpPort: must be between 1 and 65535"}},
		{"config ref needs a use", lrpHead + "  configs: [{name: c}]\n", []string{"6: spec.configs[0]: set mountPath, env: true, or both"}},
		{"config ref relative path", lrpHead + "  configs: [{name: c, mountPath: etc}]\n", []string{"6: spec.configs[0].mountPath: must be an absolute path"}},
		{"config key not a file name", "apiVersion: cellsync.io/v1\nkind: Config\nmetadata: {name: c}\ndata: {'a/b': x}\n", []string{"4: data.a/b: key must be a file name"}},
		{"bad apply mode", "apiVersion: cellsync.io/v1\nkind: SelectorSyncSet\nmetadata: {name: s}\nspec:\n  resourceApplyMode: Replace\n  resources: [{kind: Config, metadata: {name: c}}]\n", []string{`5: spec.resourceApplyMode: must be "Upsert" or "Sync"`}},
		{"set needs resources", "apiVersion: cellsync.io/v1\nkind: SelectorSyncSet\nmetadata: {name: s}\nspec: {resources: []}\n", []string{"4: spec.resources: must list at least one"}},
		{"nested set rejected", "apiVersion: cellsync.io/v1\nkind: SelectorSyncSet\nmetadata: {name: s}\nspec:\n  resources:\n  - {kind: SelectorSyncSet, metadata: {name: t}, spec: {resources: []}}\n", []string{"6: spec.resources[0]: a SelectorSyncSet cannot contain another SelectorSyncSet"}},
		{"nested selector rejected", "apiVersion: cellsync.io/v1\nkind: SelectorSyncSet\nmetadata: {name: s}\nspec:\n  resources:\n  - kind: LRP\n    metadata: {name: a}\n    spec: {image: x, selector: 'true'}\n", []string{"8: spec.resources[0].spec.selector: resources of a SelectorSyncSet use the set's selector"}},
		{"nested duplicate", "apiVersion: cellsync.io/v1\nkind: SelectorSyncSet\nmetadata: {name: s}\nspec:\n  resources:\n  - {kind: Config, metadata: {name: a}}\n  - {kind: Config, metadata: {name: a}}\n", []string{"7: spec.resources[1].metadata.name: Config/a is already defined in resources[0]"}},
		{"nested wrong apiVersion", "apiVersion: cellsync.io/v1\nkind: SelectorSyncSet\nmetadata: {name: s}\nspec:\n  resources:\n  - {apiVersion: v2, kind: Config, metadata: {name: a}}\n", []string{"6: spec.resources[0].apiVersion: must be"}},
		{"several errors in one document", lrpHead + "  instances: -1\n  spread: rack\n", []string{"6: spec.instances", "7: spec.spread"}},
		{"errors in two documents", lrpHead + "  bogus: 1\n---\nkind: Nope\n", []string{"6: spec.bogus", "document 2: kind: unknown kind"}},
		{"task with result file and timeout", "apiVersion: cellsync.io/v1\nkind: Task\nmetadata: {name: t}\nspec: {image: x, resultFile: /tmp/result.json, timeoutSeconds: 60}\n", nil},
		{"task timeout over the maximum", "apiVersion: cellsync.io/v1\nkind: Task\nmetadata: {name: t}\nspec:\n  image: x\n  timeoutSeconds: 604801\n", []string{"6: spec.timeoutSeconds: must be between 0 (no limit) and 604800 (7 days), got 604801"}},
		{"task timeout negative", "apiVersion: cellsync.io/v1\nkind: Task\nmetadata: {name: t}\nspec: {image: x, timeoutSeconds: -1}\n", []string{"4: spec.timeoutSeconds: must be between 0"}},
		{"task result file relative", "apiVersion: cellsync.io/v1\nkind: Task\nmetadata: {name: t}\nspec:\n  image: x\n  resultFile: out.txt\n", []string{`6: spec.resultFile: must be the absolute path of a file inside the container, got "out.txt"`}},
		{"task result file is a directory", "apiVersion: cellsync.io/v1\nkind: Task\nmetadata: {name: t}\nspec: {image: x, resultFile: /tmp/}\n", []string{"4: spec.resultFile: must be the absolute path"}},
		{"syntax error", "kind: [\n", []string{"invalid YAML"}},
	}
	tests = append(tests, maximaTests()...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkParse(t, tt.name, tt.yaml, tt.want) })
	}
}

// checkParse parses src as f.yaml and checks its errors: want holds
// "line: field: message fragment" for every expected error, and no error
// means the document must parse into an object.
func checkParse(t *testing.T, name, src string, want []string) {
	t.Helper()
	objs, errs := model.ParseFile("f.yaml", []byte(src))
	if len(want) == 0 {
		for _, err := range errs {
			t.Errorf("unexpected error: %v", err)
		}
		if len(objs) == 0 {
			t.Error("no object parsed")
		}
		return
	}
	if len(objs) > 0 && len(errs) == len(want) && strings.Contains(name, "document") {
		t.Errorf("a document with errors yielded an object: %v", objs)
	}
	got := make([]string, len(errs))
	for i, err := range errs {
		var me *model.Error
		if !errors.As(err, &me) || me.File != "f.yaml" {
			t.Fatalf("error %v is not a *model.Error naming f.yaml", err)
		}
		// Match on "line: field: message" and on the full text.
		got[i] = fmt.Sprintf("%d: %s: %s | %v", me.Line, me.Field, me.Msg, err)
	}
	all := strings.Join(got, "\n")
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("errors lack %q; got:\n%s", w, all)
		}
	}
	if len(errs) > len(want) && !strings.Contains(name, "long") {
		t.Errorf("got %d errors, want %d:\n%s", len(errs), len(want), all)
	}
}

func TestParseFileDefaults(t *testing.T) {
	objs, errs := model.ParseFile("f.yaml", []byte(lrpHead))
	if len(errs) > 0 || len(objs) != 1 {
		t.Fatalf("parse: %v %v", objs, errs)
	}
	lrp := objs[0].(*model.LRP)
	if lrp.Spec.Replicas() != 1 {
		t.Errorf("default instances = %d, want 1", lrp.Spec.Replicas())
	}
	if lrp.Spec.Needs() != model.DefaultResources {
		t.Errorf("default resources = %+v", lrp.Spec.Needs())
	}
	if got := lrp.Source; got != (model.Source{File: "f.yaml", Doc: 0, Line: 2}) {
		t.Errorf("source = %+v", got)
	}
}

func TestParseSelectorSyncSet(t *testing.T) {
	src := `apiVersion: cellsync.io/v1
kind: SelectorSyncSet
metadata: {name: s}
spec:
  selector: 'cell.zone == "z1"'
  resourceApplyMode: Sync
  resources:
  - {kind: Config, metadata: {name: c}, data: {k: v}}
  - kind: LRP
    metadata: {name: a}
    spec: {image: x, instances: 2, configs: [{name: c, env: true}]}
  - {kind: Task, metadata: {name: t}, spec: {image: x}}
`
	objs, errs := model.ParseFile("s.yaml", []byte(src))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	set := objs[0].(*model.SelectorSyncSet)
	if set.Spec.Mode() != model.ApplySync || len(set.Spec.Resources) != 3 {
		t.Fatalf("set = %+v", set.Spec)
	}
	r := set.Spec.Resources
	if r[0].Config.Data["k"] != "v" || r[1].LRP.Spec.Replicas() != 2 || r[2].Task.Spec.Image != "x" {
		t.Errorf("resources decoded wrongly: %+v %+v %+v", r[0].Config, r[1].LRP, r[2].Task)
	}
	if r[1].LRP.Source.Line != 9 {
		t.Errorf("nested source line = %d, want 9", r[1].LRP.Source.Line)
	}
	if errs := model.Check(objs); len(errs) > 0 {
		t.Errorf("check: %v", errs)
	}
}

func TestCheck(t *testing.T) {
	parse := func(file, src string) []model.Object {
		objs, errs := model.ParseFile(file, []byte(src))
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		return objs
	}
	cfg := "apiVersion: cellsync.io/v1\nkind: Config\nmetadata: {name: c}\n"
	user := lrpHead + "  configs: [{name: c, mountPath: /etc/c}]\n"
	tests := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"reference resolved", map[string]string{"a.yaml": cfg, "b.yaml": user}, nil},
		{"missing config", map[string]string{"b.yaml": user}, []string{`b.yaml:2: document 1: spec.configs[0].name: Config "c" is not defined`}},
		{"duplicate across files", map[string]string{"a.yaml": cfg, "b.yaml": cfg}, []string{`b.yaml:2: document 1: metadata.name: Config "c" is already defined at a.yaml:2`}},
		{"same name, different kinds", map[string]string{"a.yaml": cfg, "b.yaml": "apiVersion: cellsync.io/v1\nkind: Task\nmetadata: {name: c}\nspec: {image: x}\n"}, nil},
		{"set-local config", map[string]string{"s.yaml": "apiVersion: cellsync.io/v1\nkind: SelectorSyncSet\nmetadata: {name: s}\nspec:\n  resources:\n  - {kind: Config, metadata: {name: local}}\n  - {kind: Task, metadata: {name: t}, spec: {image: x, configs: [{name: local, env: true}, {name: nope, env: true}]}}\n"},
			[]string{`spec.resources[1].spec.configs[1].name: Config "nope" is not defined`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var objs []model.Object
			for _, f := range []string{"a.yaml", "b.yaml", "s.yaml"} {
				if src, ok := tt.files[f]; ok {
					objs = append(objs, parse(f, src)...)
				}
			}
			errs := model.Check(objs)
			if len(errs) != len(tt.want) {
				t.Fatalf("got %v, want %d errors", errs, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.Contains(errs[i].Error(), w) {
					t.Errorf("error %d = %q, want it to contain %q", i, errs[i], w)
				}
			}
		})
	}
}

func TestEncodeDecodeObject(t *testing.T) {
	objs, errs := model.ParseFile("f.yaml", []byte(lrpHead+"  instances: 3\n  env: {A: b}\n"))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	body, hash, err := model.EncodeObject(objs[0])
	if err != nil {
		t.Fatal(err)
	}
	back, err := model.DecodeObject(body)
	if err != nil {
		t.Fatal(err)
	}
	body2, hash2, _ := model.EncodeObject(back)
	if hash != hash2 || string(body) != string(body2) {
		t.Errorf("round trip changed the body:\n%s\n%s", body, body2)
	}
	if _, err := model.DecodeObject([]byte(`{"kind":"SelectorSyncSet"}`)); err == nil {
		t.Error("a SelectorSyncSet body decoded as a cell object")
	}
}

func TestCellValidate(t *testing.T) {
	ok := model.Cell{Name: "c1", Capacity: model.Capacity{MemoryMB: 1, DiskMB: 1, Containers: 1}, Labels: map[string]string{"env": "prod"}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := ok
	bad.Name = "C 1"
	if err := bad.Validate(); err == nil {
		t.Error("invalid cell name accepted")
	}
	bad = ok
	bad.Capacity.Containers = 0
	if err := bad.Validate(); err == nil {
		t.Error("zero capacity accepted")
	}
}
