package httpserve_test

import (
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
	"github.com/cellsync/cellsync/internal/netprobe"
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

const get = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"

func TestSlowConnectionsAreCut(t *testing.T) {
	short := 200 * time.Millisecond
	addr := start(t, httpserve.Limits{ReadHeaderTimeout: short, ReadTimeout: short, IdleTimeout: short})
	for name, partial := range map[string]string{
		"headers never finished": "GET / HTTP/1.1\r\nHost: x\r\n",
		"body trickling":         "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc",
		"idle keep-alive":        get,
	} {
		if err := netprobe.Cut(addr, partial); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestBodyLimit(t *testing.T) {
	addr := start(t, httpserve.Limits{MaxBodyBytes: 100})
	for size, want := range map[int]int{101: http.StatusRequestEntityTooLarge, 100: http.StatusOK} {
		resp, err := http.Post("http://"+addr, "text/plain", strings.NewReader(strings.Repeat("x", size)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("status %d for a body of %d bytes, limit 100, want %d", resp.StatusCode, size, want)
		}
	}
}

// TestConnectionLimit: with MaxConns connections held, one more waits, and
// is served as soon as one of them goes.
func TestConnectionLimit(t *testing.T) {
	const maxConns = 3
	addr := start(t, httpserve.Limits{MaxConns: maxConns, ReadHeaderTimeout: time.Hour, ReadTimeout: time.Hour})
	code, err := netprobe.Queued(addr, maxConns, get)
	if err != nil {
		t.Fatal(err)
	}
	if code != http.StatusOK {
		t.Errorf("the queued request got status %d", code)
	}
}
