package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cellsync/cellsync/sync/hub"
)

func TestStatus(t *testing.T) {
	u := startUp(t, "", "--runtime", "sim")
	// The table's widths depend on every cell being current: wait for that
	// too (the completed Task's removal reaches its cell last).
	waitStatus(t, u.target, "repo-example rolled out and applied everywhere", func(st hub.Status) bool {
		for _, c := range st.Cells {
			if !c.Applied {
				return false
			}
		}
		return rolledOut(st)
	})
	etcd := strings.Join(u.target.Etcd, ",")

	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    []string
		wantErr string
	}{
		{name: "hub flag", args: []string{"--hub", u.target.Hub}, want: []string{
			", synced\n", "WORKLOAD                    CELLS  DESIRED  PLACED  RUNNING  CRASHED  TASK       UNPLACED  STATE\n",
			"Task/migrate-db             0      1        0       0        0        COMPLETED  0         ready\n",
			"CELL    ZONE  STATE  COMMIT   WORKLOADS  RUNNING  CRASHED\n", "cell-1  z1    ready  current"}},
		{name: "up file", args: []string{"--data-dir", u.dataDir}, want: []string{"LRP/worker "}},
		{name: "env", env: map[string]string{"CELLSYNC_HUB": u.target.Hub}, want: []string{"LRP/worker "}},
		{name: "etcd only", args: []string{"--etcd-endpoints", etcd}, want: []string{"SelectorSyncSet/node-agent  3      3        3       3"}},
		{name: "yaml", args: []string{"--hub", u.target.Hub, "-o", "yaml"}, want: []string{"synced: true\n", "  id: LRP/web\n"}},
		{name: "no hub", args: []string{"--hub", "http://127.0.0.1:1"}, wantErr: "no hub at http://127.0.0.1:1 (from flags)"},
		{name: "bad format", args: []string{"-o", "xml"}, wantErr: `output format "xml": use table, json or yaml`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var out string
			var err error
			// The etcd copy is written once the hub has settled: poll.
			eventually(t, "status answers", 10*time.Second, func() bool {
				out, err = run(t, append([]string{"status"}, tt.args...)...)
				return err == nil || tt.wantErr != ""
			})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}

	out, err := run(t, "status", "--hub", u.target.Hub, "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var st hub.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status -o json: %v\n%s", err, out)
	}
	if !rolledOut(st) {
		t.Errorf("status -o json = %+v", st)
	}

	// The branch now names a commit the repository lacks: every fetch
	// fails; status says so and exits 2.
	ref := filepath.Join(u.dataDir, "repo", ".git", "refs", "heads", "main")
	if err := os.WriteFile(ref, []byte(strings.Repeat("ab", 20)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var code int
	eventually(t, "status reports the failing fetch", 20*time.Second, func() bool {
		out, err = run(t, "status", "--hub", u.target.Hub)
		code = exitCode(err)
		return code == 2 && strings.Contains(out, "not synced: SourceFailed: ")
	})
	for _, w := range []string{"fetches failed in a row: fetch ", "cellsync status: not synced: SourceFailed: "} {
		if !strings.Contains(out, w) {
			t.Errorf("status of a failing source lacks %q:\n%s", w, out)
		}
	}
}
