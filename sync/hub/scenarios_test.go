package hub_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/store"
	"github.com/cellsync/cellsync/store/storetest"
	"github.com/cellsync/cellsync/sync/hub"
)

func set(name, mode, selector string, configs ...string) string {
	var res []string
	for _, c := range configs {
		name, data, _ := strings.Cut(c, "=")
		res = append(res, fmt.Sprintf("  - {kind: Config, metadata: {name: %s}, data: {k: %q}}", name, data))
	}
	return fmt.Sprintf("apiVersion: cellsync.io/v1\nkind: SelectorSyncSet\nmetadata: {name: %s}\nspec:\n  resourceApplyMode: %s\n  selector: '%s'\n  resources:\n%s", name, mode, selector, strings.Join(res, "\n"))
}

func TestSelectorChangeMovesWork(t *testing.T) {
	f := newFixture(t)
	f.putCell("c1", "z1", nil)
	f.putCell("c2", "z2", nil)
	f.commit("1", set("s", "Sync", `cell.zone == "z1"`, "a=1"))
	if got := f.settled("1"); got["c1"]["SelectorSyncSet/s"] != "Config/a" || got["c2"] != nil {
		t.Fatalf("before: %v", got)
	}
	f.commit("2", set("s", "Sync", `cell.zone == "z2"`, "a=1"))
	if got := f.settled("2"); got["c2"]["SelectorSyncSet/s"] != "Config/a" || got["c1"] != nil {
		t.Fatalf("after: %v", got)
	}
	// A relabelled cell moves work too, without a commit.
	f.putCell("c1", "z2", nil)
	f.eventually("c1 matches after moving to z2", func() (bool, string) {
		got := f.assignments()
		return got["c1"]["SelectorSyncSet/s"] == "Config/a", fmt.Sprint(got)
	})
}

func TestSyncRemovesUpsertKeeps(t *testing.T) {
	f := newFixture(t)
	f.putCell("c1", "z1", nil)
	f.putCell("c2", "z2", nil)
	f.commit("1", set("sync", "Sync", "", "a=1", "b=1")+"\n---\n"+set("up", "Upsert", "", "x=1", "y=1"))
	got := f.settled("1")
	if got["c1"]["SelectorSyncSet/sync"] != "Config/a,Config/b" || got["c1"]["SelectorSyncSet/up"] != "Config/x,Config/y" {
		t.Fatalf("initial: %v", got)
	}
	// Drop one resource from each set and narrow both to z1.
	f.commit("2", set("sync", "Sync", `cell.zone == "z1"`, "a=1")+"\n---\n"+set("up", "Upsert", `cell.zone == "z1"`, "x=2"))
	got = f.settled("2")
	if s := got["c1"]["SelectorSyncSet/sync"]; s != "Config/a" {
		t.Errorf("Sync set on c1 = %q, want Config/b removed", s)
	}
	if _, ok := got["c2"]["SelectorSyncSet/sync"]; ok {
		t.Errorf("Sync set still on c2, which no longer matches")
	}
	if s := got["c1"]["SelectorSyncSet/up"]; s != "Config/x,Config/y" {
		t.Errorf("Upsert set on c1 = %q, want y kept", s)
	}
	if s := got["c2"]["SelectorSyncSet/up"]; s != "Config/x,Config/y" {
		t.Errorf("Upsert set on c2 = %q, want kept though c2 no longer matches", s)
	}
	// Upsert updates what it still carries.
	kv, _, _ := f.c.Get(f.ctx, store.DesiredKey("c1", "SelectorSyncSet/up"))
	var a model.Assignment
	store.Decode(kv, &a)
	for _, it := range a.Items {
		if it.Name == "x" {
			body, _, _ := f.c.Get(f.ctx, store.SpecKey(it.Spec))
			if !strings.Contains(string(body.Value), `"k":"2"`) {
				t.Errorf("Upsert did not update x: %s", body.Value)
			}
		}
	}
}

