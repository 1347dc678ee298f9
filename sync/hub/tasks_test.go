package hub

import (
	"context"
	"testing"

	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/selectors"
	"github.com/cellsync/cellsync/store"
	"github.com/cellsync/cellsync/store/storetest"
)

// TestTaskPlacedAgainWhenItsCellVanishesBeforeItsRecord: the cell chosen
// for a Task disappears between placement and the creation of the Task's
// record. The Task has not run (no cell was ever offered it), so it is
// placed again, on a live cell, never left PENDING on a dead one (issue
// #14, item 7).
func TestTaskPlacedAgainWhenItsCellVanishesBeforeItsRecord(t *testing.T) {
	c, _ := storetest.New(t)
	env, err := selectors.NewEnv(selectors.Config{})
	if err != nil {
		t.Fatal(err)
	}
	h := New(Config{}, Deps{Store: c, Env: env})
	ctx, depose := context.WithCancelCause(context.Background())
	defer depose(nil)
	tm := newTerm(h, ctx, depose, c)
	for _, name := range []string{"c1", "c2"} {
		v, _ := store.Encode(model.Cell{Name: name, Zone: "z1", Capacity: model.Capacity{MemoryMB: 4096, DiskMB: 4096, Containers: 10}})
		tm.cellPut(store.KV{Key: store.CellKey(name), Value: v, ModRevision: 1})
	}
	objs, errs := model.ParseFile("t.yaml", []byte("apiVersion: cellsync.io/v1\nkind: Task\nmetadata: {name: t}\nspec: {image: busybox}"))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if err := tm.setDesired(ctx, &Desired{Commit: "1", Objects: objs}); err != nil {
		t.Fatal(err)
	}

	tm.mu.Lock()
	w, rec, err := tm.fanoutLocked("Task/t")
	if err != nil || rec == nil {
		tm.mu.Unlock()
		t.Fatalf("placing the task: %v, %v", rec, err)
	}
	chosen := rec.Cell
	tm.cellGone(chosen) // the chosen cell's lease expires now
	tm.mu.Unlock()
	if err := tm.createTask(ctx, w, rec); err != nil {
		t.Fatal(err)
	}
	if tm.lostTasks.Len() == 0 {
		t.Fatal("the task of a vanished cell is not handed to the lost-task queue")
	}
	if err := tm.convergeTask(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	if err := tm.fanoutWorkload(ctx, "Task/t"); err != nil {
		t.Fatal(err)
	}
	got, _, ok, err := store.GetJSON[model.TaskRecord](ctx, c, store.TaskKey("t"))
	if err != nil || !ok {
		t.Fatalf("task record: %v %v", ok, err)
	}
	if got.State != model.TaskPending || got.Cell == chosen || got.Cell == "" {
		t.Errorf("task record = %+v, want PENDING on the live cell (not %s)", got, chosen)
	}
}
