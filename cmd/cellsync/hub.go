package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/cellsync/cellsync/config"
	"github.com/cellsync/cellsync/sync/hubserver"
)

func newHub() *cobra.Command {
	var (
		path      string
		endpoints []string
		repo      string
		dataDir   string
		workers   config.Workers
		logLevel  slog.Level
	)
	cmd := &cobra.Command{
		Use:   "hub",
		Short: "Run the hub: follow the Git repository and fan workloads out to cells",
		Long: `hub follows a branch of a Git repository, compiles every workload's CEL
selector against the registered cells, places LRP instances and Tasks, and
writes each cell's assignments to etcd. With no etcd endpoints it starts an
embedded etcd in the data dir: on a unix socket there (this machine, this
user: development), or with etcd.serverCertFile on mutual TLS (etcd.listen).

Configuration comes from --config (see config/testdata/hub.yaml), then flags.
Worker counts changed in the config file take effect without a restart.
Metrics and GET /status are served on listen.metrics (default 127.0.0.1:9090,
this machine only).`,
		Example: `  cellsync hub --repo file:///srv/workloads
  cellsync hub --config hub.yaml --etcd-endpoints http://10.0.0.5:2379`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := config.File{Hub: config.Default()}
			if path != "" {
				var err error
				if f, err = config.Read(path); err != nil {
					return err
				}
			}
			flags := cmd.Flags()
			if flags.Changed("etcd-endpoints") {
				f.Etcd.Endpoints = endpoints
			}
			if flags.Changed("repo") {
				f.Git.URL = repo
			}
			if flags.Changed("data-dir") {
				f.DataDir = dataDir
			}
			if flags.Changed("workers") {
				f.Workers = workers
			}
			for flag, field := range map[string]*string{"etcd-ca": &f.Etcd.CAFile, "etcd-cert": &f.Etcd.CertFile, "etcd-key": &f.Etcd.KeyFile} {
				if flags.Changed(flag) {
					*field, _ = flags.GetString(flag)
				}
			}
			if err := f.Validate(); err != nil {
				return f.Locate(err, path)
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel}))
			srv, err := hubserver.Start(cmd.Context(), hubserver.Options{Config: f.Hub, ConfigPath: path, Logger: log})
			if err != nil {
				return err
			}
			if addr := srv.MetricsAddr(); addr != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "cellsync hub: metrics on http://%s/metrics, status on http://%s/status\n", addr, addr)
			}
			return srv.Run(cmd.Context())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&path, "config", "", "hub config file (YAML); flags override it")
	fl.StringSliceVar(&endpoints, "etcd-endpoints", nil, "etcd endpoints; empty starts an embedded etcd in the data dir")
	fl.StringVar(&repo, "repo", "", "Git repository URL or local path (git.url)")
	fl.StringVar(&dataDir, "data-dir", config.Default().DataDir, "directory for the embedded etcd and the Git mirror")
	workers = config.DefaultWorkers()
	fl.Var(&workers, "workers", "worker goroutines, e.g. fanout=8,apply=32,convergence=2")
	fl.TextVar(&logLevel, "log-level", slog.LevelInfo, "log level: debug, info, warn, error")
	fl.String("etcd-ca", "", "CA file for mutual TLS with etcd (etcd.caFile; see cellsync certs)")
	fl.String("etcd-cert", "", "the hub's client certificate for etcd (etcd.certFile)")
	fl.String("etcd-key", "", "the hub's client key for etcd (etcd.keyFile)")
	return cmd
}
