package rollout

import (
	"fmt"
	"slices"
	"time"

	"github.com/cellsync/cellsync/model"
)

// Instance is one LRP index as the hub sees it.
type Instance struct {
	Index int32
	// Version is the version the hub has assigned to the index.
	Version string
	// Actual is the index's report from the cell it is assigned to; nil
	// before there is one.
	Actual *model.Actual
}

// LRP is everything one step of an LRP's rollout decides from.
type LRP struct {
	// Desired is the version the desired model asks for.
	Desired Revision
	Policy  Policy
	// Instances is the desired instance count, N: indexes 0..N-1. Indexes
	// from N up are extras (canaries and surge instances).
	Instances int
	// Paused is the workload's pause annotation.
	Paused bool
	// Observed are the indexes the hub has assigned, each once, in any
	// order.
	Observed []Instance
	// Assigned are the revisions of the versions Observed names; a step
	// with a zero Record takes Stable from them when every instance runs
	// one version, healthy.
	Assigned []Revision
	// Room is how many more instances placement can fit on the matching
	// cells now; extras start only within it.
	Room int
	// Record is the record the last step returned (zero for the first).
	Record Record
	Now    time.Time
}

// Move assigns a version to an index: a new index (scale-up, canary,
// surge) or one that changes version.
type Move struct {
	Index   int32
	Version string
}

// Step is what the hub does now.
type Step struct {
	// Moves are the indexes whose version the hub assigns now, sorted by
	// index; every other index keeps its version.
	Moves []Move
	// Extras are the indexes from N up that stay, sorted; the hub removes
	// every other index from N up.
	Extras []int32
	// Record is the record after this step; the hub persists it when it
	// differs from the input's (Record.Equal).
	Record Record
	Status Status
}

// Status is a rollout's state for people and metrics.
type Status struct {
	Phase Phase
	// Paused: the workload carries the pause annotation; nothing moves.
	Paused bool
	// AwaitingPromotion: the canaries are healthy and wait for a commit
	// that sets canary to 0.
	AwaitingPromotion bool
	Reason            Reason
	Message           string
	// Commit is the commit of the version being rolled out, StableCommit
	// that of the last version healthy everywhere.
	Commit       string
	StableCommit string
	// Total is N (matching cells for a set).
	Total int
	// Updated counts instances (cells) of 0..N-1 at the goal version and
	// healthy for the minimum time.
	Updated int
	// Available counts the instances available now, extras included (for
	// a set, the cells not changing).
	Available int
	// Extra counts the extra instances after this step.
	Extra int
	// Waiting says what holds the rollout back, when something does.
	Waiting string
}

// lrpView is one step's view of an LRP's instances.
type lrpView struct {
	in     *LRP
	main   []*Instance // index → instance for 0..N-1; nil when unassigned
	extras []*Instance // indexes ≥ N, sorted
}

func newLRPView(in *LRP) lrpView {
	in.Instances = max(0, in.Instances)
	v := lrpView{in: in, main: make([]*Instance, in.Instances)}
	for i := range in.Observed {
		o := &in.Observed[i]
		switch {
		case o.Index < 0 || o.Version == "":
		case int(o.Index) < in.Instances:
			v.main[o.Index] = o
		default:
			v.extras = append(v.extras, o)
		}
	}
	slices.SortFunc(v.extras, func(a, b *Instance) int { return int(a.Index - b.Index) })
	return v
}

// available reports whether an instance runs its assigned version and has
// been healthy for the minimum time.
func (v lrpView) available(o *Instance) bool {
	a := o.Actual
	return a != nil && a.Version == o.Version && a.State == model.StateRunning && !a.HealthySince.IsZero() &&
		v.in.Now.Sub(a.HealthySince) >= v.in.Policy.MinHealthy
}

// crashed reports whether an instance crashed at version.
func crashed(o *Instance, version string) bool {
	a := o.Actual
	return o.Version == version && a != nil && a.Version == version && (a.State == model.StateCrashed || a.CrashCount > 0)
}

// all calls f on every assigned instance in index order.
func (v lrpView) all(f func(*Instance)) {
	for _, o := range v.main {
		if o != nil {
			f(o)
		}
	}
	for _, o := range v.extras {
		f(o)
	}
}

