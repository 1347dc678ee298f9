package hub_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cellsync/cellsync/metrics"
	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/selectors"
	"github.com/cellsync/cellsync/store"
	"github.com/cellsync/cellsync/store/storetest"
	"github.com/cellsync/cellsync/sync/hub"
)

type fixture struct {
	t     *testing.T
	c     *store.Client
	env   *selectors.Env
	hub   *hub.Hub
	stop  func()
	ctx   context.Context
	cells map[string]model.Cell
	// metrics and source, when set, are handed to the hubs started next.
	metrics *metrics.Hub
	source  hub.Source
	// events, when set before start, receives the hub's events.
	events hub.EventSink
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	c, _ := storetest.New(t)
	env, err := selectors.NewEnv(selectors.Config{})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, c: c, env: env, ctx: context.Background(), cells: map[string]model.Cell{}}
	f.start()
	t.Cleanup(func() { f.stop() })
	return f
}

func (f *fixture) start() *hub.Hub {
	f.t.Helper()
	return f.startWith(hub.Config{})
}

func (f *fixture) startWith(cfg hub.Config) *hub.Hub {
	f.t.Helper()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	h := hub.New(cfg, hub.Deps{Store: f.c, Env: f.env, Logger: log, Metrics: f.metrics, Source: f.source, Events: f.events})
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	f.hub = h
	f.stop = func() {
		cancel()
		if err := <-done; err != nil {
			f.t.Errorf("hub.Run: %v", err)
		}
	}
	return h
}

func (f *fixture) putCell(name, zone string, labels map[string]string) {
	f.t.Helper()
	c := model.Cell{Name: name, Zone: zone, Labels: labels, Capacity: model.Capacity{MemoryMB: 4096, DiskMB: 8192, Containers: 50}}
	f.cells[name] = c
	val, _ := store.Encode(c)
	if _, err := f.c.Write(f.ctx, []store.Op{{Key: store.CellKey(name), Value: val}}); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) deleteCell(name string) {
	f.t.Helper()
	delete(f.cells, name)
	if _, err := f.c.Write(f.ctx, []store.Op{{Key: store.CellKey(name), Delete: true}}); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) commit(sha, yaml string) {
	f.t.Helper()
	// Placement never moves healthy instances, so a test that wants a
	// balanced layout commits only once the hub sees every cell.
	f.eventually("hub sees every cell", func() (bool, string) {
		st := f.hub.Status()
		return st.Leading && len(st.Cells) == len(f.cells), fmt.Sprint(st.Cells)
	})
	var objs []model.Object
	for i, doc := range strings.Split(yaml, "\n---\n") {
		o, errs := model.ParseFile(fmt.Sprintf("f%d.yaml", i), []byte(doc))
		if len(errs) > 0 {
			f.t.Fatal(errs)
		}
		objs = append(objs, o...)
	}
	f.hub.SetDesired(hub.Desired{Commit: sha, Objects: objs})
}

// assignments returns cell → source → items rendered as "Kind/name[idx...]".
func (f *fixture) assignments() map[string]map[string]string {
	f.t.Helper()
	kvs, _, err := f.c.List(f.ctx, store.DesiredPrefix)
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[string]map[string]string{}
	checked := map[string]bool{}
	for _, kv := range kvs {
		cell, src, _ := store.SplitCellKey(store.DesiredPrefix, kv.Key)
		var a model.Assignment
		if err := store.Decode(kv, &a); err != nil {
			f.t.Fatal(err)
		}
		var parts []string
		for _, it := range a.Items {
			s := string(it.Kind) + "/" + it.Name
			if len(it.Indexes) > 0 {
				s += fmt.Sprint(it.Indexes)
			}
			if !checked[it.Spec] {
				checked[it.Spec] = true
				if _, ok, _ := f.c.Get(f.ctx, store.SpecKey(it.Spec)); !ok {
					f.t.Errorf("%s on %s names body %s, which is not stored", s, cell, it.Spec)
				}
			}
			parts = append(parts, s)
		}
		sort.Strings(parts)
		if out[cell] == nil {
			out[cell] = map[string]string{}
		}
		out[cell][src] = strings.Join(parts, ",")
	}
	return out
}

// eventually polls cond until it holds or 15 s pass.
func (f *fixture) eventually(what string, cond func() (bool, string)) {
	f.t.Helper()
	f.eventuallyWithin(15*time.Second, what, cond)
}

