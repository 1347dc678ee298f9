package httpserve_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cellsync/cellsync/certs"
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

// TestStream: a streaming response outlives the request and write timeouts
// while its client reads, and a client that stops reading is still cut.
func TestStream(t *testing.T) {
	short := 200 * time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stuck := make(chan error, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		extend := httpserve.Stream(w, r)
		for i := range 5 { // 0.5 s in all: longer than every timeout
			<-time.After(short / 2)
			extend()
			fmt.Fprintf(w, "line %d\n", i)
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("GET /flood", func(w http.ResponseWriter, r *http.Request) {
		extend := httpserve.Stream(w, r)
		chunk := []byte(strings.Repeat("x", 64<<10))
		for {
			extend()
			if _, err := w.Write(chunk); err != nil {
				stuck <- err
				return
			}
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- httpserve.Serve(ctx, ln, mux, httpserve.Limits{ReadTimeout: short, WriteTimeout: short})
	}()
	defer func() {
		cancel()
		<-done
	}()

	resp, err := http.Get("http://" + ln.Addr().String() + "/slow")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if got := strings.Count(string(body), "\n"); err != nil || got != 5 {
		t.Errorf("read %d lines of 5 (%v): the stream was cut by the server's timeouts", got, err)
	}

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET /flood HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	select { // never read: the server's writes block, then time out
	case <-stuck:
	case <-time.After(time.Minute):
		t.Fatal("a client that stopped reading held its stream for a minute")
	}
}

// TestTLSStaysVisible: behind the connection limit, handlers still see a
// TLS connection's state, which client-certificate checks read.
func TestTLSStaysVisible(t *testing.T) {
	files, err := certs.Generate(t.TempDir(), certs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(files.Server.Cert, files.Server.Key)
	if err != nil {
		t.Fatal(err)
	}
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := tls.NewListener(inner, &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, r.TLS != nil) })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- httpserve.Serve(ctx, ln, h, httpserve.Limits{}) }()
	defer func() {
		cancel()
		<-done
	}()
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // the test's own server
	resp, err := c.Get("https://" + inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "true" {
		t.Errorf("the handler saw no TLS state (%q)", b)
	}
}
