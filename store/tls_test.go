package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/cellsync/cellsync/certs"
	"github.com/cellsync/cellsync/store"
	"github.com/cellsync/cellsync/store/storetest"
)

// TestMutualTLS serves the embedded etcd with TLS and client-certificate
// auth: a client with a certificate from the CA connects; one without a
// certificate, or with one from another CA, is refused.
func TestMutualTLS(t *testing.T) {
	ctx := context.Background()
	etcd := storetest.NewTLS(t, "hub")
	other, err := certs.Generate(t.TempDir(), certs.Options{Clients: []string{"intruder"}})
	if err != nil {
		t.Fatal(err)
	}
	srv, files := etcd.Server, etcd.Files
	eps := srv.Endpoints()
	if len(eps) != 1 || eps[0][:8] != "https://" {
		t.Fatalf("endpoints = %v, want one https endpoint", eps)
	}

	c := etcd.Connect(t, "hub")
	if _, err := c.Write(ctx, []store.Op{{Key: "/k", Value: []byte("v")}}); err != nil {
		t.Fatalf("write over mTLS: %v", err)
	}

	intruder := other.Clients["intruder"]
	tests := []struct {
		name string
		cfg  store.Config
	}{
		{"certificate from another CA", store.Config{Endpoints: eps, DialTimeout: 2 * time.Second,
			TLS: store.TLSFiles{CA: files.CA, Cert: intruder.Cert, Key: intruder.Key}}},
		{"plain text", store.Config{Endpoints: []string{"http" + eps[0][5:]}, DialTimeout: 2 * time.Second}},
		{"incomplete TLS files", store.Config{Endpoints: eps, TLS: store.TLSFiles{CA: files.CA}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if c, err := store.Connect(ctx, tt.cfg); err == nil {
				c.Close()
				t.Fatal("connected")
			}
		})
	}
}
