package cell_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cellsync/cellsync/cell"
	"github.com/cellsync/cellsync/cell/runtime/sim"
	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/store"
	"github.com/cellsync/cellsync/store/storetest"
)

func routedLRP(name string) *model.LRP {
	o := lrp(name, "img", nil)
	o.Spec.Ports = []model.Port{{Name: "http", ContainerPort: 8080}}
	o.Spec.Routes = []model.Route{{Host: name + ".apps.internal", Port: "http"}}
	return o
}

// hostPortOf returns the host port of an instance's "http" binding, or 0
// while it is not RUNNING.
func hostPortOf(h hub, cellName, id string) int {
	a, ok := h.actual(cellName, id)
	if !ok || a.State != model.StateRunning || len(a.Ports) != 1 {
		return 0
	}
	var port int
	fmt.Sscanf(a.Ports[0].Host[strings.LastIndex(a.Ports[0].Host, ":")+1:], "%d", &port)
	return port
}

func TestPortsAreMappedAndReported(t *testing.T) {
	st, _ := storetest.New(t)
	h := hub{t, st}
	rt := sim.New(nil)
	cfg := testConfig("c1")
	cfg.Address = "192.0.2.7"
	cfg.PortRange = cell.PortRange{First: 3000, Last: 3003}
	cfg.DrainPeriod = -1
	start(t, st, rt, cfg, nil)
	web := routedLRP("web")
	spec := h.put(web)
	h.assign("c1", "LRP/web", model.Item{Kind: model.KindLRP, Name: "web", Spec: spec, Indexes: []int32{0, 1}})
	eventually(t, "both RUNNING with ports", func() bool {
		return hostPortOf(h, "c1", "LRP/web/0") != 0 && hostPortOf(h, "c1", "LRP/web/1") != 0
	})
	got := []int{hostPortOf(h, "c1", "LRP/web/0"), hostPortOf(h, "c1", "LRP/web/1")}
	sort.Ints(got)
	if got[0] != 3000 || got[1] != 3001 {
		t.Fatalf("host ports = %v, want 3000 and 3001", got)
	}
	for _, id := range []string{"LRP/web/0", "LRP/web/1"} {
		a, _ := h.actual("c1", id)
		b := a.Ports[0]
		if b.Name != "http" || !strings.HasPrefix(b.Host, "192.0.2.7:") || !strings.HasPrefix(b.Container, "10.88.") || !strings.HasSuffix(b.Container, ":8080") {
			t.Fatalf("%s binding = %+v", id, b)
		}
		if len(a.Routes) != 1 || a.Routes[0].Host != "web.apps.internal" {
			t.Fatalf("%s routes = %+v", id, a.Routes)
		}
		s, ok := rt.Spec(a.ContainerID)
		if !ok || len(s.Ports) != 1 || s.Ports[0].ContainerPort != 8080 || fmt.Sprint(s.Ports[0].HostPort) != b.Host[len("192.0.2.7:"):] {
			t.Fatalf("%s container spec ports = %+v, binding %+v", id, s.Ports, b)
		}
	}

	// Index 0 goes: its port is released, but handed out again only
	// after the ports never used.
	freed := hostPortOf(h, "c1", "LRP/web/0")
	h.assign("c1", "LRP/web", model.Item{Kind: model.KindLRP, Name: "web", Spec: spec, Indexes: []int32{1, 2}})
	eventually(t, "index 2 RUNNING", func() bool { return hostPortOf(h, "c1", "LRP/web/2") != 0 })
	if p := hostPortOf(h, "c1", "LRP/web/2"); p == freed || p != 3002 {
		t.Fatalf("index 2 got port %d, want 3002 (the released %d only after the unused ones)", p, freed)
	}
	h.assign("c1", "LRP/web", model.Item{Kind: model.KindLRP, Name: "web", Spec: spec, Indexes: []int32{1, 2, 3, 4}})
	eventually(t, "indexes 3 and 4 RUNNING", func() bool {
		return hostPortOf(h, "c1", "LRP/web/3") != 0 && hostPortOf(h, "c1", "LRP/web/4") != 0
	})
	got = []int{hostPortOf(h, "c1", "LRP/web/3"), hostPortOf(h, "c1", "LRP/web/4")}
	sort.Ints(got)
	if got[0] != freed || got[1] != 3003 {
		t.Fatalf("indexes 3 and 4 got %v, want the last free port 3003 and the released %d", got, freed)
	}
	// The range is full: a fifth instance cannot start, and says why.
	h.assign("c1", "LRP/web", model.Item{Kind: model.KindLRP, Name: "web", Spec: spec, Indexes: []int32{1, 2, 3, 4, 5}})
	eventually(t, "index 5 reports the full range", func() bool {
		a, _ := h.actual("c1", "LRP/web/5")
		return a.LastExit != nil && strings.Contains(a.LastExit.Message, "host ports: 1 needed, 0 of 3000-3003 free")
	})
}