// Next decides one step of an LRP's rollout. It is a pure function of its
// input: called again with the same input it returns the same step, and a
// hub that restarts and feeds it the record it persisted and the state it
// observes takes the decisions it would have taken.
func Next(in LRP) Step {
	v := newLRPView(&in)
	rec, pol, n, now := in.Record, in.Policy, in.Instances, in.Now
	if rec.Target.Version == "" {
		rec.Stable = v.stableNow(in.Assigned)
	}
	if in.Desired.Version != rec.Target.Version {
		rec.begin(in.Desired, now, in.Paused)
	}
	rec.resume(in.Paused, now)

	st := Status{Total: n}
	v.all(func(o *Instance) {
		if v.available(o) {
			st.Available++
		}
	})
	canary := false
	if rec.forward() {
		v.all(func(o *Instance) {
			if rec.Phase == Progressing && crashed(o, rec.Target.Version) {
				reason, msg := crashReason(fmt.Sprintf("instance %d", o.Index), o.Actual)
				rec.fail(reason, msg, pol.AutoRevert, now)
			}
			if o.Version == rec.Target.Version && v.available(o) {
				rec.progressed(o.Actual.HealthySince.Add(pol.MinHealthy))
			}
		})
		canary = v.canaryPhase(&rec)
		if canary && v.healthyAt(v.extras, rec.Target.Version) >= pol.Canary {
			if pol.AutoPromote {
				rec.Promoted, canary = true, false
			} else {
				st.AwaitingPromotion = true
			}
		}
		if !st.AwaitingPromotion && !v.complete(rec.Target.Version) {
			rec.deadline(pol.ProgressDeadline, now, pol.AutoRevert, "new instance")
		}
		if !rec.forward() {
			canary, st.AwaitingPromotion = false, false
		}
	}

	var step Step
	goal := rec.goal()
	b := budget(st.Available - (n - pol.MaxUnavailable))
	if goal == "" || rec.Paused {
		step = v.standStill(&rec, goal, b)
	} else {
		step = v.roll(&rec, goal, canary, b, &st)
	}
	for _, o := range v.main {
		if o != nil && o.Version == goal && v.available(o) {
			st.Updated++
		}
	}
	st.fill(&rec)
	st.Extra = len(step.Extras)
	if rec.Paused {
		st.Waiting = "paused: remove the " + model.AnnotationPaused + " annotation to resume"
	}
	if st.AwaitingPromotion {
		st.Waiting = fmt.Sprintf("%d canaries healthy: promote by committing canary: 0", pol.Canary)
	}
	step.Record, step.Status = rec, st
	return step
}

// stableNow returns the revision every index of 0..N-1 runs, healthy, with
// no extras, or zero: what a first step may take as the stable version.
func (v lrpView) stableNow(assigned []Revision) Revision {
	if len(v.extras) > 0 || len(v.main) == 0 {
		return Revision{}
	}
	version := ""
	for _, o := range v.main {
		if o == nil || !v.available(o) || (version != "" && o.Version != version) {
			return Revision{}
		}
		version = o.Version
	}
	for _, r := range assigned {
		if r.Version == version {
			return r
		}
	}
	return Revision{}
}

// complete reports whether every index of 0..N-1 runs version, available.
func (v lrpView) complete(version string) bool {
	for _, o := range v.main {
		if o == nil || o.Version != version || !v.available(o) {
			return false
		}
	}
	return true
}

// canaryPhase reports whether the rollout must run canaries before it
// replaces anything: it has canaries to run, has not promoted them, and
// some index runs another version (a first rollout has nothing to
// protect).
func (v lrpView) canaryPhase(rec *Record) bool {
	if v.in.Policy.Canary == 0 || rec.Promoted || !rec.forward() {
		return false
	}
	for _, o := range v.main {
		if o != nil && o.Version != rec.Target.Version {
			return true
		}
	}
	return false
}

func (v lrpView) healthyAt(xs []*Instance, version string) int {
	n := 0
	for _, o := range xs {
		if o.Version == version && v.available(o) {
			n++
		}
	}
	return n
}

// budget counts how many available instances a step may stop: those above
// N-maxUnavailable. Stopping an unavailable one costs nothing.
type budget int

func (b *budget) spend(available bool) bool {
	if !available {
		return true
	}
	if *b > 0 {
		*b--
		return true
	}
	return false
}

