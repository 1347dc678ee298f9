package cell_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cellsync/cellsync/cell"
	"github.com/cellsync/cellsync/cell/logs"
	"github.com/cellsync/cellsync/cell/runtime/sim"
	"github.com/cellsync/cellsync/events"
	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/store/storetest"
)

// byInstance makes a sim runtime whose containers behave as the map says
// for their instance, and run until stopped otherwise.
func byInstance(m map[string]sim.Behavior) *sim.Runtime {
	return sim.New(func(spec cell.ContainerSpec) sim.Behavior { return m[spec.Labels[cell.LabelInstance]] })
}

func TestTaskResultTimeoutAndOOM(t *testing.T) {
	st, _ := storetest.New(t)
	h := hub{t, st}
	rt := byInstance(map[string]sim.Behavior{
		"Task/result":   {Exit: true, Output: "noise\n", Files: map[string]string{"/out/result.json": `{"rows": 42}`}},
		"Task/noresult": {Exit: true, Output: "noise\n"},
		"Task/tail":     {Exit: true, Output: "migrated\n"},
		"Task/slow":     {Output: "started\n"},
		"Task/oom":      {Exit: true, Code: 137, OOMKilled: true},
	})
	start(t, st, rt, testConfig("c1"), nil)
	withResult := func(name, file string) *model.Task {
		o := task(name, []string{"run"}, nil)
		o.Spec.ResultFile = file
		return o
	}
	slow := task("slow", []string{"sleep"}, nil)
	slow.Spec.TimeoutSeconds = 1
	tests := []struct {
		task       *model.Task
		wantFailed bool
		wantReason string
		wantResult string
	}{
		{task: withResult("result", "/out/result.json"), wantResult: `{"rows": 42}`},
		{task: withResult("noresult", "/out/result.json"), wantFailed: true, wantReason: "result file /out/result.json: ", wantResult: ""},
		{task: task("tail", []string{"run"}, nil), wantResult: "migrated\n"},
		{task: slow, wantFailed: true, wantReason: "timed out: still running after timeoutSeconds 1; killed", wantResult: "started\n"},
		{task: task("oom", []string{"run"}, nil), wantFailed: true, wantReason: "OOM-killed at its 128 MiB memory limit (exit status 137)"},
	}
	for _, tt := range tests {
		t.Run(tt.task.Metadata.Name, func(t *testing.T) {
			name := tt.task.Metadata.Name
			h.createTask(name, "c1", model.TaskPending)
			h.assign("c1", "Task/"+name, model.Item{Kind: model.KindTask, Name: name, Spec: h.put(tt.task)})
			eventually(t, "completed", func() bool { return h.task(name).State == model.TaskCompleted })
			got := h.task(name)
			if got.Failed != tt.wantFailed || !strings.HasPrefix(got.Reason, tt.wantReason) || got.Result != tt.wantResult {
				t.Fatalf("task = %+v", got)
			}
			if got.Started.IsZero() || got.Updated.Before(got.Started) {
				t.Fatalf("started %v, completed %v", got.Started, got.Updated)
			}
		})
	}
}

func TestLRPExitDetail(t *testing.T) {
	st, _ := storetest.New(t)
	h := hub{t, st}
	rt := byInstance(map[string]sim.Behavior{"LRP/hog/0": {Exit: true, Code: 137, OOMKilled: true}})
	start(t, st, rt, testConfig("c1"), nil)
	hog := lrp("hog", "img", nil)
	hog.Spec.Resources = &model.Resources{MemoryMB: 32, DiskMB: 16}
	h.assign("c1", "LRP/hog", model.Item{Kind: model.KindLRP, Name: "hog", Spec: h.put(hog), Indexes: []int32{0}})
	eventually(t, "crashed for good", func() bool {
		a, _ := h.actual("c1", "LRP/hog/0")
		return a.State == model.StateCrashed && a.CrashCount == 4
	})
	a, _ := h.actual("c1", "LRP/hog/0")
	if e := a.LastExit; e == nil || e.Cause != model.ExitOOMKilled || e.Code != 137 || e.Message != "OOM-killed at its 32 MiB memory limit (exit status 137)" {
		t.Fatalf("last exit = %+v", e)
	}
	if a.Restarts != 3 || a.Commit != "c0" {
		t.Fatalf("restarts %d, commit %q; want 3 and the assignment's c0", a.Restarts, a.Commit)
	}
}

// runs lists the runs in an instance's log directory.
func runs(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name()[:8])
	}
	return slices.Compact(out)
}

