package main

import (
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cellsync/cellsync/cell"
	"github.com/cellsync/cellsync/config"
	"github.com/cellsync/cellsync/ops"
)

func newUp() *cobra.Command {
	var (
		cfg      ops.LocalConfig
		every    time.Duration
		logLevel slog.Level
		subnet   string
		ports    string
	)
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run everything in one process: embedded etcd, the hub and local cells",
		Long: `up starts an embedded etcd, the hub and --cells local cell agents in one
process, on a Git repository. With no --repo it creates one from
repo-example/ in the data dir (and reuses it on the next run): edit a file
there, commit, and watch it roll out.

Cells run containers through containerd when its socket answers (the local
busybox image repo-example uses is imported), otherwise through the
simulated runtime; up says which at start. Each cell gets its own bridge
(csup1, csup2...), a part of --bridge-subnet and of --port-range for host
ports. A router serves the LRPs' routes (:8080, or a free port when taken;
repo-example's web is at Host web.apps.internal). up prints where the
router, /metrics and /status are (127.0.0.1:9090, or a free port when
taken), then one progress line whenever the picture changes, until Ctrl-C;
then the cells stop their containers and everything shuts down.`,
		Example: `  cellsync up
  cellsync up --runtime sim --cells 5
  cellsync up --repo https://example.com/workloads.git --data-dir /tmp/cs`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			out := cmd.OutOrStdout()
			var err error
			if cfg.Subnet, err = netip.ParsePrefix(subnet); err != nil {
				return fmt.Errorf("--bridge-subnet: %w", err)
			}
			if cfg.Ports, err = cell.ParsePortRange(ports); err != nil {
				return fmt.Errorf("--port-range: %w", err)
			}
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: logLevel}))
			l, err := ops.StartLocal(ctx, cfg, ops.LocalDeps{Logger: log, Out: out})
			if err != nil {
				return err
			}
			t := l.Target()
			fmt.Fprintf(out, "hub: status %s/status, metrics %s/metrics; etcd %s\n", t.Hub, t.Hub, strings.Join(t.Etcd, ","))
			fmt.Fprintf(out, "router: %s (try: curl -H 'Host: web.apps.internal' %s/)\n", l.RouterURL(), l.RouterURL())
			fmt.Fprintf(out, "try: cellsync status; cellsync cells; cellsync logs LRP/web; cellsync events (in another terminal, from this directory)\n")
			errc := make(chan error, 1)
			go func() { errc <- l.Run(ctx) }()
			tick := time.NewTicker(every)
			defer tick.Stop()
			last := ""
			for {
				select {
				case err := <-errc:
					fmt.Fprintln(out, "stopped")
					return err
				case <-ctx.Done():
					fmt.Fprintln(out, "stopping: cells stop their containers, then the hub")
					err := <-errc
					fmt.Fprintln(out, "stopped")
					return err
				case now := <-tick.C:
					if line := ops.Progress(l.Status()); line != last {
						fmt.Fprintf(out, "%s  %s\n", now.Format("15:04:05"), line)
						last = line
					}
				}
			}
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&cfg.Repo, "repo", "", "Git repository URL or local path (default: a repository created from repo-example in the data dir)")
	fl.IntVar(&cfg.Cells, "cells", 3, "number of local cells")
	fl.StringVar(&cfg.Runtime, "runtime", "", "containerd or sim (default: containerd when its socket answers, else sim)")
	fl.StringVar(&cfg.ContainerdSocket, "containerd-socket", ops.DefaultContainerdSocket, "containerd's socket")
	fl.StringVar(&cfg.DataDir, "data-dir", config.Default().DataDir, "directory for etcd, the repository and the cells' state")
	fl.StringVar(&cfg.Metrics, "listen", "127.0.0.1:9090", "address of /metrics and /status; \":9090\" serves other machines too (a free port is used when it is taken)")
	fl.DurationVar(&every, "refresh", time.Second, "how often the progress line is refreshed")
	fl.StringVar(&cfg.Router, "router", ops.DefaultRouter, "address of the router (a free port is used when it is taken)")
	fl.StringVar(&cfg.BridgePrefix, "bridge-prefix", ops.DefaultBridgePrefix, "the cells' bridges are named prefix1, prefix2...")
	fl.StringVar(&subnet, "bridge-subnet", ops.DefaultLocalSubnet, "IPv4 subnet split among the cells' bridges")
	fl.StringVar(&ports, "port-range", ops.DefaultLocalPorts.String(), "host ports split among the cells (first-last)")
	fl.TextVar(&logLevel, "log-level", slog.LevelWarn, "log level of the hub and cells (to stderr): debug, info, warn, error")
	return cmd
}