// standStill is a failed or paused rollout's step: nothing moves, missing
// indexes start at the safe version, and the canaries and surge instances
// stay; other indexes from N up (a scale-down's) go, within the budget.
func (v lrpView) standStill(rec *Record, goal string, b budget) Step {
	var s Step
	for i, o := range v.main {
		if o == nil {
			s.Moves = append(s.Moves, Move{Index: int32(i), Version: rec.safe()})
		}
	}
	keep := max(v.in.Policy.MaxSurge, v.in.Policy.Canary)
	for _, o := range v.extras {
		rollout := (o.Version == rec.Target.Version || o.Version == goal) && len(s.Extras) < keep
		if rollout || !b.spend(v.available(o)) {
			s.Extras = append(s.Extras, o.Index)
		}
	}
	return s
}

// roll is a rolling step towards goal: stale extras go, unavailable old
// indexes move at no cost, available ones move within the budget of
// maxUnavailable, and extras start (within room) while there is work left.
func (v lrpView) roll(rec *Record, goal string, canary bool, b budget, st *Status) Step {
	pol, n := v.in.Policy, v.in.Instances
	// limit bounds the extras a step starts; keep, the ones it keeps:
	// promoted canaries serve as surge instances until the rollout ends.
	limit, keep := pol.MaxSurge, pol.MaxSurge
	if canary {
		limit = pol.Canary
	}
	if pol.Canary > 0 {
		keep = max(limit, pol.Canary)
	}
	var s Step
	spend := func(o *Instance) bool { return b.spend(v.available(o)) }

	used := map[int32]bool{}
	for _, o := range v.extras {
		if o.Version == goal && int(o.Index) < n+keep {
			s.Extras = append(s.Extras, o.Index)
			used[o.Index] = true
		} else if !spend(o) {
			s.Extras = append(s.Extras, o.Index) // goes once the budget allows
		}
	}

	remaining, inFlight := 0, 0
	var old []int32
	for i, o := range v.main {
		switch {
		case o == nil:
			version := goal
			if canary {
				version = rec.safe()
			}
			s.Moves = append(s.Moves, Move{Index: int32(i), Version: version})
			remaining++
		case o.Version != goal:
			old = append(old, int32(i))
			remaining++
		case !v.available(o):
			remaining++
			inFlight++
		}
	}
	if !canary {
		// Unavailable old instances first: replacing them costs nothing.
		for _, unavailable := range []bool{true, false} {
			for _, i := range old {
				if !v.available(v.main[i]) == unavailable && spend(v.main[i]) {
					s.Moves = append(s.Moves, Move{Index: i, Version: goal})
					inFlight++
				}
			}
		}
	}

	switch {
	case remaining == 0:
		// Done: every index runs the goal, healthy; the extras go.
		s.Extras = nil
		rec.finish()
	case canary || len(old) > 0:
		// Extras cover replacements: they start while old indexes are
		// left (not for a first rollout or a scale-up), within room.
		room := v.in.Room
		for i := int32(n); i < int32(n+limit) && room > 0 && len(s.Extras) < limit; i++ {
			if !used[i] && !slices.Contains(s.Extras, i) {
				s.Moves = append(s.Moves, Move{Index: i, Version: goal})
				s.Extras = append(s.Extras, i)
				room--
				inFlight++
			}
		}
		st.Waiting = v.waiting(canary, limit, len(s.Extras), inFlight, int(b))
	default:
		st.Waiting = v.waiting(canary, limit, len(s.Extras), inFlight, int(b))
	}
	slices.SortFunc(s.Moves, func(a, b Move) int { return int(a.Index - b.Index) })
	slices.Sort(s.Extras)
	return s
}

// waiting explains why a rolling step cannot move more.
func (v lrpView) waiting(canary bool, limit, extras, inFlight, budget int) string {
	switch {
	case canary && extras < limit:
		return fmt.Sprintf("room for %d more canaries", limit-extras)
	case canary:
		return fmt.Sprintf("%d canaries turning healthy", limit)
	case inFlight > 0:
		return fmt.Sprintf("%d new instances turning healthy (%s each)", inFlight, v.in.Policy.MinHealthy)
	case budget <= 0 && extras < limit:
		return fmt.Sprintf("room for a surge instance (maxUnavailable %d)", v.in.Policy.MaxUnavailable)
	case budget <= 0:
		return "old instances turning healthy"
	}
	return ""
}
