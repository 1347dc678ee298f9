package logserver_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cellsync/cellsync/cell/logs"
	"github.com/cellsync/cellsync/cell/logserver"
	"github.com/cellsync/cellsync/certs"
	"github.com/cellsync/cellsync/store"
)

// writeRun writes one run of output for an instance under root and
// returns its writer, open for more.
func writeRun(t *testing.T, root, instance, text string) *logs.Writer {
	t.Helper()
	dir, err := logs.InstanceDir(root, instance)
	if err != nil {
		t.Fatal(err)
	}
	w, err := logs.Create(dir, logs.Limits{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(logs.Stdout, []byte(text)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// serve starts a server and stops it when the test ends.
func serve(t *testing.T, cfg logserver.Config) *logserver.Server {
	t.Helper()
	srv, err := logserver.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return srv
}

func get(t *testing.T, c *http.Client, u string) (int, string, error) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

func client(t *testing.T, files store.TLSFiles) *http.Client {
	t.Helper()
	tc, err := files.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: 10 * time.Second}
}

func TestMutualTLSServesOnlyHubAndOperator(t *testing.T) {
	dir := t.TempDir()
	ids := []string{store.RootUser, store.HubUser, store.CellUser("a"), store.CellUser("b")}
	files, err := certs.Generate(filepath.Join(dir, "fleet"), certs.Options{Clients: ids, Serving: []string{store.CellUser("a"), store.CellUser("b")}})
	if err != nil {
		t.Fatal(err)
	}
	other, err := certs.Generate(filepath.Join(dir, "other"), certs.Options{Clients: []string{store.RootUser}})
	if err != nil {
		t.Fatal(err)
	}
	as := func(f *certs.Files, id string) store.TLSFiles {
		return store.TLSFiles{CA: f.CA, Cert: f.Clients[id].Cert, Key: f.Clients[id].Key}
	}
	root := filepath.Join(dir, "logs")
	writeRun(t, root, "LRP/web/0", "secret output\n")
	srv := serve(t, logserver.Config{Root: root, Listen: "127.0.0.1:0", TLS: as(files, store.CellUser("a"))})
	if !strings.HasPrefix(srv.URL(), "https://127.0.0.1:") {
		t.Fatalf("URL = %q", srv.URL())
	}
	u := srv.URL() + logserver.Path + "LRP/web/0"

	tests := []struct {
		name       string
		client     *http.Client
		wantStatus int // 0: the TLS handshake fails
	}{
		{"operator (root)", client(t, as(files, store.RootUser)), http.StatusOK},
		{"hub", client(t, as(files, store.HubUser)), http.StatusOK},
		{"another cell", client(t, as(files, store.CellUser("b"))), http.StatusForbidden},
		{"the cell itself", client(t, as(files, store.CellUser("a"))), http.StatusForbidden},
		{"root of another CA", client(t, store.TLSFiles{CA: files.CA, Cert: other.Clients[store.RootUser].Cert, Key: other.Clients[store.RootUser].Key}), 0},
		{"no client certificate", func() *http.Client {
			c := client(t, as(files, store.RootUser))
			c.Transport.(*http.Transport).TLSClientConfig.Certificates = nil
			return c
		}(), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, err := get(t, tt.client, u)
			if tt.wantStatus == 0 {
				if err == nil {
					t.Fatalf("served %d %q; want a refused handshake", status, body)
				}
				return
			}
			if err != nil || status != tt.wantStatus {
				t.Fatalf("GET = %d %q, %v; want %d", status, body, err, tt.wantStatus)
			}
			if leaked := strings.Contains(body, "secret output"); leaked != (tt.wantStatus == http.StatusOK) {
				t.Fatalf("body %q", body)
			}
		})
	}
}

func TestWithoutCertificatesOnlyLoopback(t *testing.T) {
	root := t.TempDir()
	if _, err := logserver.Start(logserver.Config{Root: root, Listen: "0.0.0.0:0"}); err == nil {
		t.Fatal("started on every address without certificates")
	}
	writeRun(t, root, "Task/migrate", "done\n")
	h := logserver.Handler(root, false, time.Millisecond)
	for remote, want := range map[string]int{"127.0.0.1:5000": http.StatusOK, "[::1]:5000": http.StatusOK, "10.1.2.3:5000": http.StatusForbidden} {
		req := httptest.NewRequest(http.MethodGet, logserver.Path+"Task/migrate", nil)
		req.RemoteAddr = remote
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("from %s: %d %q, want %d", remote, rec.Code, rec.Body, want)
		}
	}
}

func TestQueries(t *testing.T) {
	root := t.TempDir()
	w := writeRun(t, root, "LRP/web/0", "one\ntwo\nthree\n")
	w.Close()
	writeRun(t, root, "LRP/web/0", "restarted\n")
	srv := serve(t, logserver.Config{Root: root, Listen: "127.0.0.1:0"})
	base := srv.URL() + logserver.Path

	lines := func(body string) string {
		var out []string
		for _, l := range strings.Split(strings.TrimSpace(body), "\n") {
			var line logserver.Line
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatalf("line %q: %v", l, err)
			}
			out = append(out, line.Stream+":"+line.Text)
		}
		return strings.Join(out, ",")
	}
	tests := []struct {
		query      string
		wantStatus int
		want       string
	}{
		{"LRP/web/0", http.StatusOK, "stdout:restarted"},
		{"LRP/web/0?previous=true&tail=2", http.StatusOK, "stdout:two,stdout:three"},
		{"LRP/web/0?since=" + url.QueryEscape(time.Now().Add(time.Hour).Format(time.RFC3339)), http.StatusOK, ""},
		{"LRP/web/1", http.StatusNotFound, ""},
		{"Task/none?previous=true", http.StatusNotFound, ""},
		{"Config/settings", http.StatusBadRequest, ""},
		{"LRP/web/0?tail=2000000", http.StatusBadRequest, ""},
		{"LRP/web/0?since=yesterday", http.StatusBadRequest, ""},
	}
	for _, tt := range tests {
		status, body, err := get(t, http.DefaultClient, base+tt.query)
		if err != nil || status != tt.wantStatus {
			t.Errorf("%s: %d %q, %v; want %d", tt.query, status, body, err, tt.wantStatus)
			continue
		}
		if status == http.StatusOK && strings.TrimSpace(body) != "" && lines(body) != tt.want || status == http.StatusOK && tt.want == "" && strings.TrimSpace(body) != "" {
			t.Errorf("%s: %q, want %q", tt.query, body, tt.want)
		}
	}

	t.Run("follow streams new lines", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"Task/job?follow=true", nil)
		jw := writeRun(t, root, "Task/job", "first\n")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for i := range 3 {
			if i > 0 {
				fmt.Fprintf(writer{jw}, "line %d\n", i)
			}
			if !sc.Scan() {
				t.Fatalf("stream ended: %v", sc.Err())
			}
			want := "first"
			if i > 0 {
				want = fmt.Sprintf("line %d", i)
			}
			if got := lines(sc.Text()); got != "stdout:"+want {
				t.Fatalf("followed %q, want %q", got, want)
			}
		}
	})
}

// writer adapts a logs.Writer to io.Writer (stdout).
type writer struct{ w *logs.Writer }

func (w writer) Write(p []byte) (int, error) { return len(p), w.w.Write(logs.Stdout, p) }
