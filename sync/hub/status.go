package hub

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/placement"
	"github.com/cellsync/cellsync/store"
)

// Status is what the hub reports about itself: on GET /status, at
// status/hub in etcd, and through `cellsync status`. Its size is bounded:
// unplaced instances are aggregated per workload, and the error and
// conflict lists are capped (their counts are complete).
type Status struct {
	// Leading is false on a standby hub, whose other fields are empty but
	// for its condition.
	Leading bool `json:"leading"`
	// Commit is the commit the hub has compiled.
	Commit string `json:"commit"`
	// Synced is true only when the newest commit at the source was fetched
	// and compiled, and every write has landed: nothing queued, in flight,
	// waiting in a delayed retry, refused for its size, or refused by etcd.
	Synced bool `json:"synced"`
	// Condition summarises the hub: ready (synced, no error), progressing
	// (work under way) or failed, with the reason.
	Condition Condition `json:"condition"`
	// Source is the Git source's state, when the hub has one.
	Source    *SourceStatus    `json:"source,omitempty"`
	Workloads []WorkloadStatus `json:"workloads"`
	Cells     []CellStatus     `json:"cells"`
	// CellsOmitted counts cells left out of the copy in etcd, which must fit
	// in one request; /status always lists every cell.
	CellsOmitted int `json:"cellsOmitted,omitempty"`
	// Errors are the file problems of the desired model and the hub's own
	// (workloads that do not compile, selectors failing on cells, records
	// refused for their size, records ignored), at most MaxListed.
	Errors []string `json:"errors,omitempty"`
	// ErrorCount counts all errors, listed or not.
	ErrorCount int `json:"errorCount,omitempty"`
	// Conflicts lists field conflicts, at most MaxListed; ConflictCount
	// counts them all.
	Conflicts     []Conflict `json:"conflicts,omitempty"`
	ConflictCount int        `json:"conflictCount,omitempty"`
	Queues        Queues     `json:"queues"`
}

// MaxListed bounds the errors and conflicts a Status lists.
const MaxListed = 100

// maxUnplacedReasons bounds the distinct reasons listed per workload.
const maxUnplacedReasons = 5

// Queues are the depths of the controllers' work queues.
type Queues struct {
	Fanout      int `json:"fanout"`
	Apply       int `json:"apply"`
	Convergence int `json:"convergence"`
	// Writes counts cells whose write is waiting for etcd.
	Writes int `json:"writes"`
	// Retrying counts cells whose write waits in a delayed retry.
	Retrying int `json:"retrying,omitempty"`
}

// WorkloadStatus summarises one workload.
type WorkloadStatus struct {
	ID string `json:"id"`
	// Cells counts the cells the workload is on.
	Cells int `json:"cells"`
	// Desired, Placed, Running and Crashed count LRP instances (for a set,
	// over all its cells); a Task counts 1.
	Desired int    `json:"desired"`
	Placed  int    `json:"placed"`
	Running int    `json:"running"`
	Crashed int    `json:"crashed"`
	Task    string `json:"task,omitempty"`
	// Unplaced says why instances could not be placed, one line per
	// distinct reason with its count (at most 5 lines); UnplacedCount
	// counts the instances.
	Unplaced      []string `json:"unplaced,omitempty"`
	UnplacedCount int      `json:"unplacedCount,omitempty"`
	// Condition is the workload's state: ready, progressing or failed,
	// with the reason and, for errors in its file, the file and line.
	Condition Condition `json:"condition"`
}

// unplacedSummary aggregates one workload's unplaced instances.
type unplacedSummary struct {
	count int
	lines []string
	first string
}

// setUnplaced records a workload's unplaced instances, aggregated by
// reason. Callers hold t.mu.
func (t *term) setUnplaced(id string, us []placement.Unplaced) {
	if len(us) == 0 {
		delete(t.unplaced, id)
		return
	}
	byReason := map[string]int{}
	for _, u := range us {
		byReason[u.Reason]++
	}
	reasons := slices.SortedFunc(maps.Keys(byReason), func(a, b string) int {
		return cmp.Or(cmp.Compare(byReason[b], byReason[a]), cmp.Compare(a, b))
	})
	s := unplacedSummary{count: len(us), first: reasons[0]}
	for _, r := range reasons[:min(len(reasons), maxUnplacedReasons)] {
		what := fmt.Sprintf("%d instances", byReason[r])
		switch {
		case us[0].Kind == model.KindTask:
			what = "not placed"
		case byReason[r] == 1:
			what = "1 instance"
		}
		s.lines = append(s.lines, fmt.Sprintf("%s %s: %s: %s", us[0].Kind, us[0].Name, what, r))
	}
	t.unplaced[id] = s
}

// Status returns a snapshot of the hub's view. It costs O(workloads +
// cells): the per-workload figures are kept up to date by deltas.
func (h *Hub) Status() Status {
	t := h.term.Load()
	if t == nil || t.ctx.Err() != nil {
		_, c := hubCondition(hubFacts{})
		return Status{Condition: c}
	}
	var src *SourceStatus
	if h.deps.Source != nil {
		s := h.deps.Source.SourceStatus()
		src = &s
	}
	return t.status(src, h.latestDesired())
}

