package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cellsync/cellsync/store"
)

func TestCerts(t *testing.T) {
	dir := t.TempDir()
	out, err := run(t, "certs", "--dir", dir, "--cell", "c1", "--cell", "c2")
	if err != nil {
		t.Fatalf("certs: %v\n%s", err, out)
	}
	for _, f := range []string{"ca.pem", "root.pem", "etcd.pem", "etcd-key.pem", "hub.pem", "hub-key.pem", "cell-c1.pem", "cell-c1-key.pem", "cell-c2-key.pem"} {
		info, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Errorf("%s not written: %v", f, err)
			continue
		}
		if strings.HasSuffix(f, "-key.pem") && info.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, info.Mode().Perm())
		}
	}
	if !strings.Contains(out, "cell-c2 ") {
		t.Errorf("output lacks cell-c2:\n%s", out)
	}
	if _, err := run(t, "certs", "--dir", dir, "--cell", "../x"); err == nil {
		t.Error("a cell name with a path was accepted")
	}
}

// TestCertsAndAuth makes certificates, serves an etcd with them and turns
// on per-identity auth with `cellsync auth`; the cell's identity then
// cannot write the hub's keys.
func TestCertsAndAuth(t *testing.T) {
	dir := t.TempDir()
	if out, err := run(t, "certs", "--dir", dir, "--cell", "c1"); err != nil {
		t.Fatalf("certs: %v\n%s", err, out)
	}
	pem := func(name string) string { return filepath.Join(dir, name) }
	ctx := context.Background()
	srv, err := store.StartEmbedded(ctx, store.EmbedConfig{Dir: t.TempDir(),
		TLS: store.TLSFiles{CA: pem("ca.pem"), Cert: pem("etcd.pem"), Key: pem("etcd-key.pem")}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ep := strings.Join(srv.Endpoints(), ",")
	out, err := run(t, "auth", "--etcd-endpoints", ep, "--etcd-ca", pem("ca.pem"), "--etcd-cert", pem("root.pem"), "--etcd-key", pem("root-key.pem"), "--cell", "c1")
	if err != nil || !strings.Contains(out, "etcd auth enabled: users root, hub, router, cell-c1") {
		t.Fatalf("auth: %v\n%s", err, out)
	}
	c, err := store.Connect(ctx, store.Config{Endpoints: srv.Endpoints(), TLS: store.TLSFiles{CA: pem("ca.pem"), Cert: pem("cell-c1.pem"), Key: pem("cell-c1-key.pem")}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(ctx, []store.Op{{Key: store.DesiredKey("c1", "LRP/x"), Value: []byte("x")}}); err == nil {
		t.Error("cell c1 wrote desired state after auth was enabled")
	}
	if _, err := run(t, "auth", "--cell", "c1"); err == nil {
		t.Error("auth without endpoints and certificates succeeded")
	}
}
