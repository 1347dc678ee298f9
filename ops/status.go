package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/cellsync/cellsync/store"
	"github.com/cellsync/cellsync/sync/hub"
)

// ErrNoHub means no hub answered at the target and no etcd was given to
// fall back on.
var ErrNoHub = errors.New("no hub")

// FetchStatus returns the hub's status: from GET /status when the target
// names a hub, else (or when the hub does not answer and etcd is known) from
// the copy the hub keeps in etcd, written whenever the status changes (an
// etcd that refuses writes keeps an older copy).
// It returns an error wrapping ErrNoHub, with what to do next, when
// neither answers.
func FetchStatus(ctx context.Context, t Target) (hub.Status, error) {
	if t.Hub != "" {
		st, err := getStatus(ctx, t.Hub)
		if err == nil {
			return st, nil
		}
		if len(t.Etcd) == 0 {
			return hub.Status{}, fmt.Errorf("%w at %s (from %s): %v: start one with `cellsync up`, or pass --hub or --etcd-endpoints", ErrNoHub, t.Hub, t.From, err)
		}
	}
	if len(t.Etcd) == 0 {
		return hub.Status{}, fmt.Errorf("%w: no hub URL and no etcd endpoints: pass --hub or --etcd-endpoints", ErrNoHub)
	}
	c, err := connect(ctx, t)
	if err != nil {
		return hub.Status{}, err
	}
	defer c.Close()
	st, _, ok, err := store.GetJSON[hub.Status](ctx, c, store.StatusKey("hub"))
	if err != nil {
		return hub.Status{}, fmt.Errorf("read hub status from etcd at %s: %w", strings.Join(t.Etcd, ","), err)
	}
	if !ok {
		return hub.Status{}, fmt.Errorf("%w: etcd at %s holds no hub status yet: is a hub running on it (`cellsync hub --etcd-endpoints ...`)?", ErrNoHub, strings.Join(t.Etcd, ","))
	}
	return st, nil
}

