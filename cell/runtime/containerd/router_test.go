package containerd_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cellsync/cellsync/cell"
	ctrd "github.com/cellsync/cellsync/cell/runtime/containerd"
	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/router"
	"github.com/cellsync/cellsync/store"
	"github.com/cellsync/cellsync/store/storetest"
)

// routedSetup is a cell on real containerd with a bridge of its own, and a
// router following the same etcd.
type routedSetup struct {
	t      *testing.T
	rt     *ctrd.Runtime
	st     *store.Client
	h      hub
	router *router.Router
	url    string
}

func newRoutedSetup(t *testing.T, cellName string) *routedSetup {
	t.Helper()
	rt, n := newNetRuntime(t)
	st, _ := storetest.New(t)
	a, err := cell.New(cell.Config{
		Name: cellName, Zone: "z1",
		Capacity:          model.Capacity{MemoryMB: 4096, DiskMB: 10240, Containers: 100},
		StateDir:          t.TempDir(),
		LeaseTTL:          5 * time.Second,
		EvacuationTimeout: 200 * time.Millisecond,
		FlushInterval:     10 * time.Millisecond,
		RetryInterval:     50 * time.Millisecond,
		Address:           "127.0.0.1",
		PortRange:         cell.PortRange{First: n.FirstPort, Last: n.LastPort},
		DrainPeriod:       500 * time.Millisecond,
	}, cell.Deps{Store: st, Runtime: rt})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = a.Run(ctx) }()
	<-a.Registered()

	r, err := router.New(router.Config{}, router.Deps{Source: st})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithCancel(context.Background())
	wg.Add(2)
	go func() { defer wg.Done(); r.Run(rctx) }()
	go func() { defer wg.Done(); router.Serve(rctx, ln, r, nil) }()
	t.Cleanup(func() {
		cancel() // the agent evacuates: its containers and their networks go
		rcancel()
		wg.Wait()
	})
	return &routedSetup{t: t, rt: rt, st: st, h: hub{t, st}, router: r, url: "http://" + ln.Addr().String()}
}

// webLRP is busybox httpd on container port 8080, routed at host, serving
// a page of its own (a random UUID per start), with an HTTP check.
func webLRP(name, host string) *model.LRP {
	o := lrp(name, "sh", "-c", "mkdir -p /www && cat /proc/sys/kernel/random/uuid > /www/index.html && exec httpd -f -p 8080 -h /www")
	o.Spec.Ports = []model.Port{{Name: "http", ContainerPort: 8080}}
	o.Spec.Routes = []model.Route{{Host: host, Port: "http"}}
	o.Spec.HealthCheck = &model.HealthCheck{HTTP: &model.HTTPCheck{Port: 8080, Path: "/index.html"}, IntervalSeconds: 1, TimeoutSeconds: 2, FailureThreshold: 3}
	return o
}

// scale assigns the LRP's instances at indexes to the cell.
func (s *routedSetup) scale(cellName string, l *model.LRP, spec string, indexes ...int32) {
	s.h.assign(cellName, "LRP/"+l.Metadata.Name, model.Item{Kind: model.KindLRP, Name: l.Metadata.Name, Spec: spec, Indexes: indexes})
}

// waitRouted waits until host has exactly the instances (by index) in the
// router's table.
func (s *routedSetup) waitRouted(host string, indexes ...int32) {
	s.t.Helper()
	want := map[string]bool{}
	for _, i := range indexes {
		want[fmt.Sprintf("/%d", i)] = true
	}
	eventually(s.t, fmt.Sprintf("%s routed to instances %v", host, indexes), 60*time.Second, func() bool {
		eps := s.router.Routes().Load().Lookup(host)
		if len(eps) != len(want) {
			return false
		}
		for _, ep := range eps {
			if !want[ep.Instance[strings.LastIndex(ep.Instance, "/"):]] {
				return false
			}
		}
		return true
	})
}

