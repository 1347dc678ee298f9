package hubserver_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cellsync/cellsync/cell"
	"github.com/cellsync/cellsync/cell/runtime/sim"
	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/store"
	"github.com/cellsync/cellsync/sync/hubserver"
)

// TestPartitionedCellLeavesNoDuplicates expires a cell's lease while its
// agent keeps running, as a partition would: the hub re-places the cell's
// LRP instances, and once the agent is back and registered again, every LRP
// index runs on exactly one cell.
func TestPartitionedCellLeavesNoDuplicates(t *testing.T) {
	repoDir, first := exampleRepo(t)
	srv := runProcess(t, hubserver.Options{Config: exampleConfig(t, repoDir, nil)})
	st := srv.Store()
	ctx, cancel := context.WithCancel(context.Background())
	var done []chan error
	defer func() {
		cancel()
		for _, d := range done {
			<-d
		}
	}()
	for i, zone := range []string{"z1", "z2", "z1"} {
		a, err := cell.New(cell.Config{Name: fmt.Sprintf("c%d", i+1), Zone: zone, StateDir: t.TempDir(), LeaseTTL: 2 * time.Second,
			Labels: map[string]string{"env": "prod"}, Capacity: model.Capacity{MemoryMB: 8192, DiskMB: 8192, Containers: 50},
			EvacuationTimeout: time.Second}, cell.Deps{Store: st, Runtime: sim.New(nil)})
		if err != nil {
			t.Fatal(err)
		}
		d := make(chan error, 1)
		go func() { d <- a.Run(ctx) }()
		done = append(done, d)
	}

	// running returns, per LRP index, the cells that report it RUNNING.
	running := func() map[string][]string {
		kvs, _, err := st.List(ctx, store.ActualPrefix)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string][]string{}
		for _, kv := range kvs {
			c, id, _ := store.SplitCellKey(store.ActualPrefix, kv.Key)
			if id == model.ReportID {
				continue
			}
			var a model.Actual
			if store.Decode(kv, &a) == nil && a.State == model.StateRunning {
				k := fmt.Sprintf("%s/%d", a.Name, a.Index)
				out[k] = append(out[k], c)
			}
		}
		return out
	}
	// exactlyOnce holds when web's 4, worker's 2 and node-agent's 1 per cell
	// run, each index on one cell only (node-agent: once per cell).
	exactlyOnce := func() (bool, string) {
		r := running()
		for k, cells := range r {
			if len(cells) > 1 && k[:len("node-agent")] != "node-agent" {
				return false, fmt.Sprintf("%s runs on %v", k, cells)
			}
		}
		n := 0
		for _, k := range []string{"web/0", "web/1", "web/2", "web/3", "worker/0", "worker/1"} {
			n += len(r[k])
		}
		return n == 6 && len(r["node-agent/0"]) == 3, fmt.Sprint(r)
	}
	wait := func(what string, cond func() (bool, string)) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		var last string
		for time.Now().Before(deadline) {
			ok, state := cond()
			if ok {
				return
			}
			last = state
			<-tick.C
		}
		t.Fatalf("timed out waiting for %s: %s", what, last)
	}
	wait("repo-example running once", func() (bool, string) {
		s := srv.Hub.Status()
		if s.Commit != first || !s.Synced {
			return false, "hub not synced"
		}
		return exactlyOnce()
	})

	// The partitioned cell is one that runs an LRP instance (which cells
	// do depends on when each registered); what it runs before the
	// partition must run elsewhere after it: the hub re-placed it while the
	// cell was away, and nothing moves back.
	victim := ""
	var onVictim []string
	r := running()
	for _, k := range slices.Sorted(maps.Keys(r)) {
		if cells := r[k]; len(cells) == 1 && !strings.HasPrefix(k, "node-agent") && (victim == "" || cells[0] == victim) {
			victim = cells[0]
			onVictim = append(onVictim, k)
		}
	}
	if victim == "" {
		t.Fatalf("no cell runs an LRP instance before the partition: %v", r)
	}

	// The partition: the cell's lease expires (revoked here) while its
	// agent runs on.
	kv, ok, err := st.Get(ctx, store.CellKey(victim))
	if err != nil || !ok {
		t.Fatalf("%s registration: %v %v", victim, ok, err)
	}
	if _, err := st.Etcd().Revoke(ctx, clientv3.LeaseID(kv.Lease)); err != nil {
		t.Fatal(err)
	}
	// The cell comes back under a new lease; its re-placed work must not
	// run twice.
	wait(victim+" registered again", func() (bool, string) {
		kv2, ok, _ := st.Get(ctx, store.CellKey(victim))
		return ok && kv2.Lease != kv.Lease, ""
	})
	wait("every LRP index on exactly one cell, "+victim+"'s former ones elsewhere", func() (bool, string) {
		if s := srv.Hub.Status(); !s.Synced {
			return false, "hub not synced"
		}
		r := running()
		for _, k := range onVictim {
			if len(r[k]) != 1 || r[k][0] == victim {
				return false, fmt.Sprintf("%s runs on %v", k, r[k])
			}
		}
		return exactlyOnce()
	})
}
