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

// TestCellNamesChecked: a --cell that is not a cell name is refused before
// anything is written or asked of etcd, since the name becomes an etcd user,
// a role's key prefixes and a certificate's file name (issue 15.8).
func TestCellNamesChecked(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"", "C1", "c1/", "../../etc/x", "c1,hub", strings.Repeat("c", 64)} {
		out, err := run(t, "auth", "--etcd-endpoints", "https://127.0.0.1:1", "--etcd-ca", "ca.pem", "--etcd-cert", "root.pem", "--etcd-key", "root-key.pem", "--cell", name)
		if err == nil || !strings.Contains(err.Error(), "--cell: ") {
			t.Errorf("auth --cell %q: err = %v, want the name refused\n%s", name, err, out)
		}
		out, err = run(t, "certs", "--dir", dir, "--cell", name)
		if err == nil || !strings.Contains(err.Error(), "--cell: ") {
			t.Errorf("certs --cell %q: err = %v, want the name refused\n%s", name, err, out)
		}
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) > 0 {
		t.Errorf("certs wrote %v (%v) for refused names", entries, err)
	}
}
