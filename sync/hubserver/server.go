package hubserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/cellsync/cellsync/config"
	"github.com/cellsync/cellsync/events"
	"github.com/cellsync/cellsync/internal/httpserve"
	"github.com/cellsync/cellsync/metrics"
	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/selectors"
	"github.com/cellsync/cellsync/store"
	"github.com/cellsync/cellsync/sync/gitsource"
	"github.com/cellsync/cellsync/sync/hub"
)

// hubEventCapacity is how many events the hub keeps in its prefix of the
// event log.
const hubEventCapacity = 2000

// Options configure a hub process.
type Options struct {
	// Config is the validated configuration.
	Config config.Hub
	// ConfigPath, if set, is watched: a changed worker count resizes the
	// pools live; an invalid file is reported and the running config kept.
	ConfigPath string
	Logger     *slog.Logger
	// Registry receives every metric; default a new registry with the Go
	// and process collectors.
	Registry *prometheus.Registry
	// Store, if set, is used instead of connecting (the caller owns it).
	Store *store.Client
	// HTTPLimits bound what clients can hold of the hub's HTTP listeners
	// (timeouts, body size, connections); zero fields take httpserve's
	// defaults.
	HTTPLimits httpserve.Limits
}

// Server is a started hub process.
type Server struct {
	opts     Options
	log      *slog.Logger
	embedded *store.Embedded
	store    *store.Client
	ownStore bool
	Hub      *hub.Hub
	Source   *gitsource.Source
	// Events writes the hub's events (package events).
	Events   *events.Writer
	Metrics  *metrics.Hub
	registry *prometheus.Registry
	// listeners, bound by Start so that their addresses are known.
	metricsLn, webhookLn net.Listener
}

// Start opens everything the hub needs and binds its listeners; Run runs it.
// On error, whatever was opened is closed.
func Start(ctx context.Context, opts Options) (_ *Server, err error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	cfg := opts.Config
	s := &Server{opts: opts, log: opts.Logger, registry: opts.Registry}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	if s.registry == nil {
		s.registry = metrics.NewRegistry()
	}
	if s.Metrics, err = metrics.NewHub(s.registry); err != nil {
		return nil, err
	}
	if s.store = opts.Store; s.store == nil {
		endpoints := cfg.Etcd.Endpoints
		maxOps := cfg.Etcd.MaxTxnOps
		tls := store.TLSFiles{CA: cfg.Etcd.CAFile, Cert: cfg.Etcd.CertFile, Key: cfg.Etcd.KeyFile}
		if len(endpoints) == 0 {
			dir := filepath.Join(cfg.DataDir, "etcd")
			ec := store.EmbedConfig{Dir: dir}
			if cfg.Etcd.ServerCertFile != "" {
				ec.TLS = store.TLSFiles{CA: cfg.Etcd.CAFile, Cert: cfg.Etcd.ServerCertFile, Key: cfg.Etcd.ServerKeyFile}
				if cfg.Etcd.Listen != "" {
					ec.ClientURL = etcdClientURL(cfg.Etcd.Listen)
				}
			}
			if s.embedded, err = store.StartEmbedded(ctx, ec); err != nil {
				return nil, err
			}
			endpoints = s.embedded.Endpoints()
			maxOps = s.embedded.MaxTxnOps() // the limit of the server this process started
			s.log.Info("embedded etcd started", "dir", dir, "endpoints", endpoints, "tls", ec.TLS.Enabled())
		}
		if s.store, err = store.Connect(ctx, store.Config{Endpoints: endpoints, DialTimeout: cfg.Etcd.DialTimeout, MaxTxnOps: maxOps, TLS: tls}); err != nil {
			return nil, fmt.Errorf("%w (is etcd running at %s? with no endpoints configured, cellsync starts an embedded one)", err, strings.Join(endpoints, ","))
		}
		s.ownStore = true
	}
	env, err := selectors.NewEnv(selectors.Config{})
	if err != nil {
		return nil, err
	}
	if s.Events, err = events.New(events.Config{Prefix: store.HubEventsPrefix, Capacity: hubEventCapacity},
		events.Deps{Store: s.store, Logger: s.log}); err != nil {
		return nil, err
	}
	source := &gitSource{}
	s.Hub = hub.New(hub.Config{
		Workers:        hub.Workers{Fanout: cfg.Workers.Fanout, Apply: cfg.Workers.Apply, Convergence: cfg.Workers.Convergence},
		ResyncInterval: cfg.ResyncInterval,
	}, hub.Deps{Store: s.store, Env: env, Logger: s.log, Metrics: s.Metrics, Events: s.Events, Source: source})

	gcfg := gitsource.Config{
		URL: cfg.Git.URL, Branch: cfg.Git.Branch, Path: cfg.Git.Path, PollInterval: cfg.Git.PollInterval,
		DataDir: filepath.Join(cfg.DataDir, "git"), MassDeleteFraction: cfg.Git.MassDeleteFraction,
		Auth: gitsource.Auth{PasswordFile: cfg.Git.Auth.PasswordFile, SSHKeyFile: cfg.Git.Auth.SSHKeyFile},
	}
	if f := cfg.Git.Auth.UsernameFile; f != "" {
		if gcfg.Auth.Username, err = readTrimmed(f); err != nil {
			return nil, fmt.Errorf("git username: %w", err)
		}
	}
	if f := cfg.Git.WebhookSecretFile; f != "" {
		if gcfg.WebhookSecret, err = readTrimmed(f); err != nil {
			return nil, fmt.Errorf("webhook secret: %w", err)
		}
	}
	s.Source, err = gitsource.New(gcfg, gitsource.Deps{Logger: s.log, Registerer: s.registry, OnSnapshot: func(snap *gitsource.Snapshot) {
		s.Hub.SetDesired(Desired(snap))
	}})
	if err != nil {
		return nil, err
	}
	source.src = s.Source
	if addr := cfg.Listen.Metrics; addr != "" {
		if s.metricsLn, err = net.Listen("tcp", addr); err != nil {
			return nil, fmt.Errorf("listen for metrics and status on %s: %w (set listen.metrics to another address)", addr, err)
		}
	}
	if addr := cfg.Listen.Webhook; addr != "" && gcfg.WebhookSecret != "" {
		if s.webhookLn, err = net.Listen("tcp", addr); err != nil {
			return nil, fmt.Errorf("listen for the Git webhook on %s: %w", addr, err)
		}
	}
	return s, nil
}

