package containerd_test

import (
	"bytes"
	"context"
	"fmt"
	"github.com/cellsync/cellsync/cell/runtime/containerd/ctrdtest"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cellsync/cellsync/cell"
	"github.com/cellsync/cellsync/cell/imagebuild"
	"github.com/cellsync/cellsync/cell/logs"
	ctrd "github.com/cellsync/cellsync/cell/runtime/containerd"
	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/store"
	"github.com/cellsync/cellsync/store/storetest"
)

// image is the test image, built from Debian's busybox-static.
const image = "cellsync.local/busybox:1"

// daemon is the containerd the package's tests share.
var daemon struct {
	skip    string // why tests skip; empty when containerd runs
	address string
}

func TestMain(m *testing.M) {
	// containerd's shim runs this test binary as the containers' log driver.
	if code, ok := logs.RunDriver(os.Args); ok {
		os.Exit(code)
	}
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if reason := ctrdtest.Missing(); reason != "" {
		if ctrdtest.Required() {
			fmt.Fprintf(os.Stderr, "%s=1 but %s\n", ctrdtest.RequireEnv, reason)
			return 1
		}
		daemon.skip = reason
		return m.Run()
	}
	stop, err := startContainerd()
	if err != nil {
		fmt.Fprintf(os.Stderr, "start containerd: %v\n", err)
		return 1
	}
	defer stop()
	return m.Run()
}

// startContainerd runs a private containerd and imports the busybox image
// into it.
func startContainerd() (func(), error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d, err := ctrdtest.Start(ctx)
	if err != nil {
		return nil, err
	}
	rt, err := ctrd.New(ctx, ctrd.Config{Address: d.Socket})
	if err != nil {
		d.Stop()
		return nil, err
	}
	defer rt.Close()
	var buf bytes.Buffer
	if err := imagebuild.Busybox(&buf, image, ctrdtest.Busybox); err != nil {
		d.Stop()
		return nil, err
	}
	if _, err := rt.Import(ctx, &buf); err != nil {
		d.Stop()
		return nil, err
	}
	daemon.address = d.Socket
	return func() {
		// Remove what tests left, so no shim outlives the daemon.
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if rt, err := ctrd.New(cctx, ctrd.Config{Address: d.Socket, StopGrace: 100 * time.Millisecond}); err == nil {
			cs, _ := rt.List(cctx)
			for _, c := range cs {
				_ = rt.Stop(cctx, c.ID)
			}
			rt.Close()
		}
		d.Stop()
	}, nil
}

// newRuntime connects to the shared containerd, or skips the test.
func newRuntime(t testing.TB) *ctrd.Runtime {
	t.Helper()
	if daemon.skip != "" {
		t.Skip(daemon.skip)
	}
	rt, _ := newNetRuntime(t)
	return rt
}

// newNetRuntime connects to the shared containerd with a bridge network of
// the test's own, removed when the test ends, or skips the test.
func newNetRuntime(t testing.TB) (*ctrd.Runtime, *ctrdtest.Net) {
	t.Helper()
	if daemon.skip != "" {
		t.Skip(daemon.skip)
	}
	n, err := ctrdtest.ReserveNet()
	if err != nil {
		t.Fatal(err)
	}
	bridge := n.Bridge
	bridge.Dir = t.TempDir()
	rt, err := ctrd.New(context.Background(), ctrd.Config{Address: daemon.address, StopGrace: 200 * time.Millisecond, Bridge: bridge})
	if err != nil {
		n.Release(nil)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Release(rt); err != nil {
			t.Errorf("remove test network: %v", err)
		}
		rt.Close()
	})
	return rt, n
}

type hub struct {
	t  testing.TB
	st *store.Client
}

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

func (h hub) assign(cellName, source string, items ...model.Item) {
	h.t.Helper()
	v, _ := store.Encode(model.Assignment{Source: source, Items: items})
	if _, err := h.st.Write(context.Background(), []store.Op{{Key: store.DesiredKey(cellName, source), Value: v}}); err != nil {
		h.t.Fatal(err)
	}
}

