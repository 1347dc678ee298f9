package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cellsync/cellsync/ops"
	"github.com/cellsync/cellsync/store"
)

// targetFlags are the flags every operator command finds the hub with.
type targetFlags struct {
	hub     string
	etcd    []string
	config  string
	dataDir string
	tls     store.TLSFiles
}

func (f *targetFlags) add(fl *pflag.FlagSet) {
	fl.StringVar(&f.hub, "hub", "", "hub URL, e.g. http://localhost:9090 (env "+ops.EnvHub+")")
	fl.StringSliceVar(&f.etcd, "etcd-endpoints", nil, "etcd endpoints (env "+ops.EnvEtcd+")")
	fl.StringVar(&f.config, "config", "", "hub config file to read the endpoints from (env "+ops.EnvConfig+")")
	fl.StringVar(&f.dataDir, "data-dir", "", "data dir of a running `cellsync up`, whose endpoints it recorded (default ./cellsync-data)")
	fl.StringVar(&f.tls.CA, "etcd-ca", "", "CA file for mutual TLS with etcd and the cells' log servers (see cellsync certs)")
	fl.StringVar(&f.tls.Cert, "etcd-cert", "", "the operator's certificate (root) for etcd and the cells' log servers")
	fl.StringVar(&f.tls.Key, "etcd-key", "", "the operator's key")
}

func (f *targetFlags) resolve() (ops.Target, error) {
	return ops.Resolve(ops.Lookup{Hub: f.hub, Etcd: f.etcd, ConfigPath: f.config, DataDir: f.dataDir, Getenv: os.Getenv, TLS: f.tls})
}

func newStatus() *cobra.Command {
	var (
		target targetFlags
		format string
	)
	cmd := &cobra.Command{
		Use:   "status [WORKLOAD]",
		Short: "Show the hub's status: synced or not and why, workloads, cells, errors; or one workload in detail",
		Long: `status prints whether the hub is synced (the newest commit is fetched and
compiled and every write has landed) and, if not or if something failed,
the reason; per workload the instances desired, placed, running and crashed
and its state (ready, progressing or failed, with the reason); per cell
whether it runs everything the hub wants of it (COMMIT current or behind);
then failed workloads with their file and line, unplaceable instances, errors
and conflicts.

It exits 0 when the hub is synced and ready, 2 when it is not synced or
something failed (the reason is also printed on stderr), 1 when no hub
answers.

With a WORKLOAD (LRP/web, SelectorSyncSet/node-agent, Task/migrate-db) it
prints that workload's instances, read from etcd: index, cell, zone,
version and commit, state and since when, restarts, how the last run ended
(exit code, OOM-killed with its limit, health check failed N times, image
not found, killed by the hub) and health; then the full last exits, the
placement reasons of unplaced instances and the workload's problems. For a
Task: its cell, state, duration, exit code and result.

It asks the hub (GET /status). With only etcd endpoints it reads the copy
the hub keeps in etcd, written whenever the status changes (etcd that
refuses writes keeps an older copy: ask the hub). The hub is
found from --hub/--etcd-endpoints, then CELLSYNC_HUB/CELLSYNC_ETCD_ENDPOINTS,
then --config (or CELLSYNC_CONFIG), then the endpoints a running
` + "`cellsync up`" + ` recorded in its data dir, then http://localhost:9090.`,
		Example: `  cellsync status
  cellsync status -o json --hub http://10.0.0.5:9090
  cellsync status LRP/web
  cellsync status Task/migrate-db -o yaml`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := ops.CheckFormat(format); err != nil {
				return err
			}
			t, err := target.resolve()
			if err != nil {
				return err
			}
			if len(args) == 1 {
				d, err := ops.ReadDetail(cmd.Context(), t, args[0])
				if err != nil {
					return err
				}
				return ops.RenderDetail(cmd.OutOrStdout(), d, format)
			}
			st, err := ops.FetchStatus(cmd.Context(), t)
			if err != nil {
				return err
			}
			if err := ops.RenderStatus(cmd.OutOrStdout(), st, format); err != nil {
				return err
			}
			if err := ops.StatusProblem(st); err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), "cellsync status:", err)
				return exitError{code: 2}
			}
			return nil
		},
	}
	target.add(cmd.Flags())
	cmd.Flags().StringVarP(&format, "output", "o", ops.FormatTable, "output format: table, json or yaml")
	return cmd
}
