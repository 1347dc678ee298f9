package rollout

import (
	"fmt"
	"time"

	"github.com/cellsync/cellsync/model"
)

// Revision is one version of a workload: what its instances (or a set's
// cells) run, the commit at which it appeared, and the items the hub writes
// to run it (without indexes), so that the hub can go back to it.
type Revision struct {
	// Version is model.InstanceVersion of an LRP's body and mounted
	// Configs, or the version of a set's items on a cell.
	Version string `json:"version"`
	// Commit is the Git commit at which this version first appeared.
	Commit string `json:"commit,omitempty"`
	// Items are the assignment items of this version, without indexes;
	// the rollout carries them and never reads them.
	Items []model.Item `json:"items,omitempty"`
}

// Phase is where a rollout stands, as it is persisted.
type Phase string

// The persisted phases. Paused and awaiting promotion are not phases: they
// are derived at every step (Status.Paused, Status.AwaitingPromotion), so
// that removing the annotation or committing canary: 0 is all it takes.
const (
	// Progressing: instances (cells) are moving to Target.
	Progressing Phase = "Progressing"
	// Succeeded: every instance (cell) runs Target, healthy; Stable is
	// Target.
	Succeeded Phase = "Succeeded"
	// Failed: a new-version instance crashed or the progress deadline
	// passed; nothing more moves until a new version is desired.
	Failed Phase = "Failed"
	// Reverting: failed, and moving back to Stable (autoRevert).
	Reverting Phase = "Reverting"
	// Reverted: every instance (cell) runs Stable again, healthy.
	Reverted Phase = "Reverted"
)

// Reason says why a rollout failed.
type Reason string

// Failure reasons.
const (
	// ReasonCrashed: a new-version instance's process exited.
	ReasonCrashed Reason = "Crashed"
	// ReasonStartFailed: a new-version instance could not start (an image
	// that is not there, ...).
	ReasonStartFailed Reason = "StartFailed"
	// ReasonHealthCheck: a new-version instance failed its health check
	// until its cell killed it.
	ReasonHealthCheck Reason = "HealthCheckFailing"
	// ReasonDeadline: no instance (cell) turned healthy within the
	// progress deadline.
	ReasonDeadline Reason = "ProgressDeadlineExceeded"
)

// Record is all a rollout persists between steps: the hub keeps one per
// workload (at rollouts/<Kind>/<name>) and writes it whenever a step
// returns it changed. Everything else a step needs is observed state: the
// versions the hub has assigned and what the cells report. A hub that
// restarts reads the record back and takes the same decisions.
type Record struct {
	// Target is the version being rolled out: the desired one.
	Target Revision `json:"target"`
	// Stable is the last version that ran healthy everywhere; zero until
	// one did. Reverts go back to it.
	Stable Revision `json:"stable"`
	Phase  Phase    `json:"phase"`
	// Reason and Message say why the rollout failed (kept while it
	// reverts and once it has).
	Reason  Reason `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	// Started is when Target was first seen.
	Started time.Time `json:"started"`
	// Progress is when the rollout last progressed (an instance or cell
	// turned healthy at the goal version, or the rollout started or
	// resumed); the progress deadline counts from it.
	Progress time.Time `json:"progress"`
	// Promoted records that healthy canaries were promoted by autoPromote.
	Promoted bool `json:"promoted,omitempty"`
	// Paused is whether the workload was paused at the last step: when it
	// resumes, the deadline counts from then.
	Paused bool `json:"paused,omitempty"`
}

// Equal reports whether two records are the same, so the caller writes
// only a changed record.
func (r Record) Equal(o Record) bool {
	return r.Target.Version == o.Target.Version && r.Target.Commit == o.Target.Commit &&
		r.Stable.Version == o.Stable.Version && r.Stable.Commit == o.Stable.Commit &&
		r.Phase == o.Phase && r.Reason == o.Reason && r.Message == o.Message &&
		r.Started.Equal(o.Started) && r.Progress.Equal(o.Progress) &&
		r.Promoted == o.Promoted && r.Paused == o.Paused
}

// begin moves the record to a newly desired version; the stable version
// stays.
func (r *Record) begin(desired Revision, now time.Time, paused bool) {
	*r = Record{Target: desired, Stable: r.Stable, Phase: Progressing, Started: now, Progress: now, Paused: paused}
}

// forward reports whether the rollout is moving towards Target.
func (r *Record) forward() bool { return r.Phase == Progressing }

// goal is the version instances move to: Target going forward or once
// there, Stable when reverting; "" when nothing may move.
func (r *Record) goal() string {
	switch r.Phase {
	case Progressing, Succeeded:
		return r.Target.Version
	case Reverting, Reverted:
		return r.Stable.Version
	}
	return ""
}

// safe is the version a newly created instance or newly matching cell gets
// while the rollout has not proved the goal: Stable when there is one.
func (r *Record) safe() string {
	if r.Stable.Version != "" {
		return r.Stable.Version
	}
	return r.Target.Version
}

// resume restarts the deadline clock when a paused workload resumes, and
// remembers whether it is paused now.
func (r *Record) resume(paused bool, now time.Time) {
	if r.Paused && !paused {
		r.Progress = now
	}
	r.Paused = paused
}

// progressed moves Progress to at if that is later.
func (r *Record) progressed(at time.Time) {
	if at.After(r.Progress) {
		r.Progress = at
	}
}

// fail stops the rollout for reason; with autoRevert and a stable version
// to go back to, it starts reverting.
func (r *Record) fail(reason Reason, msg string, autoRevert bool, now time.Time) {
	r.Phase, r.Reason, r.Message = Failed, reason, msg
	if autoRevert && r.Stable.Version != "" && r.Stable.Version != r.Target.Version {
		r.Phase, r.Progress = Reverting, now
	}
}

// deadline fails a forward rollout that has not progressed for d.
func (r *Record) deadline(d time.Duration, now time.Time, autoRevert bool, what string) {
	if r.forward() && !r.Paused && now.Sub(r.Progress) > d {
		r.fail(ReasonDeadline, fmt.Sprintf("no %s turned healthy in %s", what, d), autoRevert, now)
	}
}

// finish records that every instance (cell) runs the goal, healthy.
func (r *Record) finish() {
	switch r.Phase {
	case Progressing, Succeeded:
		r.Phase, r.Stable = Succeeded, r.Target
	case Reverting:
		r.Phase = Reverted
	}
}

// crashReason maps a crashed instance's report to a failure reason and a
// message naming it.
func crashReason(what string, a *model.Actual) (Reason, string) {
	reason := ReasonCrashed
	detail := fmt.Sprintf("crashed %d times", a.CrashCount)
	if e := a.LastExit; e != nil {
		switch {
		case e.StartFailed():
			reason = ReasonStartFailed
		case e.Cause == model.ExitHealthCheck:
			reason = ReasonHealthCheck
		}
		if e.Message != "" {
			detail = e.Message
		}
	}
	return reason, fmt.Sprintf("%s of version %s: %s", what, short(a.Version), detail)
}

// short abbreviates a version hash for messages.
func short(v string) string {
	if len(v) > 12 {
		return v[:12]
	}
	return v
}
