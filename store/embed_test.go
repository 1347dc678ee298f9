package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cellsync/cellsync/internal/netprobe"
	"github.com/cellsync/cellsync/store"
	"github.com/cellsync/cellsync/store/storetest"
)

// probeOpened starts a server with start and probes every TCP listener the
// process opened meanwhile with a raft message and a plain etcd request: all
// must be refused. It returns those listeners.
func probeOpened(t *testing.T, start func()) []string {
	t.Helper()
	opened, err := netprobe.OpenedBy(start)
	if err != nil {
		t.Fatal(err)
	}
	if err := netprobe.Refused(context.Background(), opened); err != nil {
		t.Error(err)
	}
	return opened
}

// TestEmbeddedListeners: the embedded etcd opens no listener that lets an
// unauthenticated process in (issue 15.1: its plain-HTTP peer listener took
// raft messages from anyone). Without TLS it listens on no TCP port at all,
// only a unix socket of its own user; with TLS, only on its client port,
// which requires a client certificate.
func TestEmbeddedListeners(t *testing.T) {
	t.Run("without TLS", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "etcd")
		var srv *store.Embedded
		opened := probeOpened(t, func() {
			var err error
			if srv, err = store.StartEmbedded(context.Background(), store.EmbedConfig{Dir: dir}); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(srv.Close)
		})
		if len(opened) > 0 {
			t.Errorf("TCP listeners opened: %v, want none", opened)
		}
		eps := srv.Endpoints()
		if len(eps) != 1 || !strings.HasPrefix(eps[0], "unix://") {
			t.Fatalf("endpoints = %v, want one unix socket", eps)
		}
		sock := strings.TrimPrefix(eps[0], "unix://")
		for path, want := range map[string]os.FileMode{sock: 0o600, filepath.Dir(sock): 0o700} {
			if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != want {
				t.Errorf("%s: %v, mode %v, want %v", path, err, fi.Mode().Perm(), want)
			}
		}
		c, err := store.Connect(context.Background(), store.Config{Endpoints: eps})
		if err != nil {
			t.Fatalf("connect through the socket: %v", err)
		}
		defer c.Close()
		if _, err := c.Write(context.Background(), []store.Op{{Key: "/k", Value: []byte("v")}}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("with TLS", func(t *testing.T) {
		var etcd *storetest.TLS
		opened := probeOpened(t, func() { etcd = storetest.NewTLS(t, "hub") })
		if len(opened) != 1 || !strings.HasSuffix(etcd.Server.Endpoints()[0], opened[0]) {
			t.Errorf("TCP listeners opened: %v, want only the client port %v", opened, etcd.Server.Endpoints())
		}
		etcd.Connect(t, "hub") // a client with a certificate gets in
	})
	t.Run("plain HTTP only on loopback", func(t *testing.T) {
		_, err := store.StartEmbedded(context.Background(), store.EmbedConfig{Dir: t.TempDir(), ClientURL: "http://0.0.0.0:0"})
		if err == nil || !strings.Contains(err.Error(), "loopback address or a unix socket") {
			t.Errorf("plain HTTP on every interface: err = %v, want it refused", err)
		}
	})
}

// TestEmbeddedLongDir: a data dir too deep for a unix socket path puts the
// socket in a private temporary directory, removed on Close.
func TestEmbeddedLongDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), strings.Repeat("d", 60), strings.Repeat("e", 60))
	srv, err := store.StartEmbedded(context.Background(), store.EmbedConfig{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	sock := strings.TrimPrefix(srv.Endpoints()[0], "unix://")
	if strings.HasPrefix(sock, dir) {
		t.Fatalf("socket %s is in the over-long dir", sock)
	}
	c, err := store.Connect(context.Background(), store.Config{Endpoints: srv.Endpoints()})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	srv.Close()
	if _, err := os.Stat(filepath.Dir(sock)); !os.IsNotExist(err) {
		t.Errorf("socket directory left behind: %v", err)
	}
}

// BenchmarkTransport compares the embedded etcd's unix socket, its client
// listener without TLS, with loopback TCP, each against its own server in
// the same run: batched writes (the hub's path) and single reads (latency).
func BenchmarkTransport(b *testing.B) {
	ctx := context.Background()
	value := make([]byte, 200)
	for _, tr := range []struct{ name, url string }{{"unix", ""}, {"tcp", "http://127.0.0.1:0"}} {
		srv, err := store.StartEmbedded(ctx, store.EmbedConfig{Dir: b.TempDir(), ClientURL: tr.url})
		if err != nil {
			b.Fatal(err)
		}
		c, err := store.Connect(ctx, store.Config{Endpoints: srv.Endpoints(), MaxTxnOps: 1024})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(tr.name+"/batched-put", func(b *testing.B) {
			const keys = 2000
			b.ReportAllocs()
			start := time.Now()
			for i := 0; b.Loop(); i++ {
				ops := make([]store.Op, keys)
				for k := range ops {
					ops[k] = store.Op{Key: fmt.Sprintf("/bench/%d/%d", i, k), Value: value}
				}
				if _, err := c.Write(ctx, ops); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*keys)/time.Since(start).Seconds(), "keys/s")
		})
		b.Run(tr.name+"/get", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Etcd().Get(ctx, "/bench/0/0"); err != nil {
					b.Fatal(err)
				}
			}
		})
		c.Close()
		srv.Close()
	}
}
