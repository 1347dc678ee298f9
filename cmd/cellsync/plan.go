package main

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/cellsync/cellsync/loader"
	"github.com/cellsync/cellsync/ops"
)

func newPlan() *cobra.Command {
	var (
		target    targetFlags
		cellsFile string
		format    string
		lopts     loader.Options
		logLevel  slog.Level
	)
	cmd := &cobra.Command{
		Use:   "plan DIR",
		Short: "Show what committing DIR would change on the cells",
		Long: `plan shows what would change if DIR were committed: per workload, the
cells it would land on and, per cell, the objects added, removed (with the
reason: scale-down, workload removed, Sync-mode deletion) and updated
(LRP instances added/removed and field-level diffs), then what cannot be
placed and why, and conflicts between workloads.

It runs the hub's own code on a private, throw-away etcd seeded with the
current cells and assignments of a running installation (found as for
` + "`cellsync status`" + `; etcd is needed), or, offline, with --cells: a YAML list
of cells (name, zone, labels, capacity {memoryMB, diskMB, containers}).

Exit status: 0 no changes, 2 changes, 1 error (like terraform plan
-detailed-exitcode).`,
		Example: `  cellsync plan ./workloads --cells cells.yaml
  cellsync plan ./workloads --etcd-endpoints http://10.0.0.5:2379 -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := ops.CheckFormat(format); err != nil {
				return err
			}
			if err := lopts.Validate(); err != nil {
				return fmt.Errorf("--max-file-size: %w", err)
			}
			opts := ops.PlanOptions{Dir: args[0], Loader: lopts,
				Logger: slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: logLevel}))}
			if cellsFile != "" {
				cells, err := ops.ReadCellsFile(cellsFile)
				if err != nil {
					return err
				}
				opts.Cells = cells
			} else {
				t, err := target.resolve()
				if err != nil {
					return err
				}
				opts.Target = t
			}
			p, err := ops.ComputePlan(cmd.Context(), opts)
			var le *ops.LoadError
			if errors.As(err, &le) {
				for _, e := range le.Problems {
					fmt.Fprintln(cmd.OutOrStdout(), e)
				}
			}
			if err != nil {
				return err
			}
			if err := ops.RenderPlan(cmd.OutOrStdout(), p, format); err != nil {
				return err
			}
			if p.Changed() {
				return exitError{code: 2}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	target.add(fl)
	fl.StringVar(&cellsFile, "cells", "", "YAML list of cells to plan against offline, instead of a running hub's")
	fl.StringVarP(&format, "output", "o", ops.FormatTable, "output format: table, json or yaml")
	fl.Int64Var(&lopts.MaxFileSize, "max-file-size", loader.MaxFileSize, fmt.Sprintf("largest workload file read, in bytes (at most %d)", loader.MaxFileSize))
	fl.TextVar(&logLevel, "log-level", slog.LevelWarn, "log level of the private hub: debug, info, warn, error")
	return cmd
}
