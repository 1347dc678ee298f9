package ops

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cellsync/cellsync/cell/logserver"
	"github.com/cellsync/cellsync/events"
	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/store"
	"github.com/cellsync/cellsync/sync/hub"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func actualKV(cell, id string) store.KV { return store.KV{Key: store.ActualKey(cell, id)} }

func TestSelectSources(t *testing.T) {
	cells := map[string]model.Cell{"c1": {Name: "c1", LogsURL: "http://127.0.0.1:1"}, "c2": {Name: "c2", LogsURL: "http://127.0.0.1:2"}}
	actual := []store.KV{actualKV("c2", "LRP/web/10"), actualKV("c1", "LRP/web/2"), actualKV("c2", "LRP/web/1"),
		actualKV("c1", "LRP/webber/0"), actualKV("c1", model.ReportID), actualKV("c1", "Task/web")}
	task := &model.TaskRecord{Name: "migrate", Cell: "c2"}
	ids := func(srcs []LogSource) string {
		var out []string
		for _, s := range srcs {
			out = append(out, s.label()+s.Instance+"@"+s.URL)
		}
		return strings.Join(out, " ")
	}
	tests := []struct {
		name    string
		req     LogsRequest
		task    *model.TaskRecord
		want    string
		wantErr string
	}{
		{name: "every instance, by cell then index", req: LogsRequest{Workload: "LRP/web", Index: -1},
			want: "[c1/2]LRP/web/2@http://127.0.0.1:1 [c2/1]LRP/web/1@http://127.0.0.1:2 [c2/10]LRP/web/10@http://127.0.0.1:2"},
		{name: "one index", req: LogsRequest{Workload: "LRP/web", Index: 1}, want: "[c2/1]LRP/web/1@http://127.0.0.1:2"},
		{name: "one cell", req: LogsRequest{Workload: "LRP/web", Index: -1, Cell: "c1"}, want: "[c1/2]LRP/web/2@http://127.0.0.1:1"},
		{name: "a task on its cell", req: LogsRequest{Workload: "Task/migrate", Index: -1}, task: task, want: "[c2/migrate]Task/migrate@http://127.0.0.1:2"},
		{name: "no such index", req: LogsRequest{Workload: "LRP/web", Index: 7}, wantErr: "LRP/web has no instance with index 7 on any cell"},
		{name: "a task never placed", req: LogsRequest{Workload: "Task/nope", Index: -1}, wantErr: "Task/nope has no instance on any cell"},
		{name: "not a runnable kind", req: LogsRequest{Workload: "SelectorSyncSet/x", Index: -1}, wantErr: "want LRP/<name> or Task/<name>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SelectSources(tt.req, cells, actual, tt.task)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || ids(got) != tt.want {
				t.Fatalf("got %q, %v\nwant %q", ids(got), err, tt.want)
			}
		})
	}
}

