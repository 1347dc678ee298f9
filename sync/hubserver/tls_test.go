package hubserver_test

import (
	"context"
	"testing"
	"time"

	"github.com/cellsync/cellsync/cell"
	"github.com/cellsync/cellsync/cell/runtime/sim"
	"github.com/cellsync/cellsync/certs"
	"github.com/cellsync/cellsync/config"
	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/store"
	"github.com/cellsync/cellsync/sync/hub"
	"github.com/cellsync/cellsync/sync/hubserver"
)

// TestMutualTLSEndToEnd runs the hub on an embedded etcd that serves only
// mutual TLS, with etcd auth on: each identity is its certificate's common
// name. A cell agent joins with its own certificate and takes work within
// its role's permissions, and a client without a certificate is refused.
func TestMutualTLSEndToEnd(t *testing.T) {
	files, err := certs.Generate(t.TempDir(), certs.Options{Clients: []string{store.RootUser, store.HubUser, store.CellUser("c1")}})
	if err != nil {
		t.Fatal(err)
	}
	repoDir, first := exampleRepo(t)
	hubCert := files.Clients["hub"]
	srv := runProcess(t, hubserver.Options{Config: exampleConfig(t, repoDir, func(c *config.Hub) {
		c.Etcd.CAFile, c.Etcd.CertFile, c.Etcd.KeyFile = files.CA, hubCert.Cert, hubCert.Key
		c.Etcd.ServerCertFile, c.Etcd.ServerKeyFile = files.Server.Cert, files.Server.Key
	})})
	eps := srv.Endpoints()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if c, err := store.Connect(ctx, store.Config{Endpoints: eps, DialTimeout: 2 * time.Second}); err == nil {
		c.Close()
		t.Fatal("a client without a certificate connected")
	}

	rootCert := files.Clients[store.RootUser]
	root, err := store.Connect(ctx, store.Config{Endpoints: eps, TLS: store.TLSFiles{CA: files.CA, Cert: rootCert.Cert, Key: rootCert.Key}})
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if err := store.EnableAuth(ctx, root, []string{"c1"}); err != nil {
		t.Fatal(err)
	}

	cellCert := files.Clients[store.CellUser("c1")]
	st, err := store.Connect(ctx, store.Config{Endpoints: eps, TLS: store.TLSFiles{CA: files.CA, Cert: cellCert.Cert, Key: cellCert.Key}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	agent, err := cell.New(cell.Config{Name: "c1", Zone: "z1", Labels: map[string]string{"env": "prod"}, StateDir: t.TempDir(),
		Capacity: model.Capacity{MemoryMB: 8192, DiskMB: 8192, Containers: 50}, EvacuationTimeout: time.Second},
		cell.Deps{Store: st, Runtime: sim.New(nil)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- agent.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()

	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		s := srv.Hub.Status()
		if s.Commit == first && s.Synced && len(s.Cells) == 1 && s.Cells[0].Applied && s.Cells[0].Running > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cell over mTLS never ran its work: %+v", summary(s))
		}
		<-tick.C
	}
}

func summary(s hub.Status) any {
	return struct {
		Commit string
		Synced bool
		Cells  []hub.CellStatus
	}{s.Commit, s.Synced, s.Cells}
}
