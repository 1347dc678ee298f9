package cell

import (
	"strings"
	"testing"

	"github.com/cellsync/cellsync/model"
)

func mustHash(t *testing.T, o model.Object) (model.Object, string) {
	t.Helper()
	_, h, err := model.EncodeObject(o)
	if err != nil {
		t.Fatal(err)
	}
	return o, h
}

func TestComputeWant(t *testing.T) {
	web := &model.LRP{Header: model.Header{Kind: model.KindLRP, Metadata: model.Meta{Name: "web"}}}
	web.Spec.Configs = []model.ConfigRef{{Name: "conf", MountPath: "/etc/conf"}}
	conf := &model.Config{Header: model.Header{Kind: model.KindConfig, Metadata: model.Meta{Name: "conf"}}, Data: map[string]string{"a": "b"}}
	job := &model.Task{Header: model.Header{Kind: model.KindTask, Metadata: model.Meta{Name: "job"}}}
	_, hw := mustHash(t, web)
	_, hc := mustHash(t, conf)
	_, hj := mustHash(t, job)
	specs := map[string]model.Object{hw: web, hc: conf, hj: job}

	tests := []struct {
		name         string
		assigns      map[string]assignment
		wantLRPs     []string
		wantTasks    []string
		wantConfigs  []string
		wantProblems int
		wantBump     map[string]int64
	}{
		{name: "empty"},
		{
			name: "union of sources",
			assigns: map[string]assignment{
				"k/LRP/web":              {Assignment: model.Assignment{Items: []model.Item{{Kind: model.KindLRP, Name: "web", Spec: hw, Indexes: []int32{0, 2}}}}, modRev: 5},
				"k/SelectorSyncSet/base": {Assignment: model.Assignment{Items: []model.Item{{Kind: model.KindConfig, Name: "conf", Spec: hc}, {Kind: model.KindLRP, Name: "web", Spec: hw, Indexes: []int32{2}}}}, modRev: 9},
				"k/Task/job":             {Assignment: model.Assignment{Items: []model.Item{{Kind: model.KindTask, Name: "job", Spec: hj}}}, modRev: 3},
			},
			wantLRPs:    []string{"LRP/web/0", "LRP/web/2"},
			wantTasks:   []string{"job"},
			wantConfigs: []string{"conf"},
			wantBump:    map[string]int64{"LRP/web/0": 5, "LRP/web/2": 9},
		},
		{
			name: "missing and mismatched specs are problems",
			assigns: map[string]assignment{
				"k/a": {Assignment: model.Assignment{Items: []model.Item{{Kind: model.KindLRP, Name: "x", Spec: "nope", Indexes: []int32{0}}, {Kind: model.KindTask, Name: "web", Spec: hw}}}},
			},
			wantProblems: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, problems := computeWant(snapshot{assigns: tt.assigns}, specs)
			if got := sortedKeys(w.lrps); strings.Join(got, ",") != strings.Join(tt.wantLRPs, ",") {
				t.Errorf("lrps = %v, want %v", got, tt.wantLRPs)
			}
			if got := sortedKeys(w.tasks); strings.Join(got, ",") != strings.Join(tt.wantTasks, ",") {
				t.Errorf("tasks = %v, want %v", got, tt.wantTasks)
			}
			if got := sortedKeys(w.configs); strings.Join(got, ",") != strings.Join(tt.wantConfigs, ",") {
				t.Errorf("configs = %v, want %v", got, tt.wantConfigs)
			}
			if len(problems) != tt.wantProblems {
				t.Errorf("problems = %v, want %d", problems, tt.wantProblems)
			}
			for id, b := range tt.wantBump {
				if w.lrps[id].bump != b {
					t.Errorf("%s bump = %d, want %d", id, w.lrps[id].bump, b)
				}
			}
			for id, l := range w.lrps {
				if l.version == l.hash {
					t.Errorf("%s: version ignores its Config", id)
				}
				if _, ok := l.configs["conf"]; !ok {
					t.Errorf("%s: referenced config missing", id)
				}
			}
		})
	}
}

func TestContainerID(t *testing.T) {
	long := strings.Repeat("a", 63)
	tests := []struct {
		name     string
		cell     string
		instance string
		want     string
	}{
		{name: "lrp", cell: "c1", instance: "LRP/web/0", want: "c1.LRP.web.0"},
		{name: "task", cell: "c1", instance: "Task/migrate", want: "c1.Task.migrate"},
		{name: "too long is hashed", cell: long, instance: "LRP/" + long + "/1"},
		{name: "double dash is hashed", cell: "c--1", instance: "LRP/web/0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := containerID(tt.cell, tt.instance)
			if tt.want != "" && got != tt.want {
				t.Fatalf("containerID = %q, want %q", got, tt.want)
			}
			if tt.want == "" && !strings.HasPrefix(got, "cs-") {
				t.Fatalf("containerID = %q, want a hash", got)
			}
			if !validID(got) || len(got) > 76 {
				t.Fatalf("containerID %q is not a valid containerd ID", got)
			}
		})
	}
}

func FuzzContainerID(f *testing.F) {
	f.Add("c1", "LRP/web/0")
	f.Add("c--1", "Task/x")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, cell, instance string) {
		a, b := containerID(cell, instance), containerID(cell, instance)
		if a != b {
			t.Fatalf("not deterministic: %q vs %q", a, b)
		}
		if !validID(a) || len(a) > 76 {
			t.Fatalf("containerID(%q, %q) = %q is not a valid containerd ID", cell, instance, a)
		}
	})
}

func TestFileKey(t *testing.T) {
	tests := []struct {
		key  string
		want bool
	}{
		{"index.html", true}, {"a-b_c", true}, {"", false}, {".", false}, {"..", false}, {"a/b", false}, {"a\x00", false},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			if got := fileKey(tt.key); got != tt.want {
				t.Fatalf("fileKey(%q) = %v, want %v", tt.key, got, tt.want)
			}
		})
	}
}
