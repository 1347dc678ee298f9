package hub_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cellsync/cellsync/cell"
	"github.com/cellsync/cellsync/cell/runtime/sim"
	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/selectors"
	"github.com/cellsync/cellsync/store"
	"github.com/cellsync/cellsync/sync/hub"
)

// TestEtcdOutageDuringRollout stops etcd for 10 s in the middle of a
// rollout and starts it again on the same data: the hub and two real cell
// agents recover by themselves, the rollout finishes and the agents apply it.
func TestEtcdOutageDuringRollout(t *testing.T) {
	if testing.Short() {
		t.Skip("10 s outage")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	ctx := context.Background()
	startEtcd := func() *store.Embedded {
		t.Helper()
		srv, err := store.StartEmbedded(ctx, store.EmbedConfig{Dir: dir, ClientURL: url})
		if err != nil {
			t.Fatal(err)
		}
		return srv
	}
	etcd := startEtcd()
	defer func() { etcd.Close() }()
	c, err := store.Connect(ctx, store.Config{Endpoints: []string{url}, MaxTxnOps: 1024})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	env, _ := selectors.NewEnv(selectors.Config{})
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	h := hub.New(hub.Config{}, hub.Deps{Store: c, Env: env, Logger: log})
	hctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- h.Run(hctx) }()
	defer func() {
		cancel()
		<-done
	}()

	const cells, sets = 200, 20
	var ops []store.Op
	for i := 0; i < cells; i++ {
		v, _ := store.Encode(model.Cell{Name: fmt.Sprintf("c%03d", i), Zone: "z1", Capacity: model.Capacity{MemoryMB: 4096, DiskMB: 4096, Containers: 10}})
		ops = append(ops, store.Op{Key: store.CellKey(fmt.Sprintf("c%03d", i)), Value: v})
	}
	if _, err := c.Write(ctx, ops); err != nil {
		t.Fatal(err)
	}
	wait := func(what string, limit time.Duration, cond func(hub.Status) bool) {
		t.Helper()
		deadline := time.Now().Add(limit)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for !cond(h.Status()) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s: %+v", what, h.Status().Queues)
			}
			<-tick.C
		}
	}
	// Two real agents beside the registered records.
	actx, acancel := context.WithCancel(ctx)
	var agents []chan error
	defer func() {
		acancel()
		for _, d := range agents {
			<-d
		}
	}()
	for _, name := range []string{"agent-a", "agent-b"} {
		a, err := cell.New(cell.Config{Name: name, Zone: "z1", StateDir: t.TempDir(), Shutdown: cell.Detach,
			Capacity: model.Capacity{MemoryMB: 4096, DiskMB: 4096, Containers: 10}}, cell.Deps{Store: c, Runtime: sim.New(nil)})
		if err != nil {
			t.Fatal(err)
		}
		d := make(chan error, 1)
		go func() { d <- a.Run(actx) }()
		agents = append(agents, d)
	}
	wait("cells seen", 20*time.Second, func(st hub.Status) bool { return len(st.Cells) == cells+2 })
	var docs []string
	for s := 0; s < sets; s++ {
		docs = append(docs, set(fmt.Sprintf("s%02d", s), "Sync", "", "a=1", "b=2", fmt.Sprintf("own-%d=x", s)))
	}
	h.SetDesired(hub.Desired{Commit: "1", Objects: parseAll(t, strings.Join(docs, "\n---\n"))})

	// Stop etcd as soon as the rollout has started writing.
	wait("rollout under way", 20*time.Second, func(st hub.Status) bool { return st.Commit == "1" })
	etcd.Close()
	<-time.After(10 * time.Second)
	etcd = startEtcd()

	wait("rollout finished after the outage", 90*time.Second, func(st hub.Status) bool {
		return st.Leading && st.Commit == "1" && st.Synced
	})
	kvs, _, err := c.List(ctx, store.DesiredPrefix)
	if err != nil {
		t.Fatal(err)
	}
	if len(kvs) != (cells+2)*sets {
		t.Errorf("%d assignments after the outage, want %d", len(kvs), (cells+2)*sets)
	}
	wait("both agents registered and applied", 60*time.Second, func(st hub.Status) bool {
		applied := 0
		for _, cs := range st.Cells {
			if strings.HasPrefix(cs.Name, "agent-") && cs.Applied && cs.Commit == "1" {
				applied++
			}
		}
		return applied == 2
	})
}
