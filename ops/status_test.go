package ops

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/cellsync/cellsync/sync/hub"
)

var sampleStatus = hub.Status{
	Leading: true, Commit: "0123456789abcdef", Synced: true,
	Condition: hub.Condition{State: hub.Failed, Reason: hub.ReasonWorkloadsFailed, Message: "1 workloads failed"},
	Workloads: []hub.WorkloadStatus{
		{ID: "LRP/web", Cells: 2, Desired: 4, Placed: 3, Running: 3, Unplaced: []string{"LRP web: 1 instance: no cell has 64 MB free"}, UnplacedCount: 1,
			Condition: hub.Condition{State: hub.Failed, Reason: hub.ReasonUnplaced, Message: "1 instances fit on no cell", File: "apps/web.yaml", Line: 3}},
		{ID: "Task/migrate-db", Desired: 1, Task: "COMPLETED", Condition: hub.Condition{State: hub.Ready, Reason: hub.ReasonReady}},
	},
	Cells: []hub.CellStatus{
		{Name: "cell-1", Zone: "z1", Applied: true, Running: 2, Assigned: 2},
		{Name: "cell-22", Zone: "z2", State: "evacuating", Running: 1, Assigned: 1, Commit: "fedcba9876543210"},
	},
	Errors:    []string{"apps/bad.yaml:3: spec.image: is required"},
	Conflicts: []hub.Conflict{{Cell: "cell-1", Object: "Config/x", Workload: "SelectorSyncSet/b", Fields: []string{".data.k"}, Owners: []string{"set:a"}}},
}

func TestRenderStatus(t *testing.T) {
	tests := []struct {
		name    string
		format  string
		want    []string
		wantErr bool
	}{
		{name: "table", format: FormatTable, want: []string{
			"commit 0123456, synced, failing: WorkloadsFailed: 1 workloads failed\n",
			"WORKLOAD         CELLS  DESIRED  PLACED  RUNNING  CRASHED  TASK       UNPLACED  STATE\n",
			"LRP/web          2      4        3       3        0        -          1         failed (Unplaced)\n",
			"Task/migrate-db  0      1        0       0        0        COMPLETED  0         ready\n",
			"FAILED WORKLOADS\n  LRP/web (apps/web.yaml:3): Unplaced: 1 instances fit on no cell\n",
			"cell-1   z1    ready       current              2          2        0\n",
			"cell-22  z2    evacuating  behind (at fedcba9)  1          1        0\n",
			"UNPLACED\n  LRP web: 1 instance: no cell has 64 MB free\n",
			"ERRORS\n  apps/bad.yaml:3: spec.image: is required\n",
			"cell-1  Config/x  SelectorSyncSet/b  .data.k  set:a\n",
		}},
		{name: "json", format: FormatJSON, want: []string{`"commit": "0123456789abcdef"`, `"id": "LRP/web"`}},
		{name: "yaml", format: FormatYAML, want: []string{"commit: 0123456789abcdef\n", "  id: LRP/web\n"}},
		{name: "unknown format", format: "xml", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			err := RenderStatus(&b, sampleStatus, tt.format)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			for _, w := range tt.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, b.String())
				}
			}
		})
	}
	var b bytes.Buffer
	if err := RenderStatus(&b, sampleStatus, FormatJSON); err != nil {
		t.Fatal(err)
	}
	var back hub.Status
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || back.Commit != sampleStatus.Commit || len(back.Workloads) != 2 {
		t.Errorf("JSON does not round-trip: %v %+v", err, back)
	}
}

func TestProgress(t *testing.T) {
	tests := []struct {
		name string
		st   hub.Status
		want string
	}{
		{name: "standby", st: hub.Status{}, want: "hub starting"},
		{name: "sample", st: sampleStatus,
			want: "commit 0123456  workloads 2  placed 4/5  running 3  crashed 0  cells 1/2 current  synced, failing: WorkloadsFailed  errors 1  conflicts 1"},
		{name: "no commit", st: hub.Status{Leading: true}, want: "commit (none yet)  workloads 0  placed 0/0  running 0  crashed 0  cells 0/0 current  syncing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Progress(tt.st); got != tt.want {
				t.Errorf("Progress = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFetchStatusSaysWhatToDo(t *testing.T) {
	tests := []struct {
		name string
		t    Target
		want string
	}{
		{name: "no hub", t: Target{Hub: "http://127.0.0.1:1", From: "default"}, want: "no hub at http://127.0.0.1:1 (from default)"},
		{name: "nothing", t: Target{}, want: "pass --hub or --etcd-endpoints"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := FetchStatus(context.Background(), tt.t)
			if !errors.Is(err, ErrNoHub) {
				t.Fatalf("err = %v, want ErrNoHub", err)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "pass --") {
				t.Errorf("error %q lacks %q", err, tt.want)
			}
		})
	}
}

func TestCellsFromStatus(t *testing.T) {
	cells := CellsFromStatus(sampleStatus)
	if len(cells) != 2 || cells[0].Health != "behind" && cells[0].Health != "ok" {
		t.Fatalf("cells = %+v", cells)
	}
	if cells[0].Health != "ok" || cells[1].Health != "evacuating" || cells[1].State != "evacuating" {
		t.Errorf("health = %q, %q", cells[0].Health, cells[1].Health)
	}
	var b bytes.Buffer
	if err := RenderCells(&b, cells, FormatTable); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"CELL     ZONE  LABELS", "cell-22  z2    -       -"} {
		if !strings.Contains(b.String(), w) {
			t.Errorf("output lacks %q:\n%s", w, b.String())
		}
	}
}

func TestStatusProblem(t *testing.T) {
	tests := []struct {
		name string
		st   hub.Status
		want string
	}{
		{name: "synced and ready", st: hub.Status{Leading: true, Synced: true, Condition: hub.Condition{State: hub.Ready, Reason: hub.ReasonSynced}}},
		{name: "standby", st: hub.Status{Condition: hub.Condition{State: hub.Progressing, Reason: hub.ReasonNotLeading, Message: "standby: another hub leads"}},
			want: "this hub is on standby"},
		{name: "not synced", st: hub.Status{Leading: true, Condition: hub.Condition{State: hub.Failed, Reason: hub.ReasonSourceFailed, Message: "fetch: authentication required"}},
			want: "not synced: SourceFailed: fetch: authentication required"},
		{name: "synced, failing", st: hub.Status{Leading: true, Synced: true, Condition: hub.Condition{State: hub.Failed, Reason: hub.ReasonWorkloadsFailed, Message: "1 workloads failed"}},
			want: "synced, but failing: WorkloadsFailed: 1 workloads failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := StatusProblem(tt.st)
			if tt.want == "" {
				if err != nil {
					t.Errorf("= %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrNotReady) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("= %v, want %q", err, tt.want)
			}
		})
	}
}
