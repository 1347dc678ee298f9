package router

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cellsync/cellsync/router/routes"
)

// Defaults of Config.
const (
	// DefaultDialTimeout is short: instances are near, and a dial that
	// hangs is retried on another instance.
	DefaultDialTimeout   = 2 * time.Second
	DefaultRetryInterval = time.Second
	// DefaultMaxIdlePerEndpoint is how many idle connections to one
	// instance are kept for reuse.
	DefaultMaxIdlePerEndpoint = 256
)

// Config describes a router. A zero field takes its default.
type Config struct {
	// Balance spreads a host's requests; default RoundRobin.
	Balance Balance
	// DialTimeout bounds connecting to an instance; default 2s.
	DialTimeout time.Duration
	// MaxIdlePerEndpoint bounds the idle connections kept per instance;
	// default 256.
	MaxIdlePerEndpoint int
	// RetryInterval is the pause before listing etcd again after a failed
	// list or a broken watch; default 1s.
	RetryInterval time.Duration
}

// Deps are the router's collaborators.
type Deps struct {
	// Source is the store the route table is read from. Required.
	Source Source
	// Logger receives the router's log; default discards.
	Logger *slog.Logger
	// Registerer receives the router's metrics; nil registers nothing.
	Registerer prometheus.Registerer
}

// Router is an HTTP reverse proxy that routes by Host to the RUNNING,
// healthy instances of the LRPs whose routes name that host. It keeps no
// state but its route table, read from etcd, so several can run side by
// side. Build it with New, call Run to follow etcd and serve it with an
// http.Server.
type Router struct {
	cfg      Config
	src      Source
	log      *slog.Logger
	m        *metrics
	routes   *Routes
	proxy    *httputil.ReverseProxy
	upstream *upstream

	hosts sync.Map // host → *hostState
	loads sync.Map // endpoint address → *atomic.Int64 (requests in flight)
}

// hostState is a route's balancing turn and metric handles, kept across
// route tables.
type hostState struct {
	route    string
	turn     atomic.Uint64
	duration prometheus.Observer
	retries  prometheus.Counter
	codes    sync.Map // int → prometheus.Counter
}

type ctxKey struct{}

// pending is what ServeHTTP hands the transport through the request's
// context: the endpoints to choose from.
type pending struct {
	eps []routes.Endpoint
	hs  *hostState
}

// New checks cfg and deps and returns a router with an empty table.
func New(cfg Config, deps Deps) (*Router, error) {
	if deps.Source == nil {
		return nil, errors.New("router: a source is required")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	var err error
	if cfg.Balance, err = ParseBalance(string(cfg.Balance)); err != nil {
		return nil, fmt.Errorf("router: %w", err)
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.MaxIdlePerEndpoint == 0 {
		cfg.MaxIdlePerEndpoint = DefaultMaxIdlePerEndpoint
	}
	if cfg.RetryInterval == 0 {
		cfg.RetryInterval = DefaultRetryInterval
	}
	m, err := newMetrics(deps.Registerer)
	if err != nil {
		return nil, err
	}
	r := &Router{cfg: cfg, src: deps.Source, log: deps.Logger, m: m, routes: NewRoutes()}
	r.upstream = newUpstream(cfg.DialTimeout, cfg.MaxIdlePerEndpoint)
	r.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = pr.In.Host // replaced by the chosen endpoint
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
		},
		Transport:    balancer{r},
		BufferPool:   newBufferPool(),
		ErrorHandler: r.upstreamFailed,
		ErrorLog:     slog.NewLogLogger(deps.Logger.Handler(), slog.LevelWarn),
	}
	return r, nil
}

// Routes returns the router's route table holder.
func (r *Router) Routes() *Routes { return r.routes }

// Run follows the actual state in etcd and keeps the route table current
// until ctx ends; it then closes idle upstream connections and returns nil.
func (r *Router) Run(ctx context.Context) error {
	watch(ctx, r.src, r.routes, r.log, r.cfg.RetryInterval, func() {
		r.m.updates.Inc()
		r.m.routes.Set(float64(r.routes.Load().Len()))
		r.prune()
	})
	r.upstream.closeIdle()
	return nil
}

// ServeHTTP routes one request by its Host.
func (r *Router) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	t0 := time.Now()
	host := hostOf(req.Host)
	eps := r.routes.Load().Lookup(host)
	if len(eps) == 0 {
		r.unknownHost(w, host)
		return
	}
	hs := r.hostState(host)
	sw := &statusWriter{ResponseWriter: w}
	ctx := context.WithValue(req.Context(), ctxKey{}, &pending{eps: eps, hs: hs})
	r.proxy.ServeHTTP(sw, req.WithContext(ctx))
	hs.duration.Observe(time.Since(t0).Seconds())
	hs.count(r.m, sw.status())
}

func (r *Router) hostState(host string) *hostState {
	if v, ok := r.hosts.Load(host); ok {
		return v.(*hostState)
	}
	hs := &hostState{route: host, duration: r.m.duration.WithLabelValues(host), retries: r.m.retries.WithLabelValues(host)}
	v, _ := r.hosts.LoadOrStore(host, hs)
	return v.(*hostState)
}

func (hs *hostState) count(m *metrics, code int) {
	if c, ok := hs.codes.Load(code); ok {
		c.(prometheus.Counter).Inc()
		return
	}
	c := m.requests.WithLabelValues(hs.route, strconv.Itoa(code))
	hs.codes.Store(code, c)
	c.Inc()
}

// hostOf is the route host of a Host header: without port, lower case,
// without a trailing dot.
func hostOf(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		h = h[:i]
	}
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