func TestConflictReportedNotFlapping(t *testing.T) {
	f := newFixture(t)
	f.putCell("c1", "z1", nil)
	f.commit("1", set("first", "Sync", "", "shared=one")+"\n---\n"+set("second", "Sync", "", "shared=two", "own=x"))
	got := f.settled("1")
	st := f.hub.Status()
	if len(st.Conflicts) != 1 {
		t.Fatalf("conflicts = %+v, want one", st.Conflicts)
	}
	c := st.Conflicts[0]
	if c.Cell != "c1" || c.Object != "Config/shared" || c.Manager != "SelectorSyncSet/second" || strings.Join(c.Owners, ",") != "SelectorSyncSet/first" {
		t.Errorf("conflict = %+v", c)
	}
	// Both records name the same merged body, which keeps the first set's value.
	bodies := map[string]bool{}
	for _, src := range []string{"SelectorSyncSet/first", "SelectorSyncSet/second"} {
		kv, _, _ := f.c.Get(f.ctx, store.DesiredKey("c1", src))
		var a model.Assignment
		store.Decode(kv, &a)
		for _, it := range a.Items {
			if it.Name == "shared" {
				bodies[it.Spec] = true
				body, _, _ := f.c.Get(f.ctx, store.SpecKey(it.Spec))
				if !strings.Contains(string(body.Value), `"k":"one"`) {
					t.Errorf("merged body = %s, want the first owner's value", body.Value)
				}
			}
		}
	}
	if len(bodies) != 1 {
		t.Errorf("the two sets name %d different bodies for one object", len(bodies))
	}
	// Re-running the same commit changes nothing: no flapping.
	_, rev0, _ := f.c.List(f.ctx, store.DesiredPrefix)
	f.commit("2", set("first", "Sync", "", "shared=one")+"\n---\n"+set("second", "Sync", "", "shared=two", "own=x"))
	f.settled("2")
	kvs, _, _ := f.c.List(f.ctx, store.DesiredPrefix)
	for _, kv := range kvs {
		if kv.ModRevision > rev0 {
			t.Errorf("%s rewritten: the conflict flaps", kv.Key)
		}
	}
	_ = got
}

const task = `apiVersion: cellsync.io/v1
kind: Task
metadata: {name: migrate}
spec: {image: busybox, selector: 'cell.zone == "z1"'}`

func TestCellDeathReplacesLRPsAndFailsTasks(t *testing.T) {
	f := newFixture(t)
	f.putCell("c1", "z1", nil)
	f.putCell("c2", "z1", nil)
	f.putCell("c3", "z2", nil)
	f.commit("1", sets+"\n---\n"+task)
	got := f.settled("1")
	var victim string
	for cell, srcs := range got {
		if _, ok := srcs["Task/migrate"]; ok {
			victim = cell
		}
	}
	if victim == "" {
		t.Fatalf("task not assigned: %v", got)
	}
	rec, _, ok, err := store.GetJSON[model.TaskRecord](f.ctx, f.c, store.TaskKey("migrate"))
	if err != nil || !ok || rec.State != model.TaskPending || rec.Cell != victim {
		t.Fatalf("task record = %+v %v %v", rec, ok, err)
	}
	before := got[victim]["LRP/web"]

	f.deleteCell(victim)
	f.eventually("task failed and web re-placed", func() (bool, string) {
		rec, _, _, _ := store.GetJSON[model.TaskRecord](f.ctx, f.c, store.TaskKey("migrate"))
		got := f.assignments()
		placed := 0
		for _, srcs := range got {
			if s := srcs["LRP/web"]; s != "" {
				placed += strings.Count(s, " ") + 1
			}
		}
		_, left := got[victim]
		return rec.State == model.TaskCompleted && rec.Failed && rec.Reason == "cell disappeared" && !left && placed >= 4,
			fmt.Sprintf("task %+v\nassignments %v", rec, got)
	})
	// The failed task is never placed again.
	f.putCell("c4", "z1", nil)
	f.commit("2", sets+"\n---\n"+task)
	got = f.settled("2")
	for cell, srcs := range got {
		if _, ok := srcs["Task/migrate"]; ok {
			t.Errorf("failed task re-placed on %s", cell)
		}
	}
	_ = before
}

