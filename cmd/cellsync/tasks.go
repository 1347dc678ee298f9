package main

import (
	"github.com/spf13/cobra"

	"github.com/cellsync/cellsync/ops"
)

func newTasks() *cobra.Command {
	var (
		target targetFlags
		format string
	)
	cmd := &cobra.Command{
		Use:   "tasks",
		Short: "List the Tasks: cell, state, when they ran, exit code and result",
		Long: `tasks lists every Task record in etcd: the cell it ran on, its state
(PENDING, RUNNING, COMPLETED; failed ones say why), when it started, how
long it ran, its exit code and its result: the first 4 KiB of the file its
spec.resultFile names, else the last 4 KiB of its output. The table shows the
result's first line; -o yaml or ` + "`cellsync status Task/<name>`" + ` show all of it.

A Task runs at most once: editing a completed Task does not run it again
(tasks lists the hub's notice); rename it to run it again.`,
		Example: `  cellsync tasks
  cellsync tasks -o yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := ops.CheckFormat(format); err != nil {
				return err
			}
			t, err := target.resolve()
			if err != nil {
				return err
			}
			tasks, err := ops.ReadTasks(cmd.Context(), t)
			if err != nil {
				return err
			}
			return ops.RenderTasks(cmd.OutOrStdout(), tasks, format)
		},
	}
	target.add(cmd.Flags())
	cmd.Flags().StringVarP(&format, "output", "o", ops.FormatTable, "output format: table, json or yaml")
	return cmd
}
