package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/store"
)

func newAuth() *cobra.Command {
	var (
		endpoints []string
		tlsFiles  store.TLSFiles
		cells     []string
	)
	cmd := &cobra.Command{
		Use:   "auth",
		Short: "Turn on etcd's authorization with one role per cellsync identity",
		Long: `auth creates etcd users and roles for the hub and for each --cell, then
enables etcd's auth. etcd must serve mutual TLS with client-certificate auth:
each client's user is its certificate's common name, as ` + "`cellsync certs`" + `
writes them ("root", "hub", "cell-<name>"). Connect with the root
certificate. The hub may read and write all of cellsync's keys; a cell reads
its own desired state and the bodies, and writes only its registration, its
actual state and task records. Run it again with a new --cell to add a cell.`,
		Example: `  cellsync auth --etcd-endpoints https://127.0.0.1:2379 --etcd-ca certs/ca.pem \
    --etcd-cert certs/root.pem --etcd-key certs/root-key.pem --cell c1 --cell c2`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, cell := range cells {
				if err := model.CheckCellName(cell); err != nil {
					return fmt.Errorf("--cell: %w", err)
				}
			}
			if len(endpoints) == 0 || !tlsFiles.Enabled() {
				return fmt.Errorf("auth needs --etcd-endpoints and the root certificate (--etcd-ca, --etcd-cert, --etcd-key): run `cellsync certs --cell ...` first")
			}
			c, err := store.Connect(cmd.Context(), store.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, TLS: tlsFiles})
			if err != nil {
				return err
			}
			defer c.Close()
			if err := store.EnableAuth(cmd.Context(), c, cells); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "etcd auth enabled: users %s, %s, %s", store.RootUser, store.HubUser, store.RouterUser)
			for _, cell := range cells {
				fmt.Fprintf(cmd.OutOrStdout(), ", %s", store.CellUser(cell))
			}
			fmt.Fprintln(cmd.OutOrStdout())
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringSliceVar(&endpoints, "etcd-endpoints", nil, "etcd endpoints (https://...)")
	fl.StringVar(&tlsFiles.CA, "etcd-ca", "", "CA file")
	fl.StringVar(&tlsFiles.Cert, "etcd-cert", "", "the root user's certificate")
	fl.StringVar(&tlsFiles.Key, "etcd-key", "", "the root user's key")
	fl.StringArrayVar(&cells, "cell", nil, "a cell to create a user and role for, by its name (a DNS label; repeatable)")
	return cmd
}
