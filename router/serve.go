package router

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Serve serves h (a Router) on ln until ctx ends, then shuts down
// gracefully (at most 10 s) and returns nil. Clients may speak HTTP/1.1 or
// HTTP/2: over TLS when tlsConf is set (negotiated with ALPN), otherwise
// HTTP/2 without TLS (h2c, prior knowledge).
func Serve(ctx context.Context, ln net.Listener, h http.Handler, tlsConf *tls.Config) error {
	var p http.Protocols
	p.SetHTTP1(true)
	if tlsConf != nil {
		p.SetHTTP2(true)
	} else {
		p.SetUnencryptedHTTP2(true)
	}
	srv := &http.Server{
		Handler:           h,
		Protocols:         &p,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		TLSConfig:         tlsConf,
	}
	errc := make(chan error, 1)
	go func() {
		if tlsConf != nil {
			errc <- srv.ServeTLS(ln, "", "")
			return
		}
		errc <- srv.Serve(ln)
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("router: serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-errc
		return nil
	}
}
