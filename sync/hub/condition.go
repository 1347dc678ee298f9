package hub

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cellsync/cellsync/model"
)

// ConditionState summarises a workload or the whole hub, in the spirit of
// Flux's Ready/Reconciling/Stalled conditions.
type ConditionState string

// The condition states.
const (
	// Ready: everything asked for is in place.
	Ready ConditionState = "ready"
	// Progressing: work is under way (for the hub: queued, in flight or
	// being compiled; its message adds anything that is wrong meanwhile).
	Progressing ConditionState = "progressing"
	// Failed: something needs a person; the reason and message say what.
	// For the hub: nothing is moving, so this is a settled state.
	Failed ConditionState = "failed"
)

// Condition is the state of a workload or of the hub, with a machine
// reason (one of the Reason constants), a message for people and, when the
// cause is in a workload file, its file and line. It is the stable type the
// status, the CLI and the web view read.
type Condition struct {
	State   ConditionState `json:"state"`
	Reason  string         `json:"reason"`
	Message string         `json:"message,omitempty"`
	File    string         `json:"file,omitempty"`
	Line    int            `json:"line,omitempty"`
}

// Reasons of the hub's condition.
const (
	// ReasonSynced (ready): the newest commit is compiled and every write
	// has landed, with no error anywhere.
	ReasonSynced = "Synced"
	// ReasonNotLeading (progressing): a standby hub; another leads.
	ReasonNotLeading = "NotLeading"
	// ReasonWaitingForModel (progressing): no desired model compiled yet.
	ReasonWaitingForModel = "WaitingForModel"
	// ReasonCompiling (progressing): a newer commit than the compiled one
	// is waiting to be compiled.
	ReasonCompiling = "Compiling"
	// ReasonApplying (progressing): fan-out, apply or writes under way.
	ReasonApplying = "Applying"
	// ReasonSourceFailed (failed): the last Git fetch failed; the last
	// good model stays in force.
	ReasonSourceFailed = "SourceFailed"
	// ReasonWriteFailed (failed): etcd refused or did not answer a write
	// (database space exceeded, unreachable, permission denied), or a
	// record keeps losing its compare-and-swap; retried with backoff.
	ReasonWriteFailed = "WriteFailed"
	// ReasonTooLarge (failed): a record or a merged body is over etcd's
	// request size and is not written.
	ReasonTooLarge = "TooLarge"
	// ReasonRecordIgnored (failed): a record in etcd disagrees with its
	// key (a cell posing as another) or does not decode; it is ignored.
	ReasonRecordIgnored = "RecordIgnored"
	// ReasonWorkloadsFailed (failed): some file or workload failed; see
	// the workloads' conditions and the errors.
	ReasonWorkloadsFailed = "WorkloadsFailed"
)

// Reasons of a workload's condition. A failed workload keeps running its
// last good version where it had one.
const (
	// ReasonReady (ready): stored on every cell it targets, applied by
	// them, and for an LRP every instance running.
	ReasonReady = "Ready"
	// ReasonWriting (progressing): some of its records are not stored yet.
	ReasonWriting = "Writing"
	// ReasonWaitingForCells (progressing): stored, but some cells have not
	// reported applying it yet.
	ReasonWaitingForCells = "WaitingForCells"
	// ReasonStarting (progressing): instances placed but not all running.
	ReasonStarting = "Starting"
	// ReasonTaskPending and ReasonTaskRunning (progressing): the Task's
	// record state.
	ReasonTaskPending = "TaskPending"
	ReasonTaskRunning = "TaskRunning"
	// ReasonInvalid (failed): its file or the workload does not parse,
	// validate or compile (a selector that does not type-check, a body
	// over the size limit, an edit no cell could run).
	ReasonInvalid = "Invalid"
	// ReasonSelectorError (failed): its selector fails to evaluate on some
	// cells (a missing label, a bad version), which then do not match.
	ReasonSelectorError = "SelectorError"
	// ReasonUnplaced (failed): some instances fit on no cell.
	ReasonUnplaced = "Unplaced"
	// ReasonConflict (failed): another workload sets the same fields of a
	// shared object differently on some cells.
	ReasonConflict = "Conflict"
	// ReasonCrashed (failed): some instances are crashed.
	ReasonCrashed = "Crashed"
	// ReasonTaskFailed (failed): the Task completed with a failure.
	ReasonTaskFailed = "TaskFailed"
)