// fakeCell serves lines as a cell's log server does, and passes on the
// queries it gets.
func fakeCell(t *testing.T, lines ...logserver.Line) (*httptest.Server, <-chan string) {
	t.Helper()
	queries := make(chan string, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		queries <- r.URL.Path + "?" + r.URL.RawQuery
		enc := json.NewEncoder(w)
		for _, l := range lines {
			_ = enc.Encode(l)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, queries
}

func TestStreamLogsInterleavesByTime(t *testing.T) {
	a, qa := fakeCell(t, logserver.Line{Time: t0, Stream: "stdout", Text: "a1"}, logserver.Line{Time: t0.Add(2 * time.Second), Stream: "stderr", Text: "a2"})
	b, _ := fakeCell(t, logserver.Line{Time: t0.Add(time.Second), Stream: "stdout", Text: "b1"})
	srcs := []LogSource{{Cell: "c1", Instance: "LRP/web/0", URL: a.URL}, {Cell: "c2", Instance: "LRP/web/1", URL: b.URL},
		{Cell: "c3", Instance: "LRP/web/2"}}
	var out, errOut bytes.Buffer
	req := LogsRequest{Workload: "LRP/web", Index: -1, Tail: 5, Since: t0, Previous: true, Timestamps: true}
	err := StreamLogs(context.Background(), Target{}, req, srcs, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "1 of 3 instances") || !strings.Contains(errOut.String(), "[c3/2] LRP/web/2: cell c3 publishes no log server") {
		t.Fatalf("err = %v, stderr %q: want the cell without a server reported", err, errOut.String())
	}
	want := fmt.Sprintf("[c1/0] %s a1\n[c2/1] %s b1\n[c1/0] %s a2\n", t0.Format(time.RFC3339Nano),
		t0.Add(time.Second).Format(time.RFC3339Nano), t0.Add(2*time.Second).Format(time.RFC3339Nano))
	if out.String() != want {
		t.Fatalf("output:\n%s\nwant:\n%s", out.String(), want)
	}
	if q := <-qa; !strings.HasPrefix(q, "/logs/LRP/web/0?") || !strings.Contains(q, "previous=true") || !strings.Contains(q, "tail=5") || !strings.Contains(q, "since=2026-01-02T03%3A04%3A05Z") {
		t.Fatalf("query %q", q)
	}

	// One instance: no prefix.
	out.Reset()
	if err := StreamLogs(context.Background(), Target{}, LogsRequest{Workload: "LRP/web", Tail: -1}, srcs[:1], &out, &errOut); err != nil || out.String() != "a1\na2\n" {
		t.Fatalf("single instance: %q, %v", out.String(), err)
	}
	// Following more instances than allowed is refused up front.
	if err := StreamLogs(context.Background(), Target{}, LogsRequest{Workload: "LRP/web", Follow: true, MaxStreams: 2}, srcs, &out, &errOut); err == nil || !strings.Contains(err.Error(), "more than --max-streams 2") {
		t.Fatalf("follow of 3 with --max-streams 2: %v", err)
	}
}

func TestDescribe(t *testing.T) {
	st := hub.Status{Workloads: []hub.WorkloadStatus{
		{ID: "LRP/web", Desired: 3, Placed: 2, Running: 1, Crashed: 1, Unplaced: []string{"LRP web index 2: no cell has 64 MB free"}},
		{ID: "SelectorSyncSet/agents", Desired: 1, Placed: 1},
		{ID: "Task/migrate", Desired: 1, Task: "COMPLETED"}},
		Errors: []string{"LRP/web: no matching cell can hold an instance", "Task/migrate: completed at commit abc1234; edits to a completed Task do not rerun it; rename it to run again"}}
	oom := &model.Exit{Code: 137, Cause: model.ExitOOMKilled, LimitMB: 64, Message: "OOM-killed at its 64 MiB memory limit (exit status 137)", At: t0}
	in := DetailInput{
		Cells: map[string]model.Cell{"c1": {Name: "c1", Zone: "z1"}, "c2": {Name: "c2", Zone: "z2"}},
		Assignments: map[string][]model.Assignment{
			"c1": {{Source: "LRP/web", Commit: "c0mmit1", Items: []model.Item{{Kind: model.KindLRP, Name: "web", Spec: "s1", Indexes: []int32{0}}}},
				{Source: "SelectorSyncSet/agents", Items: []model.Item{{Kind: model.KindLRP, Name: "agent", Spec: "s3", Indexes: []int32{0}}, {Kind: model.KindConfig, Name: "conf"}}}},
			"c2": {{Source: "LRP/web", Commit: "c0mmit2", Items: []model.Item{{Kind: model.KindLRP, Name: "web", Spec: "s2", Indexes: []int32{1}}}}},
		},
		Actual: map[string]map[string]model.Actual{
			"c1": {"LRP/web/0": {Name: "web", Index: 0, State: model.StateCrashed, Spec: "s1", CrashCount: 4, Restarts: 3, LastExit: oom},
				"LRP/agent/0": {Name: "agent", Index: 0, State: model.StateRunning, Spec: "s3"}},
		},
		Task:   &model.TaskRecord{Name: "migrate", Cell: "c2", State: model.TaskCompleted, Started: t0, Updated: t0.Add(90 * time.Second), Result: "done\nrows: 42\n"},
		Status: st,
	}
	row := func(d InstanceDetail) string {
		return fmt.Sprintf("%s/%d@%s %s v=%s c=%s r=%d healthy=%v", d.LRP, d.Index, d.Cell, d.State, d.Version, d.Commit, d.Restarts, !d.HealthySince.IsZero())
	}
	tests := []struct {
		workload string
		want     []string
		problems int
		wantErr  string
	}{
		{workload: "LRP/web", want: []string{"web/0@c1 CRASHED v=s1 c= r=3 healthy=false", "web/1@c2 PLACED v=s2 c=c0mmit2 r=0 healthy=false"}, problems: 1},
		{workload: "SelectorSyncSet/agents", want: []string{"agent/0@c1 RUNNING v=s3 c= r=0 healthy=false"}},
		{workload: "Task/migrate", problems: 1},
		{workload: "LRP/nope", wantErr: "LRP/nope: no such workload"},
		{workload: "web", wantErr: "want <Kind>/<name>"},
	}
	for _, tt := range tests {
		t.Run(tt.workload, func(t *testing.T) {
			in.Workload = tt.workload
			d, err := Describe(in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			var got []string
			for _, i := range d.Instances {
				got = append(got, row(i))
			}
			if err != nil || !slices.Equal(got, tt.want) || len(d.Problems) != tt.problems {
				t.Fatalf("instances %q, problems %q, %v\nwant %q", got, d.Problems, err, tt.want)
			}
		})
	}

	in.Workload = "LRP/web"
	d, _ := Describe(in)
	var table bytes.Buffer
	if err := RenderDetail(&table, d, FormatTable); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"desired 3, placed 2, running 1, crashed 1", "OOM-killed (limit 64 MiB)",
		"web/0 on c1", "OOM-killed at its 64 MiB memory limit (exit status 137)", "UNPLACED\n  LRP web index 2: no cell has 64 MB free", "PROBLEMS\n  LRP/web: no matching cell"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	var js bytes.Buffer
	if err := RenderDetail(&js, d, FormatJSON); err != nil || !strings.Contains(js.String(), `"cause": "oom-killed"`) {
		t.Fatalf("json: %v\n%s", err, js.String())
	}

	in.Workload = "Task/migrate"
	d, _ = Describe(in)
	table.Reset()
	if err := RenderDetail(&table, d, FormatTable); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"migrate  c2    COMPLETED", "1m30s", "done …", "RESULT\n  done\n  rows: 42\n", "NOTICES\n  Task/migrate: completed at commit abc1234"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("task detail lacks %q:\n%s", want, table.String())
		}
	}
}

func TestEventsFromTheHub(t *testing.T) {
	evs := []model.Event{{Time: t0, Type: model.EventCommitSeen, Commit: "0123456789", Source: "hub", Message: "commit 0123456: 3 workloads"},
		{Time: t0.Add(time.Second), Type: model.EventInstanceCrashed, Severity: model.SeverityWarning, Source: "cell/c1", Instance: "LRP/web/0", Message: "crashed"}}
	queries := make(chan string, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		queries <- r.URL.RawQuery
		if r.URL.Query().Get("follow") == "true" {
			for _, e := range evs {
				b, _ := json.Marshal(e)
				fmt.Fprintf(w, "data: %s\n\n", b)
			}
			return
		}
		_ = json.NewEncoder(w).Encode(evs)
	}))
	defer srv.Close()
	for _, follow := range []bool{false, true} {
		var lines []string
		err := WatchEvents(context.Background(), Target{Hub: srv.URL}, events.Filter{Workload: "LRP/web", Cell: "c1", Since: t0, Limit: 9}, follow, func(e model.Event) error {
			lines = append(lines, EventLine(e))
			return nil
		})
		if err != nil || len(lines) != 2 || !strings.Contains(lines[0], "hub") || !strings.Contains(lines[0], "commit 0123456") ||
			!strings.Contains(lines[1], "! cell/c1") || !strings.Contains(lines[1], "LRP/web/0") {
			t.Fatalf("follow=%v: %q, %v", follow, lines, err)
		}
		query := <-queries
		for _, want := range []string{"workload=LRP%2Fweb", "cell=c1", "limit=9", "since=2026-01-02T03%3A04%3A05Z"} {
			if !strings.Contains(query, want) {
				t.Errorf("query %q lacks %q", query, want)
			}
		}
	}
}
