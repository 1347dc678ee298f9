package hub

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/store"
)

// Status is what the hub reports about itself: on GET /status and at
// status/hub in etcd.
type Status struct {
	// Leading is false on a standby hub, whose other fields are empty.
	Leading bool   `json:"leading"`
	Commit  string `json:"commit"`
	// Synced is true when no queue holds work: every intent is stored.
	Synced    bool             `json:"synced"`
	Workloads []WorkloadStatus `json:"workloads"`
	Cells     []CellStatus     `json:"cells"`
	// Errors are the desired model's file problems and the hub's own
	// (selectors that do not compile), each keeping the last good version.
	Errors    []string   `json:"errors,omitempty"`
	Conflicts []Conflict `json:"conflicts,omitempty"`
	Queues    Queues     `json:"queues"`
}

// Queues are the depths of the controllers' work queues.
type Queues struct {
	Fanout      int `json:"fanout"`
	Apply       int `json:"apply"`
	Convergence int `json:"convergence"`
	// Writes counts cells whose write is waiting for etcd.
	Writes int `json:"writes"`
}

// WorkloadStatus summarises one workload.
type WorkloadStatus struct {
	ID string `json:"id"`
	// Cells counts the cells the workload is on.
	Cells int `json:"cells"`
	// Desired, Placed, Running and Crashed count LRP instances (for a set,
	// over all its cells); a Task counts 1.
	Desired  int      `json:"desired"`
	Placed   int      `json:"placed"`
	Running  int      `json:"running"`
	Crashed  int      `json:"crashed"`
	Task     string   `json:"task,omitempty"`
	Unplaced []string `json:"unplaced,omitempty"`
}

// CellStatus summarises one cell.
type CellStatus struct {
	Name  string `json:"name"`
	Zone  string `json:"zone,omitempty"`
	State string `json:"state,omitempty"`
	// Applied is true when the cell has reconciled the hub's last write to it.
	Applied bool `json:"applied"`
	// Commit is the newest commit the cell runs all of: the hub's commit
	// when Applied, else the commit of the last write it reported applied
	// ("" when it has reported none since this hub started leading).
	Commit   string `json:"commit,omitempty"`
	Running  int    `json:"running"`
	Crashed  int    `json:"crashed"`
	Assigned int    `json:"assigned"`
}