func getStatus(ctx context.Context, base string) (hub.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/status", nil)
	if err != nil {
		return hub.Status{}, fmt.Errorf("hub URL %q: %w", base, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return hub.Status{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return hub.Status{}, fmt.Errorf("GET %s/status: %s", base, resp.Status)
	}
	var st hub.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return hub.Status{}, fmt.Errorf("GET %s/status: %w", base, err)
	}
	return st, nil
}

// connect opens the target's etcd, failing fast with what to do next.
func connect(ctx context.Context, t Target) (*store.Client, error) {
	c, err := store.Connect(ctx, store.Config{Endpoints: t.Etcd, DialTimeout: 3 * time.Second, TLS: t.TLS})
	if err != nil {
		return nil, fmt.Errorf("connect etcd at %s (from %s): %w: start cellsync with `cellsync up`, or pass --etcd-endpoints", strings.Join(t.Etcd, ","), t.From, err)
	}
	return c, nil
}

// Formats of the renderers.
const (
	FormatTable = "table"
	FormatJSON  = "json"
	FormatYAML  = "yaml"
)

// CheckFormat returns an error for an output format other than table,
// json and yaml.
func CheckFormat(f string) error {
	switch f {
	case FormatTable, FormatJSON, FormatYAML:
		return nil
	}
	return fmt.Errorf("output format %q: use table, json or yaml", f)
}

// encode writes v as JSON or YAML; ok is false for the table format.
func encode(w io.Writer, v any, format string) (bool, error) {
	switch format {
	case FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return true, enc.Encode(v)
	case FormatYAML:
		b, err := yaml.Marshal(v)
		if err != nil {
			return true, fmt.Errorf("encode yaml: %w", err)
		}
		_, err = w.Write(b)
		return true, err
	}
	return false, CheckFormat(format)
}

// ErrNotReady is wrapped by StatusProblem's errors.
var ErrNotReady = errors.New("the hub is not synced and ready")

// notReady is a StatusProblem error: its message says why.
type notReady struct{ msg string }

func (e notReady) Error() string { return e.msg }
func (e notReady) Unwrap() error { return ErrNotReady }

// StatusProblem returns nil when the hub is synced and ready, else an
// error wrapping ErrNotReady that says why: the hub is on standby, not
// synced (and the reason), or synced but failing (and the reason).
// `cellsync status` exits non-zero with it.
func StatusProblem(st hub.Status) error {
	c := st.Condition
	switch {
	case !st.Leading:
		return notReady{"this hub is on standby; ask the leading hub"}
	case !st.Synced:
		return notReady{fmt.Sprintf("not synced: %s: %s", c.Reason, c.Message)}
	case c.State != hub.Ready:
		return notReady{fmt.Sprintf("synced, but failing: %s: %s", c.Reason, c.Message)}
	}
	return nil
}

// headline says in one line where the hub is: its commit, whether it is
// synced, and if not ready why.
func headline(st hub.Status) string {
	c := st.Condition
	switch {
	case st.Synced && c.State == hub.Ready:
		return fmt.Sprintf("commit %s, synced", short(st.Commit))
	case st.Synced:
		return fmt.Sprintf("commit %s, synced, failing: %s: %s", short(st.Commit), c.Reason, c.Message)
	}
	return fmt.Sprintf("commit %s, not synced: %s: %s", short(st.Commit), c.Reason, c.Message)
}

// RenderStatus writes the status as tables (the hub's state, workloads with
// their condition, cells, unplaced instances, errors, conflicts), JSON or
// YAML.
func RenderStatus(w io.Writer, st hub.Status, format string) error {
	if done, err := encode(w, st, format); done || err != nil {
		return err
	}
	if !st.Leading {
		_, err := fmt.Fprintln(w, "hub is on standby (not leading): no status yet")
		return err
	}
	fmt.Fprintf(w, "%s\n", headline(st))
	if s := st.Source; s != nil && s.Error != "" {
		fmt.Fprintf(w, "git: %d fetches failed in a row: %s\n", max(s.Failures, 1), s.Error)
	}
	fmt.Fprintln(w)

	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "WORKLOAD\tCELLS\tDESIRED\tPLACED\tRUNNING\tCRASHED\tTASK\tUNPLACED\tSTATE")
	var problems []string
	for _, ws := range st.Workloads {
		c := ws.Condition
		state := string(c.State)
		if c.State != hub.Ready && c.State != "" {
			state += " (" + c.Reason + ")"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\t%d\t%s\n", ws.ID, ws.Cells, ws.Desired, ws.Placed, ws.Running, ws.Crashed, dash(ws.Task), ws.UnplacedCount, dash(state))
		if c.State == hub.Failed {
			where := ""
			if c.File != "" {
				where = fmt.Sprintf(" (%s:%d)", c.File, c.Line)
			}
			problems = append(problems, fmt.Sprintf("%s%s: %s: %s", ws.ID, where, c.Reason, c.Message))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CELL\tZONE\tSTATE\tCOMMIT\tWORKLOADS\tRUNNING\tCRASHED")
	for _, c := range st.Cells {
		// A cell is current when it runs everything of the hub's commit;
		// a lagging one shows the commit it last ran all of.
		lag := "current"
		if !c.Applied {
			lag = "behind"
			if c.Commit != "" {
				lag += " (at " + short(c.Commit) + ")"
			}
		}
		state := c.State
		if state == "" {
			state = "ready"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\n", c.Name, dash(c.Zone), state, lag, c.Assigned, c.Running, c.Crashed)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var unplaced []string
	for _, ws := range st.Workloads {
		unplaced = append(unplaced, ws.Unplaced...)
	}
	section(w, "FAILED WORKLOADS", problems)
	section(w, "UNPLACED", unplaced)
	if n := st.ErrorCount - len(st.Errors); n > 0 {
		st.Errors = append(st.Errors, fmt.Sprintf("... and %d more", n))
	}
	section(w, "ERRORS", st.Errors)
	if len(st.Conflicts) > 0 {
		fmt.Fprintln(w, "\nCONFLICTS")
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CELL\tOBJECT\tWORKLOAD\tFIELDS\tOWNED BY")
		for _, c := range st.Conflicts {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.Cell, c.Object, c.Workload, strings.Join(c.Fields, ","), strings.Join(c.Owners, ","))
		}
		return tw.Flush()
	}
	return nil
}

func section(w io.Writer, title string, lines []string) {
	if len(lines) == 0 {
		return
	}
	fmt.Fprintf(w, "\n%s\n", title)
	for _, l := range lines {
		fmt.Fprintf(w, "  %s\n", l)
	}
}

// Progress is one line of `cellsync up`'s live view, e.g.
// "commit 3f2a1bc  workloads 6  placed 9/9  running 9  crashed 0  cells 3/3 current  synced".
func Progress(st hub.Status) string {
	if !st.Leading {
		return "hub starting"
	}
	var desired, placed, running, crashed, current int
	for _, ws := range st.Workloads {
		desired += ws.Desired
		placed += ws.Placed
		if ws.Task != "" && ws.Placed == 0 {
			placed++ // a Task with a record has had its cell
		}
		running += ws.Running
		crashed += ws.Crashed
	}
	for _, c := range st.Cells {
		if c.Applied {
			current++
		}
	}
	state := "synced"
	switch {
	case !st.Synced && st.Condition.State == hub.Failed:
		state = "failing: " + st.Condition.Reason
	case !st.Synced:
		state = "syncing"
	case st.Condition.State == hub.Failed:
		state = "synced, failing: " + st.Condition.Reason
	}
	line := fmt.Sprintf("commit %s  workloads %d  placed %d/%d  running %d  crashed %d  cells %d/%d current  %s",
		short(st.Commit), len(st.Workloads), placed, desired, running, crashed, current, len(st.Cells), state)
	if n := len(st.Errors); n > 0 {
		line += fmt.Sprintf("  errors %d", n)
	}
	if n := len(st.Conflicts); n > 0 {
		line += fmt.Sprintf("  conflicts %d", n)
	}
	return line
}

func short(commit string) string {
	if commit == "" {
		return "(none yet)"
	}
	if len(commit) > 7 {
		return commit[:7]
	}
	return commit
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
