package hub

import (
	"fmt"
	"maps"
	"slices"

	"github.com/cellsync/cellsync/model"
)

// The hub's side of the event log (package events). The reconciler calls
// these hooks at a few points; they only compare state the hub holds and
// hand events to Deps.Events, which must not block.

// EventSink receives the hub's events. Emit is called with the term's lock
// held, so it must return at once (events.Writer.Emit queues).
type EventSink interface {
	Emit(model.Event)
}

func (h *Hub) emit(e model.Event) {
	if h.deps.Events != nil {
		h.deps.Events.Emit(e)
	}
}

// desiredEvents reports a newly installed desired model: the commit if it
// is new, each problem that the previous model did not have, and each
// edit of a completed Task made by this commit (not on a term's first
// model, which compiles everything anew). Callers hold t.mu.
func (t *term) desiredEvents(prev, next *compiledModel, first bool) {
	h := t.h
	if next.commit != prev.commit {
		h.emit(model.Event{Type: model.EventCommitSeen, Commit: next.commit,
			Message: fmt.Sprintf("commit %s: %d workloads, %d problems", shortCommit(next.commit), len(next.workloads), len(errorStrings(next)))})
	}
	seen := map[string]bool{}
	for _, e := range errorStrings(prev) {
		seen[e] = true
	}
	for _, e := range errorStrings(next) {
		if !seen[e] {
			h.emit(model.Event{Type: model.EventWorkloadError, Severity: model.SeverityWarning, Commit: next.commit, Message: e})
		}
	}
	for _, id := range next.ids {
		if n := taskEditNotice(t, next.workloads[id]); n != "" && !first && next.workloads[id].commit == next.commit {
			h.emit(model.Event{Type: model.EventTaskEditIgnored, Severity: model.SeverityWarning, Workload: id, Commit: next.commit, Message: n})
		}
	}
}

// errorStrings lists a model's problems, as status shows them.
func errorStrings(m *compiledModel) []string {
	var out []string
	for _, err := range m.fileErrors {
		out = append(out, err.Error())
	}
	for _, id := range slices.Sorted(maps.Keys(m.errs)) {
		out = append(out, m.errs[id].Error())
	}
	return out
}

// taskEditNotice says that a Task was edited after it ran: a Task runs at
// most once, so the edit does nothing. "" when that is not so. Callers
// hold t.mu.
func taskEditNotice(t *term, w *workload) string {
	if w == nil || w.kind != model.KindTask || len(w.items) == 0 {
		return ""
	}
	te, ok := t.tasks[w.name]
	if !ok || te.rec.State != model.TaskCompleted && te.rec.State != model.TaskResolved || te.rec.Spec == w.items[0].Spec {
		return ""
	}
	return fmt.Sprintf("%s: completed at commit %s; edits to a completed Task do not rerun it; rename it to run again",
		w.id, shortCommit(te.rec.Commit))
}

// taskEditNotices lists taskEditNotice for every Task of m, for status.
// Callers hold t.mu.
func taskEditNotices(t *term, m *compiledModel) []string {
	var out []string
	for _, id := range m.ids {
		if n := taskEditNotice(t, m.workloads[id]); n != "" {
			out = append(out, n)
		}
	}
	return out
}

// cellGoneEvent reports a cell whose registration went: left after
// evacuating, or lost (its lease expired). Callers hold t.mu.
func (h *Hub) cellGoneEvent(c model.Cell) {
	if c.State == model.CellEvacuating {
		h.emit(model.Event{Type: model.EventCellLeft, Cell: c.Name, Message: fmt.Sprintf("cell %s left after evacuating", c.Name)})
		return
	}
	h.emit(model.Event{Type: model.EventCellLost, Severity: model.SeverityWarning, Cell: c.Name,
		Message: fmt.Sprintf("cell %s lost: its registration expired; its LRP instances are placed elsewhere and its running Tasks fail", c.Name)})
}

// appliedEvent reports, once per commit, that every cell runs it. It is
// called with each status the hub computes.
func (h *Hub) appliedEvent(st Status) {
	if !st.Leading || !st.Synced || st.Commit == "" || st.Commit == h.appliedReported {
		return
	}
	for _, c := range st.Cells {
		if !c.Applied {
			return
		}
	}
	h.appliedReported = st.Commit
	h.emit(model.Event{Type: model.EventCommitApplied, Commit: st.Commit,
		Message: fmt.Sprintf("commit %s applied on all %d cells", shortCommit(st.Commit), len(st.Cells))})
}

func shortCommit(c string) string {
	if len(c) > 7 {
		return c[:7]
	}
	return c
}
