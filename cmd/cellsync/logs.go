package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/cellsync/cellsync/events"
	"github.com/cellsync/cellsync/ops"
)

func newLogs() *cobra.Command {
	var (
		target targetFlags
		req    = ops.LogsRequest{Index: -1}
		since  string
	)
	cmd := &cobra.Command{
		Use:   "logs WORKLOAD",
		Short: "Print what a workload's containers wrote, from every cell that runs them",
		Long: `logs prints the stdout and stderr of a workload's instances: every
instance of an LRP (also one a SelectorSyncSet carries: name the LRP), on
every cell, or a Task's one run. Several instances are interleaved by time,
each line prefixed with [cell/index].

It finds the instances in etcd (their cells' actual state, or the Task's
record) and reads each cell's log server, at the address the cell publishes
when it registers. With certificates (--etcd-ca/--etcd-cert/--etcd-key, the
"root" identity of ` + "`cellsync certs`" + `) it speaks mutual TLS to etcd and to
the cells. Cells keep each instance's output in bounded files (2 × 8 MiB per
run by default) and the run before the last restart (--previous) until the
instance leaves the cell; a Task's for a day after it leaves.`,
		Example: `  cellsync logs LRP/web
  cellsync logs LRP/web --index 2 -f
  cellsync logs LRP/worker --cell cell-1 --tail 20 --timestamps
  cellsync logs LRP/web --index 0 --previous     # the run that crashed
  cellsync logs Task/migrate-db`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := target.resolve()
			if err != nil {
				return err
			}
			req.Workload = args[0]
			if req.Since, err = events.ParseSince(since, time.Now()); err != nil {
				return err
			}
			sources, err := ops.FindLogSources(cmd.Context(), t, req)
			if err != nil {
				return err
			}
			return ops.StreamLogs(cmd.Context(), t, req, sources, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	target.add(cmd.Flags())
	fl := cmd.Flags()
	fl.IntVar(&req.Index, "index", -1, "only this LRP instance index")
	fl.StringVar(&req.Cell, "cell", "", "only the instances on this cell")
	fl.BoolVarP(&req.Follow, "follow", "f", false, "keep printing new output, across restarts, until interrupted")
	fl.IntVar(&req.Tail, "tail", -1, "only the last N lines of each instance (-1: all)")
	fl.StringVar(&since, "since", "", "only lines newer than this: a duration such as 10m, or an RFC 3339 time")
	fl.BoolVarP(&req.Previous, "previous", "p", false, "the run before the last restart (the one that crashed)")
	fl.BoolVar(&req.Timestamps, "timestamps", false, "prefix each line with the time it was written")
	fl.IntVar(&req.MaxStreams, "max-streams", ops.DefaultMaxStreams, "with -f, the most instances followed at once")
	return cmd
}
