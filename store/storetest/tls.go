package storetest

import (
	"context"
	"testing"

	"github.com/cellsync/cellsync/certs"
	"github.com/cellsync/cellsync/store"
)

// TLS is an embedded etcd that serves only mutual TLS, with a client
// certificate for each identity it was made for.
type TLS struct {
	Server *store.Embedded
	Files  *certs.Files
}

// NewTLS generates a CA and certificates for clients and starts an
// embedded etcd requiring them; it is closed when the test ends.
func NewTLS(tb testing.TB, clients ...string) *TLS {
	tb.Helper()
	files, err := certs.Generate(tb.TempDir(), certs.Options{Clients: clients})
	if err != nil {
		tb.Fatal(err)
	}
	srv, err := store.StartEmbedded(context.Background(), store.EmbedConfig{Dir: tb.TempDir(),
		TLS: store.TLSFiles{CA: files.CA, Cert: files.Server.Cert, Key: files.Server.Key}})
	if err != nil {
		tb.Fatalf("start embedded etcd with TLS: %v", err)
	}
	tb.Cleanup(srv.Close)
	return &TLS{Server: srv, Files: files}
}

// ClientFiles returns the TLS files of one client identity.
func (x *TLS) ClientFiles(user string) store.TLSFiles {
	p := x.Files.Clients[user]
	return store.TLSFiles{CA: x.Files.CA, Cert: p.Cert, Key: p.Key}
}

// Connect connects as one client identity; the client is closed when the
// test ends.
func (x *TLS) Connect(tb testing.TB, user string) *store.Client {
	tb.Helper()
	c, err := store.Connect(context.Background(), store.Config{Endpoints: x.Server.Endpoints(), TLS: x.ClientFiles(user)})
	if err != nil {
		tb.Fatalf("connect as %s: %v", user, err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}