func (h hub) unassign(cellName, source string) {
	h.t.Helper()
	if _, err := h.st.Write(context.Background(), []store.Op{{Key: store.DesiredKey(cellName, source), Delete: true}}); err != nil {
		h.t.Fatal(err)
	}
}

func (h hub) actual(cellName, id string) model.Actual {
	h.t.Helper()
	a, _, _, err := store.GetJSON[model.Actual](context.Background(), h.st, store.ActualKey(cellName, id))
	if err != nil {
		h.t.Fatal(err)
	}
	return a
}

func (h hub) createTask(name, cellName string) {
	h.t.Helper()
	v, _ := store.Encode(model.TaskRecord{Name: name, State: model.TaskPending, Cell: cellName})
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

func eventually(t testing.TB, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func lrp(name string, cmd ...string) *model.LRP {
	o := &model.LRP{Header: model.Header{APIVersion: model.APIVersion, Kind: model.KindLRP, Metadata: model.Meta{Name: name}}}
	o.Spec.Image = image
	o.Spec.Command = cmd
	o.Spec.Resources = &model.Resources{MemoryMB: 32, DiskMB: 16}
	return o
}

func task(name string, cmd ...string) *model.Task {
	o := &model.Task{Header: model.Header{APIVersion: model.APIVersion, Kind: model.KindTask, Metadata: model.Meta{Name: name}}}
	o.Spec.Image = image
	o.Spec.Command = cmd
	return o
}

type agentRun struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    *error
}

func (r agentRun) stop(t testing.TB) {
	t.Helper()
	r.cancel()
	select {
	case <-r.done:
		if *r.err != nil {
			t.Fatalf("agent: %v", *r.err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("agent did not stop")
	}
}

func startAgent(t testing.TB, st *store.Client, rt cell.Runtime, name string, mode cell.ShutdownMode, stateDir string) agentRun {
	t.Helper()
	return startAgentWith(t, st, rt, agentConfig(name, mode, stateDir))
}

func agentConfig(name string, mode cell.ShutdownMode, stateDir string) cell.Config {
	return cell.Config{
		Name: name, Zone: "z1",
		Capacity:          model.Capacity{MemoryMB: 4096, DiskMB: 10240, Containers: 100},
		StateDir:          stateDir,
		LeaseTTL:          5 * time.Second,
		EvacuationTimeout: 200 * time.Millisecond,
		FlushInterval:     10 * time.Millisecond,
		RetryInterval:     50 * time.Millisecond,
		Shutdown:          mode,
	}
}

func startAgentWith(t testing.TB, st *store.Client, rt cell.Runtime, cfg cell.Config) agentRun {
	t.Helper()
	a, err := cell.New(cfg, cell.Deps{Store: st, Runtime: rt})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := agentRun{cancel: cancel, done: make(chan struct{}), err: new(error)}
	go func() {
		defer close(r.done)
		*r.err = a.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	<-a.Registered()
	return r
}

// containerOf returns the container ID of an instance, or "".
func containerOf(t testing.TB, rt cell.Runtime, cellName, instance string) string {
	t.Helper()
	cs, err := rt.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.Labels[cell.LabelCell] == cellName && c.Labels[cell.LabelInstance] == instance {
			return c.ID
		}
	}
	return ""
}

func countContainers(t testing.TB, rt cell.Runtime, cellName string) int {
	t.Helper()
	cs, err := rt.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range cs {
		if c.Labels[cell.LabelCell] == cellName {
			n++
		}
	}
	return n
}

// memoryLimit reads the memory cgroup limit of a host process (cgroup v1
// or v2).
func memoryLimit(t testing.TB, pid uint32) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		var file string
		switch {
		case slices.Contains(strings.Split(parts[1], ","), "memory"):
			file = filepath.Join("/sys/fs/cgroup/memory", parts[2], "memory.limit_in_bytes")
		case parts[0] == "0" && parts[1] == "":
			file = filepath.Join("/sys/fs/cgroup", parts[2], "memory.max")
			if _, err := os.Stat("/sys/fs/cgroup/memory"); err == nil {
				continue // hybrid: the v1 memory line decides
			}
		default:
			continue
		}
		v, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(v)), 10, 64)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		return n
	}
	t.Fatal("no memory cgroup")
	return 0
}

