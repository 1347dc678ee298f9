package hub_test

import (
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/store"
)

// recorder is an EventSink that keeps what the hub emits.
type recorder struct {
	mu  sync.Mutex
	evs []model.Event
}

func (r *recorder) Emit(e model.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evs = append(r.evs, e)
}

// has reports whether an event of type typ whose message contains text
// was emitted, and lists the events for failure messages.
func (r *recorder) has(typ, text string) (bool, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var all []string
	for _, e := range r.evs {
		if e.Type == typ && strings.Contains(e.Message, text) {
			return true, ""
		}
		all = append(all, e.Type+": "+e.Message)
	}
	return false, strings.Join(all, "\n")
}

const taskAndLRP = `apiVersion: cellsync.io/v1
kind: Task
metadata: {name: migrate}
spec: {image: busybox, command: [echo, v1]}
---
apiVersion: cellsync.io/v1
kind: LRP
metadata: {name: web}
spec: {image: busybox, instances: 2}`

func TestHubEvents(t *testing.T) {
	rec := &recorder{}
	f := newFixture(t)
	f.stop()
	f.events = rec
	f.start()
	f.putCell("c1", "z1", nil)
	f.putCell("c2", "z2", nil)
	f.commit("commit1", taskAndLRP+"\n---\napiVersion: cellsync.io/v1\nkind: LRP\nmetadata: {name: broken}\nspec: {image: busybox, selector: 'cell.zone =='}")
	f.waitSynced("commit1")
	want := func(typ, text string) {
		t.Helper()
		f.eventually(typ+" "+text, func() (bool, string) { return rec.has(typ, text) })
	}
	want(model.EventCommitSeen, "commit commit1: 2 workloads, 1 problems")
	want(model.EventWorkloadError, "f2.yaml:2: document 1: spec.selector")

	// Both cells report they applied everything: the commit is applied.
	for _, c := range []string{"c1", "c2"} {
		v, _ := store.Encode(model.CellReport{AppliedRevision: 1 << 40})
		if _, err := f.c.Write(f.ctx, []store.Op{{Key: store.ActualKey(c, model.ReportID), Value: v}}); err != nil {
			t.Fatal(err)
		}
	}
	want(model.EventCommitApplied, "commit1 applied on all 2 cells")

	// The Task completes on its cell; then an edit of it is reported, not run.
	kv, ok, err := f.c.Get(f.ctx, store.TaskKey("migrate"))
	if err != nil || !ok {
		t.Fatalf("task record: %v %v", ok, err)
	}
	var task model.TaskRecord
	if err := store.Decode(kv, &task); err != nil {
		t.Fatal(err)
	}
	task.State = model.TaskCompleted
	v, _ := store.Encode(task)
	if won, _, err := f.c.CompareAndSwap(f.ctx, store.TaskKey("migrate"), kv.ModRevision, v); !won || err != nil {
		t.Fatalf("complete task: %v %v", won, err)
	}
	f.eventually("task completed in status", func() (bool, string) {
		for _, w := range f.hub.Status().Workloads {
			if w.ID == "Task/migrate" {
				return w.Task == model.TaskCompleted, w.Task
			}
		}
		return false, "no Task/migrate"
	})
	f.commit("commit2", strings.Replace(taskAndLRP, "[echo, v1]", "[echo, v2]", 1))
	f.waitSynced("commit2")
	notice := "Task/migrate: completed at commit commit1; edits to a completed Task do not rerun it; rename it to run again"
	want(model.EventTaskEditIgnored, notice)
	if st := f.hub.Status(); !slices.Contains(st.Errors, notice) {
		t.Fatalf("status errors %q lack %q", st.Errors, notice)
	}
	if got := f.assignments(); got["c1"]["Task/migrate"]+got["c2"]["Task/migrate"] != "" {
		t.Fatalf("the edited Task was assigned again: %v", got)
	}

	// A cell that evacuated leaves; one whose lease expires is lost.
	c1 := f.cells["c1"]
	c1.State = model.CellEvacuating
	v, _ = store.Encode(c1)
	if _, err := f.c.Write(f.ctx, []store.Op{{Key: store.CellKey("c1"), Value: v}}); err != nil {
		t.Fatal(err)
	}
	f.eventually("c1 evacuating", func() (bool, string) {
		for _, c := range f.hub.Status().Cells {
			if c.Name == "c1" {
				return c.State == model.CellEvacuating, c.State
			}
		}
		return false, "no c1"
	})
	f.deleteCell("c1")
	f.deleteCell("c2")
	want(model.EventCellLeft, "cell c1 left after evacuating")
	want(model.EventCellLost, "cell c2 lost")
}
