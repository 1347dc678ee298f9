package store_test

import (
	"context"
	"errors"
	"testing"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/cellsync/cellsync/store"
	"github.com/cellsync/cellsync/store/storetest"
)

// TestRouterReadsOnlyActualState: a router's identity lists actual state
// (its route table's source) and nothing else, and writes nothing.
func TestRouterReadsOnlyActualState(t *testing.T) {
	ctx := context.Background()
	etcd := storetest.NewTLS(t, store.RootUser, store.RouterUser)
	root := etcd.Connect(t, store.RootUser)
	if err := store.EnableAuth(ctx, root, []string{"a"}); err != nil {
		t.Fatal(err)
	}
	r := etcd.Connect(t, store.RouterUser)
	if _, _, err := r.List(ctx, store.ActualPrefix); err != nil {
		t.Fatalf("router lists actual state: %v", err)
	}
	if _, _, err := r.List(ctx, store.DesiredPrefix); !errors.Is(err, rpctypes.ErrPermissionDenied) {
		t.Fatalf("router lists desired state: %v, want permission denied", err)
	}
	if _, err := r.Write(ctx, []store.Op{{Key: store.ActualKey("a", "LRP/web/0"), Value: []byte("x")}}); !errors.Is(err, rpctypes.ErrPermissionDenied) {
		t.Fatalf("router writes actual state: %v, want permission denied", err)
	}
}
