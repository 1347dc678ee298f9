package main

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/cellsync/cellsync/internal/httpserve"
	"github.com/cellsync/cellsync/metrics"
	"github.com/cellsync/cellsync/ops"
	"github.com/cellsync/cellsync/router"
	"github.com/cellsync/cellsync/store"
)

func newRouter() *cobra.Command {
	var (
		listen, metricsAddr string
		balance             string
		endpoints           []string
		etcdTLS             store.TLSFiles
		certFile, keyFile   string
		logLevel            slog.Level
	)
	cmd := &cobra.Command{
		Use:   "router",
		Short: "Run an HTTP router in front of the RUNNING, healthy instances of routed LRPs",
		Long: `router is a reverse proxy that sends each request to an instance of the
LRP whose routes name the request's Host, balanced across its RUNNING,
healthy instances (round robin or least outstanding requests). It follows
the actual state in etcd, so an instance is routable once its health check
passes and stops being routed before its cell stops it. An idempotent
request (without body) whose connection is refused, or breaks before a
whole answer, is retried once on another instance;
an unknown host gets a 404 page naming it. It speaks HTTP/1.1 and HTTP/2
(h2c, or over TLS with --tls-cert/--tls-key) and passes WebSocket upgrades
through. It keeps no state: run several side by side.

etcd endpoints come from --etcd-endpoints, CELLSYNC_ETCD_ENDPOINTS,
CELLSYNC_CONFIG, or a running ` + "`cellsync up`" + ` in ./cellsync-data.`,
		Example: `  cellsync router --listen :8080 --etcd-endpoints http://10.0.0.5:2379
  curl -H 'Host: web.apps.internal' http://127.0.0.1:8080/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := router.ParseBalance(balance)
			if err != nil {
				return fmt.Errorf("--balance: %w", err)
			}
			endpoints, err := etcdEndpoints(cmd, endpoints)
			if err != nil {
				return err
			}
			var tlsConf *tls.Config
			if (certFile == "") != (keyFile == "") {
				return fmt.Errorf("--tls-cert and --tls-key go together")
			}
			if certFile != "" {
				cert, err := tls.LoadX509KeyPair(certFile, keyFile)
				if err != nil {
					return fmt.Errorf("--tls-cert/--tls-key: %w", err)
				}
				tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel}))
			ctx := cmd.Context()
			st, err := store.Connect(ctx, store.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, TLS: etcdTLS})
			if err != nil {
				return err
			}
			defer st.Close()
			reg := metrics.NewRegistry()
			rt, err := router.New(router.Config{Balance: b}, router.Deps{Source: st, Logger: log, Registerer: reg})
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("router: listen on %s: %w", listen, err)
			}
			g, gctx := errgroup.WithContext(ctx)
			g.Go(func() error { return rt.Run(gctx) })
			g.Go(func() error { return router.Serve(gctx, ln, rt, tlsConf) })
			if metricsAddr != "" {
				mln, err := net.Listen("tcp", metricsAddr)
				if err != nil {
					ln.Close()
					return fmt.Errorf("listen for metrics on %s: %w (pass --metrics \"\" to turn it off)", metricsAddr, err)
				}
				mux := http.NewServeMux()
				mux.Handle("GET /metrics", metrics.Handler(reg))
				g.Go(func() error { return httpserve.Serve(gctx, mln, mux, httpserve.Limits{}) })
				fmt.Fprintf(cmd.ErrOrStderr(), "cellsync router: metrics on http://%s/metrics\n", mln.Addr())
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "cellsync router: listening on %s (balance %s)\n", ln.Addr(), b)
			return g.Wait()
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&listen, "listen", ":8080", "address to serve on")
	fl.StringVar(&balance, "balance", string(router.RoundRobin), "balancing: round-robin or least-outstanding")
	fl.StringVar(&metricsAddr, "metrics", ":9102", "address of the router's /metrics; empty turns it off")
	fl.StringSliceVar(&endpoints, "etcd-endpoints", nil, "etcd endpoints (env "+ops.EnvEtcd+")")
	fl.StringVar(&etcdTLS.CA, "etcd-ca", "", "CA file for mutual TLS with etcd (see cellsync certs)")
	fl.StringVar(&etcdTLS.Cert, "etcd-cert", "", "the router's client certificate for etcd")
	fl.StringVar(&etcdTLS.Key, "etcd-key", "", "the router's client key for etcd")
	fl.StringVar(&certFile, "tls-cert", "", "serve HTTPS (HTTP/1.1 and HTTP/2) with this certificate")
	fl.StringVar(&keyFile, "tls-key", "", "the key of --tls-cert")
	fl.TextVar(&logLevel, "log-level", slog.LevelInfo, "log level: debug, info, warn, error")
	return cmd
}