// etcdClientURL is the embedded etcd's client URL for etcd.listen, which
// etcd wants with an IP: ":2379" means every interface.
func etcdClientURL(listen string) string {
	host, port, _ := net.SplitHostPort(listen) // validated by config
	if host == "" {
		host = "0.0.0.0"
	}
	return "https://" + net.JoinHostPort(host, port)
}

func readTrimmed(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", file, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// Desired turns a Git snapshot into the hub's desired model. Held deletions
// and file problems become status errors.
func Desired(snap *gitsource.Snapshot) hub.Desired {
	d := hub.Desired{Commit: snap.Commit, Objects: make([]model.Object, 0, len(snap.Objects))}
	keys := make([]string, 0, len(snap.Objects))
	for k := range snap.Objects {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		d.Objects = append(d.Objects, snap.Objects[k])
	}
	files := make([]string, 0, len(snap.FileErrors))
	for f := range snap.FileErrors {
		files = append(files, f)
	}
	sort.Strings(files)
	for _, f := range files {
		for _, e := range snap.FileErrors[f] {
			d.Errors = append(d.Errors, e)
		}
	}
	if snap.Held != nil {
		d.Errors = append(d.Errors, errors.New(snap.Held.String()))
	}
	return d
}

// gitSource tells the hub how the Git source is doing.
type gitSource struct{ src *gitsource.Source }

// SourceStatus implements hub.Source.
func (g *gitSource) SourceStatus() hub.SourceStatus {
	st := g.src.Status()
	out := hub.SourceStatus{Commit: st.Commit, Failures: st.Failures}
	if st.Err != nil {
		out.Error = st.Err.Error()
	}
	return out
}

// MetricsAddr is the address of /metrics and /status, or "" when disabled.
func (s *Server) MetricsAddr() string {
	if s.metricsLn == nil {
		return ""
	}
	return s.metricsLn.Addr().String()
}

// WebhookAddr is the address of the Git webhook's own listener, or "" when
// there is none (no secret, or no listen.webhook).
func (s *Server) WebhookAddr() string {
	if s.webhookLn == nil {
		return ""
	}
	return s.webhookLn.Addr().String()
}

// Store returns the store client the hub uses.
func (s *Server) Store() *store.Client { return s.store }

// Endpoints returns the etcd endpoints the hub uses.
func (s *Server) Endpoints() []string {
	if s.embedded != nil {
		return s.embedded.Endpoints()
	}
	return s.opts.Config.Etcd.Endpoints
}

// Run runs the Git source, the hub, the HTTP endpoints and the config
// watcher until ctx ends, then closes everything Start opened.
func (s *Server) Run(ctx context.Context) error {
	defer s.close()
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.Hub.Run(ctx) })
	g.Go(func() error { return s.Source.Run(ctx) })
	g.Go(func() error { return s.Events.Run(ctx) })
	if s.metricsLn != nil {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", metrics.Handler(s.registry))
		mux.Handle("GET /status", s.Hub)
		mux.Handle("GET "+events.Path, events.Handler(s.store))
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
		if s.webhookLn == nil {
			mux.Handle("POST "+gitsource.WebhookPath, s.Source.WebhookHandler())
		}
		g.Go(func() error { return httpserve.Serve(ctx, s.metricsLn, mux, s.opts.HTTPLimits) })
	}
	if s.webhookLn != nil {
		mux := http.NewServeMux()
		mux.Handle("POST "+gitsource.WebhookPath, s.Source.WebhookHandler())
		g.Go(func() error { return httpserve.Serve(ctx, s.webhookLn, mux, s.opts.HTTPLimits) })
	}
	if path := s.opts.ConfigPath; path != "" {
		g.Go(func() error {
			return config.Watch(ctx, path, func(c config.Hub) {
				s.log.Info("config changed", "fields", config.Changed(s.opts.Config, c))
				s.opts.Config.Workers = c.Workers
				s.Hub.Resize(hub.Workers{Fanout: c.Workers.Fanout, Apply: c.Workers.Apply, Convergence: c.Workers.Convergence})
			}, func(err error) {
				s.log.Error("config file rejected; keeping the running config", "err", err)
			})
		})
	}
	return g.Wait()
}

func (s *Server) close() {
	if s.metricsLn != nil {
		s.metricsLn.Close()
	}
	if s.webhookLn != nil {
		s.webhookLn.Close()
	}
	if s.ownStore && s.store != nil {
		s.store.Close()
	}
	if s.embedded != nil {
		s.embedded.Close()
	}
}