func (r *Router) unknownHost(w http.ResponseWriter, host string) {
	r.m.requests.WithLabelValues(unknownRoute, "404").Inc()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Cellsync-Router", "no-route")
	w.WriteHeader(http.StatusNotFound)
	h := html.EscapeString(host)
	fmt.Fprintf(w, `<!doctype html>
<title>404 no route for %s</title>
<h1>404: no route for host <code>%s</code></h1>
<p>This cellsync router has no RUNNING, healthy instance for <b>%s</b>.
Either no LRP lists it under <code>routes:</code>, or none of its instances
has passed its health check yet (see <code>cellsync status</code>).</p>
`, h, h, h)
}

func (r *Router) upstreamFailed(w http.ResponseWriter, req *http.Request, err error) {
	if errors.Is(err, context.Canceled) && req.Context().Err() != nil {
		// The client went away; nobody reads an answer.
		w.WriteHeader(499)
		return
	}
	r.log.Debug("upstream failed", "host", req.Host, "err", err)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusBadGateway)
	fmt.Fprintf(w, "502: no instance of %s answered: %v\n", hostOf(req.Host), err)
}

// balancer is the proxy's transport: it picks the endpoint, and retries an
// idempotent request once on another endpoint when the connection failed.
type balancer struct{ r *Router }

func (b balancer) RoundTrip(req *http.Request) (*http.Response, error) {
	r := b.r
	p, ok := req.Context().Value(ctxKey{}).(*pending)
	if !ok {
		return nil, errors.New("router: request without a route")
	}
	n := len(p.eps)
	turn := p.hs.turn.Add(1) - 1
	i := pick(r.cfg.Balance, n, turn, -1, func(i int) int64 { return r.load(p.eps[i].Addr).Load() })
	resp, err := r.try(req, p.eps[i], p.hs)
	if err == nil || n < 2 || !retryable(req, err) {
		return resp, err
	}
	p.hs.retries.Inc()
	j := pick(r.cfg.Balance, n, turn+1, i, func(i int) int64 { return r.load(p.eps[i].Addr).Load() })
	return r.try(req, p.eps[j], p.hs)
}

// prune forgets the endpoints that left the table: their idle connections
// are closed and their request counts dropped once nothing is in flight.
// Instances get new host ports at every start, so without this both would
// grow for as long as the router runs.
func (r *Router) prune() {
	t := r.routes.Load()
	live := map[string]bool{}
	for _, h := range t.Hosts() {
		for _, ep := range t.Lookup(h) {
			live[ep.Addr] = true
		}
	}
	r.upstream.retain(live)
	r.loads.Range(func(k, v any) bool {
		if !live[k.(string)] && v.(*atomic.Int64).Load() == 0 {
			r.loads.Delete(k)
		}
		return true
	})
}

func (r *Router) load(addr string) *atomic.Int64 {
	if v, ok := r.loads.Load(addr); ok {
		return v.(*atomic.Int64)
	}
	v, _ := r.loads.LoadOrStore(addr, new(atomic.Int64))
	return v.(*atomic.Int64)
}

// try sends the request to one endpoint, counting it as outstanding until
// its response body is closed.
func (r *Router) try(req *http.Request, ep routes.Endpoint, hs *hostState) (*http.Response, error) {
	out := *req
	u := *req.URL
	u.Host = ep.Addr
	out.URL = &u
	load := r.load(ep.Addr)
	load.Add(1)
	resp, err := r.upstream.RoundTrip(&out)
	if err != nil {
		load.Add(-1)
		r.m.upstream.WithLabelValues(hs.route, reason(err)).Inc()
		return nil, err
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		// The proxy needs the upgraded body as it is (an io.ReadWriter).
		load.Add(-1)
		return resp, nil
	}
	if retryable(req, nil) && resp.ContentLength > 0 && resp.ContentLength <= maxBuffered {
		// A small answer to a request that may be sent again is read
		// whole before anything reaches the client: an instance dying
		// in the middle of it is then a retry, not a cut-off response.
		body := make([]byte, resp.ContentLength)
		_, err := io.ReadFull(resp.Body, body)
		resp.Body.Close()
		load.Add(-1)
		if err != nil {
			r.m.upstream.WithLabelValues(hs.route, "body").Inc()
			return nil, fmt.Errorf("read answer from %s: %w", ep.Addr, err)
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		return resp, nil
	}
	resp.Body = &countedBody{ReadCloser: resp.Body, load: load}
	return resp, nil
}

// maxBuffered bounds the answers read whole before they are passed on.
const maxBuffered = 64 << 10

// retryable: the request may be sent again. A request without body whose
// method is idempotent is retried when the connection failed (refused, or
// no connection could be made) and also when it broke before a whole
// answer came (an instance killed mid-request): sending such a request
// twice is harmless by HTTP's semantics. A request whose client gave up is
// not.
func retryable(req *http.Request, err error) bool {
	if req.Context().Err() != nil {
		return false
	}
	if req.Body != nil && req.Body != http.NoBody {
		return false
	}
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

func reason(err error) string {
	var op *net.OpError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.As(err, &op) && op.Op == "dial":
		return "dial"
	}
	return "other"
}

// countedBody ends a request's outstanding count when it is closed.
type countedBody struct {
	io.ReadCloser
	load *atomic.Int64
	once sync.Once
}

func (b *countedBody) Close() error {
	b.once.Do(func() { b.load.Add(-1) })
	return b.ReadCloser.Close()
}

// statusWriter records the status code the proxy sends.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 && code >= 200 || code == http.StatusSwitchingProtocols {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush and Hijack (WebSocket).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

// bufferPool recycles the proxy's copy buffers.
type bufferPool struct{ p sync.Pool }

func newBufferPool() *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}
}

func (b *bufferPool) Get() []byte  { return *b.p.Get().(*[]byte) }
func (b *bufferPool) Put(p []byte) { b.p.Put(&p) }
