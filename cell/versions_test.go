package cell_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cellsync/cellsync/cell/runtime/sim"
	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/store/storetest"
)

// TestRolloutStepsRunTwoVersions plays the hub's side of a rollout: one
// assignment names the LRP at two versions, and each step moves one index.
// The cell runs exactly what each item says, restarts only the index that
// moved, and reports every index's version.
func TestRolloutStepsRunTwoVersions(t *testing.T) {
	st, _ := storetest.New(t)
	h := hub{t, st}
	rt := sim.New(nil)
	cfg := testConfig("c1")
	cfg.StateDir = t.TempDir()
	start(t, st, rt, cfg, nil)

	conf := func(v string) string {
		return h.put(&model.Config{Header: model.Header{APIVersion: model.APIVersion, Kind: model.KindConfig, Metadata: model.Meta{Name: "conf"}},
			Data: map[string]string{"v": v}})
	}
	web := func(image string) string {
		o := lrp("web", image, nil)
		o.Spec.Configs = []model.ConfigRef{{Name: "conf", MountPath: "/etc/conf"}}
		return h.put(o)
	}
	c1, c2 := conf("one"), conf("two")
	w1, w2 := web("img:1"), web("img:2")
	pin := func(c string) []model.MountedConfig { return []model.MountedConfig{{Name: "conf", Spec: c}} }
	item := func(spec, c string, idx ...int32) model.Item {
		return model.Item{Kind: model.KindLRP, Name: "web", Spec: spec, Configs: pin(c), Indexes: idx}
	}
	configItem := func(c string) model.Item { return model.Item{Kind: model.KindConfig, Name: "conf", Spec: c} }
	v11, v21, v12 := model.InstanceVersion(w1, pin(c1)), model.InstanceVersion(w2, pin(c1)), model.InstanceVersion(w1, pin(c2))

	// wantRunning waits until the cell has applied the write at rev and
	// every index runs its version, healthy, and checks how many containers
	// were started so far.
	wantRunning := func(t *testing.T, rev int64, versions map[int32]string, starts int) {
		t.Helper()
		eventually(t, "applied", func() bool { return h.report("c1").AppliedRevision >= rev })
		for idx, v := range versions {
			id := model.InstanceID(model.KindLRP, "web", idx)
			eventually(t, id+" at its version", func() bool {
				a, ok := h.actual("c1", id)
				return ok && a.State == model.StateRunning && a.Version == v && !a.HealthySince.IsZero()
			})
		}
		eventually(t, "all running", func() bool { return h.report("c1").Running == len(versions) })
		if got := rt.Starts(); got != starts {
			t.Fatalf("starts = %d, want %d", got, starts)
		}
	}
	mountedValue := func(t *testing.T, idx int32) string {
		t.Helper()
		spec, ok := rt.Spec(cellContainer(t, rt, model.InstanceID(model.KindLRP, "web", idx)))
		if !ok || len(spec.Mounts) != 1 {
			t.Fatalf("index %d: spec %+v", idx, spec)
		}
		b, err := os.ReadFile(filepath.Join(spec.Mounts[0].Source, "v"))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	rev := h.assign("c1", "LRP/web", configItem(c1), item(w1, c1, 0, 1, 2, 3))
	wantRunning(t, rev, map[int32]string{0: v11, 1: v11, 2: v11, 3: v11}, 4)

	t.Run("image change moves one index", func(t *testing.T) {
		rev := h.assign("c1", "LRP/web", configItem(c1), item(w1, c1, 1, 2, 3), item(w2, c1, 0))
		wantRunning(t, rev, map[int32]string{0: v21, 1: v11, 2: v11, 3: v11}, 5)
		if a, _ := h.actual("c1", "LRP/web/0"); a.Spec != w2 {
			t.Fatalf("index 0 reports body %s, want %s", a.Spec, w2)
		}
	})
	t.Run("Config change moves one index; both Config bodies are mounted", func(t *testing.T) {
		rev := h.assign("c1", "LRP/web", configItem(c2), item(w1, c1, 1, 2), item(w2, c1, 0), item(w1, c2, 3))
		wantRunning(t, rev, map[int32]string{0: v21, 1: v11, 2: v11, 3: v12}, 6)
		if got := mountedValue(t, 3); got != "two" {
			t.Fatalf("index 3 mounts %q, want two", got)
		}
		for _, idx := range []int32{0, 1, 2} {
			if got := mountedValue(t, idx); got != "one" {
				t.Fatalf("index %d mounts %q, want one", idx, got)
			}
		}
	})
	t.Run("scaling up starts only the new index", func(t *testing.T) {
		rev := h.assign("c1", "LRP/web", configItem(c2), item(w1, c1, 1, 2), item(w2, c1, 0), item(w1, c2, 3, 4))
		wantRunning(t, rev, map[int32]string{0: v21, 1: v11, 2: v11, 3: v12, 4: v12}, 7)
	})
	t.Run("the old Config body goes once nothing mounts it", func(t *testing.T) {
		rev := h.assign("c1", "LRP/web", configItem(c2), item(w1, c2, 0, 1, 2, 3, 4))
		wantRunning(t, rev, map[int32]string{0: v12, 1: v12, 2: v12, 3: v12, 4: v12}, 10)
		eventually(t, "one Config directory", func() bool {
			ents, _ := os.ReadDir(filepath.Join(cfg.StateDir, "configs"))
			return len(ents) == 1
		})
	})
}

// TestHealthySince: an instance reports since when it is healthy; a failed
// check clears it at once, before the failure threshold kills anything, and
// the next passing check sets it anew.
func TestHealthySince(t *testing.T) {
	st, _ := storetest.New(t)
	h := hub{t, st}
	rt := sim.New(nil)
	start(t, st, rt, testConfig("c1"), nil)

	checked := lrp("checked", "img", nil)
	checked.Spec.HealthCheck = &model.HealthCheck{Exec: []string{"true"}, IntervalSeconds: 1, FailureThreshold: 100}
	h.assign("c1", "LRP/checked", model.Item{Kind: model.KindLRP, Name: "checked", Spec: h.put(checked), Indexes: []int32{0}})
	plain := h.put(lrp("plain", "img", nil))
	h.assign("c1", "LRP/plain", model.Item{Kind: model.KindLRP, Name: "plain", Spec: plain, Indexes: []int32{0}})

	var first time.Time
	eventually(t, "checked healthy", func() bool {
		a, _ := h.actual("c1", "LRP/checked/0")
		first = a.HealthySince
		return a.State == model.StateRunning && !first.IsZero()
	})
	eventually(t, "plain healthy since it runs", func() bool {
		a, _ := h.actual("c1", "LRP/plain/0")
		return a.State == model.StateRunning && !a.HealthySince.IsZero() && a.Version == plain
	})

	cid := cellContainer(t, rt, "LRP/checked/0")
	if err := rt.SetUnhealthy(cid, true); err != nil {
		t.Fatal(err)
	}
	eventually(t, "unhealthy but still running", func() bool {
		a, _ := h.actual("c1", "LRP/checked/0")
		return a.State == model.StateRunning && a.HealthySince.IsZero()
	})
	if err := rt.SetUnhealthy(cid, false); err != nil {
		t.Fatal(err)
	}
	eventually(t, "healthy again, since later", func() bool {
		a, _ := h.actual("c1", "LRP/checked/0")
		return a.State == model.StateRunning && a.HealthySince.After(first)
	})
	if got := rt.Starts(); got != 2 {
		t.Fatalf("starts = %d, want 2: a failed check below the threshold restarts nothing", got)
	}
}