func TestLRPOnContainerd(t *testing.T) {
	rt := newRuntime(t)
	st, _ := storetest.New(t)
	h := hub{t, st}
	startAgent(t, st, rt, "lrp1", cell.Evacuate, t.TempDir())
	ctx := context.Background()

	h.assign("lrp1", "LRP/sleeper", model.Item{Kind: model.KindLRP, Name: "sleeper", Spec: h.put(lrp("sleeper", "sleep", "3600")), Indexes: []int32{0}})
	eventually(t, "RUNNING", 30*time.Second, func() bool {
		a := h.actual("lrp1", "LRP/sleeper/0")
		return a.State == model.StateRunning && a.ContainerID != ""
	})
	cid := h.actual("lrp1", "LRP/sleeper/0").ContainerID
	pid, err := rt.Pid(ctx, cid)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("memory limit applied", func(t *testing.T) {
		if got := memoryLimit(t, pid); got != 32<<20 {
			t.Fatalf("memory limit = %d, want %d", got, 32<<20)
		}
	})
	t.Run("crash restarts at once with count", func(t *testing.T) {
		hist := history(t, st, store.ActualKey("lrp1", "LRP/sleeper/0"))
		if err := syscall.Kill(int(pid), syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		var a model.Actual
		eventually(t, "restarted", 30*time.Second, func() bool {
			a = h.actual("lrp1", "LRP/sleeper/0")
			return a.State == model.StateRunning && a.CrashCount == 1
		})
		// The crash itself may be folded into the restart's write; when it
		// is written it carries the kill's status.
		for _, h := range hist() {
			if h.State == model.StateCrashed && (h.LastExit == nil || h.LastExit.Code != 137 || h.LastExit.Cause != model.ExitExited || h.CrashCount != 1) {
				t.Fatalf("crash reported as %+v, want status 137 count 1", h)
			}
		}
		pid2, err := rt.Pid(ctx, cid)
		if err != nil || pid2 == pid {
			t.Fatalf("pid after restart = %d (was %d), err %v", pid2, pid, err)
		}
	})
	t.Run("removal stops the container", func(t *testing.T) {
		h.unassign("lrp1", "LRP/sleeper")
		eventually(t, "container removed", 30*time.Second, func() bool { return countContainers(t, rt, "lrp1") == 0 })
	})
}

func TestHealthCheckOnContainerd(t *testing.T) {
	rt := newRuntime(t)
	st, _ := storetest.New(t)
	h := hub{t, st}
	startAgent(t, st, rt, "hc1", cell.Evacuate, t.TempDir())

	good := lrp("good", "sleep", "3600")
	good.Spec.HealthCheck = &model.HealthCheck{Exec: []string{"test", "-d", "/tmp"}, IntervalSeconds: 1, TimeoutSeconds: 5, FailureThreshold: 1}
	bad := lrp("bad", "sleep", "3600")
	bad.Spec.HealthCheck = &model.HealthCheck{Exec: []string{"test", "-f", "/nope"}, IntervalSeconds: 1, TimeoutSeconds: 5, FailureThreshold: 1}
	badHist := history(t, st, store.ActualKey("hc1", "LRP/bad/0"))
	h.assign("hc1", "LRP/good", model.Item{Kind: model.KindLRP, Name: "good", Spec: h.put(good), Indexes: []int32{0}})
	h.assign("hc1", "LRP/bad", model.Item{Kind: model.KindLRP, Name: "bad", Spec: h.put(bad), Indexes: []int32{0}})

	eventually(t, "good RUNNING", 30*time.Second, func() bool { return h.actual("hc1", "LRP/good/0").State == model.StateRunning })
	eventually(t, "bad CRASHED after restarts", 60*time.Second, func() bool {
		a := h.actual("hc1", "LRP/bad/0")
		return a.State == model.StateCrashed && a.CrashCount == 4
	})
	if a := h.actual("hc1", "LRP/bad/0"); a.LastExit == nil || a.LastExit.Cause != model.ExitHealthCheck || !strings.Contains(a.LastExit.Message, "health check failed") {
		t.Fatalf("last exit = %+v", a.LastExit)
	}
	for _, a := range badHist() {
		if a.State == model.StateRunning {
			t.Fatalf("failing health check reported RUNNING: %+v", a)
		}
	}
}

func TestTaskAndConfigOnContainerd(t *testing.T) {
	rt := newRuntime(t)
	st, _ := storetest.New(t)
	h := hub{t, st}
	startAgent(t, st, rt, "task1", cell.Evacuate, t.TempDir())

	conf := &model.Config{Header: model.Header{APIVersion: model.APIVersion, Kind: model.KindConfig, Metadata: model.Meta{Name: "greeting"}},
		Data: map[string]string{"text": "hello from config", "GREETING": "hi env"}}
	h.assign("task1", "SelectorSyncSet/base", model.Item{Kind: model.KindConfig, Name: "greeting", Spec: h.put(conf)})

	tests := []struct {
		name       string
		task       *model.Task
		wantCode   int
		wantResult string
	}{
		{name: "exit code and output", task: task("exit3", "sh", "-c", "echo out; echo err >&2; exit 3"), wantCode: 3, wantResult: "out\nerr\n"},
		{name: "config mounted as file", task: func() *model.Task {
			o := task("readconf", "sh", "-c", "cat /etc/greeting/text; echo; echo $GREETING; touch /etc/greeting/x 2>/dev/null || echo read-only")
			o.Spec.Configs = []model.ConfigRef{{Name: "greeting", MountPath: "/etc/greeting", Env: true}}
			return o
		}(), wantResult: "hello from config\nhi env\nread-only\n"},
		{name: "network none has loopback only", task: func() *model.Task {
			o := task("isolated", "ls", "/sys/class/net")
			o.Spec.Network = model.NetworkNone
			return o
		}(), wantResult: "lo\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := tt.task.Metadata.Name
			h.createTask(name, "task1")
			h.assign("task1", "Task/"+name, model.Item{Kind: model.KindTask, Name: name, Spec: h.put(tt.task)})
			eventually(t, "COMPLETED", 30*time.Second, func() bool { return h.task(name).State == model.TaskCompleted })
			got := h.task(name)
			// stdout and stderr reach the output file through separate
			// pipes, so lines of the two may interleave in any order.
			if got.ExitCode != tt.wantCode || got.Failed != (tt.wantCode != 0) || !sameLines(got.Result, tt.wantResult) {
				t.Fatalf("task = %+v", got)
			}
			eventually(t, "container removed", 30*time.Second, func() bool { return containerOf(t, rt, "task1", "Task/"+name) == "" })
		})
	}
}

