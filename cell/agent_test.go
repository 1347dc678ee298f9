package cell_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cellsync/cellsync/cell"
	"github.com/cellsync/cellsync/cell/runtime/sim"
	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/store"
	"github.com/cellsync/cellsync/store/storetest"
)

// hub plays the hub's side of the contract in tests.
type hub struct {
	t  testing.TB
	st *store.Client
}

// put stores an object body and returns its hash.
func (h hub) put(o model.Object) string {
	h.t.Helper()
	body, hash, err := model.EncodeObject(o)
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.st.Write(context.Background(), []store.Op{{Key: store.SpecKey(hash), Value: body}}); err != nil {
		h.t.Fatal(err)
	}
	return hash
}

// assign writes one assignment and returns the revision of the write.
func (h hub) assign(cellName, source string, items ...model.Item) int64 {
	h.t.Helper()
	v, err := store.Encode(model.Assignment{Source: source, Commit: "c0", Items: items})
	if err != nil {
		h.t.Fatal(err)
	}
	res, err := h.st.Write(context.Background(), []store.Op{{Key: store.DesiredKey(cellName, source), Value: v}})
	if err != nil {
		h.t.Fatal(err)
	}
	return res.Revision
}

func (h hub) unassign(cellName, source string) {
	h.t.Helper()
	if _, err := h.st.Write(context.Background(), []store.Op{{Key: store.DesiredKey(cellName, source), Delete: true}}); err != nil {
		h.t.Fatal(err)
	}
}

func (h hub) createTask(name, cellName, state string) {
	h.t.Helper()
	v, _ := store.Encode(model.TaskRecord{Name: name, State: state, Cell: cellName})
	if _, err := h.st.Write(context.Background(), []store.Op{{Key: store.TaskKey(name), Value: v}}); err != nil {
		h.t.Fatal(err)
	}
}

func (h hub) task(name string) model.TaskRecord {
	h.t.Helper()
	rec, _, _, err := store.GetJSON[model.TaskRecord](context.Background(), h.st, store.TaskKey(name))
	if err != nil {
		h.t.Fatal(err)
	}
	return rec
}

func (h hub) actual(cellName, id string) (model.Actual, bool) {
	h.t.Helper()
	a, _, ok, err := store.GetJSON[model.Actual](context.Background(), h.st, store.ActualKey(cellName, id))
	if err != nil {
		h.t.Fatal(err)
	}
	return a, ok
}

func (h hub) report(cellName string) model.CellReport {
	h.t.Helper()
	r, _, _, err := store.GetJSON[model.CellReport](context.Background(), h.st, store.ActualKey(cellName, model.ReportID))
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

// eventually polls cond until it holds or 10s pass.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func lrp(name, image string, env map[string]string) *model.LRP {
	o := &model.LRP{Header: model.Header{APIVersion: model.APIVersion, Kind: model.KindLRP, Metadata: model.Meta{Name: name}}}
	o.Spec.Image = image
	o.Spec.Command = []string{"sleep", "3600"}
	o.Spec.Env = env
	return o
}

func task(name string, cmd []string, env map[string]string) *model.Task {
	o := &model.Task{Header: model.Header{APIVersion: model.APIVersion, Kind: model.KindTask, Metadata: model.Meta{Name: name}}}
	o.Spec.Image = "img"
	o.Spec.Command = cmd
	o.Spec.Env = env
	return o
}

// running is one agent under test.
type running struct {
	agent  *cell.Agent
	cancel context.CancelFunc
	done   chan struct{}
	err    *error
}

