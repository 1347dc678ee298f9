package main

import (
	"fmt"
	"sort"

	"github.com/spf13/cobra"

	"github.com/cellsync/cellsync/certs"
	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/store"
)

func newCerts() *cobra.Command {
	var (
		dir   string
		cells []string
		hosts []string
	)
	cmd := &cobra.Command{
		Use:   "certs",
		Short: "Generate a development CA and mutual-TLS certificates for etcd, the hub and cells",
		Long: `certs writes a new certificate authority, a serving certificate for etcd
(localhost, 127.0.0.1 and any --host) and client certificates for etcd's
root user, the hub, routers and each --cell (common name "cell-<name>"), as PEM files
in --dir; ` + "`cellsync auth`" + ` then gives each identity its etcd role. A cell's
certificate also serves its logs (same host names as etcd's), which only the
root and hub identities may read. For
development and tests only: ECDSA P-256 keys, valid for one year.`,
		Example: `  cellsync certs --dir dev-certs --cell c1 --cell c2
  # hub.yaml: etcd: {caFile: dev-certs/ca.pem, certFile: dev-certs/hub.pem, keyFile: dev-certs/hub-key.pem,
  #                  serverCertFile: dev-certs/etcd.pem, serverKeyFile: dev-certs/etcd-key.pem}
  cellsync cell --name c1 --etcd-ca dev-certs/ca.pem --etcd-cert dev-certs/cell-c1.pem --etcd-key dev-certs/cell-c1-key.pem ...`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			clients := []string{store.RootUser, store.HubUser, store.RouterUser}
			var serving []string
			for _, c := range cells {
				if err := model.CheckCellName(c); err != nil {
					return fmt.Errorf("--cell: %w", err)
				}
				clients = append(clients, store.CellUser(c))
				serving = append(serving, store.CellUser(c))
			}
			files, err := certs.Generate(dir, certs.Options{Clients: clients, Hosts: hosts, Serving: serving})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "ca      %s\n", files.CA)
			fmt.Fprintf(out, "etcd    %s %s\n", files.Server.Cert, files.Server.Key)
			names := make([]string, 0, len(files.Clients))
			for n := range files.Clients {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				fmt.Fprintf(out, "%-7s %s %s\n", n, files.Clients[n].Cert, files.Clients[n].Key)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "cellsync-certs", "directory to write the PEM files to")
	cmd.Flags().StringArrayVar(&cells, "cell", nil, "a cell name to make a client certificate for (repeatable)")
	cmd.Flags().StringArrayVar(&hosts, "host", nil, "an extra DNS name or IP address of etcd and the cells (repeatable)")
	return cmd
}