func (s *routedSetup) get(host string) (int, string, error) {
	req, _ := http.NewRequest(http.MethodGet, s.url+"/index.html", nil)
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func TestRouterReachesEveryBridgeInstance(t *testing.T) {
	s := newRoutedSetup(t, "rt1")
	web := webLRP("web", "web.test")
	// Three instances on one cell, all on container port 8080.
	s.scale("rt1", web, s.h.put(web), 0, 1, 2)
	s.waitRouted("web.test", 0, 1, 2)

	seen := map[string]int{}
	for range 300 {
		code, body, err := s.get("web.test")
		if err != nil || code != 200 {
			t.Fatalf("GET: %d %v", code, err)
		}
		seen[body]++
	}
	if len(seen) != 3 {
		t.Fatalf("300 requests reached %d instances: %v", len(seen), seen)
	}
	for body, n := range seen {
		if n != 100 {
			t.Fatalf("round robin gave %d of 300 requests to %q", n, body)
		}
	}
	// The actual state says where each port is.
	ports := map[string]bool{}
	for i := range int32(3) {
		a := s.h.actual("rt1", model.InstanceID(model.KindLRP, "web", i))
		if len(a.Ports) != 1 || !strings.HasPrefix(a.Ports[0].Host, "127.0.0.1:") || !strings.HasSuffix(a.Ports[0].Container, ":8080") {
			t.Fatalf("instance %d ports: %+v", i, a.Ports)
		}
		ports[a.Ports[0].Host] = true
	}
	if len(ports) != 3 {
		t.Fatalf("host ports are not distinct: %v", ports)
	}
}

// load sends GETs through the router at a steady rate until stopped and
// counts the failures: transport errors and statuses other than 200.
type load struct {
	sent, failed atomic.Int64
	mu           sync.Mutex
	errs         []string
	start        time.Time
	stop         chan struct{}
	done         chan struct{}
}

func startLoad(s *routedSetup, host string, every time.Duration) *load {
	l := &load{start: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		var wg sync.WaitGroup
		defer wg.Wait()
		for {
			select {
			case <-l.stop:
				return
			case <-tick.C:
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				l.sent.Add(1)
				t0 := time.Since(l.start).Round(time.Millisecond)
				code, body, err := s.get(host)
				if err != nil || code != 200 {
					l.failed.Add(1)
					l.mu.Lock()
					l.errs = append(l.errs, fmt.Sprintf("sent at %s, answered at %s: status %d %q, %v", t0, time.Since(l.start).Round(time.Millisecond), code, body, err))
					l.mu.Unlock()
				}
			}()
		}
	}()
	return l
}

// end stops the load and fails the test on any failed request or a rate
// under 50 requests/s.
func (l *load) end(t *testing.T, what string) {
	t.Helper()
	close(l.stop)
	<-l.done
	d := time.Since(l.start)
	rate := float64(l.sent.Load()) / d.Seconds()
	t.Logf("%s: %d requests in %s (%.0f/s), %d failed", what, l.sent.Load(), d.Round(time.Millisecond), rate, l.failed.Load())
	if n := l.failed.Load(); n > 0 {
		t.Fatalf("%s: %d of %d requests failed: %v", what, n, l.sent.Load(), l.errs)
	}
	if rate < 50 {
		t.Fatalf("%s: only %.0f requests/s were sent", what, rate)
	}
}

func TestZeroDowntimeOnBridge(t *testing.T) {
	s := newRoutedSetup(t, "zd1")
	web := webLRP("web", "zd.test")
	spec := s.h.put(web)
	s.scale("zd1", web, spec, 0, 1, 2)
	s.waitRouted("zd.test", 0, 1, 2)

	t.Run("instances replaced one by one", func(t *testing.T) {
		// What a rolling update does to each instance: start a new one,
		// wait until it is routed (healthy), then take an old one away.
		l := startLoad(s, "zd.test", 10*time.Millisecond)
		live := []int32{0, 1, 2}
		for next := int32(3); next < 6; next++ {
			live = append(live, next)
			s.scale("zd1", web, spec, live...)
			s.waitRouted("zd.test", live...)
			live = live[1:]
			s.scale("zd1", web, spec, live...)
			s.waitRouted("zd.test", live...)
			eventually(t, "old container gone", 30*time.Second, func() bool { return countContainers(t, s.rt, "zd1") == len(live) })
		}
		l.end(t, "replacement")
	})
	t.Run("a killed instance gives no 5xx for GETs", func(t *testing.T) {
		l := startLoad(s, "zd.test", 2*time.Millisecond) // dense: the instant of the kill is hit
		time.Sleep(300 * time.Millisecond)               // load before the kill
		a := s.h.actual("zd1", model.InstanceID(model.KindLRP, "web", 4))
		pid, err := s.rt.Pid(context.Background(), a.ContainerID)
		if err != nil {
			t.Fatal(err)
		}
		if err := syscall.Kill(int(pid), syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the killed instance restarted", 60*time.Second, func() bool {
			a := s.h.actual("zd1", model.InstanceID(model.KindLRP, "web", 4))
			return a.State == model.StateRunning && a.CrashCount == 1
		})
		s.waitRouted("zd.test", 3, 4, 5)
		time.Sleep(300 * time.Millisecond) // load after the restart
		l.end(t, "kill")
	})
	t.Run("scale-down drops no request", func(t *testing.T) {
		l := startLoad(s, "zd.test", 10*time.Millisecond)
		s.scale("zd1", web, spec, 5)
		s.waitRouted("zd.test", 5)
		eventually(t, "containers gone", 30*time.Second, func() bool { return countContainers(t, s.rt, "zd1") == 1 })
		l.end(t, "scale-down")
	})
}
