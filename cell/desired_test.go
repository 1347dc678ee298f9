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

// TestComputeWantTwoVersions is the cell's side of a rollout step: one
// assignment names an LRP in two items, old and new indexes, each with its
// own body and pinned Configs.
func TestComputeWantTwoVersions(t *testing.T) {
	conf := func(v string) *model.Config {
		return &model.Config{Header: model.Header{Kind: model.KindConfig, Metadata: model.Meta{Name: "conf"}}, Data: map[string]string{"v": v}}
	}
	web := func(image string) *model.LRP {
		o := &model.LRP{Header: model.Header{Kind: model.KindLRP, Metadata: model.Meta{Name: "web"}}}
		o.Spec.Image = image
		o.Spec.Configs = []model.ConfigRef{{Name: "conf", MountPath: "/etc/conf"}}
		return o
	}
	c1, hc1 := mustHash(t, conf("1"))
	c2, hc2 := mustHash(t, conf("2"))
	w1, hw1 := mustHash(t, web("img:1"))
	w2, hw2 := mustHash(t, web("img:2"))
	specs := map[string]model.Object{hc1: c1, hc2: c2, hw1: w1, hw2: w2}
	pin := func(h string) []model.MountedConfig { return []model.MountedConfig{{Name: "conf", Spec: h}} }
	// Of two items claiming one index, the greater version wins.
	winner, winnerConf := model.InstanceVersion(hw1, pin(hc1)), hc1
	if v := model.InstanceVersion(hw1, pin(hc2)); v > winner {
		winner, winnerConf = v, hc2
	}

	tests := []struct {
		name string
		// items of the one assignment
		items []model.Item
		// want is the version of each index; absent indexes must not run.
		want map[int32]string
		// wantConf is the Config body each index mounts.
		wantConf     map[int32]string
		wantProblems int
	}{
		{
			name: "image rollout: indexes 0 and 1 old, 2 new",
			items: []model.Item{
				{Kind: model.KindConfig, Name: "conf", Spec: hc1},
				{Kind: model.KindLRP, Name: "web", Spec: hw1, Indexes: []int32{0, 1}, Configs: pin(hc1)},
				{Kind: model.KindLRP, Name: "web", Spec: hw2, Indexes: []int32{2}, Configs: pin(hc1)},
			},
			want:     map[int32]string{0: model.InstanceVersion(hw1, pin(hc1)), 1: model.InstanceVersion(hw1, pin(hc1)), 2: model.InstanceVersion(hw2, pin(hc1))},
			wantConf: map[int32]string{0: hc1, 1: hc1, 2: hc1},
		},
		{
			name: "config rollout: same body, index 0 mounts the new Config",
			items: []model.Item{
				{Kind: model.KindConfig, Name: "conf", Spec: hc2},
				{Kind: model.KindLRP, Name: "web", Spec: hw1, Indexes: []int32{1, 2}, Configs: pin(hc1)},
				{Kind: model.KindLRP, Name: "web", Spec: hw1, Indexes: []int32{0}, Configs: pin(hc2)},
			},
			want:     map[int32]string{0: model.InstanceVersion(hw1, pin(hc2)), 1: model.InstanceVersion(hw1, pin(hc1)), 2: model.InstanceVersion(hw1, pin(hc1))},
			wantConf: map[int32]string{0: hc2, 1: hc1, 2: hc1},
		},
		{
			name: "unpinned item mounts the cell's Config, with the version a pinned one would have",
			items: []model.Item{
				{Kind: model.KindConfig, Name: "conf", Spec: hc2},
				{Kind: model.KindLRP, Name: "web", Spec: hw1, Indexes: []int32{0}},
			},
			want:     map[int32]string{0: model.InstanceVersion(hw1, pin(hc2))},
			wantConf: map[int32]string{0: hc2},
		},
		{
			name: "a pinned Config body that is missing leaves its indexes out",
			items: []model.Item{
				{Kind: model.KindLRP, Name: "web", Spec: hw1, Indexes: []int32{0}, Configs: pin(hc1)},
				{Kind: model.KindLRP, Name: "web", Spec: hw2, Indexes: []int32{1}, Configs: pin("nope")},
			},
			want:         map[int32]string{0: model.InstanceVersion(hw1, pin(hc1))},
			wantConf:     map[int32]string{0: hc1},
			wantProblems: 1,
		},
		{
			name: "a pinned spec that is an LRP, not a Config, is a problem",
			items: []model.Item{
				{Kind: model.KindLRP, Name: "web", Spec: hw1, Indexes: []int32{0}, Configs: pin(hw2)},
			},
			want:         map[int32]string{},
			wantProblems: 1,
		},
		{
			name: "two items claiming one index: the greater version wins",
			items: []model.Item{
				{Kind: model.KindLRP, Name: "web", Spec: hw1, Indexes: []int32{0}, Configs: pin(hc1)},
				{Kind: model.KindLRP, Name: "web", Spec: hw1, Indexes: []int32{0}, Configs: pin(hc2)},
			},
			want:     map[int32]string{0: winner},
			wantConf: map[int32]string{0: winnerConf},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			snap := snapshot{assigns: map[string]assignment{"k/LRP/web": {Assignment: model.Assignment{Items: tt.items}}}}
			w, problems := computeWant(snap, specs)
			if len(problems) != tt.wantProblems {
				t.Errorf("problems = %v, want %d", problems, tt.wantProblems)
			}
			if len(w.lrps) != len(tt.want) {
				t.Errorf("instances = %v, want indexes %v", sortedKeys(w.lrps), tt.want)
			}
			for idx, v := range tt.want {
				l, ok := w.lrps[model.InstanceID(model.KindLRP, "web", idx)]
				if !ok || l.version != v {
					t.Errorf("index %d: version %q (present %v), want %q", idx, l.version, ok, v)
					continue
				}
				if got := l.configs["conf"].hash; got != tt.wantConf[idx] {
					t.Errorf("index %d mounts conf %s, want %s", idx, got, tt.wantConf[idx])
				}
			}
			// Every mounted Config body is kept on disk, both versions of one name included.
			kept := map[string]bool{}
			for _, c := range w.allConfigs() {
				kept[c.hash] = true
			}
			for idx, h := range tt.wantConf {
				if !kept[h] {
					t.Errorf("index %d's Config %s is not kept", idx, h)
				}
			}
		})
	}
}

func TestMissingSpecsIncludesPinnedConfigs(t *testing.T) {
	snap := snapshot{assigns: map[string]assignment{"k": {Assignment: model.Assignment{Items: []model.Item{
		{Kind: model.KindLRP, Name: "web", Spec: "b", Indexes: []int32{0}, Configs: []model.MountedConfig{{Name: "c", Spec: "a"}, {Name: "gone"}}},
	}}}}}
	if got := missingSpecs(snap, map[string]model.Object{}); strings.Join(got, ",") != "a,b" {
		t.Errorf("missing = %v, want [a b]", got)
	}
}