func (t *term) status(src *SourceStatus, latest *Desired) Status {
	m := t.model()
	ts := t.tally.snapshot()

	// Copy what is needed of the cross-cell state; the rest is read under
	// the cells' own locks.
	t.mu.Lock()
	haveModel := t.haveDesired
	names := slices.Sorted(maps.Keys(t.registry))
	cells := make([]*cellState, len(names))
	for i, n := range names {
		cells[i] = t.cells[n]
	}
	type spreadOf struct{ cells, placed int }
	spreads := make(map[string]spreadOf, len(m.ids))
	tasks := map[string]model.TaskRecord{}
	for _, id := range m.ids {
		if sp := t.spread[id]; sp != nil {
			spreads[id] = spreadOf{len(sp.cells), sp.placed}
		}
		if w := m.workloads[id]; w.kind == model.KindTask {
			if te, ok := t.tasks[w.name]; ok {
				tasks[id] = te.rec
			}
		}
	}
	unplaced := maps.Clone(t.unplaced)
	ignored := slices.Sorted(maps.Values(t.ignored))
	notices := taskEditNotices(t, m)
	t.mu.Unlock()

	st := Status{Leading: true, Commit: m.commit, Source: src}
	st.Queues = Queues{
		Fanout:      t.fanout.Len() + t.fanout.InFlight() + t.fanout.Delayed(),
		Apply:       t.apply.Len() + t.apply.InFlight(),
		Convergence: t.lostTasks.Len() + t.lostTasks.InFlight() + t.lostTasks.Delayed(),
		Writes:      ts.writes,
		Retrying:    ts.retrying,
	}
	var errs []string
	var retryErr error
	for _, c := range cells {
		cs, conflicts, refused, retry := c.status()
		st.Cells = append(st.Cells, cs)
		st.ConflictCount += len(conflicts)
		if room := MaxListed - len(st.Conflicts); room > 0 {
			st.Conflicts = append(st.Conflicts, conflicts[:min(room, len(conflicts))]...)
		}
		errs = append(errs, refused...)
		if retry != nil {
			retryErr = retry
		}
	}

	fileErrs := map[string]error{}
	var loose []string
	for _, err := range m.fileErrors {
		var me *model.Error
		if errors.As(err, &me) && me.File != "" {
			if _, ok := fileErrs[me.File]; !ok {
				fileErrs[me.File] = err
			}
		}
		loose = append(loose, err.Error())
	}
	failed := 0
	ids := m.ids
	for id := range m.errs {
		if _, ok := m.workloads[id]; !ok {
			ids = append(slices.Clip(ids), id) // new and invalid: listed, failed
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		w := m.workloads[id]
		if w == nil {
			ws := WorkloadStatus{ID: id, Condition: workloadCondition(workloadFacts{err: m.errs[id]})}
			failed++
			st.Workloads = append(st.Workloads, ws)
			continue
		}
		ws := WorkloadStatus{ID: id, Cells: spreads[id].cells, Placed: spreads[id].placed}
		f := workloadFacts{kind: w.kind, src: w.src, err: m.errs[id], counts: ts.bySrc[id]}
		if f.err == nil {
			f.err = fileErrs[w.src.File]
		}
		if w.selector != nil {
			f.selectorErrs, f.selectorErr = t.index.Errors(id)
			if f.selectorErrs > 0 {
				errs = append(errs, fmt.Sprintf("%s: %s: the selector failed to evaluate on %d cells: %v", srcString(w.src), id, f.selectorErrs, f.selectorErr))
			}
		}
		if u, ok := unplaced[id]; ok {
			ws.Unplaced, ws.UnplacedCount = u.lines, u.count
			f.unplaced, f.unplacedWhy = u.count, u.first
		}
		switch w.kind {
		case model.KindLRP:
			ws.Desired = w.instances
		case model.KindSelectorSyncSet:
			per := 0
			for _, it := range w.items {
				per += len(it.Indexes)
			}
			ws.Desired = per * ws.Cells
		case model.KindTask:
			ws.Desired = 1
			if rec, ok := tasks[id]; ok {
				ws.Task = rec.State
				if rec.Failed {
					ws.Task += " (failed: " + rec.Reason + ")"
				}
				f.task = &rec
			}
		}
		for _, it := range w.items {
			if n, ok := ts.lrps[it.Name]; ok && it.Kind == model.KindLRP {
				ws.Running += n.running
				ws.Crashed += n.crashed
			}
		}
		f.desired, f.running, f.crashed = ws.Desired, ws.Running, ws.Crashed
		ws.Condition = workloadCondition(f)
		if ws.Condition.State == Failed {
			failed++
		}
		st.Workloads = append(st.Workloads, ws)
	}
	for _, id := range slices.Sorted(maps.Keys(m.errs)) {
		errs = append(errs, m.errs[id].Error())
	}
	errs = append(errs, notices...)
	errs = append(errs, ignored...)
	all := append(loose, errs...)
	st.ErrorCount = len(all)
	st.Errors = all[:min(len(all), MaxListed)]

	latestCommit := m.commit
	if latest != nil {
		latestCommit = latest.Commit
	}
	st.Synced, st.Condition = hubCondition(hubFacts{
		leading: true, haveModel: haveModel, commit: m.commit, latest: latestCommit, source: src,
		work: st.Queues.Fanout + st.Queues.Apply + st.Queues.Convergence, writes: ts.writes,
		pending: ts.totals.of(flagPending), refused: ts.totals.of(flagRefused), retrying: ts.retrying, retryErr: retryErr,
		writeErr: t.writeError(), ignored: len(ignored), failedWorkloads: failed, errors: len(loose) + len(ignored),
	})
	return st
}

func srcString(s model.Source) string {
	if s.Line > 0 {
		return fmt.Sprintf("%s:%d", s.File, s.Line)
	}
	return s.File
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
	enc.SetEscapeHTML(false)
	_ = enc.Encode(h.Status())
}

// statusLoop sets the status metrics and mirrors the status into etcd, for
// `cellsync status` run against etcd alone: at once when the commit,
// synced, the hub's condition or a workload's state changes, so the copy
// says "not synced" and why as /status does; otherwise, while figures move
// (a long rollout), at most every copyInterval, so the copy does not grow etcd's history by a
// status per tick. A restarted hub that changes nothing writes nothing.
func (h *Hub) statusLoop(ctx context.Context, t *term) error {
	var last []byte
	var lastKey string
	var lastWrite time.Time
	if kv, ok, err := t.st.Get(ctx, store.StatusKey("hub")); err == nil && ok {
		last = kv.Value
		var prev Status
		if store.Decode(kv, &prev) == nil {
			lastKey = statusKey(prev)
		}
	}
	tick := time.NewTicker(h.cfg.StatusInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		st := h.Status()
		if !st.Leading {
			continue
		}
		h.recordStatus(st)
		h.appliedEvent(st)
		val, err := t.statusCopy(st)
		if err != nil || string(val) == string(last) {
			continue
		}
		if statusKey(st) == lastKey && time.Since(lastWrite) < copyInterval {
			continue
		}
		if _, err := t.st.Write(ctx, []store.Op{{Key: store.StatusKey("hub"), Value: val}}); err != nil {
			t.writeFailed(err)
			h.log.Warn("write status", "err", err)
			continue
		}
		t.writeLanded()
		last, lastKey, lastWrite = val, statusKey(st), time.Now()
	}
}

// copyInterval bounds how often the copy in etcd follows figures that move
// while the hub's condition stays the same.
const copyInterval = 30 * time.Second

// statusKey is what, when it changes, is written to the copy at once: the
// commit, synced, the hub's condition and how many workloads are in each
// state.
func statusKey(st Status) string {
	n := map[ConditionState]int{}
	for _, w := range st.Workloads {
		n[w.Condition.State]++
	}
	return fmt.Sprintf("%s|%v|%s|%s|%d|%d|%d", st.Commit, st.Synced, st.Condition.State, st.Condition.Reason, n[Ready], n[Progressing], n[Failed])
}

// statusCopy encodes the status for etcd, leaving the cells out when it
// would not fit in one request.
func (t *term) statusCopy(st Status) ([]byte, error) {
	st.Queues = Queues{} // changes every tick while busy; /status has them
	val, err := store.Encode(st)
	if err != nil || len(val)+len(store.StatusKey("hub")) <= t.st.MaxOpBytes() {
		return val, err
	}
	st.CellsOmitted, st.Cells = len(st.Cells), nil
	return store.Encode(st)
}

// syncClock remembers when a commit was first handed to the hub, to time
// its rollout.
type syncClock struct {
	mu     sync.Mutex
	commit string
	since  time.Time
	done   bool
}

func (s *syncClock) seen(commit string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if commit != s.commit {
		s.commit, s.since, s.done = commit, time.Now(), false
	}
}

// synced returns how long commit took to sync, once: false after the first
// call for the commit, or for another commit.
func (s *syncClock) synced(commit string) (time.Duration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if commit != s.commit || s.done {
		return 0, false
	}
	s.done = true
	return time.Since(s.since), true
}

// recordStatus sets the status metrics from a status.
func (h *Hub) recordStatus(st Status) {
	m := h.deps.Metrics
	if m == nil {
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
	m.SetSync(st.Synced, string(st.Condition.State), st.Condition.Reason)
	m.RetryingCells.Set(float64(st.Queues.Retrying))
	if st.Synced {
		if d, first := h.sync.synced(st.Commit); first {
			m.RolloutDuration.Observe(d.Seconds())
			m.SyncedCommitTime.SetToCurrentTime()
		}
	}
}
