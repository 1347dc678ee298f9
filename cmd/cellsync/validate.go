package main

import (
	"fmt"
	"os"

	"github.com/cellsync/cellsync/loader"
	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/selectors"
	"github.com/cellsync/cellsync/store"
	"github.com/spf13/cobra"
)

func newValidate() *cobra.Command {
	var opts loader.Options
	cmd := &cobra.Command{
		Use:   "validate DIR",
		Short: "Check a workload directory and print every problem as file:line: message",
		Long: `validate loads every *.yaml and *.yml file under DIR (hidden directories
are skipped), checks each document and the rules that span files, compiles
every CEL selector, checks that every object's stored body fits in one etcd
request, and prints every problem as "file:line: message". It exits 1 when
there is any problem.`,
		Example: "  cellsync validate repo-example",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.Validate(); err != nil {
				return fmt.Errorf("--max-file-size: %w", err)
			}
			dir := args[0]
			info, err := os.Stat(dir)
			if err != nil {
				return fmt.Errorf("validate: %w", err)
			}
			if !info.IsDir() {
				return fmt.Errorf("validate: %s is not a directory", dir)
			}
			res, err := loader.LoadDir(dir, opts)
			if err != nil {
				return fmt.Errorf("validate: %w", err)
			}
			env, err := selectors.NewEnv(selectors.Config{})
			if err != nil {
				return fmt.Errorf("validate: %w", err)
			}
			errs := append(res.Errors(), selectors.CheckObjects(env, res.Objects())...)
			for _, o := range res.Objects() {
				if _, err := model.CellBodies(o, store.DefaultMaxBodyBytes); err != nil {
					errs = append(errs, err)
				}
			}
			model.SortErrors(errs)
			out := cmd.OutOrStdout()
			for _, err := range errs {
				fmt.Fprintln(out, err)
			}
			if len(errs) > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "%d problem(s) in %s\n", len(errs), dir)
				return exitError{code: 1}
			}
			fmt.Fprintf(out, "%s: %d files, %d workloads, no problems\n", dir, len(res.Files), len(res.Objects()))
			return nil
		},
	}
	cmd.Flags().Int64Var(&opts.MaxFileSize, "max-file-size", loader.MaxFileSize, fmt.Sprintf("largest workload file read, in bytes (at most %d)", loader.MaxFileSize))
	return cmd
}