func TestAdoptionOnContainerd(t *testing.T) {
	rt := newRuntime(t)
	st, _ := storetest.New(t)
	h := hub{t, st}
	dir := t.TempDir()
	a1 := startAgent(t, st, rt, "adopt1", cell.Detach, dir)
	h.assign("adopt1", "LRP/web", model.Item{Kind: model.KindLRP, Name: "web", Spec: h.put(lrp("web", "sleep", "3600")), Indexes: []int32{0, 1}})
	eventually(t, "RUNNING", 30*time.Second, func() bool {
		return h.actual("adopt1", "LRP/web/0").State == model.StateRunning && h.actual("adopt1", "LRP/web/1").State == model.StateRunning
	})
	ctx := context.Background()
	pids := map[string]uint32{}
	for _, id := range []string{"LRP/web/0", "LRP/web/1"} {
		pid, err := rt.Pid(ctx, containerOf(t, rt, "adopt1", id))
		if err != nil {
			t.Fatal(err)
		}
		pids[id] = pid
	}
	a1.stop(t)
	if n := countContainers(t, rt, "adopt1"); n != 2 {
		t.Fatalf("containers after detach = %d, want 2", n)
	}
	startAgent(t, st, rt, "adopt1", cell.Evacuate, dir)
	eventually(t, "reported by the new agent", 30*time.Second, func() bool {
		r, _, ok, _ := store.GetJSON[model.CellReport](ctx, st, store.ActualKey("adopt1", model.ReportID))
		return ok && r.Running == 2
	})
	for id, pid := range pids {
		got, err := rt.Pid(ctx, containerOf(t, rt, "adopt1", id))
		if err != nil || got != pid {
			t.Fatalf("%s pid = %d, want %d (adopted, not restarted); err %v", id, got, pid, err)
		}
	}
	if n := countContainers(t, rt, "adopt1"); n != 2 {
		t.Fatalf("containers = %d, want 2 (no duplicates)", n)
	}
}