// wait waits for Run to return and fails the test on its error.
func (r running) wait(t testing.TB) {
	t.Helper()
	select {
	case <-r.done:
		if *r.err != nil {
			t.Fatalf("agent: %v", *r.err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("agent did not stop")
	}
}

func (r running) stop(t testing.TB) {
	t.Helper()
	r.cancel()
	r.wait(t)
}

func testConfig(name string) cell.Config {
	return cell.Config{
		Name: name, Zone: "z1", Labels: map[string]string{"env": "test"},
		Capacity:          model.Capacity{MemoryMB: 4096, DiskMB: 10240, Containers: 100},
		Version:           "test",
		LeaseTTL:          5 * time.Second,
		EvacuationTimeout: 300 * time.Millisecond,
		FlushInterval:     5 * time.Millisecond,
		RetryInterval:     20 * time.Millisecond,
	}
}

func start(t testing.TB, st *store.Client, rt cell.Runtime, cfg cell.Config, reg prometheus.Registerer) running {
	t.Helper()
	if cfg.StateDir == "" {
		cfg.StateDir = t.TempDir()
	}
	a, err := cell.New(cfg, cell.Deps{Store: st, Runtime: rt, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := running{agent: a, cancel: cancel, done: make(chan struct{}), err: new(error)}
	go func() {
		defer close(r.done)
		*r.err = a.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

func TestNewRejectsBadConfig(t *testing.T) {
	st, _ := storetest.New(t)
	tests := []struct {
		name    string
		cfg     cell.Config
		deps    cell.Deps
		wantErr bool
	}{
		{name: "ok", cfg: testConfig("c1"), deps: cell.Deps{Store: st, Runtime: sim.New(nil)}},
		{name: "no name", cfg: func() cell.Config { c := testConfig(""); return c }(), deps: cell.Deps{Store: st, Runtime: sim.New(nil)}, wantErr: true},
		{name: "no capacity", cfg: cell.Config{Name: "c1"}, deps: cell.Deps{Store: st, Runtime: sim.New(nil)}, wantErr: true},
		{name: "short lease", cfg: func() cell.Config { c := testConfig("c1"); c.LeaseTTL = time.Millisecond; return c }(), deps: cell.Deps{Store: st, Runtime: sim.New(nil)}, wantErr: true},
		{name: "no runtime", cfg: testConfig("c1"), deps: cell.Deps{Store: st}, wantErr: true},
		{name: "no store", cfg: testConfig("c1"), deps: cell.Deps{Runtime: sim.New(nil)}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := cell.New(tt.cfg, tt.deps)
			if (err != nil) != tt.wantErr {
				t.Fatalf("New: err = %v, wantErr %v", err, tt.wantErr)
			}
		})
	}
}

func TestRegistrationLeaseAndReregistration(t *testing.T) {
	st, _ := storetest.New(t)
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	r := start(t, st, sim.New(nil), testConfig("c1"), reg)
	<-r.agent.Registered()

	rec, kv, ok, err := store.GetJSON[model.Cell](ctx, st, store.CellKey("c1"))
	if err != nil || !ok {
		t.Fatalf("cell record: ok=%v err=%v", ok, err)
	}
	if kv.Lease == 0 || rec.Zone != "z1" || rec.Runtime != "sim" || rec.Labels["env"] != "test" || rec.State != model.CellReady {
		t.Fatalf("cell record = %+v lease %d", rec, kv.Lease)
	}
	// The report is written under the same lease.
	eventually(t, "cell report", func() bool {
		_, rkv, ok, _ := store.GetJSON[model.CellReport](ctx, st, store.ActualKey("c1", model.ReportID))
		return ok && rkv.Lease == kv.Lease
	})

	// Losing the lease (etcd expired it) makes the agent register again.
	if _, err := st.Etcd().Revoke(ctx, clientv3.LeaseID(kv.Lease)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "re-registration", func() bool {
		_, kv2, ok, _ := store.GetJSON[model.Cell](ctx, st, store.CellKey("c1"))
		return ok && kv2.Lease != 0 && kv2.Lease != kv.Lease
	})
	eventually(t, "report rewritten", func() bool {
		_, kv3, ok, _ := store.GetJSON[model.CellReport](ctx, st, store.ActualKey("c1", model.ReportID))
		return ok && kv3.Lease != kv.Lease
	})
	// Two registrations and two reports.
	eventually(t, "etcd writes counted", func() bool {
		return testutil.ToFloat64(mustCounter(t, reg, "cellsync_cell_etcd_writes_total")) >= 4
	})

	// A graceful stop with no work revokes the lease at once.
	r.stop(t)
	if _, ok, _ := st.Get(ctx, store.CellKey("c1")); ok {
		t.Fatal("cell record still present after shutdown")
	}
}

// mustCounter finds a single-series metric in reg.
func mustCounter(t testing.TB, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	return collectorFunc{reg: reg, name: name}
}

type collectorFunc struct {
	reg  *prometheus.Registry
	name string
}

func (c collectorFunc) Describe(ch chan<- *prometheus.Desc) {}
func (c collectorFunc) Collect(ch chan<- prometheus.Metric) {
	mfs, _ := c.reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != c.name {
			continue
		}
		for _, m := range mf.GetMetric() {
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
			ch <- prometheus.MustNewConstMetric(prometheus.NewDesc(c.name, "x", nil, nil), prometheus.UntypedValue, v)
			return
		}
	}
}

func TestLRPLifecycle(t *testing.T) {
	st, _ := storetest.New(t)
	h := hub{t, st}
	rt := sim.New(nil)
	reg := prometheus.NewRegistry()
	start(t, st, rt, testConfig("c1"), reg)

	web := h.put(lrp("web", "img:1", nil))
	rev := h.assign("c1", "LRP/web", model.Item{Kind: model.KindLRP, Name: "web", Spec: web, Indexes: []int32{0, 1, 2}})
	for i := range 3 {
		id := model.InstanceID(model.KindLRP, "web", int32(i))
		eventually(t, id+" running", func() bool {
			a, ok := h.actual("c1", id)
			return ok && a.State == model.StateRunning && a.ContainerID != "" && a.Spec == web && a.Index == int32(i)
		})
	}
	eventually(t, "applied revision", func() bool {
		r := h.report("c1")
		return r.AppliedRevision >= rev && r.Running == 3
	})
	if got := rt.Starts(); got != 3 {
		t.Fatalf("starts = %d, want 3", got)
	}

	t.Run("scale down removes instance and container", func(t *testing.T) {
		h.assign("c1", "LRP/web", model.Item{Kind: model.KindLRP, Name: "web", Spec: web, Indexes: []int32{0, 1}})
		eventually(t, "index 2 gone", func() bool {
			_, ok := h.actual("c1", "LRP/web/2")
			cs, _ := rt.List(context.Background())
			return !ok && len(cs) == 2
		})
	})
	t.Run("changed spec restarts with the new one", func(t *testing.T) {
		web2 := h.put(lrp("web", "img:2", nil))
		h.assign("c1", "LRP/web", model.Item{Kind: model.KindLRP, Name: "web", Spec: web2, Indexes: []int32{0, 1}})
		eventually(t, "new spec running", func() bool {
			a0, _ := h.actual("c1", "LRP/web/0")
			a1, _ := h.actual("c1", "LRP/web/1")
			return a0.Spec == web2 && a1.Spec == web2 && a0.State == model.StateRunning && a1.State == model.StateRunning
		})
		spec, ok := rt.Spec(cellContainer(t, rt, "LRP/web/0"))
		if !ok || spec.Image != "img:2" {
			t.Fatalf("container spec = %+v", spec)
		}
		if got := rt.Starts(); got != 5 {
			t.Fatalf("starts = %d, want 5", got)
		}
	})
	t.Run("removal stops everything", func(t *testing.T) {
		h.unassign("c1", "LRP/web")
		eventually(t, "all gone", func() bool {
			cs, _ := rt.List(context.Background())
			_, ok := h.actual("c1", "LRP/web/0")
			return len(cs) == 0 && !ok
		})
	})
	// The gauge follows the report's next flush, which may come after the
	// key checked above is gone.
	eventually(t, "containers{state=RUNNING} = 0 after removal", func() bool {
		return gauge(t, reg, "cellsync_cell_containers", model.StateRunning) == 0
	})
}

// cellContainer returns the container ID of an instance.
func cellContainer(t testing.TB, rt cell.Runtime, instance string) string {
	t.Helper()
	cs, err := rt.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.Labels[cell.LabelInstance] == instance {
			return c.ID
		}
	}
	t.Fatalf("no container for %s", instance)
	return ""
}

// stateLog records every state an actual key goes through.
func stateLog(t testing.TB, st *store.Client, key string) func() []string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var states []string
	done := make(chan struct{})
	_, rev, err := st.List(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(done)
		for b, err := range st.Watch(ctx, key, rev) {
			if err != nil {
				return
			}
			for _, ev := range b.Events {
				var a model.Actual
				if ev.Type == store.Put && store.Decode(ev.KV, &a) == nil {
					mu.Lock()
					states = append(states, fmt.Sprintf("%s/%d", a.State, a.CrashCount))
					mu.Unlock()
				}
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(states)
	}
}

// TestCrashRestartPolicyFromTheRecord: the cell restarts a crashed instance
// itself as many times as the record carrying it says (the hub's policy),
// not a number of its own.
func TestCrashRestartPolicyFromTheRecord(t *testing.T) {
	st, _ := storetest.New(t)
	rt := sim.New(func(cell.ContainerSpec) sim.Behavior { return sim.Behavior{Exit: true, Code: 1} })
	start(t, st, rt, testConfig("c1"), nil)
	h := hub{t, st}
	web := h.put(lrp("web", "img:1", nil))
	v, err := store.Encode(model.Assignment{Source: "LRP/web", Commit: "c0", ImmediateRestarts: 5,
		Items: []model.Item{{Kind: model.KindLRP, Name: "web", Spec: web, Indexes: []int32{0}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Write(context.Background(), []store.Op{{Key: store.DesiredKey("c1", "LRP/web"), Value: v}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "crashed six times, then waiting for the hub", func() bool {
		a, _ := h.actual("c1", "LRP/web/0")
		return a.State == model.StateCrashed && a.CrashCount == 6
	})
	if got := rt.Starts(); got != 6 {
		t.Errorf("starts = %d, want 6 (first start + the record's 5 immediate restarts)", got)
	}
}

func TestCrashRestartPolicy(t *testing.T) {
	st, _ := storetest.New(t)
	h := hub{t, st}
	rt := sim.New(nil)
	reg := prometheus.NewRegistry()
	start(t, st, rt, testConfig("c1"), reg)
	log := stateLog(t, st, store.ActualKey("c1", "LRP/web/0"))

	web := h.put(lrp("web", "img:1", nil))
	item := model.Item{Kind: model.KindLRP, Name: "web", Spec: web, Indexes: []int32{0}}
	h.assign("c1", "LRP/web", item)
	for crash := 1; crash <= 4; crash++ {
		eventually(t, "running", func() bool {
			a, ok := h.actual("c1", "LRP/web/0")
			return ok && a.State == model.StateRunning && a.CrashCount == crash-1
		})
		if err := rt.Kill(cellContainer(t, rt, "LRP/web/0"), 3); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "crashed for good", func() bool {
		a, _ := h.actual("c1", "LRP/web/0")
		return a.State == model.StateCrashed && a.CrashCount == 4 && a.LastExit != nil && a.LastExit.Code == 3 && a.LastExit.Cause == model.ExitExited
	})
	if got := rt.Starts(); got != 4 {
		t.Fatalf("starts = %d, want 4 (first start + 3 immediate restarts)", got)
	}
	if got := testutil.ToFloat64(mustCounter(t, reg, "cellsync_cell_crashes_total")); got != 4 {
		t.Fatalf("crashes_total = %v, want 4", got)
	}
	// The hub rewriting the key restarts it; the count carries on.
	h.assign("c1", "LRP/web", item)
	eventually(t, "restarted by the hub", func() bool {
		a, _ := h.actual("c1", "LRP/web/0")
		return a.State == model.StateRunning && a.CrashCount == 4
	})
	// Batching may fold a crash and its immediate restart into one write,
	// but every crash count is reported. The watch that logs them may lag
	// behind the read above: wait for it.
	var states []string
	eventually(t, "every crash count in the watched states", func() bool {
		states = log()
		seen := map[string]bool{}
		for _, s := range states {
			seen[s[strings.Index(s, "/")+1:]] = true
		}
		return seen["0"] && seen["1"] && seen["2"] && seen["3"] && seen["4"] && slices.Contains(states, "CRASHED/4")
	})
}

func TestHealthCheck(t *testing.T) {
	st, _ := storetest.New(t)
	h := hub{t, st}
	rt := sim.New(nil)
	start(t, st, rt, testConfig("c1"), nil)

	tests := []struct {
		name      string
		check     model.HealthCheck
		unhealthy bool
		want      string
	}{
		{name: "exec passes", check: model.HealthCheck{Exec: []string{"true"}, IntervalSeconds: 1, FailureThreshold: 1}, want: model.StateRunning},
		{name: "tcp passes", check: model.HealthCheck{TCPPort: 8080, IntervalSeconds: 1, FailureThreshold: 1}, want: model.StateRunning},
		{name: "exec fails", check: model.HealthCheck{Exec: []string{"false"}, IntervalSeconds: 1, FailureThreshold: 1}, unhealthy: true, want: model.StateCrashed},
		{name: "tcp fails", check: model.HealthCheck{TCPPort: 8080, IntervalSeconds: 1, FailureThreshold: 1}, unhealthy: true, want: model.StateCrashed},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := fmt.Sprintf("hc%d", i)
			env := map[string]string{}
			if tt.unhealthy {
				env[sim.EnvUnhealthy] = "1"
			}
			o := lrp(name, "img", env)
			o.Spec.HealthCheck = &tt.check
			id := model.InstanceID(model.KindLRP, name, 0)
			log := stateLog(t, st, store.ActualKey("c1", id))
			h.assign("c1", "LRP/"+name, model.Item{Kind: model.KindLRP, Name: name, Spec: h.put(o), Indexes: []int32{0}})
			eventually(t, tt.want, func() bool {
				a, _ := h.actual("c1", id)
				return a.State == tt.want && (tt.want == model.StateRunning || a.CrashCount == 4)
			})
			if tt.unhealthy {
				a, _ := h.actual("c1", id)
				if e := a.LastExit; e == nil || e.Cause != model.ExitHealthCheck || !strings.Contains(e.Message, "health check failed") {
					t.Fatalf("last exit = %+v", e)
				}
				for _, s := range log() {
					if strings.HasPrefix(s, model.StateRunning) {
						t.Fatalf("unhealthy instance reported %s; states %v", s, log())
					}
				}
			}
		})
	}
}

func TestTaskRunsOnce(t *testing.T) {
	st, _ := storetest.New(t)
	h := hub{t, st}
	rt := sim.New(nil)
	cfg := testConfig("c1")
	cfg.Shutdown = cell.Detach
	r := start(t, st, rt, cfg, nil)

	tests := []struct {
		name       string
		task       *model.Task
		owner      string
		state      string
		wantState  string
		wantFailed bool
		wantCode   int
		wantResult string
		wantReason string
	}{
		{name: "succeeds", task: task("ok", []string{"echo", "hello"}, nil), owner: "c1", state: model.TaskPending,
			wantState: model.TaskCompleted, wantResult: "hello\n"},
		{name: "fails with status", task: task("bad", []string{"false"}, map[string]string{sim.EnvExit: "3", sim.EnvOutput: strings.Repeat("x", 5000) + "END"}), owner: "c1", state: model.TaskPending,
			wantState: model.TaskCompleted, wantFailed: true, wantCode: 3, wantResult: strings.Repeat("x", model.MaxTaskResult-3) + "END", wantReason: "exited with status 3"},
		{name: "lost across restart", task: task("lost", []string{"true"}, nil), owner: "c1", state: model.TaskRunning,
			wantState: model.TaskCompleted, wantFailed: true, wantCode: -1, wantReason: cell.ReasonLost},
		{name: "completed is not rerun", task: task("done", []string{"true"}, nil), owner: "c1", state: model.TaskCompleted,
			wantState: model.TaskCompleted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := tt.task.Metadata.Name
			h.createTask(name, tt.owner, tt.state)
			h.assign("c1", "Task/"+name, model.Item{Kind: model.KindTask, Name: name, Spec: h.put(tt.task)})
			eventually(t, tt.wantState, func() bool { return h.task(name).State == tt.wantState })
			got := h.task(name)
			if got.Failed != tt.wantFailed || got.ExitCode != tt.wantCode || got.Result != tt.wantResult || got.Reason != tt.wantReason {
				t.Fatalf("task = %+v", got)
			}
		})
	}
	t.Run("other cell's task is left alone", func(t *testing.T) {
		h.createTask("theirs", "c2", model.TaskPending)
		h.assign("c1", "Task/theirs", model.Item{Kind: model.KindTask, Name: "theirs", Spec: h.put(task("theirs", []string{"true"}, nil))})
		eventually(t, "applied", func() bool { return h.report("c1").AppliedRevision > 0 })
		if got := h.task("theirs"); got.State != model.TaskPending {
			t.Fatalf("task = %+v", got)
		}
	})
	starts := rt.Starts()
	if starts != 2 {
		t.Fatalf("starts = %d, want 2", starts)
	}
	// A restarted agent starts none of them again.
	r.stop(t)
	r2 := start(t, st, rt, cfg, nil)
	<-r2.agent.Registered()
	eventually(t, "second agent applied", func() bool { return h.report("c1").AppliedRevision > 0 })
	if got := rt.Starts(); got != starts {
		t.Fatalf("starts after restart = %d, want %d", got, starts)
	}
}

func TestTaskAdoptedAcrossRestart(t *testing.T) {
	st, _ := storetest.New(t)
	h := hub{t, st}
	hold := make(chan struct{})
	var once sync.Once
	// The first start runs until the test kills it; the Task exits 7.
	rt := sim.New(func(spec cell.ContainerSpec) sim.Behavior { return sim.Behavior{Output: "partial"} })
	cfg := testConfig("c1")
	cfg.Shutdown = cell.Detach
	cfg.StateDir = t.TempDir() // the restarted agent reads the same output
	r := start(t, st, rt, cfg, nil)
	h.createTask("long", "c1", model.TaskPending)
	h.assign("c1", "Task/long", model.Item{Kind: model.KindTask, Name: "long", Spec: h.put(task("long", []string{"sleep"}, nil))})
	eventually(t, "claimed", func() bool { return h.task("long").State == model.TaskRunning && rt.Starts() == 1 })
	r.stop(t)
	once.Do(func() { close(hold) })

	r2 := start(t, st, rt, cfg, nil)
	<-r2.agent.Registered()
	eventually(t, "second agent applied", func() bool { return h.report("c1").AppliedRevision > 0 })
	if err := rt.Kill(cellContainer(t, rt, "Task/long"), 7); err != nil {
		t.Fatal(err)
	}
	eventually(t, "completed", func() bool { return h.task("long").State == model.TaskCompleted })
	if got := h.task("long"); got.ExitCode != 7 || !got.Failed || got.Result != "partial" {
		t.Fatalf("task = %+v", got)
	}
	if got := rt.Starts(); got != 1 {
		t.Fatalf("starts = %d, want 1", got)
	}
}

func TestConfigsMountedAndEnv(t *testing.T) {
	st, _ := storetest.New(t)
	h := hub{t, st}
	rt := sim.New(nil)
	cfg := testConfig("c1")
	cfg.StateDir = t.TempDir()
	start(t, st, rt, cfg, nil)

	conf := &model.Config{Header: model.Header{APIVersion: model.APIVersion, Kind: model.KindConfig, Metadata: model.Meta{Name: "settings"}},
		Data: map[string]string{"index.html": "<h1>hi</h1>", "MODE": "prod"}}
	o := lrp("web", "img", map[string]string{"MODE": "override"})
	o.Spec.Configs = []model.ConfigRef{{Name: "settings", MountPath: "/etc/web", Env: true}}
	chash := h.put(conf)
	h.assign("c1", "SelectorSyncSet/all", model.Item{Kind: model.KindConfig, Name: "settings", Spec: chash})
	h.assign("c1", "LRP/web", model.Item{Kind: model.KindLRP, Name: "web", Spec: h.put(o), Indexes: []int32{0}})
	eventually(t, "running", func() bool {
		a, _ := h.actual("c1", "LRP/web/0")
		return a.State == model.StateRunning
	})
	spec, _ := rt.Spec(cellContainer(t, rt, "LRP/web/0"))
	if len(spec.Mounts) != 1 || spec.Mounts[0].Target != "/etc/web" || !spec.Mounts[0].ReadOnly {
		t.Fatalf("mounts = %+v", spec.Mounts)
	}
	b, err := os.ReadFile(filepath.Join(spec.Mounts[0].Source, "index.html"))
	if err != nil || string(b) != "<h1>hi</h1>" {
		t.Fatalf("mounted file = %q, %v", b, err)
	}
	if !slices.Equal(spec.Env, []string{"MODE=override", "index.html=<h1>hi</h1>"}) {
		t.Fatalf("env = %v", spec.Env)
	}

	// A changed Config restarts the containers that use it.
	conf.Data["index.html"] = "<h1>v2</h1>"
	h.assign("c1", "SelectorSyncSet/all", model.Item{Kind: model.KindConfig, Name: "settings", Spec: h.put(conf)})
	eventually(t, "restarted with new config", func() bool {
		spec, ok := rt.Spec(spec.ID)
		if !ok || len(spec.Mounts) != 1 {
			return false
		}
		b, _ := os.ReadFile(filepath.Join(spec.Mounts[0].Source, "index.html"))
		return string(b) == "<h1>v2</h1>"
	})
	eventually(t, "old config dir removed", func() bool {
		ents, _ := os.ReadDir(filepath.Join(cfg.StateDir, "configs"))
		return len(ents) == 1
	})
}

func TestAdoptionAfterAgentRestart(t *testing.T) {
	st, _ := storetest.New(t)
	h := hub{t, st}
	rt := sim.New(nil)
	cfg := testConfig("c1")
	cfg.Shutdown = cell.Detach
	r := start(t, st, rt, cfg, nil)
	web := h.put(lrp("web", "img", nil))
	h.assign("c1", "LRP/web", model.Item{Kind: model.KindLRP, Name: "web", Spec: web, Indexes: []int32{0, 1}})
	eventually(t, "running", func() bool { return h.report("c1").Running == 2 })
	r.stop(t)
	// An orphan: a container of this cell that nothing asks for.
	if err := rt.Start(context.Background(), cell.ContainerSpec{ID: "orphan", Labels: map[string]string{cell.LabelCell: "c1", cell.LabelInstance: "LRP/gone/0"}}); err != nil {
		t.Fatal(err)
	}
	r2 := start(t, st, rt, cfg, nil)
	<-r2.agent.Registered()
	eventually(t, "running again", func() bool { return h.report("c1").Running == 2 })
	eventually(t, "orphan removed", func() bool {
		cs, _ := rt.List(context.Background())
		return len(cs) == 2
	})
	if got := rt.Starts(); got != 3 { // 2 instances + the orphan
		t.Fatalf("starts = %d, want 3 (no duplicates)", got)
	}
}

func TestEvacuation(t *testing.T) {
	st, _ := storetest.New(t)
	h := hub{t, st}
	// Everything runs until stopped, the Task too.
	rt := sim.New(func(cell.ContainerSpec) sim.Behavior { return sim.Behavior{} })
	cfg := testConfig("c1")
	cfg.EvacuationTimeout = 10 * time.Second
	r := start(t, st, rt, cfg, nil)
	web := h.put(lrp("web", "img", nil))
	h.assign("c1", "LRP/web", model.Item{Kind: model.KindLRP, Name: "web", Spec: web, Indexes: []int32{0}})
	h.createTask("t", "c1", model.TaskPending)
	h.assign("c1", "Task/t", model.Item{Kind: model.KindTask, Name: "t", Spec: h.put(task("t", []string{"sleep"}, nil))})
	eventually(t, "running", func() bool { return h.report("c1").Running == 1 && h.task("t").State == model.TaskRunning })

	r.cancel()
	eventually(t, "evacuating", func() bool {
		c, _, _, _ := store.GetJSON[model.Cell](context.Background(), st, store.CellKey("c1"))
		return c.State == model.CellEvacuating && h.report("c1").Evacuating
	})
	// The hub re-places the LRP elsewhere.
	h.unassign("c1", "LRP/web")
	r.wait(t)
	if cs, _ := rt.List(context.Background()); len(cs) != 0 {
		t.Fatalf("containers left: %v", cs)
	}
	if _, ok, _ := st.Get(context.Background(), store.CellKey("c1")); ok {
		t.Fatal("cell still registered")
	}
	if kvs, _, _ := st.List(context.Background(), store.ActualCellPrefix("c1")); len(kvs) != 0 {
		t.Fatalf("actual state left: %d keys", len(kvs))
	}
	if got := h.task("t"); got.State != model.TaskCompleted || got.Reason != cell.ReasonEvacuated {
		t.Fatalf("task = %+v", got)
	}
}

func TestStartFailureIsACrash(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		wantCause string
	}{
		{"image not found", fmt.Errorf("start x: %w: cellsync.invalid/none:1", cell.ErrImageNotFound), model.ExitImageNotFound},
		{"other failure", errors.New("no space left on device"), model.ExitStartFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, _ := storetest.New(t)
			h := hub{t, st}
			rt := sim.New(func(spec cell.ContainerSpec) sim.Behavior { return sim.Behavior{StartErr: tt.err} })
			start(t, st, rt, testConfig("c1"), nil)
			h.assign("c1", "LRP/web", model.Item{Kind: model.KindLRP, Name: "web", Spec: h.put(lrp("web", "img", nil)), Indexes: []int32{0}})
			eventually(t, "crashed", func() bool {
				a, _ := h.actual("c1", "LRP/web/0")
				return a.State == model.StateCrashed && a.CrashCount == 4 && a.Restarts == 3 && a.LastExit != nil &&
					a.LastExit.Cause == tt.wantCause && strings.Contains(a.LastExit.Message, tt.err.Error())
			})
		})
	}
}

func TestMissingSpecStopsNothing(t *testing.T) {
	st, _ := storetest.New(t)
	h := hub{t, st}
	rt := sim.New(nil)
	reg := prometheus.NewRegistry()
	start(t, st, rt, testConfig("c1"), reg)
	web := h.put(lrp("web", "img", nil))
	rev := h.assign("c1", "LRP/web", model.Item{Kind: model.KindLRP, Name: "web", Spec: web, Indexes: []int32{0, 1}})
	eventually(t, "running", func() bool { return h.report("c1").AppliedRevision >= rev && h.report("c1").Running == 2 })
	if got := gauge(t, reg, "cellsync_cell_containers", "RUNNING"); got != 2 {
		t.Fatalf("containers{state=RUNNING} = %v, want 2", got)
	}

	// The hub moves web to a body the cell cannot read (yet): nothing stops,
	// and the revision is not reported as applied.
	rev2 := h.assign("c1", "LRP/web", model.Item{Kind: model.KindLRP, Name: "web", Spec: "0000", Indexes: []int32{0, 1, 2}})
	other := h.assign("c1", "LRP/other", model.Item{Kind: model.KindLRP, Name: "other", Spec: h.put(lrp("other", "img", nil)), Indexes: []int32{0}})
	eventually(t, "other started", func() bool {
		a, _ := h.actual("c1", "LRP/other/0")
		return a.State == model.StateRunning
	})
	if got := h.report("c1"); got.AppliedRevision >= rev2 || got.Running != 3 {
		t.Fatalf("report = %+v, want applied < %d and 3 running", got, rev2)
	}
	if rt.Starts() != 3 {
		t.Fatalf("starts = %d, want 3", rt.Starts())
	}
	// Once the body arrives the change applies.
	body, hash, _ := model.EncodeObject(lrp("web", "img:2", nil))
	if _, err := st.Write(context.Background(), []store.Op{{Key: store.SpecKey(hash), Value: body}}); err != nil {
		t.Fatal(err)
	}
	rev3 := h.assign("c1", "LRP/web", model.Item{Kind: model.KindLRP, Name: "web", Spec: hash, Indexes: []int32{0, 1, 2}})
	eventually(t, "applied", func() bool { r := h.report("c1"); return r.AppliedRevision >= rev3 && r.Running == 4 && rev3 > other })
}

// gauge reads one series of a metric family by its state label.
func gauge(t testing.TB, reg *prometheus.Registry, name, state string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "state" && l.GetValue() == state {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("no %s{state=%q}", name, state)
	return 0
}

func TestActualStateBatchedAndOnlyOnChange(t *testing.T) {
	st, _ := storetest.New(t)
	h := hub{t, st}
	rt := sim.New(nil)
	reg := prometheus.NewRegistry()
	start(t, st, rt, testConfig("c1"), reg)
	eventually(t, "first report", func() bool { return h.report("c1").AppliedRevision > 0 })
	txns := func() float64 { return testutil.ToFloat64(mustCounter(t, reg, "cellsync_cell_etcd_txns_total")) }

	idx := make([]int32, 20)
	for i := range idx {
		idx[i] = int32(i)
	}
	item := model.Item{Kind: model.KindLRP, Name: "web", Spec: h.put(lrp("web", "img", nil)), Indexes: idx}
	t0 := txns()
	rev := h.assign("c1", "LRP/web", item)
	eventually(t, "20 running", func() bool { r := h.report("c1"); return r.Running == 20 && r.AppliedRevision >= rev })
	// Unbatched, 20 instances going CLAIMED then RUNNING take 40 writes.
	eventually(t, "counted", func() bool { return txns() > t0 })
	if got := txns() - t0; got >= 40 {
		t.Fatalf("%v transactions for 20 instances, want batches", got)
	}

	// A rewrite with no change writes the report's new revision only. The
	// report can say 20 running before the instances' own records are in
	// etcd, so wait for those first, then count what the rewrite wrote by
	// its revision rather than by a counter another flush may still move.
	actual := func() []store.KV {
		kvs, _, err := st.List(context.Background(), store.ActualCellPrefix("c1"))
		if err != nil {
			t.Fatal(err)
		}
		return kvs
	}
	eventually(t, "20 running in etcd", func() bool {
		n := 0
		for _, kv := range actual() {
			var a model.Actual
			if store.Decode(kv, &a) == nil && a.Name == "web" && a.State == model.StateRunning {
				n++
			}
		}
		return n == 20
	})
	rev2 := h.assign("c1", "LRP/web", item)
	eventually(t, "applied", func() bool { return h.report("c1").AppliedRevision >= rev2 })
	var after []string
	for _, kv := range actual() {
		if kv.ModRevision > rev2 {
			after = append(after, kv.Key)
		}
	}
	if len(after) != 1 || after[0] != store.ActualKey("c1", model.ReportID) {
		t.Fatalf("keys written for an unchanged assignment: %v, want only the report", after)
	}
}

func TestCrashCountResetsAfterFiveMinutesRunning(t *testing.T) {
	st, _ := storetest.New(t)
	h := hub{t, st}
	rt := sim.New(nil)
	clock := clockwork.NewFakeClock()
	// Keep the agent's timers (the flush window) moving in small steps,
	// until the agent has stopped.
	tickCtx, stopTicks := context.WithCancel(context.Background())
	ticked := make(chan struct{})
	defer func() { stopTicks(); <-ticked }()
	go func() {
		defer close(ticked)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-tickCtx.Done():
				return
			case <-tick.C:
				clock.Advance(10 * time.Millisecond)
			}
		}
	}()
	cfg := testConfig("c1")
	cfg.StateDir = t.TempDir()
	a, err := cell.New(cfg, cell.Deps{Store: st, Runtime: rt, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()

	h.assign("c1", "LRP/web", model.Item{Kind: model.KindLRP, Name: "web", Spec: h.put(lrp("web", "img", nil)), Indexes: []int32{0}})
	for crash := 1; crash <= 2; crash++ {
		eventually(t, "running", func() bool {
			a, _ := h.actual("c1", "LRP/web/0")
			return a.State == model.StateRunning && a.CrashCount == crash-1
		})
		if err := rt.Kill(cellContainer(t, rt, "LRP/web/0"), 1); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "running after 2 crashes", func() bool {
		a, _ := h.actual("c1", "LRP/web/0")
		return a.State == model.StateRunning && a.CrashCount == 2
	})
	// Five minutes of running wipe the slate: the next crash is the first.
	clock.Advance(6 * time.Minute)
	if err := rt.Kill(cellContainer(t, rt, "LRP/web/0"), 1); err != nil {
		t.Fatal(err)
	}
	eventually(t, "count restarted", func() bool {
		a, _ := h.actual("c1", "LRP/web/0")
		return a.State == model.StateRunning && a.CrashCount == 1
	})
}