func TestRestartWritesNothingAndKeepsTasks(t *testing.T) {
	f := newFixture(t)
	for i := 1; i <= 5; i++ {
		f.putCell(fmt.Sprintf("c%d", i), fmt.Sprintf("z%d", i%2+1), nil)
	}
	f.commit("1", sets+"\n---\n"+task)
	before := f.settled("1")
	_, rev0, _ := f.c.List(f.ctx, store.DesiredPrefix)
	taskRec, _, _ := f.c.Get(f.ctx, store.TaskKey("migrate"))

	f.stop()
	f.start()
	f.commit("1", sets+"\n---\n"+task)
	after := f.settled("1")
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Errorf("assignments changed across a restart:\n%v\n%v", before, after)
	}
	kvs, _, _ := f.c.List(f.ctx, store.DesiredPrefix)
	for _, kv := range kvs {
		if kv.ModRevision > rev0 {
			t.Errorf("%s rewritten after a restart", kv.Key)
		}
	}
	if kv, _, _ := f.c.Get(f.ctx, store.TaskKey("migrate")); kv.ModRevision != taskRec.ModRevision {
		t.Errorf("task record rewritten after a restart")
	}
}

func TestLiveResize(t *testing.T) {
	f := newFixture(t)
	f.putCell("c1", "z1", nil)
	f.commit("1", set("s", "Sync", "", "a=1"))
	f.settled("1")
	f.hub.Resize(hub.Workers{Fanout: 3, Apply: 7, Convergence: 1})
	if w := f.hub.Workers(); w != (hub.Workers{Fanout: 3, Apply: 7, Convergence: 1}) {
		t.Errorf("workers = %+v", w)
	}
	f.commit("2", set("s", "Sync", "", "a=2"))
	f.settled("2")
}

func TestLeaderFailover(t *testing.T) {
	f := newFixture(t)
	first, stopFirst := f.hub, f.stop
	f.putCell("c1", "z1", nil)
	f.commit("1", set("s", "Sync", "", "a=1"))
	f.settled("1")

	second := f.start() // a standby
	f.hub = first
	second.SetDesired(hub.Desired{Commit: "2", Objects: parseAll(t, set("s", "Sync", "", "a=1", "b=1"))})
	if second.Status().Leading {
		t.Fatal("standby leads while the leader lives")
	}
	stopFirst()
	f.hub = second
	if first.Status().Leading {
		t.Error("stopped hub still leads")
	}
	f.eventually("standby takes over and applies commit 2", func() (bool, string) {
		got := f.assignments()
		st := second.Status()
		return st.Leading && st.Synced && got["c1"]["SelectorSyncSet/s"] == "Config/a,Config/b", fmt.Sprint(got)
	})
}

func parseAll(t *testing.T, yaml string) []model.Object {
	t.Helper()
	var objs []model.Object
	for i, doc := range strings.Split(yaml, "\n---\n") {
		o, errs := model.ParseFile(fmt.Sprintf("f%d.yaml", i), []byte(doc))
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		objs = append(objs, o...)
	}
	return objs
}

func TestCrashedInstanceRestartedWithBackoff(t *testing.T) {
	f := newFixture(t)
	f.stop()
	f.hub = nil
	f.startWith(hub.Config{Restart: hub.RestartPolicy{Backoff: 20 * time.Millisecond, MaxCrashes: 6}})
	f.putCell("c1", "z1", nil)
	f.commit("1", "apiVersion: cellsync.io/v1\nkind: LRP\nmetadata: {name: w}\nspec: {image: busybox, instances: 1}")
	f.settled("1")
	key := store.DesiredKey("c1", "LRP/w")
	before, _, _ := f.c.Get(f.ctx, key)
	crash := func(count int) {
		v, _ := store.Encode(model.Actual{Name: "w", Index: 0, State: model.StateCrashed, CrashCount: count})
		if _, err := f.c.Write(f.ctx, []store.Op{{Key: store.ActualKey("c1", model.InstanceID(model.KindLRP, "w", 0)), Value: v}}); err != nil {
			t.Fatal(err)
		}
	}
	// The cell's own immediate restarts: the hub leaves them alone.
	crash(3)
	// The fourth crash is the hub's: it re-puts the record after the backoff.
	crash(4)
	f.eventually("assignment re-put to restart the instance", func() (bool, string) {
		kv, _, _ := f.c.Get(f.ctx, key)
		return kv.ModRevision > before.ModRevision && string(kv.Value) == string(before.Value), fmt.Sprint(kv.ModRevision)
	})
}