// Status returns a snapshot of the hub's view.
func (h *Hub) Status() Status {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.t
	if t == nil {
		return Status{}
	}
	select {
	case <-t.ended:
		return Status{} // a term that is ending leads nothing
	default:
	}
	st := Status{Leading: true, Commit: t.commit}
	st.Queues = Queues{Fanout: t.fanout.Len() + t.fanout.InFlight(), Apply: t.apply.Len() + t.apply.InFlight(), Convergence: t.converge.Len() + t.converge.InFlight()}
	st.Queues.Writes = len(t.inflight)
	st.Synced = st.Queues.Fanout == 0 && st.Queues.Apply == 0 && st.Queues.Writes == 0

	type counts struct{ running, crashed int }
	byLRP := map[string]*counts{}
	for _, cell := range slices.Sorted(maps.Keys(t.cells)) {
		c := t.cells[cell]
		cs := CellStatus{Name: cell, Zone: c.Zone, State: c.State, Assigned: len(t.stored[cell])}
		for _, a := range t.actual[cell] {
			n := byLRP[a.Name]
			if n == nil {
				n = &counts{}
				byLRP[a.Name] = n
			}
			switch a.State {
			case model.StateRunning:
				cs.Running++
				n.running++
			case model.StateCrashed:
				cs.Crashed++
				n.crashed++
			}
		}
		r, reported := t.reports[cell]
		cs.Applied = reported && r.AppliedRevision >= t.written[cell]
		cs.Commit = t.appliedCommit[cell]
		if cs.Applied {
			cs.Commit = t.commit
		}
		st.Cells = append(st.Cells, cs)
	}
	// One pass over the intents counts every workload's cells and placed
	// instances.
	type spread struct{ cells, placed int }
	per := make(map[string]*spread, len(t.workloads))
	for _, srcs := range t.intents {
		for src, items := range srcs {
			n := per[src]
			if n == nil {
				n = &spread{}
				per[src] = n
			}
			n.cells++
			for _, it := range items {
				n.placed += len(it.Indexes)
			}
		}
	}
	for _, id := range slices.Sorted(maps.Keys(t.workloads)) {
		w := t.workloads[id]
		ws := WorkloadStatus{ID: id}
		if n := per[id]; n != nil {
			ws.Cells, ws.Placed = n.cells, n.placed
		}
		switch w.kind {
		case model.KindLRP:
			ws.Desired = w.instances
		case model.KindSelectorSyncSet:
			matching := len(t.index.Matches(id))
			for _, it := range w.items {
				ws.Desired += len(it.Indexes) * matching
			}
		case model.KindTask:
			ws.Desired = 1
			if te, ok := t.tasks[w.name]; ok {
				ws.Task = te.rec.State
				if te.rec.Failed {
					ws.Task += " (failed: " + te.rec.Reason + ")"
				}
			}
		}
		if w.kind == model.KindLRP || w.kind == model.KindSelectorSyncSet {
			for _, it := range w.items {
				if n := byLRP[it.Name]; n != nil && it.Kind == model.KindLRP {
					ws.Running += n.running
					ws.Crashed += n.crashed
				}
			}
		}
		for _, u := range t.unplaced[id] {
			ws.Unplaced = append(ws.Unplaced, u.String())
		}
		st.Workloads = append(st.Workloads, ws)
	}
	for _, err := range t.errors {
		st.Errors = append(st.Errors, err.Error())
	}
	for _, id := range slices.Sorted(maps.Keys(t.workloadErrors)) {
		st.Errors = append(st.Errors, t.workloadErrors[id].Error())
	}
	st.Errors = append(st.Errors, taskEditNotices(t)...)
	for _, k := range slices.Sorted(maps.Keys(t.tooLarge)) {
		st.Errors = append(st.Errors, t.tooLarge[k].Error())
	}
	for _, cell := range slices.Sorted(maps.Keys(t.conflicts)) {
		st.Conflicts = append(st.Conflicts, t.conflicts[cell]...)
	}
	return st
}

// ServeHTTP serves the status as JSON (GET /status).
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "use GET", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(h.Status())
}

// statusLoop mirrors the status into etcd, for `cellsync status` run
// against etcd alone. It writes only settled states (queues empty) that
// differ from what is stored, so a restarted hub that changes nothing writes
// nothing.
func (h *Hub) statusLoop(ctx context.Context, every time.Duration) error {
	var last []byte
	if kv, ok, err := h.deps.Store.Get(ctx, store.StatusKey("hub")); err == nil && ok {
		last = kv.Value
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		st := h.Status()
		h.recordGauges(st)
		h.appliedEvent(st)
		if !st.Synced {
			continue
		}
		val, err := store.Encode(st)
		if err != nil || string(val) == string(last) {
			continue
		}
		if _, err := h.deps.Store.Write(ctx, []store.Op{{Key: store.StatusKey("hub"), Value: val}}); err != nil {
			h.log.Warn("write status", "err", err)
			continue
		}
		last = val
	}
}

// recordGauges sets the cells-by-state and actual-LRPs-by-state gauges.
func (h *Hub) recordGauges(st Status) {
	m := h.deps.Metrics
	if m == nil || !st.Leading {
		return
	}
	cells := map[string]int{}
	lrps := map[string]int{}
	for _, c := range st.Cells {
		state := c.State
		if state == "" {
			state = model.CellReady
		}
		cells[state]++
		lrps[model.StateRunning] += c.Running
		lrps[model.StateCrashed] += c.Crashed
	}
	m.SetCells(cells)
	m.SetActualLRPs(lrps)
}
