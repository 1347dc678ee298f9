package router_test

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cellsync/cellsync/router"
)

func (f *fixture) do(req *http.Request) (*http.Response, []byte) {
	f.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return resp, b
}

func TestUpstreamConnections(t *testing.T) {
	f := newFixture(t, router.Config{})
	var conns, closed atomic.Int64
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/echo":
			io.Copy(w, r.Body)
		case "/big":
			w.Write(bytes.Repeat([]byte("x"), 1<<20))
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		default:
			io.WriteString(w, "ok")
		}
	}))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			conns.Add(1)
		case http.StateClosed:
			closed.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	f.instance("c1", "web", 0, "web.example", s.Listener.Addr().String())
	f.waitEndpoints("web.example", 1)
	req := func(method, path string, body io.Reader) *http.Request {
		r, _ := http.NewRequest(method, f.url+path, body)
		r.Host = "web.example"
		return r
	}

	t.Run("kept alive", func(t *testing.T) {
		for range 50 {
			if resp, b := f.do(req("GET", "/", nil)); resp.StatusCode != 200 || string(b) != "ok" {
				t.Fatalf("%d %q", resp.StatusCode, b)
			}
		}
		if n := conns.Load(); n != 1 {
			t.Fatalf("50 sequential requests opened %d connections to the instance, want 1", n)
		}
	})
	t.Run("bodies both ways", func(t *testing.T) {
		if resp, b := f.do(req("POST", "/echo", strings.NewReader("hello"))); resp.StatusCode != 200 || string(b) != "hello" {
			t.Fatalf("echo: %d %q", resp.StatusCode, b)
		}
		// No length: sent chunked.
		if resp, b := f.do(req("POST", "/echo", io.MultiReader(strings.NewReader("chun"), strings.NewReader("ked")))); string(b) != "chunked" {
			t.Fatalf("chunked echo: %d %q", resp.StatusCode, b)
		}
		if _, b := f.do(req("GET", "/big", nil)); len(b) != 1<<20 {
			t.Fatalf("big body: %d bytes", len(b))
		}
		if resp, b := f.do(req("HEAD", "/big", nil)); resp.StatusCode != 200 || len(b) != 0 {
			t.Fatalf("HEAD: %d, %d bytes", resp.StatusCode, len(b))
		}
		if resp, _ := f.do(req("GET", "/empty", nil)); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("204: %d", resp.StatusCode)
		}
		if n := conns.Load(); n != 1 {
			t.Fatalf("%d connections to the instance, want 1", n)
		}
	})
	t.Run("a kept-alive connection the instance closed", func(t *testing.T) {
		s.CloseClientConnections()
		for range 5 {
			if resp, b := f.do(req("GET", "/", nil)); resp.StatusCode != 200 || string(b) != "ok" {
				t.Fatalf("after the instance closed its connections: %d %q", resp.StatusCode, b)
			}
		}
		if n := conns.Load(); n != 2 {
			t.Fatalf("%d connections, want 2", n)
		}
	})
	t.Run("an instance that left the table has its idle connections closed", func(t *testing.T) {
		f.remove("c1", "web", 0)
		f.waitEndpoints("web.example", 0)
		deadline := time.Now().Add(10 * time.Second)
		for closed.Load() != conns.Load() {
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d connections closed", closed.Load(), conns.Load())
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}
