package router_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/router"
	"github.com/cellsync/cellsync/store"
	"github.com/cellsync/cellsync/store/storetest"
)

// fixture is a router following a real embedded etcd, served on a port.
type fixture struct {
	t   testing.TB
	st  *store.Client
	rt  *router.Router
	reg *prometheus.Registry
	url string
}

func newFixture(t testing.TB, cfg router.Config) *fixture {
	t.Helper()
	st, _ := storetest.New(t)
	return newFixtureOn(t, st, cfg)
}

func newFixtureOn(t testing.TB, st *store.Client, cfg router.Config) *fixture {
	t.Helper()
	reg := prometheus.NewRegistry()
	rt, err := router.New(cfg, router.Deps{Source: st, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); rt.Run(ctx) }()
	go func() { defer wg.Done(); router.Serve(ctx, ln, rt, nil) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return &fixture{t: t, st: st, rt: rt, reg: reg, url: "http://" + ln.Addr().String()}
}

// instance writes a RUNNING instance of LRP name on cell c serving host at
// addr, as a cell reports it.
func (f *fixture) instance(c, name string, index int32, host, addr string, mutate ...func(*model.Actual)) {
	f.t.Helper()
	a := model.Actual{
		Name: name, Index: index, State: model.StateRunning, HealthySince: time.Now().UTC(),
		Ports:  []model.PortBinding{{Name: "http", Host: addr, Container: "10.88.0.9:8080"}},
		Routes: []model.Route{{Host: host, Port: "http"}},
	}
	for _, m := range mutate {
		m(&a)
	}
	v, err := store.Encode(a)
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.st.Write(context.Background(), []store.Op{{Key: store.ActualKey(c, model.InstanceID(model.KindLRP, name, index)), Value: v}}); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) remove(c, name string, index int32) {
	f.t.Helper()
	if _, err := f.st.Write(context.Background(), []store.Op{{Key: store.ActualKey(c, model.InstanceID(model.KindLRP, name, index)), Delete: true}}); err != nil {
		f.t.Fatal(err)
	}
}

// waitEndpoints waits until host has n endpoints in the router's table.
func (f *fixture) waitEndpoints(host string, n int) {
	f.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		ch := f.rt.Routes().Changed()
		if len(f.rt.Routes().Load().Lookup(host)) == n {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			f.t.Fatalf("host %s: %d endpoints, want %d", host, len(f.rt.Routes().Load().Lookup(host)), n)
		}
	}
}

func (f *fixture) get(host, path string) (int, string) {
	f.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, f.url+path, nil)
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// backend is an HTTP server on loopback answering its name.
func backend(t testing.TB, name string) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Forwarded-Host-Seen", r.Header.Get("X-Forwarded-Host"))
		io.WriteString(w, name)
	}))
	t.Cleanup(s.Close)
	return s.Listener.Addr().String()
}

// closedAddr is a loopback address where nothing listens.
func closedAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestRoutesByHostAcrossInstances(t *testing.T) {
	for _, b := range []router.Balance{router.RoundRobin, router.LeastOutstanding} {
		t.Run(string(b), func(t *testing.T) {
			f := newFixture(t, router.Config{Balance: b})
			for i, name := range []string{"a", "b", "c"} {
				f.instance("c1", "web", int32(i), "web.example", backend(t, name))
			}
			f.instance("c2", "api", 0, "api.example", backend(t, "api"))
			f.waitEndpoints("web.example", 3)
			f.waitEndpoints("api.example", 1)
			seen := map[string]int{}
			for range 300 {
				code, body := f.get("Web.Example:8080", "/")
				if code != 200 {
					t.Fatalf("status %d: %s", code, body)
				}
				seen[body]++
			}
			if len(seen) != 3 || (b == router.RoundRobin && (seen["a"] != 100 || seen["b"] != 100 || seen["c"] != 100)) {
				t.Fatalf("300 requests reached %v", seen)
			}
			if _, body := f.get("api.example", "/"); body != "api" {
				t.Fatalf("api.example answered %q", body)
			}
			if got := testutil.ToFloat64(f.m("cellsync_router_requests_total", "200", "web.example")); got != 300 {
				t.Fatalf("requests_total{web.example,200} = %v", got)
			}
		})
	}
}

