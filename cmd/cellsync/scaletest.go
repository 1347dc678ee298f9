package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/cellsync/cellsync/config"
	"github.com/cellsync/cellsync/scaletest"
)

func newScaletest() *cobra.Command {
	var (
		o        scaletest.Options
		workers  = config.DefaultWorkers()
		resizeTo string
		logLevel slog.Level
		logFile  string
	)
	cmd := &cobra.Command{
		Use:   "scaletest",
		Short: "Adopt N synthetic cells and measure the hub phase by phase, as Hive's scale test did",
		Long: `scaletest starts etcd (embedded unless --etcd-endpoints is given), the hub
and N cell agents with a simulated runtime in this process, commits generated
workloads (SelectorSyncSets of Configs and a few LRPs, all matching every
cell) to a local Git repository, and measures seven phases: adoption, the
commit of the sets, one added resource, one added set, a hub restart, a live
change of worker counts, and the loss of a tenth of the cells.

It prints a progress line while running and a summary table at the end, with
the issue's target and Hive's figure beside each of cellsync's. --out gets
scaletest.json (every figure and sample) and scaletest.svg (queue depth and
throughput over time, one panel per phase). It exits 1 if any phase fails its
correctness check.`,
		Example: `  cellsync scaletest --out ./scaletest-out
  cellsync scaletest --cells 100 --sets 6 --workers fanout=8,apply=32`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Workers = workers
			if o.LRPs == 0 {
				o.LRPs = -1 // Options reads 0 as "default"
			}
			if resizeTo != "" {
				w := workers
				if err := w.Set(resizeTo); err != nil {
					return fmt.Errorf("--resize-to: %w", err)
				}
				o.ResizeTo = w
			}
			o.Progress = cmd.ErrOrStderr()
			if logFile != "" {
				f, err := os.Create(logFile)
				if err != nil {
					return fmt.Errorf("open log file: %w", err)
				}
				defer f.Close()
				o.Logger = slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: logLevel}))
			}
			rep, err := scaletest.Run(cmd.Context(), o)
			if rep != nil {
				if werr := rep.WriteTable(cmd.OutOrStdout()); werr != nil {
					return werr
				}
				if o.Out != "" {
					fmt.Fprintf(cmd.OutOrStdout(), "report: %s/scaletest.json, chart: %s/scaletest.svg\n", o.Out, o.Out)
				}
			}
			if errors.Is(err, scaletest.ErrFailed) {
				return exitError{code: 1}
			}
			return err
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&o.Cells, "cells", 1000, "synthetic cells to adopt")
	fl.IntVar(&o.Sets, "sets", 60, "SelectorSyncSets to commit")
	fl.IntVar(&o.Resources, "resources", 10, "Configs per set")
	fl.IntVar(&o.LRPs, "lrps", 5, "LRPs in the workload (0: none)")
	fl.IntVar(&o.Instances, "instances", 40, "instances of each LRP")
	fl.StringSliceVar(&o.EtcdEndpoints, "etcd-endpoints", nil, "etcd endpoints (an empty cellsync keyspace); empty starts an embedded etcd")
	fl.Var(&workers, "workers", "hub worker goroutines at the start, e.g. fanout=8,apply=32")
	fl.StringVar(&resizeTo, "resize-to", "", "worker goroutines phase 6 writes to the config file; default twice fanout and apply")
	fl.DurationVar(&o.LeaseTTL, "lease-ttl", 10*time.Second, "cell lease TTL (whole seconds; the cell agent's default); phase 7's target is TTL + 2s")
	fl.StringVar(&o.Out, "out", "scaletest-out", "directory for scaletest.json and scaletest.svg (empty: none)")
	fl.StringVar(&o.WorkDir, "work-dir", "", "directory for etcd, the Git repository and the hub's data (default a temporary one, removed)")
	fl.DurationVar(&o.PhaseTimeout, "phase-timeout", 5*time.Minute, "longest wait of one phase")
	fl.StringVar(&o.MetricsAddr, "metrics", "", "serve the hub's /metrics and /status here while running, e.g. 127.0.0.1:9090")
	fl.StringVar(&logFile, "log-file", "", "write the hub's and cells' logs to this file (default: discarded)")
	fl.StringVar(&o.ProfileDir, "profile-dir", "", "write a CPU profile of each phase (cpu-<phase>.pprof) to this directory")
	fl.TextVar(&logLevel, "log-level", slog.LevelInfo, "log level for --log-file")
	return cmd
}