// eventuallyWithin polls cond until it holds or limit passes.
func (f *fixture) eventuallyWithin(limit time.Duration, what string, cond func() (bool, string)) {
	f.t.Helper()
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(20 * time.Millisecond)
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
	f.t.Fatalf("timed out waiting for %s; last state:\n%s", what, last)
}

// settled waits until the hub has synced commit and returns the assignments.
func (f *fixture) settled(commit string) map[string]map[string]string {
	f.t.Helper()
	f.waitSynced(commit)
	return f.assignments()
}

// waitSynced waits until the hub has synced commit: every intent stored.
func (f *fixture) waitSynced(commit string) {
	f.t.Helper()
	f.eventually("hub synced at "+commit, func() (bool, string) {
		st := f.hub.Status()
		return st.Leading && st.Commit == commit && st.Synced, fmt.Sprintf("%+v", st.Queues)
	})
}

// waitSettled waits until the hub has compiled commit and has nothing under
// way (its condition is ready or failed), and returns its status.
func (f *fixture) waitSettled(commit string) hub.Status {
	f.t.Helper()
	return f.waitSettledWithin(15*time.Second, commit)
}

// waitSettledWithin is waitSettled for a hub given more time.
func (f *fixture) waitSettledWithin(limit time.Duration, commit string) hub.Status {
	f.t.Helper()
	var st hub.Status
	f.eventuallyWithin(limit, "hub settled at "+commit, func() (bool, string) {
		st = f.hub.Status()
		return st.Leading && st.Commit == commit && st.Condition.State != hub.Progressing, fmt.Sprintf("%+v %+v", st.Condition, st.Queues)
	})
	return st
}

// workload returns the status of one workload.
func workload(st hub.Status, id string) hub.WorkloadStatus {
	for _, w := range st.Workloads {
		if w.ID == id {
			return w
		}
	}
	return hub.WorkloadStatus{}
}

const sets = `apiVersion: cellsync.io/v1
kind: SelectorSyncSet
metadata: {name: agent}
spec:
  resourceApplyMode: Sync
  selector: 'cell.zone == "z1"'
  resources:
  - {kind: Config, metadata: {name: a}, data: {k: v}}
  - {kind: Config, metadata: {name: b}, data: {k: v}}
---
apiVersion: cellsync.io/v1
kind: LRP
metadata: {name: web}
spec:
  instances: 4
  image: busybox
  resources: {memoryMB: 100, diskMB: 100}`

func TestFanOutOnCommit(t *testing.T) {
	f := newFixture(t)
	f.putCell("c1", "z1", nil)
	f.putCell("c2", "z1", nil)
	f.putCell("c3", "z2", nil)
	f.putCell("c4", "z2", nil)
	f.commit("commit1", sets)
	got := f.settled("commit1")

	for _, cell := range []string{"c1", "c2"} {
		if got[cell]["SelectorSyncSet/agent"] != "Config/a,Config/b" {
			t.Errorf("%s: set agent = %q, want both Configs", cell, got[cell]["SelectorSyncSet/agent"])
		}
	}
	for _, cell := range []string{"c3", "c4"} {
		if _, ok := got[cell]["SelectorSyncSet/agent"]; ok {
			t.Errorf("%s (zone z2) got the z1 set", cell)
		}
	}
	// 4 instances spread one per cell across both zones.
	seen := map[string]bool{}
	for cell, srcs := range got {
		if s := srcs["LRP/web"]; s != "" {
			if seen[s] {
				t.Errorf("index placed twice: %s", s)
			}
			seen[s] = true
			if strings.Count(s, " ") > 0 {
				t.Errorf("%s runs two instances (%s) while cells are free", cell, s)
			}
		}
	}
	if len(seen) != 4 {
		t.Errorf("web instances on %d cells, want 4: %v", len(seen), got)
	}

	// The same commit again writes nothing: no-op detection.
	_, rev0, _ := f.c.List(f.ctx, store.DesiredPrefix)
	f.commit("commit2", sets)
	f.settled("commit2")
	if _, rev1, _ := f.c.List(f.ctx, store.DesiredPrefix); rev1 != rev0 {
		// Status may be written; desired keys must not be.
		kvs, _, _ := f.c.List(f.ctx, store.DesiredPrefix)
		for _, kv := range kvs {
			if kv.ModRevision > rev0 {
				t.Errorf("%s rewritten by an unchanged commit", kv.Key)
			}
		}
	}
}
