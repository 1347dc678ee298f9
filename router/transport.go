package router

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// upstream sends HTTP/1.1 requests to instances over kept-alive
// connections, in the calling goroutine: it writes the request, reads the
// response head and hands the body back, and the connection returns to
// its endpoint's idle list once the body has been read to its end. Unlike
// http.Transport it starts no goroutine per connection, so a request costs
// no goroutine hand-offs; on a busy machine that is most of a proxy's
// time. Instances speak plain HTTP/1.1; a 101 answer (WebSocket) hands the
// connection itself to the proxy.
type upstream struct {
	dialer  net.Dialer
	maxIdle int
	idleFor time.Duration

	mu   sync.Mutex
	idle map[string][]*upConn // by address, most recently used last
}

type upConn struct {
	net.Conn
	br   *bufio.Reader
	bw   *bufio.Writer
	used time.Time
}

func newUpstream(dialTimeout time.Duration, maxIdle int) *upstream {
	return &upstream{
		dialer:  net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second},
		maxIdle: maxIdle, idleFor: 90 * time.Second,
		idle: map[string][]*upConn{},
	}
}

// errStale is a kept-alive connection the instance had closed.
var errStale = errors.New("kept-alive connection closed by the instance")

// RoundTrip sends req to req.URL.Host. A request sent on a kept-alive
// connection that turns out closed (the instance timed it out) is sent
// again once on a new connection when it has no body.
func (u *upstream) RoundTrip(req *http.Request) (*http.Response, error) {
	addr := req.URL.Host
	pc, reused, err := u.get(req.Context(), addr)
	if err != nil {
		return nil, err
	}
	resp, err := u.exchange(pc, req)
	if err != nil && reused && errors.Is(err, errStale) && (req.Body == nil || req.Body == http.NoBody) {
		if pc, err = u.dial(req.Context(), addr); err != nil {
			return nil, err
		}
		resp, err = u.exchange(pc, req)
	}
	return resp, err
}

func (u *upstream) exchange(pc *upConn, req *http.Request) (*http.Response, error) {
	if dl, ok := req.Context().Deadline(); ok {
		pc.SetDeadline(dl)
	} else {
		pc.SetDeadline(time.Time{})
	}
	// The client going away must not leave this goroutine blocked on the
	// instance: a cancelled request closes the connection.
	stop := context.AfterFunc(req.Context(), func() { pc.SetDeadline(time.Unix(1, 0)) })
	if err := req.Write(pc.bw); err != nil {
		stop()
		pc.Close()
		return nil, fmt.Errorf("write request to %s: %w", pc.RemoteAddr(), err)
	}
	if err := pc.bw.Flush(); err != nil {
		stop()
		pc.Close()
		return nil, stale(pc, err)
	}
	var resp *http.Response
	for {
		var err error
		resp, err = http.ReadResponse(pc.br, req)
		if err != nil {
			stop()
			pc.Close()
			return nil, stale(pc, err)
		}
		// Interim answers (100 Continue, 103) are not passed on.
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		stop()
		pc.SetDeadline(time.Time{})
		resp.Body = &upgraded{upConn: pc}
		return resp, nil
	}
	keep := !resp.Close && !req.Close
	if resp.Body == http.NoBody {
		stop()
		u.release(pc, keep)
		return resp, nil
	}
	resp.Body = &upBody{ReadCloser: resp.Body, u: u, pc: pc, keep: keep, stop: stop}
	return resp, nil
}

// stale marks an error on a connection that had not answered at all as
// errStale, so that RoundTrip may try once more on a new one.
func stale(pc *upConn, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) || isReset(err) {
		return fmt.Errorf("%w: %s: %v", errStale, pc.RemoteAddr(), err)
	}
	return fmt.Errorf("read response from %s: %w", pc.RemoteAddr(), err)
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "read" && !op.Timeout()
}

// get returns an idle connection to addr, or a new one.
func (u *upstream) get(ctx context.Context, addr string) (*upConn, bool, error) {
	now := time.Now()
	u.mu.Lock()
	for list := u.idle[addr]; len(list) > 0; list = u.idle[addr] {
		pc := list[len(list)-1]
		u.idle[addr] = list[:len(list)-1]
		if now.Sub(pc.used) < u.idleFor {
			u.mu.Unlock()
			return pc, true, nil
		}
		pc.Close()
	}
	u.mu.Unlock()
	pc, err := u.dial(ctx, addr)
	return pc, false, err
}

func (u *upstream) dial(ctx context.Context, addr string) (*upConn, error) {
	c, err := u.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return &upConn{Conn: c, br: bufio.NewReaderSize(c, 16<<10), bw: bufio.NewWriterSize(c, 8<<10)}, nil
}

// release returns a connection to its idle list, or closes it.
func (u *upstream) release(pc *upConn, keep bool) {
	if !keep {
		pc.Close()
		return
	}
	pc.used = time.Now()
	addr := pc.RemoteAddr().String()
	u.mu.Lock()
	if len(u.idle[addr]) < u.maxIdle {
		u.idle[addr] = append(u.idle[addr], pc)
		pc = nil
	}
	u.mu.Unlock()
	if pc != nil {
		pc.Close()
	}
}

// retain closes the idle connections to addresses not in live.
func (u *upstream) retain(live map[string]bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for addr, list := range u.idle {
		if live[addr] {
			continue
		}
		for _, pc := range list {
			pc.Close()
		}
		delete(u.idle, addr)
	}
}

// closeIdle closes every idle connection.
func (u *upstream) closeIdle() {
	u.mu.Lock()
	defer u.mu.Unlock()
	for addr, list := range u.idle {
		for _, pc := range list {
			pc.Close()
		}
		delete(u.idle, addr)
	}
}

// upBody is a response body; read to its end, it gives its connection
// back for the next request.
type upBody struct {
	io.ReadCloser
	u    *upstream
	pc   *upConn
	keep bool
	stop func() bool
	done bool
}

func (b *upBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.done {
		b.done = true
		b.stop()
		b.u.release(b.pc, b.keep)
	}
	return n, err
}

func (b *upBody) Close() error {
	if !b.done {
		// Not read to its end: the connection is in the middle of a
		// response and cannot be reused.
		b.done = true
		b.stop()
		b.pc.Close()
	}
	return nil
}

// upgraded is a switched-protocols connection, for the proxy to copy both
// ways.
type upgraded struct{ *upConn }

func (c *upgraded) Read(p []byte) (int, error) { return c.br.Read(p) }
