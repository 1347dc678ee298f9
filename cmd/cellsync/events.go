package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/cellsync/cellsync/events"
	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/ops"
)

func newEvents() *cobra.Command {
	var (
		target targetFlags
		f      events.Filter
		since  string
		follow bool
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "events [WORKLOAD]",
		Short: "Show what happened: commits, instances started and crashed, Tasks, cells",
		Long: `events prints the event log, oldest first: commits seen and applied on
every cell, instances started, crashed, OOM-killed or stopped, Task
transitions, cells joined, evacuating, left or lost, and errors. Warnings
are marked "!". Give a WORKLOAD (LRP/web, Task/migrate-db) or --cell to
narrow it; -f keeps printing new events.

The log lives in etcd, one bounded prefix per writer (the hub and each
cell keep their newest events); the hub also serves it at GET /events.`,
		Example: `  cellsync events
  cellsync events LRP/web --since 10m
  cellsync events --cell cell-1 -f`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := target.resolve()
			if err != nil {
				return err
			}
			if len(args) == 1 {
				f.Workload = args[0]
			}
			if f.Since, err = events.ParseSince(since, time.Now()); err != nil {
				return err
			}
			if f.Limit < 0 || f.Limit > events.MaxCapacity {
				return fmt.Errorf("--limit %d: must be between 0 and %d", f.Limit, events.MaxCapacity)
			}
			out := cmd.OutOrStdout()
			enc := json.NewEncoder(out)
			return ops.WatchEvents(cmd.Context(), t, f, follow, func(e model.Event) error {
				if asJSON {
					return enc.Encode(e)
				}
				_, err := fmt.Fprintln(out, ops.EventLine(e))
				return err
			})
		},
	}
	target.add(cmd.Flags())
	fl := cmd.Flags()
	fl.BoolVarP(&follow, "follow", "f", false, "keep printing new events until interrupted")
	fl.StringVar(&since, "since", "1h", "only events newer than this: a duration such as 10m, or an RFC 3339 time; empty for all")
	fl.StringVar(&f.Cell, "cell", "", "only the events of this cell (and the hub's about it)")
	fl.IntVar(&f.Limit, "limit", 500, "at most this many of the newest events before following (0: all)")
	fl.BoolVar(&asJSON, "json", false, "one JSON object per event")
	return cmd
}
