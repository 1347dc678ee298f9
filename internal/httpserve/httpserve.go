// Package httpserve serves HTTP on a listener for as long as a context lives:
// the one way cellsync's processes run their HTTP endpoints (/metrics,
// /status, /events, the Git webhook, a cell's logs). Every server it runs
// bounds what clients can hold: header, request and idle timeouts cut slow
// connections, header and body sizes are limited, and at most
// Limits.MaxConns connections are served at once; further connections wait
// in the kernel's accept queue. A handler that streams (Stream) keeps a
// timeout per write instead.
package httpserve

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
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

// limitsKey carries a server's Limits in its requests' contexts, for Stream.
type limitsKey struct{}

// Serve serves h on ln within lim until ctx ends, then shuts down
// gracefully (5 s at most) and returns nil; it returns an error if serving
// fails first. It closes ln.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, lim Limits) error {
	lim = lim.withDefaults()
	withLimits := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), limitsKey{}, lim)))
	})
	lln := &limiter{Listener: ln, slots: make(chan struct{}, lim.MaxConns), done: make(chan struct{})}
	srv := &http.Server{
		Handler:           http.MaxBytesHandler(withLimits, lim.MaxBodyBytes),
		ReadHeaderTimeout: lim.ReadHeaderTimeout,
		ReadTimeout:       lim.ReadTimeout,
		WriteTimeout:      lim.WriteTimeout,
		IdleTimeout:       lim.IdleTimeout,
		MaxHeaderBytes:    lim.MaxHeaderBytes,
		ConnState:         lln.release,
	}
	addr := ln.Addr()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lln) }()
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

// limiter bounds the connections a server holds: Accept waits for a free
// slot, and the server's ConnState hook frees it when the connection closes
// or is hijacked. It hands out the listener's own connections, so that the
// server still sees a *tls.Conn (and fills Request.TLS); a wrapping limit
// listener would hide it.
type limiter struct {
	net.Listener
	slots     chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// Accept waits for a free slot, then accepts; it returns net.ErrClosed once
// the listener is closed.
func (l *limiter) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return c, nil
}

// Close closes the listener and ends waiting Accepts. It is safe to call
// more than once.
func (l *limiter) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// release is the server's ConnState hook: a connection that is gone frees
// its slot.
func (l *limiter) release(_ net.Conn, s http.ConnState) {
	if s == http.StateClosed || s == http.StateHijacked {
		<-l.slots
	}
}

// Stream prepares a response that lasts as long as its client listens
// (Server-Sent Events, a log follow): the server's request and write
// timeouts would otherwise end it. It returns extend, which the handler
// calls before each write: that write and its flush then have the server's
// WriteTimeout to complete, so a client that stops reading is still cut,
// and one that waits quietly for the next line is not.
func Stream(w http.ResponseWriter, r *http.Request) (extend func()) {
	rc := http.NewResponseController(w)
	timeout := DefaultWriteTimeout
	if lim, ok := r.Context().Value(limitsKey{}).(Limits); ok {
		timeout = lim.WriteTimeout
	}
	// Writers that are not a server's connection (tests' recorders) have
	// no deadlines to lift: ErrNotSupported is expected and harmless.
	_ = rc.SetReadDeadline(time.Time{})
	return func() { _ = rc.SetWriteDeadline(time.Now().Add(timeout)) }
}