// workloadFacts is what a workload's condition is computed from.
type workloadFacts struct {
	kind model.Kind
	src  model.Source
	// err is the hub's or the file's problem with the workload.
	err error
	// selectorErrs counts the cells its selector failed on; selectorErr
	// is one of the failures.
	selectorErrs int
	selectorErr  error
	unplaced     int
	unplacedWhy  string
	counts       srcCounts
	desired      int
	running      int
	crashed      int
	task         *model.TaskRecord
}

// workloadCondition computes a workload's condition: the first failure by
// importance, else the first reason it is still progressing, else ready.
// It does no I/O.
func workloadCondition(f workloadFacts) Condition {
	failed := func(reason, msg string) Condition {
		return Condition{State: Failed, Reason: reason, Message: msg, File: f.src.File, Line: f.src.Line}
	}
	switch {
	case f.err != nil:
		c := failed(ReasonInvalid, f.err.Error())
		var me *model.Error
		if errors.As(f.err, &me) && me.File != "" {
			c.File, c.Line = me.File, me.Line
		}
		return c
	case f.selectorErrs > 0:
		return failed(ReasonSelectorError, fmt.Sprintf("the selector failed to evaluate on %d cells, which do not match: %v", f.selectorErrs, f.selectorErr))
	case f.counts.of(flagRefused) > 0:
		return failed(ReasonTooLarge, fmt.Sprintf("not written on %d cells: over the size of one etcd request (see errors)", f.counts.of(flagRefused)))
	case f.unplaced > 0:
		return failed(ReasonUnplaced, fmt.Sprintf("%d instances fit on no cell: %s", f.unplaced, f.unplacedWhy))
	case f.counts.of(flagConflict) > 0:
		return failed(ReasonConflict, fmt.Sprintf("fields set differently by another workload on %d cells (see conflicts)", f.counts.of(flagConflict)))
	case f.task != nil && f.task.State == model.TaskCompleted && f.task.Failed:
		return failed(ReasonTaskFailed, "the task failed: "+f.task.Reason)
	case f.crashed > 0:
		return failed(ReasonCrashed, fmt.Sprintf("%d of %d instances crashed", f.crashed, f.desired))
	}
	progressing := func(reason, msg string) Condition {
		return Condition{State: Progressing, Reason: reason, Message: msg}
	}
	switch {
	case f.counts.of(flagPending) > 0:
		return progressing(ReasonWriting, fmt.Sprintf("records not yet stored on %d cells", f.counts.of(flagPending)))
	case f.counts.of(flagUnapplied) > 0:
		return progressing(ReasonWaitingForCells, fmt.Sprintf("%d cells have not applied it yet", f.counts.of(flagUnapplied)))
	case f.task != nil && f.task.State == model.TaskPending:
		return progressing(ReasonTaskPending, "waiting for cell "+f.task.Cell+" to start it")
	case f.task != nil && f.task.State == model.TaskRunning:
		return progressing(ReasonTaskRunning, "running on cell "+f.task.Cell)
	case f.kind == model.KindTask && f.task == nil:
		return progressing(ReasonTaskPending, "not placed yet")
	case f.kind != model.KindTask && f.running < f.desired:
		return progressing(ReasonStarting, fmt.Sprintf("%d of %d instances running", f.running, f.desired))
	}
	return Condition{State: Ready, Reason: ReasonReady}
}

// hubFacts is what the hub's condition is computed from.
type hubFacts struct {
	leading, haveModel bool
	// commit is the compiled commit; latest the newest handed to the hub.
	commit, latest string
	source         *SourceStatus
	// work counts queued and in-flight keys of the fan-out, apply and
	// convergence queues, and cells with a write in flight.
	work, writes int
	// pending counts records not yet stored; refused, records refused for
	// their size; retrying, cells waiting in a delayed retry, retryErr one
	// of their errors; writeErr is the last write error, if no write
	// landed since.
	pending, refused, retrying int
	retryErr, writeErr         error
	ignored                    int
	// failedWorkloads counts failed workloads; errors counts file errors
	// and hub errors not attached to a workload.
	failedWorkloads, errors int
}

