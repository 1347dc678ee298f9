package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/spf13/cobra"

	"github.com/cellsync/cellsync/cell"
	ctrd "github.com/cellsync/cellsync/cell/runtime/containerd"
	"github.com/cellsync/cellsync/cell/runtime/sim"
	"github.com/cellsync/cellsync/internal/httpserve"
	"github.com/cellsync/cellsync/metrics"
	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/ops"
	"github.com/cellsync/cellsync/store"
)

func newCell() *cobra.Command {
	var (
		cfg         cell.Config
		endpoints   []string
		runtime     string
		socket      string
		detach      bool
		metricsAddr string
		tlsFiles    store.TLSFiles
		logLevel    slog.Level
	)
	cmd := &cobra.Command{
		Use:   "cell",
		Short: "Run a cell agent: register this machine and run what the hub assigns it",
		Long: `cell registers this machine as a cell in etcd (under a lease), runs the
LRP instances, Tasks and Configs the hub assigns to it through containerd
(or the simulated runtime), and reports their actual state.

On SIGINT/SIGTERM it evacuates: it marks the cell evacuating, waits for the
hub to move its LRPs, stops its containers and revokes the lease. With
--detach it leaves the containers running for the next agent to adopt.
etcd endpoints come from --etcd-endpoints, CELLSYNC_ETCD_ENDPOINTS,
CELLSYNC_CONFIG (a hub config file), or the endpoints a running
` + "`cellsync up`" + ` recorded in ./cellsync-data: run next to it, a cell joins it.`,
		Example: `  cellsync cell --name c1 --zone z1 --label env=prod --etcd-endpoints http://10.0.0.5:2379
  cellsync cell --name sim1 --runtime sim --capacity-memory 8192`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rec := model.Cell{Name: cfg.Name, Zone: cfg.Zone, Labels: cfg.Labels, Capacity: cfg.Capacity}
			if err := rec.Validate(); err != nil {
				return fmt.Errorf("cell flags: %w", err)
			}
			if !cmd.Flags().Changed("etcd-endpoints") {
				t, err := ops.Resolve(ops.Lookup{Getenv: os.Getenv})
				if err != nil {
					return err
				}
				endpoints = t.Etcd
			}
			if len(endpoints) == 0 {
				return fmt.Errorf("no etcd endpoints: pass --etcd-endpoints or set %s", ops.EnvEtcd)
			}
			if detach {
				cfg.Shutdown = cell.Detach
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel}))
			ctx := cmd.Context()
			st, err := store.Connect(ctx, store.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, TLS: tlsFiles})
			if err != nil {
				return fmt.Errorf("%w: is etcd running there? (the hub's etcd: see `cellsync hub`)", err)
			}
			defer st.Close()
			var rt cell.Runtime
			switch runtime {
			case ops.RuntimeSim:
				rt = sim.New(nil)
			case ops.RuntimeContainerd:
				c, err := ctrd.New(ctx, ctrd.Config{Address: socket, StateDir: cfg.StateDir})
				if err != nil {
					return fmt.Errorf("%w: start containerd, pass --containerd-socket, or use --runtime sim", err)
				}
				defer c.Close()
				rt = c
			default:
				return fmt.Errorf("--runtime %q: use containerd or sim", runtime)
			}
			reg := metrics.NewRegistry()
			agent, err := cell.New(cfg, cell.Deps{Store: st, Runtime: rt, Logger: log, Registerer: reg})
			if err != nil {
				return err
			}
			g, gctx := errgroup.WithContext(ctx)
			if metricsAddr != "" {
				ln, err := net.Listen("tcp", metricsAddr)
				if err != nil {
					return fmt.Errorf("listen for metrics on %s: %w (pass --metrics \"\" to turn it off)", metricsAddr, err)
				}
				mux := http.NewServeMux()
				mux.Handle("GET /metrics", metrics.Handler(reg))
				g.Go(func() error { return httpserve.Serve(gctx, ln, mux, httpserve.Limits{}) })
				fmt.Fprintf(cmd.ErrOrStderr(), "cellsync cell: metrics on http://%s/metrics\n", ln.Addr())
			}
			g.Go(func() error { return agent.Run(gctx) })
			errc := make(chan error, 1)
			go func() { errc <- g.Wait() }()
			select {
			case <-agent.Registered():
				fmt.Fprintf(cmd.ErrOrStderr(), "cellsync cell: %s registered in zone %q with runtime %s\n", cfg.Name, cfg.Zone, rt.Name())
				return <-errc
			case err := <-errc:
				return err
			}
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&cfg.Name, "name", "", "cell name, a DNS label (required)")
	fl.StringVar(&cfg.Zone, "zone", "", "failure domain")
	fl.StringToStringVar(&cfg.Labels, "label", nil, "label key=value for selectors (repeatable)")
	fl.Int64Var(&cfg.Capacity.MemoryMB, "capacity-memory", 4096, "memory offered, in MiB")
	fl.Int64Var(&cfg.Capacity.DiskMB, "capacity-disk", 20480, "disk offered, in MiB")
	fl.IntVar(&cfg.Capacity.Containers, "capacity-containers", 100, "containers offered")
	fl.StringVar(&cfg.StateDir, "state-dir", "/var/lib/cellsync", "directory for Config files and container output")
	fl.DurationVar(&cfg.LeaseTTL, "lease-ttl", cell.DefaultLeaseTTL, "registration lease TTL")
	fl.DurationVar(&cfg.EvacuationTimeout, "evacuation-timeout", cell.DefaultEvacuationTimeout, "how long to wait for the hub to move the cell's LRPs at shutdown")
	fl.BoolVar(&detach, "detach", false, "at shutdown, leave containers running for the next agent instead of evacuating")
	fl.StringSliceVar(&endpoints, "etcd-endpoints", nil, "etcd endpoints (env "+ops.EnvEtcd+")")
	fl.StringVar(&runtime, "runtime", ops.RuntimeContainerd, "container runtime: containerd or sim")
	fl.StringVar(&socket, "containerd-socket", ops.DefaultContainerdSocket, "containerd's socket")
	fl.TextVar(&logLevel, "log-level", slog.LevelInfo, "log level: debug, info, warn, error")
	fl.StringVar(&metricsAddr, "metrics", "127.0.0.1:9100", "address of the cell's /metrics (\":9100\" serves other machines too); empty turns it off")
	fl.StringVar(&tlsFiles.CA, "etcd-ca", "", "CA file for mutual TLS with etcd (see cellsync certs)")
	fl.StringVar(&tlsFiles.Cert, "etcd-cert", "", "this cell's client certificate for etcd")
	fl.StringVar(&tlsFiles.Key, "etcd-key", "", "this cell's client key for etcd")
	cfg.Version = "dev"
	_ = cmd.MarkFlagRequired("name")
	return cmd
}
