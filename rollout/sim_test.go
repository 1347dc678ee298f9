package rollout

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/cellsync/cellsync/model"
)

// lrpWorld plays the hub and the cells around Next: the hub applies each
// step to its assignments; a cell (re)starts an index whose assigned
// version changed, and after startTime the instance turns healthy, or,
// at a bad version, crashes (or hangs, never turning healthy).
type lrpWorld struct {
	t         testing.TB
	n         int
	policy    Policy
	now       time.Time
	room      int
	bad       map[string]string // version → model.Exit* cause, or "hang"
	startTime time.Duration
	inst      map[int32]*simInstance
	record    Record
	desired   Revision
	paused    bool
	// starts counts, per index, the containers started for it.
	starts map[int32]int
	// restartEvery, when > 0, makes every restartEvery-th step decide from
	// the record read back from JSON, as a restarted hub would.
	restartEvery int
	steps        int
}

type simInstance struct {
	version string
	actual  *model.Actual
	started time.Time
}

func newLRPWorld(t testing.TB, n int, policy Policy, version string) *lrpWorld {
	w := &lrpWorld{t: t, n: n, policy: policy, now: t0, room: 1 << 30, bad: map[string]string{}, startTime: 2 * time.Second,
		inst: map[int32]*simInstance{}, starts: map[int32]int{}}
	for i := range n {
		w.inst[int32(i)] = &simInstance{version: version, actual: &model.Actual{Index: int32(i), Version: version, State: model.StateRunning, HealthySince: t0.Add(-time.Hour)}}
	}
	w.desired = rev(version)
	w.record = succeeded(version)
	return w
}

