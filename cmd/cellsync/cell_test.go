package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/store"
	"github.com/cellsync/cellsync/sync/hub"
)

func TestCellCommand(t *testing.T) {
	u := startUp(t, "", "--runtime", "sim", "--cells", "1")
	waitStatus(t, u.target, "one cell", func(st hub.Status) bool { return st.Synced && len(st.Cells) == 1 })

	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	root := newRoot()
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs([]string{"cell", "--name", "extra", "--zone", "z2", "--label", "env=prod", "--label", "tier=edge",
		"--capacity-memory", "1024", "--runtime", "sim", "--state-dir", t.TempDir(), "--log-level", "warn",
		"--evacuation-timeout", "1s", "--metrics", "127.0.0.1:0", "--logs-listen", "127.0.0.1:0", "--etcd-endpoints", strings.Join(u.target.Etcd, ",")})
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()

	st := waitStatus(t, u.target, "the new cell takes work", func(st hub.Status) bool {
		for _, c := range st.Cells {
			if c.Name == "extra" && c.Running > 0 {
				return st.Synced
			}
		}
		return false
	})
	if len(st.Cells) != 2 {
		t.Errorf("cells = %+v", st.Cells)
	}
	// The agent's own /metrics, announced on its output.
	_, rest, _ := strings.Cut(out.String(), "metrics on ")
	url, _, _ := strings.Cut(rest, "\n")
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %q: %v\n%s", url, err, out.String())
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "cellsync_cell_containers") {
		t.Errorf("%s lacks the cell's metrics:\n%.500s", url, body)
	}
	// Its log server, announced and published in its registration.
	_, rest, _ = strings.Cut(out.String(), "logs on ")
	logsURL, _, _ := strings.Cut(rest, "\n")
	c, err := store.Connect(ctx, store.Config{Endpoints: u.target.Etcd})
	if err != nil {
		t.Fatal(err)
	}
	rec, _, _, err := store.GetJSON[model.Cell](ctx, c, store.CellKey("extra"))
	c.Close()
	if err != nil || !strings.HasPrefix(logsURL, "http://127.0.0.1:") || rec.LogsURL != logsURL {
		t.Errorf("logs announced at %q, registered at %q (%v)", logsURL, rec.LogsURL, err)
	}
	cells, err := run(t, "cells", "--etcd-endpoints", strings.Join(u.target.Etcd, ","))
	if err != nil {
		t.Fatal(err)
	}
	if f := fieldsOf(cells, "extra"); !strings.HasPrefix(f, "z2 env=prod,tier=edge ") || !strings.Contains(f, "/1024 ") {
		t.Errorf("cells row of extra = %q", f)
	}

	cancel() // as SIGINT: the cell evacuates and deregisters
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("cell: %v\n%s", err, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("cell did not stop")
	}
	if !strings.Contains(out.String(), `cellsync cell: extra registered in zone "z2" with runtime sim`) {
		t.Errorf("cell output:\n%s", out.String())
	}
	waitStatus(t, u.target, "the cell is gone", func(st hub.Status) bool { return len(st.Cells) == 1 })
}

func TestCellFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "no name", args: []string{"--runtime", "sim"}, wantErr: `required flag(s) "name" not set`},
		{name: "no etcd", args: []string{"--name", "c1", "--runtime", "sim"}, wantErr: "pass --etcd-endpoints or set CELLSYNC_ETCD_ENDPOINTS"},
		{name: "bad label", args: []string{"--name", "c1", "--label", "Bad Key=x"}, wantErr: "label"},
		{name: "logs for others without certificates", args: []string{"--name", "c1", "--runtime", "sim", "--etcd-endpoints", "http://127.0.0.1:1", "--logs-listen", "0.0.0.0:0"},
			wantErr: "without certificates the log server listens on loopback only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("CELLSYNC_ETCD_ENDPOINTS", "")
			t.Setenv("CELLSYNC_HUB", "")
			out, err := run(t, append([]string{"cell", "--state-dir", t.TempDir()}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q\n%s", err, tt.wantErr, out)
			}
		})
	}
}
