package ops

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/store"
	"github.com/cellsync/cellsync/sync/hub"
)

// TaskInfo is one row of `cellsync tasks`.
type TaskInfo struct {
	Name  string `json:"name"`
	Cell  string `json:"cell"`
	State string `json:"state"`
	// Commit is the commit the Task was created at.
	Commit  string    `json:"commit,omitempty"`
	Started time.Time `json:"started,omitzero"`
	// Duration is how long it ran (so far, while RUNNING), in seconds.
	Duration float64 `json:"durationSeconds,omitempty"`
	ExitCode int     `json:"exitCode"`
	Failed   bool    `json:"failed,omitempty"`
	Reason   string  `json:"reason,omitempty"`
	// Result is the first 4 KiB of the Task's result file, or the tail of
	// its output.
	Result string `json:"result,omitempty"`
	// Notice is the hub's word on an edit of the completed Task.
	Notice string `json:"notice,omitempty"`
}

// taskInfo turns a record into a row; the hub's status supplies notices.
func taskInfo(rec model.TaskRecord, st hub.Status) TaskInfo {
	ti := TaskInfo{Name: rec.Name, Cell: rec.Cell, State: rec.State, Commit: rec.Commit, Started: rec.Started,
		ExitCode: rec.ExitCode, Failed: rec.Failed, Reason: rec.Reason, Result: rec.Result}
	switch {
	case rec.Started.IsZero():
	case rec.State == model.TaskRunning:
		ti.Duration = time.Since(rec.Started).Seconds()
	default:
		ti.Duration = rec.Updated.Sub(rec.Started).Seconds()
	}
	prefix := string(model.KindTask) + "/" + rec.Name + ": "
	for _, e := range st.Errors {
		if strings.HasPrefix(e, prefix) {
			ti.Notice = strings.TrimPrefix(e, prefix)
		}
	}
	return ti
}

// ReadTasks lists the Task records in etcd, by name. The hub's status,
// when it answers, adds its notices.
func ReadTasks(ctx context.Context, t Target) ([]TaskInfo, error) {
	if len(t.Etcd) == 0 {
		return nil, fmt.Errorf("tasks are read from etcd: pass --etcd-endpoints, or run next to `cellsync up`")
	}
	st, _ := FetchStatus(ctx, t) // notices only: the records are the truth
	c, err := connect(ctx, t)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	kvs, _, err := c.List(ctx, store.TasksPrefix)
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	out := make([]TaskInfo, 0, len(kvs))
	for _, kv := range kvs {
		var rec model.TaskRecord
		if err := store.Decode(kv, &rec); err != nil {
			return nil, err
		}
		out = append(out, taskInfo(rec, st))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// RenderTasks writes the Tasks as a table (the result's first line, or why
// it failed), JSON or YAML (the whole result).
func RenderTasks(w io.Writer, tasks []TaskInfo, format string) error {
	if done, err := encode(w, tasks, format); done || err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tCELL\tSTATE\tSTARTED\tDURATION\tEXIT\tRESULT")
	var notices []string
	for _, ti := range tasks {
		state, exit, started, took := ti.State, "-", "-", "-"
		if ti.State == model.TaskCompleted || ti.State == model.TaskResolved {
			exit = fmt.Sprint(ti.ExitCode)
			if ti.Failed {
				state += " (failed)"
			}
		}
		if !ti.Started.IsZero() {
			started = ti.Started.Local().Format("2006-01-02 15:04:05")
			took = (time.Duration(ti.Duration * float64(time.Second))).Round(time.Millisecond).String()
		}
		result := firstLine(ti.Result)
		if ti.Failed && ti.Reason != "" {
			result = ti.Reason
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ti.Name, dash(ti.Cell), state, started, took, exit, dash(clip(result, 60)))
		if ti.Notice != "" {
			notices = append(notices, "Task/"+ti.Name+": "+ti.Notice)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	section(w, "NOTICES", notices)
	return nil
}

// firstLine is the first non-empty line of s, marked "…" when more follow.
func firstLine(s string) string {
	s = strings.TrimSpace(s)
	line, rest, more := strings.Cut(s, "\n")
	if more && strings.TrimSpace(rest) != "" {
		return strings.TrimSpace(line) + " …"
	}
	return line
}

// clip cuts s to n runes, marking the cut.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
