// Command cellsync is the one binary of cellsync: the hub, the cell agent and
// the operator's tools are its subcommands. This package only wires: it parses
// flags, builds dependencies and runs them.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/cellsync/cellsync/cell/logs"
)

// exitError carries a process exit code through cobra without printing twice.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func main() {
	// containerd's shim starts this binary as each container's log driver.
	if code, ok := logs.RunDriver(os.Args); ok {
		os.Exit(code)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRoot().ExecuteContext(ctx)
	stop()
	var ee exitError
	switch {
	case errors.As(err, &ee):
		os.Exit(ee.code)
	case err != nil:
		fmt.Fprintln(os.Stderr, "cellsync:", err)
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "cellsync",
		Short: "GitOps for a fleet of cells: commit workloads, cellsync runs them",
		Long: `cellsync makes a fleet of worker machines ("cells") run the workloads
committed to a Git repository: LRPs (kept at N instances), Tasks (run at most
once), Configs, and SelectorSyncSets that copy resources to every cell a CEL
selector matches.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newUp(), newHub(), newCell(), newStatus(), newCells(), newLogs(), newTasks(), newEvents(), newPlan(), newValidate(), newScaletest(), newCerts(), newAuth(), newRouter())
	return root
}