// stopSpy records, at each Stop, the instance's actual state in etcd at
// that moment.
type stopSpy struct {
	*sim.Runtime
	st *store.Client
	mu sync.Mutex
	at map[string]model.Actual // by container ID
}

func (s *stopSpy) Stop(ctx context.Context, id string) error {
	if spec, ok := s.Spec(id); ok {
		a, _, _, err := store.GetJSON[model.Actual](ctx, s.st, store.ActualKey("c1", spec.Labels[cell.LabelInstance]))
		if err == nil {
			s.mu.Lock()
			s.at[id] = a
			s.mu.Unlock()
		}
	}
	return s.Runtime.Stop(ctx, id)
}

func (s *stopSpy) seen(id string) (model.Actual, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.at[id]
	return a, ok
}

func TestRoutedInstanceDrainsBeforeStop(t *testing.T) {
	st, _ := storetest.New(t)
	h := hub{t, st}
	rt := &stopSpy{Runtime: sim.New(nil), st: st, at: map[string]model.Actual{}}
	cfg := testConfig("c1")
	cfg.DrainPeriod = 20 * time.Millisecond
	start(t, st, rt, cfg, nil)
	web := h.put(routedLRP("web"))
	plain := lrp("plain", "img", nil)
	h.assign("c1", "LRP/web", model.Item{Kind: model.KindLRP, Name: "web", Spec: web, Indexes: []int32{0, 1}})
	h.assign("c1", "LRP/plain", model.Item{Kind: model.KindLRP, Name: "plain", Spec: h.put(plain), Indexes: []int32{0}})
	eventually(t, "RUNNING", func() bool { return h.report("c1").Running == 3 })
	a0, _ := h.actual("c1", "LRP/web/0")
	p0, _ := h.actual("c1", "LRP/plain/0")

	h.assign("c1", "LRP/web", model.Item{Kind: model.KindLRP, Name: "web", Spec: web, Indexes: []int32{1}})
	h.unassign("c1", "LRP/plain")
	eventually(t, "web/0 and plain/0 stopped", func() bool {
		_, ok1 := rt.seen(a0.ContainerID)
		_, ok2 := rt.seen(p0.ContainerID)
		return ok1 && ok2
	})
	if a, _ := rt.seen(a0.ContainerID); !a.Draining || a.State != model.StateRunning {
		t.Fatalf("when web/0 was stopped its actual state was %+v; want RUNNING and Draining", a)
	}
	// An instance without routes has nothing to drain.
	if a, _ := rt.seen(p0.ContainerID); a.Draining {
		t.Fatalf("plain/0 was drained: %+v", a)
	}
	if a, _ := h.actual("c1", "LRP/web/1"); a.Draining {
		t.Fatalf("web/1 is draining: %+v", a)
	}
}

func TestAdoptedContainerKeepsItsHostPorts(t *testing.T) {
	st, _ := storetest.New(t)
	h := hub{t, st}
	rt := sim.New(nil)
	cfg := testConfig("c1")
	cfg.Shutdown = cell.Detach
	cfg.PortRange = cell.PortRange{First: 3000, Last: 3009}
	r := start(t, st, rt, cfg, nil)
	web := h.put(routedLRP("web"))
	h.assign("c1", "LRP/web", model.Item{Kind: model.KindLRP, Name: "web", Spec: web, Indexes: []int32{0, 1}})
	eventually(t, "RUNNING", func() bool { return hostPortOf(h, "c1", "LRP/web/0") != 0 && hostPortOf(h, "c1", "LRP/web/1") != 0 })
	before := []int{hostPortOf(h, "c1", "LRP/web/0"), hostPortOf(h, "c1", "LRP/web/1")}
	r.stop(t)

	start(t, st, rt, cfg, nil)
	h.assign("c1", "LRP/web", model.Item{Kind: model.KindLRP, Name: "web", Spec: web, Indexes: []int32{0, 1, 2}})
	eventually(t, "three RUNNING", func() bool {
		return hostPortOf(h, "c1", "LRP/web/0") != 0 && hostPortOf(h, "c1", "LRP/web/1") != 0 && hostPortOf(h, "c1", "LRP/web/2") != 0
	})
	after := []int{hostPortOf(h, "c1", "LRP/web/0"), hostPortOf(h, "c1", "LRP/web/1")}
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Fatalf("host ports after adoption = %v, want %v", after, before)
	}
	if p := hostPortOf(h, "c1", "LRP/web/2"); p == before[0] || p == before[1] {
		t.Fatalf("new instance got port %d, held by an adopted container", p)
	}
	if got := rt.Starts(); got != 3 {
		t.Fatalf("starts = %d, want 3 (adopted containers are not restarted)", got)
	}
}
