// Package httpserve serves HTTP on a listener for as long as a context lives:
// the one way cellsync's processes run their HTTP endpoints (/metrics,
// /status, the Git webhook). Every server it runs bounds what clients can
// hold: header, request and idle timeouts cut slow connections, header and
// body sizes are limited, and at most Limits.MaxConns connections are served
// at once; further connections wait in the kernel's accept queue.
package httpserve

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"
)

// Defaults of Limits. Nothing cellsync serves needs more: a webhook body is
// a push event's JSON, /status of a 1,000-cell hub is a few MB written to a
// local client.
const (
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultWriteTimeout      = 60 * time.Second
	DefaultIdleTimeout       = 60 * time.Second
	DefaultMaxHeaderBytes    = 64 << 10
	DefaultMaxBodyBytes      = 4 << 20
	DefaultMaxConns          = 128
)

// Limits bound what clients can hold of a server; a zero field takes its
// default.
type Limits struct {
	// ReadHeaderTimeout bounds reading a request's headers; default 5 s.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included; default
	// 30 s.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing a response; default 60 s.
	WriteTimeout time.Duration
	// IdleTimeout closes a keep-alive connection idle this long; default
	// 60 s.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request's headers; default 64 KiB.
	MaxHeaderBytes int
	// MaxBodyBytes bounds a request's body; a handler reading more gets
	// an error; default 4 MiB.
	MaxBodyBytes int64
	// MaxConns bounds the connections served at once; default 128.
	MaxConns int
}

func (l Limits) withDefaults() Limits {
	set := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	set(&l.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	set(&l.ReadTimeout, DefaultReadTimeout)
	set(&l.WriteTimeout, DefaultWriteTimeout)
	set(&l.IdleTimeout, DefaultIdleTimeout)
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if l.MaxBodyBytes <= 0 {
		l.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if l.MaxConns <= 0 {
		l.MaxConns = DefaultMaxConns
	}
	return l
}

// Serve serves h on ln within lim until ctx ends, then shuts down
// gracefully (5 s at most) and returns nil; it returns an error if serving
// fails first. It closes ln.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, lim Limits) error {
	lim = lim.withDefaults()
	srv := &http.Server{
		Handler:           http.MaxBytesHandler(h, lim.MaxBodyBytes),
		ReadHeaderTimeout: lim.ReadHeaderTimeout,
		ReadTimeout:       lim.ReadTimeout,
		WriteTimeout:      lim.WriteTimeout,
		IdleTimeout:       lim.IdleTimeout,
		MaxHeaderBytes:    lim.MaxHeaderBytes,
	}
	addr := ln.Addr()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(netutil.LimitListener(ln, lim.MaxConns)) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", addr, err)
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-errc
		return nil
	}
}
