package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/cellsync/cellsync/ops"
)

// etcdEndpoints returns --etcd-endpoints when given, else what ops.Resolve
// finds (environment, config file, a running `cellsync up`); it fails when
// there is none.
func etcdEndpoints(cmd *cobra.Command, flag []string) ([]string, error) {
	if !cmd.Flags().Changed("etcd-endpoints") {
		t, err := ops.Resolve(ops.Lookup{Getenv: os.Getenv})
		if err != nil {
			return nil, err
		}
		flag = t.Etcd
	}
	if len(flag) == 0 {
		return nil, fmt.Errorf("no etcd endpoints: pass --etcd-endpoints or set %s", ops.EnvEtcd)
	}
	return flag, nil
}