// m returns one labelled child of a router metric family.
func (f *fixture) m(name string, labels ...string) prometheus.Collector {
	f.t.Helper()
	mfs, err := f.reg.Gather()
	if err != nil {
		f.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var vals []string
			for _, lp := range m.GetLabel() {
				vals = append(vals, lp.GetValue())
			}
			if strings.Join(vals, ",") == strings.Join(labels, ",") {
				c := prometheus.NewCounter(prometheus.CounterOpts{Name: "x"})
				switch {
				case m.Counter != nil:
					c.Add(m.Counter.GetValue())
				case m.Histogram != nil:
					c.Add(float64(m.Histogram.GetSampleCount()))
				}
				return c
			}
		}
	}
	f.t.Fatalf("no metric %s{%v}", name, labels)
	return nil
}

func TestUnknownHostIsA404NamingIt(t *testing.T) {
	f := newFixture(t, router.Config{})
	code, body := f.get("nope.example", "/")
	if code != http.StatusNotFound || !strings.Contains(body, `no route for host <code>nope.example</code>`) {
		t.Fatalf("status %d, body:\n%s", code, body)
	}
	code, body = f.get("<script>.example", "/")
	if code != http.StatusNotFound || strings.Contains(body, "<script>") {
		t.Fatalf("the host is not escaped: status %d, body:\n%s", code, body)
	}
}

func TestTableFollowsActualState(t *testing.T) {
	f := newFixture(t, router.Config{})
	a, b := backend(t, "a"), backend(t, "b")
	f.instance("c1", "web", 0, "web.example", a, func(x *model.Actual) { x.State = model.StateClaimed })
	f.instance("c1", "web", 1, "web.example", b)
	f.waitEndpoints("web.example", 1)
	f.instance("c1", "web", 0, "web.example", a) // healthy now
	f.waitEndpoints("web.example", 2)
	f.instance("c1", "web", 1, "web.example", b, func(x *model.Actual) { x.Draining = true })
	f.waitEndpoints("web.example", 1)
	for range 10 {
		if _, body := f.get("web.example", "/"); body != "a" {
			t.Fatalf("a draining instance got a request")
		}
	}
	f.remove("c1", "web", 0)
	f.waitEndpoints("web.example", 0)
	if code, _ := f.get("web.example", "/"); code != http.StatusNotFound {
		t.Fatalf("status %d after the last instance left", code)
	}
	// A cell's own report shares the prefix and is no instance.
	v, _ := store.Encode(model.CellReport{Running: 1})
	if _, err := f.st.Write(context.Background(), []store.Op{{Key: store.ActualKey("c1", model.ReportID), Value: v}}); err != nil {
		t.Fatal(err)
	}
	f.instance("c1", "web", 2, "web.example", a)
	f.waitEndpoints("web.example", 1)
}

func TestRefusedConnectionIsRetriedForIdempotentRequests(t *testing.T) {
	f := newFixture(t, router.Config{})
	f.instance("c1", "web", 0, "web.example", closedAddr(t))
	f.instance("c1", "web", 1, "web.example", backend(t, "ok"))
	f.waitEndpoints("web.example", 2)
	for i := range 20 {
		if code, body := f.get("web.example", "/"); code != 200 || body != "ok" {
			t.Fatalf("GET %d: status %d %q", i, code, body)
		}
	}
	if got := testutil.ToFloat64(f.m("cellsync_router_retries_total", "web.example")); got != 10 {
		t.Fatalf("retries = %v, want 10 (every other request first went to the dead instance)", got)
	}
	if got := testutil.ToFloat64(f.m("cellsync_router_upstream_errors_total", "refused", "web.example")); got != 10 {
		t.Fatalf("upstream errors = %v, want 10", got)
	}
	// A POST may not be sent twice: half of them fail.
	f.postsFail(t, 20, 10)
}

func TestHTTP2WithoutTLS(t *testing.T) {
	f := newFixture(t, router.Config{})
	f.instance("c1", "web", 0, "web.example", backend(t, "a"))
	f.waitEndpoints("web.example", 1)
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	wantHTTP2(t, &http.Client{Transport: &http.Transport{Protocols: &p}}, f.url+"/")
}

// wantHTTP2 GETs web.example at url with c and wants HTTP/2 and "a".
func wantHTTP2(t *testing.T, c *http.Client, url string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Host = "web.example"
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.ProtoMajor != 2 || string(b) != "a" {
		t.Fatalf("proto %s, body %q", resp.Proto, b)
	}
}