func TestLogsLiveAndDieWithTheInstance(t *testing.T) {
	st, _ := storetest.New(t)
	h := hub{t, st}
	rt := sim.New(func(spec cell.ContainerSpec) sim.Behavior {
		b := sim.DefaultBehavior(spec)
		if b.Output == "" {
			b.Output = "version " + spec.Labels[cell.LabelVersion][:8] + "\n"
		}
		return b
	})
	cfg := testConfig("c1")
	cfg.StateDir = t.TempDir()
	cfg.TaskLogRetention = time.Nanosecond
	start(t, st, rt, cfg, nil)
	root := filepath.Join(cfg.StateDir, "logs")
	webDir, _ := logs.InstanceDir(root, "LRP/web/0")

	v1 := lrp("web", "img:1", nil)
	h.assign("c1", "LRP/web", model.Item{Kind: model.KindLRP, Name: "web", Spec: h.put(v1), Indexes: []int32{0}})
	eventually(t, "first run logged", func() bool { return len(runs(t, webDir)) == 1 })

	// A crash keeps the crashed run's output as the previous run.
	if err := rt.Kill(cellContainer(t, rt, "LRP/web/0"), 1); err != nil {
		t.Fatal(err)
	}
	eventually(t, "second run", func() bool { return len(runs(t, webDir)) == 2 })
	first, err := logs.Read(webDir, logs.Options{Previous: true, Tail: -1})
	if err != nil || len(first) != 1 || !strings.HasPrefix(first[0].Text, "version ") {
		t.Fatalf("previous run = %+v, %v", first, err)
	}

	// A new version replaces the container and keeps the old output.
	v2 := lrp("web", "img:2", nil)
	h.assign("c1", "LRP/web", model.Item{Kind: model.KindLRP, Name: "web", Spec: h.put(v2), Indexes: []int32{0}})
	eventually(t, "new version running", func() bool {
		a, _ := h.actual("c1", "LRP/web/0")
		return a.State == model.StateRunning && a.LastExit != nil && a.LastExit.Cause == model.ExitKilled
	})
	prev, err := logs.Read(webDir, logs.Options{Previous: true, Tail: -1})
	cur, err2 := logs.Read(webDir, logs.Options{Tail: -1})
	if err != nil || err2 != nil || len(prev) != 1 || len(cur) != 1 || prev[0].Text == cur[0].Text {
		t.Fatalf("previous %+v (%v), current %+v (%v): want the old and the new version's output", prev, err, cur, err2)
	}

	// A Task's output outlives its assignment until the retention ends.
	h.createTask("migrate", "c1", model.TaskPending)
	h.assign("c1", "Task/migrate", model.Item{Kind: model.KindTask, Name: "migrate", Spec: h.put(task("migrate", []string{"echo", "done"}, nil))})
	eventually(t, "task completed", func() bool { return h.task("migrate").State == model.TaskCompleted })
	taskDir, _ := logs.InstanceDir(root, "Task/migrate")
	h.unassign("c1", "Task/migrate")

	// Removing the LRP removes its output; the next reconcile also drops
	// the Task's, whose 1 ns retention is over.
	h.unassign("c1", "LRP/web")
	eventually(t, "outputs removed", func() bool { return runs(t, webDir) == nil && runs(t, taskDir) == nil })
}

func TestCellEvents(t *testing.T) {
	st, _ := storetest.New(t)
	h := hub{t, st}
	rt := byInstance(map[string]sim.Behavior{"Task/t": {Exit: true}})
	r := start(t, st, rt, testConfig("c1"), nil)
	h.assign("c1", "LRP/web", model.Item{Kind: model.KindLRP, Name: "web", Spec: h.put(lrp("web", "img", nil)), Indexes: []int32{0}})
	eventually(t, "running", func() bool { a, _ := h.actual("c1", "LRP/web/0"); return a.State == model.StateRunning })
	if err := rt.Kill(cellContainer(t, rt, "LRP/web/0"), 2); err != nil {
		t.Fatal(err)
	}
	h.createTask("t", "c1", model.TaskPending)
	h.assign("c1", "Task/t", model.Item{Kind: model.KindTask, Name: "t", Spec: h.put(task("t", []string{"true"}, nil))})
	r.stop(t) // evacuates

	want := []string{model.EventCellJoined, model.EventInstanceStarted, model.EventInstanceCrashed, model.EventTaskRunning,
		model.EventTaskCompleted, model.EventCellEvacuating, model.EventInstanceStopped}
	var got []string
	eventually(t, "events", func() bool {
		l, err := events.List(context.Background(), st, events.Filter{Cell: "c1"})
		if err != nil {
			t.Fatal(err)
		}
		got = got[:0]
		for _, e := range l.Events {
			if e.Cell != "c1" || e.Source != "cell/c1" || e.Message == "" {
				t.Fatalf("event %+v", e)
			}
			got = append(got, e.Type)
		}
		for _, w := range want {
			if !slices.Contains(got, w) {
				return false
			}
		}
		return true
	})
}
