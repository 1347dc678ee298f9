package containerd_test

import (
	"context"
	"testing"
	"time"

	"github.com/cellsync/cellsync/cell"
	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/store/storetest"
)

// TestRolloutStepsOnContainerd is the cell's side of a rollout on real
// containers: one assignment names the LRP at several versions; each step
// replaces exactly the index that moved (new process) and leaves the others
// running (same process); actual state reports each index's version and
// health; a bad image crashes only the index given it, with cause "start".
func TestRolloutStepsOnContainerd(t *testing.T) {
	rt := newRuntime(t)
	st, _ := storetest.New(t)
	h := hub{t, st}
	startAgent(t, st, rt, "roll1", cell.Evacuate, t.TempDir())
	ctx := context.Background()

	conf := func(v string) string {
		return h.put(&model.Config{Header: model.Header{APIVersion: model.APIVersion, Kind: model.KindConfig, Metadata: model.Meta{Name: "roll-conf"}},
			Data: map[string]string{"v": v}})
	}
	body := func(image string, cmd ...string) string {
		o := lrp("roll", cmd...)
		o.Spec.Image = image
		o.Spec.Configs = []model.ConfigRef{{Name: "roll-conf", MountPath: "/etc/roll"}}
		o.Spec.HealthCheck = &model.HealthCheck{Exec: []string{"test", "-f", "/etc/roll/v"}, IntervalSeconds: 1, TimeoutSeconds: 5, FailureThreshold: 2}
		return h.put(o)
	}
	c1, c2 := conf("one"), conf("two")
	w1, w2 := body(image, "sleep", "3600"), body(image, "sleep", "3601")
	bad := body("cellsync.invalid/nope:1", "sleep", "3600")
	pin := func(c string) []model.MountedConfig { return []model.MountedConfig{{Name: "roll-conf", Spec: c}} }
	item := func(spec, c string, idx ...int32) model.Item {
		return model.Item{Kind: model.KindLRP, Name: "roll", Spec: spec, Configs: pin(c), Indexes: idx}
	}
	configItem := func(c string) model.Item { return model.Item{Kind: model.KindConfig, Name: "roll-conf", Spec: c} }

	pids := map[int32]uint32{}
	// settle waits until each index runs its version, healthy, and returns
	// which indexes got a new process since the last call.
	settle := func(t *testing.T, versions map[int32]string) map[int32]bool {
		t.Helper()
		restarted := map[int32]bool{}
		for idx, v := range versions {
			id := model.InstanceID(model.KindLRP, "roll", idx)
			var a model.Actual
			eventually(t, id+" healthy at its version", 60*time.Second, func() bool {
				a = h.actual("roll1", id)
				return a.State == model.StateRunning && a.Version == v && !a.HealthySince.IsZero()
			})
			pid, err := rt.Pid(ctx, a.ContainerID)
			if err != nil {
				t.Fatal(err)
			}
			if pids[idx] != pid {
				restarted[idx] = true
			}
			pids[idx] = pid
		}
		return restarted
	}
	only := func(t *testing.T, restarted map[int32]bool, want ...int32) {
		t.Helper()
		if len(restarted) != len(want) {
			t.Fatalf("restarted %v, want exactly %v", restarted, want)
		}
		for _, idx := range want {
			if !restarted[idx] {
				t.Fatalf("restarted %v, want exactly %v", restarted, want)
			}
		}
	}

	h.assign("roll1", "LRP/roll", configItem(c1), item(w1, c1, 0, 1, 2))
	v11 := model.InstanceVersion(w1, pin(c1))
	only(t, settle(t, map[int32]string{0: v11, 1: v11, 2: v11}), 0, 1, 2)

	t.Run("command change: index 0 moves, 1 and 2 keep their process", func(t *testing.T) {
		h.assign("roll1", "LRP/roll", configItem(c1), item(w1, c1, 1, 2), item(w2, c1, 0))
		only(t, settle(t, map[int32]string{0: model.InstanceVersion(w2, pin(c1)), 1: v11, 2: v11}), 0)
	})
	t.Run("Config change: index 2 moves and mounts the new body", func(t *testing.T) {
		h.assign("roll1", "LRP/roll", configItem(c2), item(w1, c1, 1), item(w2, c1, 0), item(w1, c2, 2))
		only(t, settle(t, map[int32]string{0: model.InstanceVersion(w2, pin(c1)), 1: v11, 2: model.InstanceVersion(w1, pin(c2))}), 2)
		for idx, want := range map[int32]string{1: "one", 2: "two"} {
			cid := h.actual("roll1", model.InstanceID(model.KindLRP, "roll", idx)).ContainerID
			code, err := rt.Exec(ctx, cid, []string{"grep", "-qx", want, "/etc/roll/v"})
			if err != nil || code != 0 {
				t.Fatalf("index %d: /etc/roll/v is not %q (status %d, %v)", idx, want, code, err)
			}
		}
	})
	t.Run("bad image: only index 1 crashes, with cause start", func(t *testing.T) {
		h.assign("roll1", "LRP/roll", configItem(c2), item(bad, c1, 1), item(w2, c1, 0), item(w1, c2, 2))
		eventually(t, "index 1 crashed", 60*time.Second, func() bool {
			a := h.actual("roll1", "LRP/roll/1")
			return a.State == model.StateCrashed && a.LastExit.StartFailed() && a.Version == model.InstanceVersion(bad, pin(c1)) && a.HealthySince.IsZero()
		})
		delete(pids, 1)
		only(t, settle(t, map[int32]string{0: model.InstanceVersion(w2, pin(c1)), 2: model.InstanceVersion(w1, pin(c2))}))
	})
}