func TestHTTP2OverTLS(t *testing.T) {
	st, _ := storetest.New(t)
	rt, err := router.New(router.Config{}, router.Deps{Source: st})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(nil) // only for its test certificate
	srv.StartTLS()
	cert := srv.TLS.Certificates[0]
	pool := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); rt.Run(ctx) }()
	go func() {
		defer wg.Done()
		router.Serve(ctx, ln, rt, &tls.Config{Certificates: []tls.Certificate{cert}})
	}()
	defer func() { cancel(); wg.Wait() }()
	f := &fixture{t: t, st: st, rt: rt}
	f.instance("c1", "web", 0, "web.example", backend(t, "a"))
	f.waitEndpoints("web.example", 1)
	c := &http.Client{Transport: &http.Transport{ForceAttemptHTTP2: true, TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "example.com"}}}
	wantHTTP2(t, c, "https://"+ln.Addr().String()+"/")
}

func TestWebSocketUpgradePassesThrough(t *testing.T) {
	f := newFixture(t, router.Config{})
	// An upgrading echo server: after 101 it echoes every line.
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" {
			http.Error(w, "want an upgrade", http.StatusBadRequest)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		for {
			line, err := brw.ReadString('\n')
			if err != nil {
				return
			}
			brw.WriteString("echo " + line)
			brw.Flush()
		}
	}))
	t.Cleanup(up.Close)
	f.instance("c1", "ws", 0, "ws.example", up.Listener.Addr().String())
	f.waitEndpoints("ws.example", 1)

	conn, err := net.Dial("tcp", strings.TrimPrefix(f.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET /socket HTTP/1.1\r\nHost: ws.example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for _, msg := range []string{"hello\n", "again\n"} {
		io.WriteString(conn, msg)
		got, err := br.ReadString('\n')
		if err != nil || got != "echo "+msg {
			t.Fatalf("echo of %q = %q, %v", msg, got, err)
		}
	}
}

func TestRoutersSideBySide(t *testing.T) {
	st, _ := storetest.New(t)
	f1 := newFixtureOn(t, st, router.Config{})
	f2 := newFixtureOn(t, st, router.Config{Balance: router.LeastOutstanding})
	f1.instance("c1", "web", 0, "web.example", backend(t, "a"))
	f1.waitEndpoints("web.example", 1)
	f2.waitEndpoints("web.example", 1)
	for _, f := range []*fixture{f1, f2} {
		if code, body := f.get("web.example", "/"); code != 200 || body != "a" {
			t.Fatalf("%s: %d %q", f.url, code, body)
		}
	}
}

func TestConnectionBrokenBeforeAnAnswerIsRetriedForGETs(t *testing.T) {
	f := newFixture(t, router.Config{})
	// An instance that dies mid-request: it reads the request and drops
	// the connection without a word.
	dying := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	t.Cleanup(dying.Close)
	f.instance("c1", "web", 0, "web.example", dying.Listener.Addr().String())
	f.instance("c1", "web", 1, "web.example", backend(t, "ok"))
	f.waitEndpoints("web.example", 2)
	for i := range 20 {
		if code, body := f.get("web.example", "/"); code != 200 || body != "ok" {
			t.Fatalf("GET %d: status %d %q", i, code, body)
		}
	}
	f.postsFail(t, 20, 10)
}

// postsFail sends n POSTs to web.example and wants exactly want of them to
// fail with 502: a POST is never sent twice.
func (f *fixture) postsFail(t *testing.T, n, want int) {
	t.Helper()
	failed := 0
	for range n {
		req, _ := http.NewRequest(http.MethodPost, f.url+"/", strings.NewReader("x"))
		req.Host = "web.example"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusBadGateway {
			failed++
		}
	}
	if failed != want {
		t.Fatalf("%d of %d POSTs failed, want %d (not retried)", failed, n, want)
	}
}

func TestAnswerCutOffIsRetriedForGETs(t *testing.T) {
	f := newFixture(t, router.Config{})
	// An instance that dies in the middle of its answer.
	cut := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		brw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
		brw.Flush()
		conn.Close()
	}))
	t.Cleanup(cut.Close)
	f.instance("c1", "web", 0, "web.example", cut.Listener.Addr().String())
	f.instance("c1", "web", 1, "web.example", backend(t, "ok"))
	f.waitEndpoints("web.example", 2)
	for i := range 20 {
		if code, body := f.get("web.example", "/"); code != 200 || body != "ok" {
			t.Fatalf("GET %d: status %d %q", i, code, body)
		}
	}
	if got := testutil.ToFloat64(f.m("cellsync_router_upstream_errors_total", "body", "web.example")); got != 10 {
		t.Fatalf("cut-off answers = %v, want 10", got)
	}
}
