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

// InstanceDetail is one row of `cellsync status <workload>`.
type InstanceDetail struct {
	// LRP is the instance's LRP (a SelectorSyncSet may carry several).
	LRP   string `json:"lrp"`
	Index int32  `json:"index"`
	Cell  string `json:"cell"`
	Zone  string `json:"zone,omitempty"`
	// Version is what the instance runs (model.InstanceVersion of its body
	// and mounted Configs; the body hash when the cell reports none);
	// Commit the commit of the assignment that carries it.
	Version string `json:"version,omitempty"`
	Commit  string `json:"commit,omitempty"`
	// State is the cell's report, or "PLACED" while the cell has reported
	// nothing for an instance the hub assigned to it.
	State    string      `json:"state"`
	Since    time.Time   `json:"since,omitzero"`
	Restarts int         `json:"restarts"`
	Crashes  int         `json:"crashes"`
	LastExit *model.Exit `json:"lastExit,omitempty"`
	// HealthySince is since when the instance is healthy: RUNNING, and
	// its health check (if any) has not failed since; zero while it is not.
	HealthySince time.Time `json:"healthySince,omitzero"`
}

// StatePlaced is an instance assigned to a cell that has not reported it.
const StatePlaced = "PLACED"

// WorkloadDetail is what `cellsync status <workload>` shows.
type WorkloadDetail struct {
	Workload string `json:"workload"`
	// Summary is the hub's line for the workload, when the hub knows it.
	Summary   *hub.WorkloadStatus `json:"summary,omitempty"`
	Instances []InstanceDetail    `json:"instances,omitempty"`
	// Unplaced are the placement reasons of instances no cell holds.
	Unplaced []string `json:"unplaced,omitempty"`
	// Problems are the hub's errors that name the workload.
	Problems []string  `json:"problems,omitempty"`
	Task     *TaskInfo `json:"task,omitempty"`
}

// DetailInput is what Describe reads, all of it from etcd and the hub.
type DetailInput struct {
	Workload string
	Cells    map[string]model.Cell
	// Assignments are every desired/<cell>/<source> key's value, by cell.
	Assignments map[string][]model.Assignment
	// Actual is every actual-state report, by cell and instance ID.
	Actual map[string]map[string]model.Actual
	// Task is the Task's record, for a Task.
	Task *model.TaskRecord
	// Status is the hub's status; zero when unknown.
	Status hub.Status
}