// hubCondition decides whether the hub is synced (the newest commit is
// compiled and every write has landed) and its condition: progressing while
// work is under way (whatever else is wrong, which the message adds), then
// failed when something is wrong and nothing is moving, else ready. So a
// condition that is not progressing is a settled state. It does no I/O.
func hubCondition(f hubFacts) (bool, Condition) {
	if !f.leading {
		return false, Condition{State: Progressing, Reason: ReasonNotLeading, Message: "standby: another hub leads"}
	}
	if !f.haveModel {
		switch {
		case f.writeErr != nil:
			return false, Condition{State: Failed, Reason: ReasonWriteFailed, Message: "etcd refuses writes: " + f.writeErr.Error()}
		case f.source != nil && f.source.Error != "":
			return false, Condition{State: Failed, Reason: ReasonSourceFailed, Message: "no commit fetched yet: " + f.source.Error}
		}
		return false, Condition{State: Progressing, Reason: ReasonWaitingForModel, Message: "no desired model compiled yet"}
	}
	sourceCurrent := f.source == nil || (f.source.Error == "" && f.source.Commit == f.commit)
	synced := sourceCurrent && f.commit == f.latest && f.work == 0 && f.writes == 0 &&
		f.pending == 0 && f.refused == 0 && f.retrying == 0 && f.writeErr == nil

	var reason, problem string
	switch {
	case f.writeErr != nil:
		reason, problem = ReasonWriteFailed, "etcd refuses writes: "+f.writeErr.Error()
	case f.retrying > 0:
		reason, problem = ReasonWriteFailed, fmt.Sprintf("%d cells wait to retry a write: %v", f.retrying, f.retryErr)
	case f.source != nil && f.source.Error != "":
		reason, problem = ReasonSourceFailed, fmt.Sprintf("the last %d fetches failed, serving commit %s: %s", max(f.source.Failures, 1), shortCommit(f.commit), f.source.Error)
	case f.refused > 0:
		reason, problem = ReasonTooLarge, fmt.Sprintf("%d records are over the size of one etcd request and not written (see errors)", f.refused)
	case f.ignored > 0:
		reason, problem = ReasonRecordIgnored, fmt.Sprintf("%d records in etcd are ignored (see errors)", f.ignored)
	case f.failedWorkloads > 0 || f.errors > 0:
		reason, problem = ReasonWorkloadsFailed, fmt.Sprintf("%d workloads failed, %d other errors (see errors); failed workloads keep their last good version", f.failedWorkloads, f.errors)
	}
	progressing := func(reason, msg string) (bool, Condition) {
		if problem != "" {
			msg += "; " + problem
		}
		return synced, Condition{State: Progressing, Reason: reason, Message: msg}
	}
	newest := f.latest
	if f.source != nil && f.source.Commit != "" && newest == f.commit {
		newest = f.source.Commit
	}
	var work []string
	if f.work > 0 {
		work = append(work, fmt.Sprintf("%d queued", f.work))
	}
	if f.writes > 0 {
		work = append(work, fmt.Sprintf("%d cells writing", f.writes))
	}
	switch {
	case newest != f.commit && f.writeErr == nil:
		return progressing(ReasonCompiling, fmt.Sprintf("commit %s is being compiled (running %s)", shortCommit(newest), shortCommit(f.commit)))
	case len(work) > 0:
		return progressing(ReasonApplying, strings.Join(work, ", "))
	case problem != "":
		return synced, Condition{State: Failed, Reason: reason, Message: problem}
	case f.pending > 0:
		return progressing(ReasonApplying, fmt.Sprintf("%d records to store", f.pending))
	}
	return synced, Condition{State: Ready, Reason: ReasonSynced}
}
