package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/spf13/cobra"

	"github.com/cellsync/cellsync/cell"
	"github.com/cellsync/cellsync/cell/logs"
	"github.com/cellsync/cellsync/cell/logserver"
	ctrd "github.com/cellsync/cellsync/cell/runtime/containerd"
	"github.com/cellsync/cellsync/cell/runtime/sim"
	"github.com/cellsync/cellsync/internal/httpserve"
	"github.com/cellsync/cellsync/metrics"
	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/ops"
	"github.com/cellsync/cellsync/store"
)

// defaultLogsListen is where a cell without certificates serves its logs.
const defaultLogsListen = "127.0.0.1:9101"

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
		portRange   string
		bridge      ctrd.BridgeConfig
		subnet      string
		logsListen  string
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
` + "`cellsync up`" + ` recorded in ./cellsync-data: run next to it, a cell joins it.

It keeps every container's output under --state-dir/logs (--log-files files
of --log-file-size per run, and the run before the last restart) and serves
it to ` + "`cellsync logs`" + ` at --logs-listen, published in its registration:
with the etcd certificates it serves mutual TLS (default :9101) to the hub
and root identities only; without, it listens on loopback only.`,
		Example: `  cellsync cell --name c1 --zone z1 --label env=prod --etcd-endpoints http://10.0.0.5:2379
  cellsync cell --name sim1 --runtime sim --capacity-memory 8192`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rec := model.Cell{Name: cfg.Name, Zone: cfg.Zone, Labels: cfg.Labels, Capacity: cfg.Capacity}
			if err := rec.Validate(); err != nil {
				return fmt.Errorf("cell flags: %w", err)
			}
			endpoints, err := etcdEndpoints(cmd, endpoints)
			if err != nil {
				return err
			}
			if detach {
				cfg.Shutdown = cell.Detach
			}
			if cfg.PortRange, err = cell.ParsePortRange(portRange); err != nil {
				return fmt.Errorf("--port-range: %w", err)
			}
			if subnet != "" {
				if bridge.Subnet, err = netip.ParsePrefix(subnet); err != nil {
					return fmt.Errorf("--bridge-subnet: %w", err)
				}
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel}))
			ctx := cmd.Context()
			if logsListen == defaultLogsListen && tlsFiles.Enabled() && !cmd.Flags().Changed("logs-listen") {
				logsListen = ":9101" // with certificates, others may read
			}
			var logSrv *logserver.Server
			if logsListen != "none" {
				var err error
				if logSrv, err = logserver.Start(logserver.Config{Root: filepath.Join(cfg.StateDir, "logs"), Listen: logsListen, TLS: tlsFiles, URL: cfg.LogsURL}); err != nil {
					return fmt.Errorf("%w (pass --logs-listen none to serve no logs)", err)
				}
				defer logSrv.Close()
				cfg.LogsURL = logSrv.URL()
			}
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
				bridge.Dir = filepath.Join(cfg.StateDir, "network")
				c, err := ctrd.New(ctx, ctrd.Config{Address: socket, Bridge: bridge})
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
			if logSrv != nil {
				g.Go(func() error { return logSrv.Run(gctx) })
				fmt.Fprintf(cmd.ErrOrStderr(), "cellsync cell: logs on %s\n", cfg.LogsURL)
			}
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
	fl.StringVar(&logsListen, "logs-listen", defaultLogsListen, "address of the log server (loopback only without certificates; :9101 with them); none serves no logs")
	fl.StringVar(&cfg.LogsURL, "logs-url", "", "the log server's address to publish (default: from --logs-listen, with this host's name for an unspecified address)")
	fl.Int64Var(&cfg.Logs.MaxFileBytes, "log-file-size", logs.DefaultMaxFileBytes, fmt.Sprintf("bytes of one container output file (%d to %d)", logs.MinMaxFileBytes, logs.MaxMaxFileBytes))
	fl.IntVar(&cfg.Logs.MaxFiles, "log-files", logs.DefaultMaxFiles, fmt.Sprintf("output files kept per run of a container (1 to %d); the run before the last restart is kept too", logs.MaxMaxFiles))
	fl.DurationVar(&cfg.TaskLogRetention, "task-log-retention", cell.DefaultTaskLogRetention, "how long a finished Task's output stays after it leaves the cell (at most 720h)")
	fl.StringVar(&cfg.Address, "address", ops.HostAddress(), "IP address at which routers reach this cell's host ports")
	fl.StringVar(&portRange, "port-range", cell.PortRange{First: cell.DefaultFirstPort, Last: cell.DefaultLastPort}.String(), "host ports for LRP ports (first-last); cells sharing a machine need disjoint ranges")
	fl.DurationVar(&cfg.DrainPeriod, "drain-period", cell.DefaultDrainPeriod, "how long a routed instance keeps serving after leaving the routers, before SIGTERM (at most 10m)")
	fl.StringVar(&bridge.Name, "bridge", ctrd.DefaultBridge, "bridge interface of containers with network bridge")
	fl.StringVar(&subnet, "bridge-subnet", ctrd.DefaultSubnet, "IPv4 subnet of the bridge")
	fl.StringSliceVar(&bridge.PluginDirs, "cni-plugin-dir", ctrd.DefaultPluginDirs, "directories holding the CNI plugins")
	cfg.Version = "dev"
	_ = cmd.MarkFlagRequired("name")
	return cmd
}
