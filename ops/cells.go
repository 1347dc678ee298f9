package ops

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/store"
	"github.com/cellsync/cellsync/sync/hub"
)

// CellInfo is one row of `cellsync cells`.
type CellInfo struct {
	Name   string            `json:"name"`
	Zone   string            `json:"zone,omitempty"`
	Labels map[string]string `json:"labels,omitempty"`
	// State is model.CellReady or model.CellEvacuating.
	State   string `json:"state"`
	Runtime string `json:"runtime,omitempty"`
	// Capacity is what the cell offers; Used is what its assigned LRP
	// instances and Tasks reserve. Both are zero when read from the hub's
	// status alone.
	Capacity model.Capacity `json:"capacity"`
	Used     model.Capacity `json:"used"`
	// Instances counts assigned LRP instances; Running and Crashed count
	// what the cell reports.
	Instances int `json:"instances"`
	Running   int `json:"running"`
	Crashed   int `json:"crashed"`
	// Health is "ok", "evacuating", "no report" or "report 42s old".
	Health string `json:"health"`
}

// staleReport is the age after which a cell's report counts as stale: a
// live agent rewrites it on every change and keeps its lease alive, so an
// old report with a live lease means a stuck agent.
const staleReport = 5 * time.Minute

// ReadCells lists the registered cells from etcd with their usage.
func ReadCells(ctx context.Context, t Target, now time.Time) ([]CellInfo, error) {
	c, err := connect(ctx, t)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	cellKVs, _, err := c.List(ctx, store.CellsPrefix)
	if err != nil {
		return nil, fmt.Errorf("list cells: %w", err)
	}
	desired, _, err := c.List(ctx, store.DesiredPrefix)
	if err != nil {
		return nil, fmt.Errorf("list assignments: %w", err)
	}
	actual, _, err := c.List(ctx, store.ActualPrefix)
	if err != nil {
		return nil, fmt.Errorf("list actual state: %w", err)
	}
	byName := map[string]*CellInfo{}
	for _, kv := range cellKVs {
		var rec model.Cell
		if err := store.Decode(kv, &rec); err != nil {
			return nil, err
		}
		state := rec.State
		if state == "" {
			state = model.CellReady
		}
		byName[rec.Name] = &CellInfo{Name: rec.Name, Zone: rec.Zone, Labels: rec.Labels, State: state,
			Runtime: rec.Runtime, Capacity: rec.Capacity, Health: "no report"}
	}
	needs := map[string]model.Resources{}
	need := func(hash string) (model.Resources, error) {
		if r, ok := needs[hash]; ok {
			return r, nil
		}
		kv, ok, err := c.Get(ctx, store.SpecKey(hash))
		r := model.DefaultResources
		if err != nil {
			return r, fmt.Errorf("read spec %s: %w", hash, err)
		}
		if ok {
			if o, err := model.DecodeObject(kv.Value); err == nil {
				switch o := o.(type) {
				case *model.LRP:
					r = o.Spec.Needs()
				case *model.Task:
					r = o.Spec.Needs()
				}
			}
		}
		needs[hash] = r
		return r, nil
	}
	for _, kv := range desired {
		name, _, ok := store.SplitCellKey(store.DesiredPrefix, kv.Key)
		ci := byName[name]
		if !ok || ci == nil {
			continue
		}
		var a model.Assignment
		if err := store.Decode(kv, &a); err != nil {
			return nil, err
		}
		for _, it := range a.Items {
			n := len(it.Indexes)
			switch it.Kind {
			case model.KindLRP:
				ci.Instances += n
			case model.KindTask:
				n = 1
			default:
				continue
			}
			r, err := need(it.Spec)
			if err != nil {
				return nil, err
			}
			ci.Used.MemoryMB += r.MemoryMB * int64(n)
			ci.Used.DiskMB += r.DiskMB * int64(n)
			ci.Used.Containers += n
		}
	}
	for _, kv := range actual {
		name, rest, ok := store.SplitCellKey(store.ActualPrefix, kv.Key)
		ci := byName[name]
		if !ok || ci == nil {
			continue
		}
		if rest == model.ReportID {
			var r model.CellReport
			if err := store.Decode(kv, &r); err != nil {
				return nil, err
			}
			ci.Running, ci.Crashed = r.Running, r.Crashed
			switch age := now.Sub(r.Time); {
			case r.Evacuating || ci.State == model.CellEvacuating:
				ci.Health = "evacuating"
			case age > staleReport:
				ci.Health = fmt.Sprintf("report %s old", age.Round(time.Second))
			default:
				ci.Health = "ok"
			}
		}
	}
	out := make([]CellInfo, 0, len(byName))
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		out = append(out, *byName[name])
	}
	return out, nil
}

// CellsFromStatus is the fallback of `cellsync cells` when only the hub is
// known: the hub's status has no labels nor capacity.
func CellsFromStatus(st hub.Status) []CellInfo {
	out := make([]CellInfo, 0, len(st.Cells))
	for _, c := range st.Cells {
		state := c.State
		if state == "" {
			state = model.CellReady
		}
		health := "ok"
		switch {
		case state == model.CellEvacuating:
			health = "evacuating"
		case !c.Applied:
			health = "behind"
		}
		out = append(out, CellInfo{Name: c.Name, Zone: c.Zone, State: state, Instances: c.Assigned,
			Running: c.Running, Crashed: c.Crashed, Health: health})
	}
	return out
}

// RenderCells writes the cells as an aligned table, JSON or YAML.
func RenderCells(w io.Writer, cells []CellInfo, format string) error {
	if done, err := encode(w, cells, format); done || err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CELL\tZONE\tLABELS\tMEMORY MB (USED/CAP)\tDISK MB (USED/CAP)\tCONTAINERS (USED/CAP)\tINSTANCES\tRUNNING\tCRASHED\tHEALTH")
	for _, c := range cells {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n", c.Name, dash(c.Zone), labels(c.Labels),
			ratio(c.Used.MemoryMB, c.Capacity.MemoryMB), ratio(c.Used.DiskMB, c.Capacity.DiskMB),
			ratio(int64(c.Used.Containers), int64(c.Capacity.Containers)), c.Instances, c.Running, c.Crashed, c.Health)
	}
	return tw.Flush()
}

func ratio(used, capacity int64) string {
	if capacity == 0 {
		return "-"
	}
	return fmt.Sprintf("%d/%d", used, capacity)
}

func labels(m map[string]string) string {
	if len(m) == 0 {
		return "-"
	}
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ",")
}