// Describe builds a workload's detail. It is pure, for table tests.
func Describe(in DetailInput) (WorkloadDetail, error) {
	kind, name, ok := strings.Cut(in.Workload, "/")
	if !ok || name == "" {
		return WorkloadDetail{}, fmt.Errorf("workload %q: want <Kind>/<name>, e.g. LRP/web", in.Workload)
	}
	d := WorkloadDetail{Workload: in.Workload}
	for _, ws := range in.Status.Workloads {
		if ws.ID == in.Workload {
			d.Summary = &ws
			d.Unplaced = ws.Unplaced
		}
	}
	for _, e := range in.Status.Errors {
		if strings.Contains(e, in.Workload+":") || strings.Contains(e, in.Workload+" ") {
			d.Problems = append(d.Problems, e)
		}
	}
	// The LRPs whose instances belong to the workload.
	lrps := map[string]bool{}
	switch model.Kind(kind) {
	case model.KindLRP:
		lrps[name] = true
	case model.KindSelectorSyncSet:
		for _, as := range in.Assignments {
			for _, a := range as {
				if a.Source != in.Workload {
					continue
				}
				for _, it := range a.Items {
					if it.Kind == model.KindLRP {
						lrps[it.Name] = true
					}
				}
			}
		}
	case model.KindTask:
		if in.Task != nil {
			ti := taskInfo(*in.Task, in.Status)
			d.Task = &ti
		}
	case model.KindConfig:
	default:
		return WorkloadDetail{}, fmt.Errorf("workload %q: unknown kind %q", in.Workload, kind)
	}
	reported := map[string]bool{}
	for cell, byID := range in.Actual {
		for id, a := range byID {
			if !lrps[a.Name] || id != model.InstanceID(model.KindLRP, a.Name, a.Index) {
				continue
			}
			reported[cell+" "+id] = true
			version := a.Version
			if version == "" {
				version = a.Spec
			}
			var healthy time.Time
			if a.State == model.StateRunning {
				healthy = a.HealthySince
			}
			d.Instances = append(d.Instances, InstanceDetail{
				LRP: a.Name, Index: a.Index, Cell: cell, Zone: in.Cells[cell].Zone, Version: version, Commit: a.Commit,
				State: a.State, Since: a.Since, Restarts: a.Restarts, Crashes: a.CrashCount, LastExit: a.LastExit, HealthySince: healthy,
			})
		}
	}
	for cell, as := range in.Assignments {
		for _, a := range as {
			for _, it := range a.Items {
				if it.Kind != model.KindLRP || !lrps[it.Name] {
					continue
				}
				for _, idx := range it.Indexes {
					if reported[cell+" "+model.InstanceID(model.KindLRP, it.Name, idx)] {
						continue
					}
					reported[cell+" "+model.InstanceID(model.KindLRP, it.Name, idx)] = true
					d.Instances = append(d.Instances, InstanceDetail{LRP: it.Name, Index: idx, Cell: cell, Zone: in.Cells[cell].Zone,
						Version: it.Spec, Commit: a.Commit, State: StatePlaced})
				}
			}
		}
	}
	if d.Summary == nil && d.Task == nil && len(d.Instances) == 0 {
		return WorkloadDetail{}, fmt.Errorf("%s: no such workload (see `cellsync status`)", in.Workload)
	}
	sort.Slice(d.Instances, func(i, j int) bool {
		x, y := d.Instances[i], d.Instances[j]
		if x.LRP != y.LRP {
			return x.LRP < y.LRP
		}
		if x.Index != y.Index {
			return x.Index < y.Index
		}
		return x.Cell < y.Cell
	})
	return d, nil
}

// ReadDetail reads from etcd and the hub what Describe needs.
func ReadDetail(ctx context.Context, t Target, workload string) (WorkloadDetail, error) {
	if len(t.Etcd) == 0 {
		return WorkloadDetail{}, fmt.Errorf("a workload's instances are read from etcd: pass --etcd-endpoints, or run next to `cellsync up`")
	}
	st, err := FetchStatus(ctx, t)
	if err != nil {
		return WorkloadDetail{}, err
	}
	c, err := connect(ctx, t)
	if err != nil {
		return WorkloadDetail{}, err
	}
	defer c.Close()
	in := DetailInput{Workload: workload, Status: st, Assignments: map[string][]model.Assignment{}, Actual: map[string]map[string]model.Actual{}}
	if in.Cells, err = listCells(ctx, c); err != nil {
		return WorkloadDetail{}, err
	}
	kvs, _, err := c.List(ctx, store.DesiredPrefix)
	if err != nil {
		return WorkloadDetail{}, fmt.Errorf("list assignments: %w", err)
	}
	for _, kv := range kvs {
		cell, _, ok := store.SplitCellKey(store.DesiredPrefix, kv.Key)
		var a model.Assignment
		if ok && store.Decode(kv, &a) == nil {
			in.Assignments[cell] = append(in.Assignments[cell], a)
		}
	}
	if kvs, _, err = c.List(ctx, store.ActualPrefix); err != nil {
		return WorkloadDetail{}, fmt.Errorf("list actual state: %w", err)
	}
	for _, kv := range kvs {
		cell, id, ok := store.SplitCellKey(store.ActualPrefix, kv.Key)
		var a model.Actual
		if !ok || id == model.ReportID || store.Decode(kv, &a) != nil {
			continue
		}
		if in.Actual[cell] == nil {
			in.Actual[cell] = map[string]model.Actual{}
		}
		in.Actual[cell][id] = a
	}
	if name, isTask := strings.CutPrefix(workload, string(model.KindTask)+"/"); isTask {
		rec, _, ok, err := store.GetJSON[model.TaskRecord](ctx, c, store.TaskKey(name))
		if err != nil {
			return WorkloadDetail{}, fmt.Errorf("read task %s: %w", name, err)
		}
		if ok {
			in.Task = &rec
		}
	}
	return Describe(in)
}