func TestNoDuplicateTaskAcrossRestartMidFanOut(t *testing.T) {
	f := newFixture(t)
	for i := 0; i < 40; i++ {
		f.putCell(fmt.Sprintf("c%02d", i), "z1", nil)
	}
	var docs []string
	for s := 0; s < 20; s++ {
		docs = append(docs, set(fmt.Sprintf("s%02d", s), "Sync", "", "a=1", "b=2", "c=3"))
	}
	yaml := strings.Join(docs, "\n---\n") + "\n---\n" + task
	f.commit("1", yaml)
	// Stop the hub as soon as the task is placed, while the fan-out of the
	// sets is still being written.
	var created store.KV
	f.eventually("task record created", func() (bool, string) {
		kv, ok, _ := f.c.Get(f.ctx, store.TaskKey("migrate"))
		created = kv
		return ok, fmt.Sprintf("%+v", f.hub.Status().Queues)
	})
	f.stop()
	f.start()
	f.commit("1", yaml)
	got := f.settled("1")
	rec, kv, _, err := store.GetJSON[model.TaskRecord](f.ctx, f.c, store.TaskKey("migrate"))
	if err != nil {
		t.Fatal(err)
	}
	if kv.ModRevision != created.ModRevision {
		t.Errorf("task record rewritten across the restart (rev %d → %d)", created.ModRevision, kv.ModRevision)
	}
	var holders []string
	for cell, srcs := range got {
		if _, ok := srcs["Task/migrate"]; ok {
			holders = append(holders, cell)
		}
	}
	if len(holders) != 1 || holders[0] != rec.Cell {
		t.Errorf("task assigned to %v, record says %s: want exactly that one cell", holders, rec.Cell)
	}
	for i := 0; i < 40; i++ {
		if n := len(got[fmt.Sprintf("c%02d", i)]); n < 20 {
			t.Errorf("c%02d has %d assignments after the restart, want the 20 sets", i, n)
		}
	}
}

func TestUnplaceableEditKeepsRunningVersion(t *testing.T) {
	f := newFixture(t)
	f.putCell("c1", "z1", nil)
	f.putCell("c2", "z2", nil)
	lrp := func(name, memory, selector string) string {
		return fmt.Sprintf("apiVersion: cellsync.io/v1\nkind: LRP\nmetadata: {name: %s}\nspec: {image: busybox, instances: 2, selector: '%s', resources: {memoryMB: %s, diskMB: 10}}", name, selector, memory)
	}
	f.commit("1", lrp("w", "100", ""))
	before := f.settled("1")
	if placed := before["c1"]["LRP/w"] + before["c2"]["LRP/w"]; placed == "" {
		t.Fatalf("w not placed: %v", before)
	}
	tests := []struct {
		name, yaml, want string
	}{
		{"more memory than any cell", lrp("w", "999999", ""), "no matching cell can hold an instance: it needs 999999 MB memory"},
		{"selector matching no cell", lrp("w", "100", `cell.zone == "z9"`), "the selector matches none of the 2 ready cells"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			commit := fmt.Sprint(i + 2)
			f.commit(commit, tt.yaml+"\n---\n"+lrp("fresh", "999999", ""))
			got := f.settled(commit)
			for _, cell := range []string{"c1", "c2"} {
				if got[cell]["LRP/w"] != before[cell]["LRP/w"] {
					t.Errorf("%s: w = %q, was %q: the running version must stay", cell, got[cell]["LRP/w"], before[cell]["LRP/w"])
				}
			}
			st := f.hub.Status()
			if !strings.Contains(strings.Join(st.Errors, "\n"), tt.want) {
				t.Errorf("status errors %q lack %q", st.Errors, tt.want)
			}
			// A new LRP that cannot be placed is only unplaced: nothing runs yet.
			for _, w := range st.Workloads {
				if w.ID == "LRP/fresh" && (w.UnplacedCount != 2 || len(w.Unplaced) != 1 || !strings.Contains(w.Unplaced[0], "needs 999999 MB")) {
					t.Errorf("fresh = %+v, want two unplaced instances with a reason", w)
				}
			}
		})
	}
}

