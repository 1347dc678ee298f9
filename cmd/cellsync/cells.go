package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/cellsync/cellsync/ops"
)

func newCells() *cobra.Command {
	var (
		target targetFlags
		format string
	)
	cmd := &cobra.Command{
		Use:   "cells",
		Short: "List the cells: zone, labels, capacity used/free, instances, health",
		Long: `cells lists the registered cells from etcd with their zone, labels,
capacity used and offered (from the LRP instances and Tasks assigned to
them), instance counts and health (ok, evacuating, no report, stale
report). With only a hub URL it shows what the hub's status knows (no
labels nor capacity). The endpoints are found as for ` + "`cellsync status`.",
		Example: `  cellsync cells
  cellsync cells -o yaml --etcd-endpoints http://10.0.0.5:2379`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := ops.CheckFormat(format); err != nil {
				return err
			}
			t, err := target.resolve()
			if err != nil {
				return err
			}
			var cells []ops.CellInfo
			if len(t.Etcd) > 0 {
				cells, err = ops.ReadCells(cmd.Context(), t, time.Now())
			} else {
				st, ferr := ops.FetchStatus(cmd.Context(), t)
				cells, err = ops.CellsFromStatus(st), ferr
			}
			if err != nil {
				return err
			}
			return ops.RenderCells(cmd.OutOrStdout(), cells, format)
		},
	}
	target.add(cmd.Flags())
	cmd.Flags().StringVarP(&format, "output", "o", ops.FormatTable, "output format: table, json or yaml")
	return cmd
}