func TestMissingImageIsAClearError(t *testing.T) {
	rt := newRuntime(t)
	err := rt.Start(context.Background(), cell.ContainerSpec{ID: "noimage", Image: "cellsync.invalid/none:1"})
	if err == nil || !strings.Contains(err.Error(), "cellsync.invalid/none:1") {
		t.Fatalf("Start = %v, want an error naming the image", err)
	}
	if countContainers(t, rt, "") != 0 {
		t.Fatal("a failed start left a container")
	}
}

// history records every value an actual-state key takes from now on.
func history(t testing.TB, st *store.Client, key string) func() []model.Actual {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	_, rev, err := st.List(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var out []model.Actual
	done := make(chan struct{})
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
					out = append(out, a)
					mu.Unlock()
				}
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return func() []model.Actual {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(out)
	}
}

// sameLines reports whether a and b hold the same lines in any order.
func sameLines(a, b string) bool {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	slices.Sort(la)
	slices.Sort(lb)
	return slices.Equal(la, lb)
}

func TestHostNetworkTCPCheckOnContainerd(t *testing.T) {
	rt := newRuntime(t)
	st, _ := storetest.New(t)
	h := hub{t, st}
	startAgent(t, st, rt, "net1", cell.Evacuate, t.TempDir())

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()

	conf := &model.Config{Header: model.Header{APIVersion: model.APIVersion, Kind: model.KindConfig, Metadata: model.Meta{Name: "site"}},
		Data: map[string]string{"index.html": "served by cellsync"}}
	web := lrp("web", "httpd", "-f", "-p", strconv.Itoa(port), "-h", "/etc/web")
	web.Spec.Configs = []model.ConfigRef{{Name: "site", MountPath: "/etc/web"}}
	web.Spec.HealthCheck = &model.HealthCheck{TCPPort: port, IntervalSeconds: 1, TimeoutSeconds: 1, FailureThreshold: 5}
	web.Spec.Network = model.NetworkHost
	h.assign("net1", "LRP/web", model.Item{Kind: model.KindConfig, Name: "site", Spec: h.put(conf)}, model.Item{Kind: model.KindLRP, Name: "web", Spec: h.put(web), Indexes: []int32{0}})
	eventually(t, "RUNNING", 30*time.Second, func() bool { return h.actual("net1", "LRP/web/0").State == model.StateRunning })

	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/index.html", port))
	if err != nil {
		t.Fatalf("GET from the host: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "served by cellsync" {
		t.Fatalf("body = %q", body)
	}
}