func (w *lrpWorld) observed() []Instance {
	out := make([]Instance, 0, len(w.inst))
	for idx, s := range w.inst {
		var a *model.Actual
		if s.actual != nil {
			c := *s.actual
			a = &c
		}
		out = append(out, Instance{Index: idx, Version: s.version, Actual: a})
	}
	// The hub lists in any order; so does this.
	rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func (w *lrpWorld) input() LRP {
	return LRP{Desired: w.desired, Policy: w.policy, Instances: w.n, Paused: w.paused, Observed: w.observed(), Room: w.room, Record: w.record, Now: w.now}
}

func (w *lrpWorld) available(s *simInstance) bool {
	a := s.actual
	return a != nil && a.Version == s.version && a.State == model.StateRunning && !a.HealthySince.IsZero() && w.now.Sub(a.HealthySince) >= w.policy.MinHealthy
}

// step runs Next once, checks the invariants and applies the step.
func (w *lrpWorld) step() Step {
	w.t.Helper()
	in := w.input()
	s := Next(in)
	w.steps++
	if w.restartEvery > 0 && w.steps%w.restartEvery == 0 {
		var back Record
		b, err := json.Marshal(w.record)
		if err != nil || json.Unmarshal(b, &back) != nil {
			w.t.Fatalf("record round trip: %v", err)
		}
		in.Record = back
		s2 := Next(in)
		if !slices.Equal(s.Moves, s2.Moves) || !slices.Equal(s.Extras, s2.Extras) || !s.Record.Equal(s2.Record) {
			w.t.Fatalf("step %d: a restarted hub decides differently:\n%+v\n%+v", w.steps, s, s2)
		}
	}

	// Never more than maxUnavailable unavailable because of the rollout:
	// the available instances a step stops leave at least N-maxUnavailable.
	before, lost := 0, 0
	moved := map[int32]bool{}
	for _, m := range s.Moves {
		moved[m.Index] = true
	}
	for idx, inst := range w.inst {
		if !w.available(inst) {
			continue
		}
		before++
		if (moved[idx] && s.Moves[slices.IndexFunc(s.Moves, func(m Move) bool { return m.Index == idx })].Version != inst.version) ||
			(int(idx) >= w.n && !slices.Contains(s.Extras, idx)) {
			lost++
		}
	}
	if lost > 0 && before-lost < w.n-w.policy.MaxUnavailable {
		w.t.Fatalf("step %d stops %d available instances of %d: fewer than %d-%d left", w.steps, lost, before, w.n, w.policy.MaxUnavailable)
	}
	// Never more extras than maxSurge (or canary, while canaries run).
	if limit := max(w.policy.MaxSurge, w.policy.Canary); len(s.Extras) > limit {
		w.t.Fatalf("step %d keeps %d extras, more than %d", w.steps, len(s.Extras), limit)
	}
	for _, m := range s.Moves {
		if int(m.Index) < w.n || slices.Contains(s.Extras, m.Index) {
			continue
		}
		w.t.Fatalf("step %d moves index %d, which is neither below N nor an extra it keeps", w.steps, m.Index)
	}

	for _, m := range s.Moves {
		if inst, ok := w.inst[m.Index]; ok {
			if inst.version == m.Version {
				w.t.Fatalf("step %d moves index %d to the version it has", w.steps, m.Index)
			}
			inst.version = m.Version
		} else {
			w.inst[m.Index] = &simInstance{version: m.Version}
		}
	}
	for idx := range w.inst {
		if int(idx) >= w.n && !slices.Contains(s.Extras, idx) {
			delete(w.inst, idx)
		}
	}
	w.record = s.Record
	return s
}

// tick advances the clock by d and lets the cells act.
func (w *lrpWorld) tick(d time.Duration) {
	w.now = w.now.Add(d)
	for idx, inst := range w.inst {
		a := inst.actual
		switch {
		case a == nil || a.Version != inst.version:
			inst.actual = &model.Actual{Index: idx, Version: inst.version, State: model.StateClaimed}
			inst.started = w.now
			w.starts[idx]++
		case a.State == model.StateClaimed && w.now.Sub(inst.started) >= w.startTime:
			switch cause := w.bad[inst.version]; cause {
			case "":
				a.State, a.HealthySince = model.StateRunning, w.now
			case "hang":
			default:
				a.State, a.CrashCount, a.LastExit = model.StateCrashed, 1, &model.Exit{Cause: cause, Message: "bad version"}
			}
		}
	}
}

// run steps and ticks until the record reaches a final phase and the
// assignments stop changing, or fails after limit ticks.
func (w *lrpWorld) run(limit int) Step {
	w.t.Helper()
	var s Step
	for range limit {
		s = w.step()
		final := s.Record.Phase == Succeeded || s.Record.Phase == Failed || s.Record.Phase == Reverted
		if final && len(s.Moves) == 0 && w.settled() {
			return s
		}
		w.tick(time.Second)
	}
	w.t.Fatalf("no final phase after %d steps: %+v", limit, s.Status)
	return s
}

// settled reports whether every instance runs its assigned version, and
// runs it for good: healthy, crashed or hung.
func (w *lrpWorld) settled() bool {
	for _, inst := range w.inst {
		if inst.actual == nil || inst.actual.Version != inst.version {
			return false
		}
		if inst.actual.State == model.StateClaimed && w.bad[inst.version] != "hang" {
			return false
		}
	}
	return true
}

func (w *lrpWorld) versions() map[string]int {
	out := map[string]int{}
	for idx, inst := range w.inst {
		if int(idx) < w.n {
			out[inst.version]++
		}
	}
	return out
}

// TestRolloutScenarios runs whole rollouts: every step is checked against
// the invariants (never more than maxUnavailable unavailable, never more
// than maxSurge extra, a restarted hub decides alike).
func TestRolloutScenarios(t *testing.T) {
	t.Run("bad image: exactly maxUnavailable down, then reverted; the other instances never restarted", func(t *testing.T) {
		w := newLRPWorld(t, 6, policy(1, 0, autoRevert), "v1")
		w.bad["v2"] = model.ExitStartFailed
		w.desired = rev("v2")
		w.restartEvery = 3
		s := w.run(1000)
		if s.Record.Phase != Reverted || s.Record.Reason != ReasonStartFailed {
			t.Fatalf("record = %+v", s.Record)
		}
		if got := w.versions(); got["v1"] != 6 {
			t.Fatalf("versions = %v, want 6 at v1", got)
		}
		restarted := 0
		for idx, n := range w.starts {
			if n > 0 {
				restarted++
				if n != 2 {
					t.Errorf("index %d started %d times, want 2 (bad version, then back)", idx, n)
				}
			}
		}
		if restarted != 1 {
			t.Fatalf("%d indexes restarted (%v), want exactly maxUnavailable = 1", restarted, w.starts)
		}
	})
	t.Run("good version rolls one at a time, each index restarted once", func(t *testing.T) {
		w := newLRPWorld(t, 6, policy(1, 0), "v1")
		w.desired = rev("v2")
		s := w.run(1000)
		if s.Record.Phase != Succeeded || s.Record.Stable.Version != "v2" || w.versions()["v2"] != 6 {
			t.Fatalf("record %+v, versions %v", s.Record, w.versions())
		}
		for idx, n := range w.starts {
			if n != 1 {
				t.Errorf("index %d started %d times, want 1", idx, n)
			}
		}
	})
	t.Run("a scale change restarts nothing", func(t *testing.T) {
		w := newLRPWorld(t, 6, policy(1, 1), "v1")
		w.n = 9
		w.run(100)
		w.n = 4
		s := w.run(100)
		if s.Record.Phase != Succeeded || len(w.inst) != 4 {
			t.Fatalf("record %+v, %d instances", s.Record, len(w.inst))
		}
		for idx, n := range w.starts {
			if idx < 6 && n > 0 {
				t.Errorf("index %d restarted by a scale change", idx)
			}
		}
	})
	t.Run("a hanging version fails at the deadline", func(t *testing.T) {
		w := newLRPWorld(t, 4, policy(1, 1, autoRevert, func(p *Policy) { p.ProgressDeadline = time.Minute }), "v1")
		w.bad["v2"] = "hang"
		w.desired = rev("v2")
		s := w.run(1000)
		if s.Record.Phase != Reverted || s.Record.Reason != ReasonDeadline || w.versions()["v1"] != 4 {
			t.Fatalf("record %+v, versions %v", s.Record, w.versions())
		}
	})
	t.Run("paused mid-rollout stays put, then finishes", func(t *testing.T) {
		w := newLRPWorld(t, 6, policy(1, 0, func(p *Policy) { p.ProgressDeadline = time.Minute }), "v1")
		w.desired = rev("v2")
		for range 15 {
			w.step()
			w.tick(time.Second)
		}
		w.paused = true
		before := w.versions()
		for range 300 { // far past the deadline
			if s := w.step(); len(s.Moves) > 0 || s.Record.Phase != Progressing {
				t.Fatalf("paused step moved %v, phase %s", s.Moves, s.Record.Phase)
			}
			w.tick(time.Second)
		}
		if got := w.versions(); fmt.Sprint(got) != fmt.Sprint(before) {
			t.Fatalf("versions changed while paused: %v → %v", before, got)
		}
		w.paused = false
		if s := w.run(1000); s.Record.Phase != Succeeded {
			t.Fatalf("record %+v", s.Record)
		}
	})
	t.Run("canary with autoPromote, then the rest", func(t *testing.T) {
		w := newLRPWorld(t, 6, policy(1, 0, func(p *Policy) { p.Canary, p.AutoPromote = 1, true }), "v1")
		w.desired = rev("v2")
		s := w.step()
		if !slices.Equal(s.Moves, []Move{{Index: 6, Version: "v2"}}) {
			t.Fatalf("first step moves %v, want the canary only", s.Moves)
		}
		if s = w.run(1000); s.Record.Phase != Succeeded || len(w.inst) != 6 {
			t.Fatalf("record %+v, %d instances", s.Record, len(w.inst))
		}
	})
}

// TestRolloutProperties runs random rollouts (size, budget, canaries,
// room, good or bad versions, hub restarts) and checks the invariants at
// every step, then the outcome.
func TestRolloutProperties(t *testing.T) {
	rounds := 300
	if testing.Short() {
		rounds = 50
	}
	for seed := range uint64(rounds) {
		r := rand.New(rand.NewPCG(seed, 16))
		n := 1 + r.IntN(30)
		p := Policy{MaxUnavailable: r.IntN(n + 1), MaxSurge: r.IntN(n + 1), MinHealthy: time.Duration(r.IntN(5)) * time.Second,
			ProgressDeadline: time.Minute, AutoRevert: r.IntN(2) == 0}
		if p.MaxUnavailable == 0 && p.MaxSurge == 0 {
			p.MaxUnavailable = 1
		}
		if r.IntN(3) == 0 {
			p.Canary, p.AutoPromote = 1+r.IntN(3), true
		}
		causes := []string{"", "", model.ExitStartFailed, model.ExitExited, model.ExitHealthCheck, "hang"}
		cause := causes[r.IntN(len(causes))]
		t.Run(fmt.Sprintf("seed%d/n%d/u%d/s%d/c%d/%s", seed, n, p.MaxUnavailable, p.MaxSurge, p.Canary, cause), func(t *testing.T) {
			w := newLRPWorld(t, n, p, "v1")
			w.room = r.IntN(4)
			w.restartEvery = 1 + r.IntN(5)
			if cause != "" {
				w.bad["v2"] = cause
			}
			w.desired = rev("v2")
			if (p.MaxUnavailable == 0 || p.Canary > 0) && w.room == 0 {
				// Canaries, and surge without budget, wait for room until
				// the deadline fails the rollout, by design.
				w.room = 1
			}
			s := w.run(5000)
			switch {
			case cause == "":
				if s.Record.Phase != Succeeded || w.versions()["v2"] != n {
					t.Fatalf("good version: record %+v, versions %v", s.Record, w.versions())
				}
			case p.AutoRevert:
				if s.Record.Phase != Reverted || w.versions()["v1"] != n {
					t.Fatalf("bad version, autoRevert: record %+v, versions %v", s.Record, w.versions())
				}
			default:
				if s.Record.Phase != Failed {
					t.Fatalf("bad version: record %+v", s.Record)
				}
			}
			for idx, k := range w.starts {
				if k > 2 {
					t.Errorf("index %d started %d times", idx, k)
				}
			}
		})
	}
}
