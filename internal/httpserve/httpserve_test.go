package httpserve_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cellsync/cellsync/internal/httpserve"
)

// start serves a handler that reads the whole body and answers 200, or 413
// when the body is over the limit; it stops when the test ends.
func start(t *testing.T, lim httpserve.Limits) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			w.WriteHeader(http.StatusRequestEntityTooLarge)
		case err != nil:
			w.WriteHeader(http.StatusBadRequest)
		default:
			fmt.Fprintln(w, "ok")
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- httpserve.Serve(ctx, ln, h, lim) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return ln.Addr().String()
}

// dial opens a connection that the test closes when it ends.
func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// cut waits, at most a minute, for the server to close c, reading and
// dropping whatever it sends first (a 408, say).
func cut(t *testing.T, c net.Conn) {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the server kept a slow connection open for a minute")
	}
}

const get = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"

// status sends a request on c and returns the response's status code.
func status(t *testing.T, c net.Conn, req string) int {
	t.Helper()
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestSlowConnectionsAreCut(t *testing.T) {
	short := 200 * time.Millisecond
	addr := start(t, httpserve.Limits{ReadHeaderTimeout: short, ReadTimeout: short, IdleTimeout: short})
	t.Run("headers never finished", func(t *testing.T) {
		c := dial(t, addr)
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n"); err != nil {
			t.Fatal(err)
		}
		cut(t, c)
	})
	t.Run("body trickling", func(t *testing.T) {
		c := dial(t, addr)
		if _, err := io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc"); err != nil {
			t.Fatal(err)
		}
		cut(t, c)
	})
	t.Run("idle keep-alive", func(t *testing.T) {
		c := dial(t, addr)
		if got := status(t, c, get); got != http.StatusOK {
			t.Fatalf("status %d", got)
		}
		cut(t, c)
	})
}

func TestBodyLimit(t *testing.T) {
	addr := start(t, httpserve.Limits{MaxBodyBytes: 100})
	body := strings.Repeat("x", 101)
	req := fmt.Sprintf("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	if got := status(t, dial(t, addr), req); got != http.StatusRequestEntityTooLarge {
		t.Errorf("status %d for a body over the limit, want 413", got)
	}
	req = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + body[:100]
	if got := status(t, dial(t, addr), req); got != http.StatusOK {
		t.Errorf("status %d for a body at the limit, want 200", got)
	}
}

// TestConnectionLimit: with MaxConns connections held, one more waits, and
// is served as soon as one of them goes.
func TestConnectionLimit(t *testing.T) {
	const maxConns = 3
	addr := start(t, httpserve.Limits{MaxConns: maxConns, ReadHeaderTimeout: time.Hour, ReadTimeout: time.Hour})
	held := make([]net.Conn, maxConns)
	for i := range held {
		held[i] = dial(t, addr)
		// A request whose headers never end holds its connection.
		if _, err := io.WriteString(held[i], "GET / HTTP/1.1\r\n"); err != nil {
			t.Fatal(err)
		}
	}
	extra := dial(t, addr)
	if _, err := io.WriteString(extra, get); err != nil {
		t.Fatal(err)
	}
	served := make(chan int, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(extra), nil)
		if err != nil {
			served <- 0
			return
		}
		resp.Body.Close()
		served <- resp.StatusCode
	}()
	// Not served while the others hold every slot. A slow machine can only
	// make this wait pass, never fail, when the limit holds.
	select {
	case code := <-served:
		t.Fatalf("connection %d beyond the limit was served (status %d)", maxConns+1, code)
	case <-time.After(300 * time.Millisecond):
	}
	held[0].Close()
	select {
	case code := <-served:
		if code != http.StatusOK {
			t.Fatalf("queued connection got status %d", code)
		}
	case <-time.After(time.Minute):
		t.Fatal("the queued connection was not served after a slot freed")
	}
}
