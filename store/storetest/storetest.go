// Package storetest starts a real embedded etcd for tests: one per call, on
// free ports, with its data in the test's temporary directory.
package storetest

import (
	"context"
	"testing"

	"github.com/cellsync/cellsync/store"
)

// New starts an embedded etcd and returns a connected client; both are
// closed when the test ends.
func New(tb testing.TB) (*store.Client, *store.Embedded) {
	tb.Helper()
	ctx := context.Background()
	srv, err := store.StartEmbedded(ctx, store.EmbedConfig{Dir: tb.TempDir()})
	if err != nil {
		tb.Fatalf("start embedded etcd: %v", err)
	}
	tb.Cleanup(srv.Close)
	c, err := store.Connect(ctx, store.Config{Endpoints: srv.Endpoints(), MaxTxnOps: 1024})
	if err != nil {
		tb.Fatalf("connect embedded etcd: %v", err)
	}
	tb.Cleanup(func() { c.Close() })
	return c, srv
}