func TestStatusReportsEachCellsAppliedCommit(t *testing.T) {
	f := newFixture(t)
	f.putCell("c1", "z1", nil)
	report := func(rev int64) {
		v, _ := store.Encode(model.CellReport{AppliedRevision: rev})
		if _, err := f.c.Write(f.ctx, []store.Op{{Key: store.ActualKey("c1", model.ReportID), Value: v}}); err != nil {
			t.Fatal(err)
		}
	}
	cellStatus := func() hub.CellStatus {
		for _, c := range f.hub.Status().Cells {
			if c.Name == "c1" {
				return c
			}
		}
		return hub.CellStatus{}
	}
	f.commit("1", set("s", "Sync", "", "a=1"))
	f.settled("1")
	kv, _, _ := f.c.Get(f.ctx, store.DesiredKey("c1", "SelectorSyncSet/s"))
	report(kv.ModRevision)
	f.eventually("c1 applied commit 1", func() (bool, string) {
		c := cellStatus()
		return c.Applied && c.Commit == "1", fmt.Sprintf("%+v", c)
	})

	f.commit("2", set("s", "Sync", "", "a=2"))
	f.settled("2")
	if c := cellStatus(); c.Applied || c.Commit != "1" {
		t.Errorf("before c1 reports commit 2: %+v, want not applied, still at commit 1", c)
	}
	kv, _, _ = f.c.Get(f.ctx, store.DesiredKey("c1", "SelectorSyncSet/s"))
	report(kv.ModRevision)
	f.eventually("c1 applied commit 2", func() (bool, string) {
		c := cellStatus()
		return c.Applied && c.Commit == "2", fmt.Sprintf("%+v", c)
	})
}

func TestOversizedAssignmentIsReportedNotWritten(t *testing.T) {
	f := newFixture(t)
	f.stop()
	_, srv := storetest.New(t)
	small, err := store.Connect(f.ctx, store.Config{Endpoints: srv.Endpoints(), MaxTxnBytes: 2000})
	if err != nil {
		t.Fatal(err)
	}
	defer small.Close()
	f.c = small
	f.start()
	f.putCell("c1", "z1", nil)
	var many []string
	for i := 0; i < 40; i++ {
		many = append(many, fmt.Sprintf("cfg-%02d=v", i))
	}
	f.commit("1", set("big", "Sync", "", many...)+"\n---\n"+set("fine", "Sync", "", "a=1"))
	st := f.waitSettled("1")
	got := f.assignments()
	if got["c1"]["SelectorSyncSet/fine"] != "Config/a" {
		t.Errorf("the small set was not written: %v; status %+v %q", got, st.Condition, st.Errors)
	}
	if _, ok := got["c1"]["SelectorSyncSet/big"]; ok {
		t.Error("an assignment over the request limit was written")
	}
	if errs := strings.Join(st.Errors, "\n"); !strings.Contains(errs, "SelectorSyncSet/big on cell c1: the assignment is") {
		t.Errorf("status errors lack the oversized assignment: %q", errs)
	}
	if st.Synced || st.Condition.Reason != hub.ReasonTooLarge {
		t.Errorf("status = synced %v, %+v; want not synced, TooLarge", st.Synced, st.Condition)
	}
	if c := workload(st, "SelectorSyncSet/big").Condition; c.State != hub.Failed || c.Reason != hub.ReasonTooLarge {
		t.Errorf("big's condition = %+v, want failed TooLarge", c)
	}
	// A later commit still applies.
	f.commit("2", set("big", "Sync", "", many...)+"\n---\n"+set("fine", "Sync", "", "a=1", "b=2"))
	f.waitSettled("2")
	if got := f.assignments(); got["c1"]["SelectorSyncSet/fine"] != "Config/a,Config/b" {
		t.Errorf("a later commit was not written: %v", got)
	}
}
