package store_test

import (
	"context"
	"errors"
	"testing"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/cellsync/cellsync/store"
	"github.com/cellsync/cellsync/store/storetest"
)

// TestPerCellAuthorization enables etcd auth with client-certificate
// identities and shows that a cell writes its own keys but not another
// cell's, nor desired state, which only the hub writes.
func TestPerCellAuthorization(t *testing.T) {
	ctx := context.Background()
	etcd := storetest.NewTLS(t, store.RootUser, store.HubUser, store.CellUser("a"), store.CellUser("b"))
	as := func(user string) *store.Client { return etcd.Connect(t, user) }
	root := as(store.RootUser)
	if err := store.EnableAuth(ctx, root, []string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	hub, cellA := as(store.HubUser), as(store.CellUser("a"))

	tests := []struct {
		name    string
		c       *store.Client
		key     string
		allowed bool
	}{
		{"hub writes desired state", hub, store.DesiredKey("a", "LRP/web"), true},
		{"hub writes a body", hub, store.SpecKey("abc"), true},
		{"cell registers itself", cellA, store.CellKey("a"), true},
		{"cell reports its own state", cellA, store.ActualKey("a", "LRP/web/0"), true},
		{"cell claims a task", cellA, store.TaskKey("migrate"), true},
		{"cell writes its own events", cellA, store.CellEventsPrefix("a") + "1", true},
		{"cell writes another cell's events", cellA, store.CellEventsPrefix("b") + "1", false},
		{"cell writes the hub's events", cellA, store.HubEventsPrefix + "1", false},
		{"cell writes another cell's registration", cellA, store.CellKey("b"), false},
		{"cell writes another cell's actual state", cellA, store.ActualKey("b", "LRP/web/0"), false},
		{"cell writes its own desired state", cellA, store.DesiredKey("a", "LRP/web"), false},
		{"cell writes another cell's desired state", cellA, store.DesiredKey("b", "LRP/web"), false},
		{"cell writes a body", cellA, store.SpecKey("abc"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.c.Write(ctx, []store.Op{{Key: tt.key, Value: []byte("x")}})
			if tt.allowed && err != nil {
				t.Fatalf("write %s: %v", tt.key, err)
			}
			if !tt.allowed && !errors.Is(err, rpctypes.ErrPermissionDenied) {
				t.Fatalf("write %s: %v, want permission denied", tt.key, err)
			}
		})
	}
	// Reads follow the same lines: a cell reads its own desired prefix and
	// the bodies, but not another cell's desired state.
	if _, _, err := cellA.List(ctx, store.DesiredCellPrefix("a")); err != nil {
		t.Errorf("cell a lists its desired state: %v", err)
	}
	if _, _, err := cellA.Get(ctx, store.SpecKey("abc")); err != nil {
		t.Errorf("cell a reads a body: %v", err)
	}
	if _, _, err := cellA.List(ctx, store.DesiredCellPrefix("b")); err == nil {
		t.Error("cell a listed cell b's desired state")
	}
}