// RenderDetail writes a workload's detail as a table, JSON or YAML.
func RenderDetail(w io.Writer, d WorkloadDetail, format string) error {
	if done, err := encode(w, d, format); done || err != nil {
		return err
	}
	fmt.Fprintln(w, d.Workload)
	if s := d.Summary; s != nil && d.Task == nil {
		fmt.Fprintf(w, "  desired %d, placed %d, running %d, crashed %d, on %d cells\n", s.Desired, s.Placed, s.Running, s.Crashed, s.Cells)
	}
	if t := d.Task; t != nil {
		fmt.Fprintln(w)
		if err := RenderTasks(w, []TaskInfo{*t}, FormatTable); err != nil {
			return err
		}
		if t.Result != "" {
			fmt.Fprintf(w, "\nRESULT\n%s", indent(t.Result))
		}
	}
	if len(d.Instances) > 0 {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		lrpCol := len(d.Instances) > 0 && d.Instances[0].LRP != d.Instances[len(d.Instances)-1].LRP
		if lrpCol {
			fmt.Fprint(tw, "LRP\t")
		}
		fmt.Fprintln(tw, "INDEX\tCELL\tZONE\tVERSION\tCOMMIT\tSTATE\tSINCE\tRESTARTS\tLAST EXIT\tHEALTHY")
		now := time.Now()
		for _, in := range d.Instances {
			if lrpCol {
				fmt.Fprintf(tw, "%s\t", in.LRP)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", in.Index, in.Cell, dash(in.Zone), dash(shortHash(in.Version)), dash(shortHash(in.Commit)),
				in.State, age(now, in.Since), in.Restarts, lastExit(in.LastExit), healthy(now, in))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		var exits []string
		for _, in := range d.Instances {
			if e := in.LastExit; e != nil {
				exits = append(exits, fmt.Sprintf("%s/%d on %s, %s ago: %s", in.LRP, in.Index, in.Cell, age(now, e.At), e.Message))
			}
		}
		section(w, "LAST EXITS", exits)
	}
	section(w, "UNPLACED", d.Unplaced)
	section(w, "PROBLEMS", d.Problems)
	return nil
}

func shortHash(s string) string {
	if len(s) > 7 {
		return s[:7]
	}
	return s
}

// age renders how long ago t was, or "-".
func age(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// lastExit is the short form of an exit for a table cell.
func lastExit(e *model.Exit) string {
	if e == nil {
		return "-"
	}
	switch e.Cause {
	case model.ExitExited:
		return fmt.Sprintf("exit %d", e.Code)
	case model.ExitOOMKilled:
		return fmt.Sprintf("OOM-killed (limit %d MiB)", e.LimitMB)
	case model.ExitHealthCheck:
		msg, _, _ := strings.Cut(e.Message, ":")
		return msg
	case model.ExitImageNotFound:
		return "image not found"
	case model.ExitKilled:
		return "killed by the hub"
	case model.ExitTimeout:
		return "timed out"
	case model.ExitStartFailed:
		return "start failed"
	}
	return e.Cause
}

func healthy(now time.Time, in InstanceDetail) string {
	switch {
	case !in.HealthySince.IsZero():
		return "yes (" + age(now, in.HealthySince) + ")"
	case in.State == model.StateRunning:
		return "no (health check failing)"
	}
	return "no"
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return "  " + strings.Join(lines, "\n  ") + "\n"
}
