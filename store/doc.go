// Package store is cellsync's access to etcd: the keyspace, an embedded etcd
// server for single-machine use and tests, and a client with typed reads,
// watches, batched transactional writes and compare-and-swap.
//
// # Keyspace
//
// Every key lives under Root ("/cellsync/v1/"); the functions in keys.go are
// the only place key strings are built:
//
//	cells/<cell>                 Cell registration, under the cell's lease
//	desired/<cell>/<Kind>/<name> model.Assignment: what one workload asks of one cell
//	specs/<sha256>               content-addressed object bodies shared by cells
//	actual/<cell>/<instance>     model.Actual, written by the cell under its lease
//	actual/<cell>/agent          model.CellReport, the cell's applied revision
//	tasks/<task>                 model.TaskRecord; transitions by compare-and-swap
//	status/<name>                hub status: synced commit, errors, conflicts
//	locks/hub                    hub leader election
//
// # Values
//
// Values are compact JSON (no indentation, empty fields omitted). The largest
// values, object bodies, are content-addressed and stored once however many
// cells use them, so value size is dominated by small records; JSON keeps them
// readable with etcdctl and needs no code generation. See docs/architecture.md.
//
// # Lifecycle
//
//	srv, err := store.StartEmbedded(ctx, store.EmbedConfig{Dir: dataDir})
//	defer srv.Close()
//	c, err := store.Connect(ctx, store.Config{Endpoints: srv.Endpoints()}) // unix:///…/client.sock
//	defer c.Close()
//	res, err := c.Write(ctx, ops) // batched; CAS losers come back in res.Conflicts
//
// The embedded server opens no peer listener, and without TLS no TCP port:
// its clients reach it through a unix socket in its data dir (EmbedConfig).
//
// A Client is safe for concurrent use.
package store
