package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"syscall"
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
		killPID  string
		grid     []int
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
scaletest.json (every figure and sample) and scaletest.png (queue depths,
cells applied and keys written over time, one row per phase). It exits 1 if
any phase fails its correctness check.

--grid runs the whole test once per fleet size and adds a table of each
phase's figure by size, with its growth from 1,000 cells (or the smallest
size) to the largest, and growth.png, a log-log chart of time and memory
against cells: the scale law is that nothing grows faster than the fleet.`,
		Example: `  cellsync scaletest --out ./scaletest-out
  cellsync scaletest --cells 100 --sets 6 --workers fanout=8,apply=32
  cellsync scaletest --grid 100,300,1000,3000 --out ./grid-out`,
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
			if killPID != "" {
				o.KillDuringCommit = func() error { return killFromPIDFile(killPID) }
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
			if len(grid) > 0 {
				return runGrid(cmd, grid, o)
			}
			rep, err := scaletest.Run(cmd.Context(), o)
			if rep != nil {
				if werr := rep.WriteTable(cmd.OutOrStdout()); werr != nil {
					return werr
				}
				if o.Out != "" {
					fmt.Fprintf(cmd.OutOrStdout(), "report: %s/scaletest.json, chart: %s/scaletest.png\n", o.Out, o.Out)
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
	fl.IntVar(&o.MaxTxnOps, "max-txn-ops", 128, "the --max-txn-ops of the etcd at --etcd-endpoints (the embedded etcd allows 1024)")
	fl.StringVar(&killPID, "kill-during-commit", "", "a process ID file (e.g. an etcd member's, from scripts/etcd-cluster) to SIGKILL as soon as the commit phase's first write lands")
	fl.Var(&workers, "workers", "hub worker goroutines at the start, e.g. fanout=8,apply=32")
	fl.StringVar(&resizeTo, "resize-to", "", "worker goroutines phase 6 writes to the config file; default twice fanout and apply")
	fl.DurationVar(&o.LeaseTTL, "lease-ttl", 10*time.Second, "cell lease TTL (whole seconds; the cell agent's default); phase 7's target is TTL + 2s")
	fl.StringVar(&o.Out, "out", "scaletest-out", "directory for scaletest.json and scaletest.png (empty: none)")
	fl.IntSliceVar(&grid, "grid", nil, "run once per fleet size, e.g. 100,300,1000, and compare (--cells is ignored)")
	fl.StringVar(&o.WorkDir, "work-dir", "", "directory for etcd, the Git repository and the hub's data (default a temporary one, removed)")
	fl.DurationVar(&o.PhaseTimeout, "phase-timeout", 5*time.Minute, "longest wait of one phase")
	fl.StringVar(&o.MetricsAddr, "metrics", "", "serve the hub's /metrics and /status here while running, e.g. 127.0.0.1:9090")
	fl.StringVar(&logFile, "log-file", "", "write the hub's and cells' logs to this file (default: discarded)")
	fl.StringVar(&o.ProfileDir, "profile-dir", "", "write a CPU profile of each phase and its heap at the end (cpu-<phase>.pprof, heap-<phase>.pprof) to this directory")
	fl.TextVar(&logLevel, "log-level", slog.LevelInfo, "log level for --log-file")
	return cmd
}

// runGrid runs the scale test at each fleet size and prints every run's
// table, then the grid's.
func runGrid(cmd *cobra.Command, sizes []int, o scaletest.Options) error {
	g, err := scaletest.RunGrid(cmd.Context(), sizes, o)
	if g != nil {
		out := cmd.OutOrStdout()
		for _, rep := range g.Runs {
			if werr := rep.WriteTable(out); werr != nil {
				return werr
			}
			fmt.Fprintln(out)
		}
		if werr := g.WriteTable(out); werr != nil {
			return werr
		}
		if o.Out != "" {
			fmt.Fprintf(out, "grid: %s/grid.json, chart: %s/growth.png, each run in %s/<cells>-cells/\n", o.Out, o.Out, o.Out)
		}
	}
	if errors.Is(err, scaletest.ErrFailed) {
		return exitError{code: 1}
	}
	return err
}

// killFromPIDFile sends SIGKILL to the process whose ID the file holds.
func killFromPIDFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read pid file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return fmt.Errorf("pid file %s: %q is not a process ID", path, strings.TrimSpace(string(b)))
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill %d (from %s): %w", pid, path, err)
	}
	return nil
}
