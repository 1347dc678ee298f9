package hub_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cellsync/cellsync/cell"
	"github.com/cellsync/cellsync/cell/runtime/sim"
	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/store"
	"github.com/cellsync/cellsync/sync/hub"
)

// TestOneCrashRestartPolicy: the hub's policy (here 5 immediate restarts,
// then the hub's backoff) reaches the cell through the records, so the
// cell's immediate restarts and the hub's delayed ones meet and the
// instance is never left crashed with nobody restarting it (issue #14,
// item 9).
func TestOneCrashRestartPolicy(t *testing.T) {
	f := newFixture(t)
	f.stop()
	f.startWith(hub.Config{Restart: hub.RestartPolicy{ImmediateRestarts: 5, Backoff: 20 * time.Millisecond, MaxCrashes: 9}})
	rt := sim.New(func(cell.ContainerSpec) sim.Behavior { return sim.Behavior{Exit: true, Code: 1} })
	a, err := cell.New(cell.Config{Name: "c1", Zone: "z1", StateDir: t.TempDir(), Shutdown: cell.Detach, FlushInterval: 5 * time.Millisecond,
		Capacity: model.Capacity{MemoryMB: 4096, DiskMB: 4096, Containers: 10}}, cell.Deps{Store: f.c, Runtime: rt})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	f.cells["c1"] = model.Cell{Name: "c1"}
	f.commit("1", "apiVersion: cellsync.io/v1\nkind: LRP\nmetadata: {name: w}\nspec: {image: busybox, instances: 1, resources: {memoryMB: 64, diskMB: 64}}")
	// 6 crashes are the cell's (first start and 5 immediate restarts); the
	// 7th and 8th need the hub's restarts; at 9 the hub gives up.
	f.eventually("the hub's restarts after the cell's", func() (bool, string) {
		kv, ok, _ := f.c.Get(f.ctx, store.ActualKey("c1", "LRP/w/0"))
		var act model.Actual
		if ok {
			_ = store.Decode(kv, &act)
		}
		return act.CrashCount >= 8, fmt.Sprintf("%+v", act)
	})
}
