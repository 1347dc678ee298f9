package rollout

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cellsync/cellsync/model"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// now is the clock of the table tests: an hour after t0.
var now = t0.Add(time.Hour)

func rev(v string) Revision {
	return Revision{Version: v, Commit: "commit-" + v, Items: []model.Item{{Kind: model.KindLRP, Name: "web", Spec: "spec-" + v}}}
}

// healthy is an instance of version v healthy since long before now.
func healthy(idx int32, v string) Instance {
	return Instance{Index: idx, Version: v, Actual: &model.Actual{Index: idx, Version: v, State: model.StateRunning, HealthySince: t0}}
}

// healthyFor is an instance of version v healthy for d at now.
func healthyFor(idx int32, v string, d time.Duration) Instance {
	o := healthy(idx, v)
	o.Actual.HealthySince = now.Add(-d)
	return o
}

// starting is an instance assigned v whose cell still reports the old one.
func starting(idx int32, v, old string) Instance {
	o := healthy(idx, v)
	o.Actual.Version = old
	return o
}

// claimed is an instance of v started, not yet healthy.
func claimed(idx int32, v string) Instance {
	return Instance{Index: idx, Version: v, Actual: &model.Actual{Index: idx, Version: v, State: model.StateClaimed}}
}

func crashedAt(idx int32, v, cause string) Instance {
	return Instance{Index: idx, Version: v, Actual: &model.Actual{Index: idx, Version: v, State: model.StateCrashed, CrashCount: 4, LastExit: &model.Exit{Cause: cause, Message: "boom"}}}
}

// fleet returns instances 0..n-1 healthy at v, with the given ones
// replacing theirs.
func fleet(n int, v string, over ...Instance) []Instance {
	out := make([]Instance, 0, n+len(over))
	for i := range n {
		out = append(out, healthy(int32(i), v))
	}
	for _, o := range over {
		if int(o.Index) < n {
			out[o.Index] = o
		} else {
			out = append(out, o)
		}
	}
	return out
}

// succeeded is the record of a finished rollout of v.
func succeeded(v string) Record {
	return Record{Target: rev(v), Stable: rev(v), Phase: Succeeded, Started: t0, Progress: t0}
}

// rolling is the record of a rollout from v1 to v2 that started at start.
func rolling(start time.Time) Record {
	return Record{Target: rev("v2"), Stable: rev("v1"), Phase: Progressing, Started: start, Progress: start}
}

func policy(unavail, surge int, mod ...func(*Policy)) Policy {
	p := Policy{MaxUnavailable: unavail, MaxSurge: surge, MinHealthy: 10 * time.Second, ProgressDeadline: 10 * time.Minute}
	for _, m := range mod {
		m(&p)
	}
	return p
}

func autoRevert(p *Policy) { p.AutoRevert = true }

func moves(spec string) []Move {
	if spec == "" {
		return nil
	}
	var out []Move
	for _, m := range strings.Split(spec, " ") {
		var idx int32
		var v string
		if _, err := fmt.Sscanf(strings.Replace(m, "→", " ", 1), "%d %s", &idx, &v); err != nil {
			panic(m)
		}
		out = append(out, Move{Index: idx, Version: v})
	}
	return out
}

func TestNext(t *testing.T) {
	tests := []struct {
		name     string
		in       LRP
		moves    string // "0→v2 6→v2"
		extras   []int32
		phase    Phase
		reason   Reason
		stable   string
		paused   bool
		awaiting bool
		// check inspects the step further.
		check func(t *testing.T, s Step)
	}{
		{
			name:  "first deploy starts every index at once",
			in:    LRP{Desired: rev("v1"), Policy: policy(1, 1), Instances: 3, Room: 10, Now: now},
			moves: "0→v1 1→v1 2→v1", phase: Progressing,
		},
		{
			name:  "a first step takes what runs healthy everywhere as stable",
			in:    LRP{Desired: rev("v2"), Policy: policy(1, 0), Instances: 3, Observed: fleet(3, "v1"), Assigned: []Revision{rev("v1")}, Now: now},
			moves: "0→v2", phase: Progressing, stable: "v1",
		},
		{
			name:  "a first step with the desired version running is done",
			in:    LRP{Desired: rev("v1"), Policy: policy(1, 1), Instances: 3, Observed: fleet(3, "v1"), Assigned: []Revision{rev("v1")}, Room: 5, Now: now},
			phase: Succeeded, stable: "v1",
		},
		{
			name:  "new version: maxUnavailable 1 replaces one index",
			in:    LRP{Desired: rev("v2"), Policy: policy(1, 0), Instances: 6, Observed: fleet(6, "v1"), Record: succeeded("v1"), Now: now},
			moves: "0→v2", phase: Progressing, stable: "v1",
			check: func(t *testing.T, s Step) {
				if !s.Record.Started.Equal(now) || !s.Record.Progress.Equal(now) {
					t.Errorf("started %v progress %v, want now", s.Record.Started, s.Record.Progress)
				}
			},
		},
		{
			name:  "unavailable old instances move first, at no cost",
			in:    LRP{Desired: rev("v2"), Policy: policy(1, 0), Instances: 6, Observed: fleet(6, "v1", crashedAt(3, "v1", model.ExitExited)), Record: rolling(now), Now: now},
			moves: "3→v2", phase: Progressing, stable: "v1",
			check: func(t *testing.T, s Step) {
				if s.Status.Available != 5 {
					t.Errorf("available = %d, want 5", s.Status.Available)
				}
			},
		},
		{
			name:  "unavailable old instances move even with no budget",
			in:    LRP{Desired: rev("v2"), Policy: policy(1, 0), Instances: 6, Observed: fleet(6, "v1", crashedAt(3, "v1", model.ExitExited), crashedAt(4, "v1", model.ExitExited)), Record: rolling(now), Now: now},
			moves: "3→v2 4→v2", phase: Progressing, stable: "v1",
		},
		{
			name:  "a moved index whose cell still runs the old version is unavailable",
			in:    LRP{Desired: rev("v2"), Policy: policy(1, 0), Instances: 6, Observed: fleet(6, "v1", starting(0, "v2", "v1")), Record: rolling(now), Now: now},
			phase: Progressing, stable: "v1",
			check: func(t *testing.T, s Step) {
				if !strings.Contains(s.Status.Waiting, "1 new instances turning healthy") {
					t.Errorf("waiting = %q", s.Status.Waiting)
				}
			},
		},
		{
			name:  "healthy for less than minHealthySeconds is not yet available",
			in:    LRP{Desired: rev("v2"), Policy: policy(1, 0), Instances: 6, Observed: fleet(6, "v1", healthyFor(0, "v2", 9*time.Second)), Record: rolling(now.Add(-time.Minute)), Now: now},
			phase: Progressing, stable: "v1",
		},
		{
			name:  "healthy for minHealthySeconds: the next index moves and the deadline restarts",
			in:    LRP{Desired: rev("v2"), Policy: policy(1, 0), Instances: 6, Observed: fleet(6, "v1", healthyFor(0, "v2", 10*time.Second)), Record: rolling(now.Add(-time.Minute)), Now: now},
			moves: "1→v2", phase: Progressing, stable: "v1",
			check: func(t *testing.T, s Step) {
				if !s.Record.Progress.Equal(now) {
					t.Errorf("progress = %v, want %v", s.Record.Progress, now)
				}
				if s.Status.Updated != 1 {
					t.Errorf("updated = %d, want 1", s.Status.Updated)
				}
			},
		},
		{
			name:  "maxUnavailable 0: a surge instance starts first",
			in:    LRP{Desired: rev("v2"), Policy: policy(0, 1), Instances: 6, Observed: fleet(6, "v1"), Record: succeeded("v1"), Room: 3, Now: now},
			moves: "6→v2", extras: []int32{6}, phase: Progressing, stable: "v1",
		},
		{
			name:  "a surge instance waits for room",
			in:    LRP{Desired: rev("v2"), Policy: policy(0, 1), Instances: 6, Observed: fleet(6, "v1"), Record: rolling(now), Now: now},
			phase: Progressing, stable: "v1",
			check: func(t *testing.T, s Step) {
				if !strings.Contains(s.Status.Waiting, "room for a surge instance") {
					t.Errorf("waiting = %q", s.Status.Waiting)
				}
			},
		},
		{
			name:  "a healthy surge instance lets one index move",
			in:    LRP{Desired: rev("v2"), Policy: policy(0, 1), Instances: 6, Observed: fleet(6, "v1", healthy(6, "v2")), Record: rolling(now), Room: 3, Now: now},
			moves: "0→v2", extras: []int32{6}, phase: Progressing, stable: "v1",
		},
		{
			name:  "every index healthy at the target: extras go, the target becomes stable",
			in:    LRP{Desired: rev("v2"), Policy: policy(0, 1), Instances: 6, Observed: fleet(6, "v2", healthy(6, "v2")), Record: rolling(t0), Room: 3, Now: now},
			phase: Succeeded, stable: "v2",
		},
		{
			name:   "a new instance that crashes fails the rollout; nothing more moves",
			in:     LRP{Desired: rev("v2"), Policy: policy(1, 1), Instances: 6, Observed: fleet(6, "v1", crashedAt(0, "v2", model.ExitExited), healthy(6, "v2")), Record: rolling(now), Room: 3, Now: now},
			extras: []int32{6}, phase: Failed, reason: ReasonCrashed, stable: "v1",
			check: func(t *testing.T, s Step) {
				if !strings.Contains(s.Status.Message, "instance 0 of version v2: boom") {
					t.Errorf("message = %q", s.Status.Message)
				}
			},
		},
		{
			name:  "bad image with autoRevert: the new instance goes back to the stable version",
			in:    LRP{Desired: rev("v2"), Policy: policy(1, 0, autoRevert), Instances: 6, Observed: fleet(6, "v1", crashedAt(0, "v2", model.ExitStartFailed)), Record: rolling(now), Now: now},
			moves: "0→v1", phase: Reverting, reason: ReasonStartFailed, stable: "v1",
		},
		{
			name:  "a surge instance failing its health check: reverted at once by removing it",
			in:    LRP{Desired: rev("v2"), Policy: policy(1, 1, autoRevert), Instances: 6, Observed: fleet(6, "v1", crashedAt(6, "v2", model.ExitHealthCheck)), Record: rolling(now), Room: 3, Now: now},
			phase: Reverted, reason: ReasonHealthCheck, stable: "v1",
		},
		{
			name:  "a crash before any stable version fails without a revert",
			in:    LRP{Desired: rev("v1"), Policy: policy(1, 0, autoRevert), Instances: 2, Observed: []Instance{crashedAt(0, "v1", model.ExitExited), claimed(1, "v1")}, Record: Record{Target: rev("v1"), Phase: Progressing, Started: now, Progress: now}, Now: now},
			phase: Failed, reason: ReasonCrashed,
		},
		{
			name:  "no instance healthy within the deadline fails the rollout",
			in:    LRP{Desired: rev("v2"), Policy: policy(1, 0), Instances: 6, Observed: fleet(6, "v1", claimed(0, "v2")), Record: rolling(now.Add(-11 * time.Minute)), Now: now},
			phase: Failed, reason: ReasonDeadline, stable: "v1",
		},
		{
			name:  "reverting finishes once every index runs the stable version, healthy",
			in:    LRP{Desired: rev("v2"), Policy: policy(1, 0, autoRevert), Instances: 6, Observed: fleet(6, "v1"), Record: Record{Target: rev("v2"), Stable: rev("v1"), Phase: Reverting, Reason: ReasonCrashed, Started: t0, Progress: t0}, Now: now},
			phase: Reverted, reason: ReasonCrashed, stable: "v1",
		},
		{
			name:  "reverted stays on the stable version while the failed one is desired",
			in:    LRP{Desired: rev("v2"), Policy: policy(1, 0, autoRevert), Instances: 6, Observed: fleet(6, "v1"), Record: Record{Target: rev("v2"), Stable: rev("v1"), Phase: Reverted, Reason: ReasonCrashed, Started: t0, Progress: t0}, Now: now},
			phase: Reverted, reason: ReasonCrashed, stable: "v1",
		},
		{
			name:  "a new version after a failure starts over; the failed index moves at no cost",
			in:    LRP{Desired: rev("v3"), Policy: policy(1, 0), Instances: 6, Observed: fleet(6, "v1", crashedAt(0, "v2", model.ExitExited)), Record: Record{Target: rev("v2"), Stable: rev("v1"), Phase: Failed, Reason: ReasonCrashed, Started: t0, Progress: t0}, Now: now},
			moves: "0→v3", phase: Progressing, stable: "v1",
		},
		{
			name:  "a failed rollout stands still, but a scale-up starts at the stable version",
			in:    LRP{Desired: rev("v2"), Policy: policy(1, 0), Instances: 7, Observed: fleet(6, "v1", crashedAt(0, "v2", model.ExitExited)), Record: Record{Target: rev("v2"), Stable: rev("v1"), Phase: Failed, Reason: ReasonCrashed, Started: t0, Progress: t0}, Now: now},
			moves: "6→v1", phase: Failed, reason: ReasonCrashed, stable: "v1",
		},
		{
			name:   "paused: nothing moves and the deadline does not run",
			in:     LRP{Desired: rev("v2"), Policy: policy(1, 1), Instances: 6, Paused: true, Observed: fleet(6, "v1", claimed(0, "v2"), healthy(6, "v2")), Record: rolling(t0), Room: 5, Now: now},
			extras: []int32{6}, phase: Progressing, paused: true, stable: "v1",
		},
		{
			name:  "pausing before a new version keeps everything where it stands",
			in:    LRP{Desired: rev("v2"), Policy: policy(1, 1), Instances: 6, Paused: true, Observed: fleet(6, "v1"), Record: succeeded("v1"), Room: 5, Now: now},
			phase: Progressing, paused: true, stable: "v1",
		},
		{
			name:  "resuming restarts the deadline and the rollout moves on",
			in:    LRP{Desired: rev("v2"), Policy: policy(1, 0), Instances: 6, Observed: fleet(6, "v1"), Record: func() Record { r := rolling(t0); r.Paused = true; return r }(), Now: now},
			moves: "0→v2", phase: Progressing, stable: "v1",
			check: func(t *testing.T, s Step) {
				if !s.Record.Progress.Equal(now) || s.Record.Paused {
					t.Errorf("record = %+v, want progress now and not paused", s.Record)
				}
			},
		},
		{
			name:  "canary: canaries start beside the old version, nothing is replaced",
			in:    LRP{Desired: rev("v2"), Policy: policy(1, 1, func(p *Policy) { p.Canary = 2 }), Instances: 6, Observed: fleet(6, "v1"), Record: succeeded("v1"), Room: 5, Now: now},
			moves: "6→v2 7→v2", extras: []int32{6, 7}, phase: Progressing, stable: "v1",
		},
		{
			name:   "canary without room waits",
			in:     LRP{Desired: rev("v2"), Policy: policy(1, 1, func(p *Policy) { p.Canary = 2 }), Instances: 6, Observed: fleet(6, "v1", claimed(6, "v2")), Record: rolling(now), Room: 0, Now: now},
			extras: []int32{6}, phase: Progressing, stable: "v1",
			check: func(t *testing.T, s Step) {
				if s.Status.Waiting != "room for 1 more canaries" {
					t.Errorf("waiting = %q", s.Status.Waiting)
				}
			},
		},
		{
			name:   "healthy canaries without autoPromote await a commit; no deadline meanwhile",
			in:     LRP{Desired: rev("v2"), Policy: policy(1, 1, func(p *Policy) { p.Canary = 1 }), Instances: 6, Observed: fleet(6, "v1", healthy(6, "v2")), Record: rolling(t0), Room: 5, Now: now},
			extras: []int32{6}, phase: Progressing, awaiting: true, stable: "v1",
			check: func(t *testing.T, s Step) {
				if !strings.Contains(s.Status.Waiting, "committing canary: 0") {
					t.Errorf("waiting = %q", s.Status.Waiting)
				}
			},
		},
		{
			name:   "a crashing canary fails the rollout and, reverting, goes",
			in:     LRP{Desired: rev("v2"), Policy: policy(1, 1, autoRevert, func(p *Policy) { p.Canary = 1 }), Instances: 6, Observed: fleet(6, "v1", crashedAt(6, "v2", model.ExitExited)), Record: rolling(now), Room: 5, Now: now},
			extras: nil, phase: Reverted, reason: ReasonCrashed, stable: "v1",
		},
		{
			name:  "promotion by commit (canary 0): the rollout continues, the canary serves as surge",
			in:    LRP{Desired: rev("v2"), Policy: policy(1, 1), Instances: 6, Observed: fleet(6, "v1", healthy(6, "v2")), Record: rolling(now), Room: 5, Now: now},
			moves: "0→v2 1→v2", extras: []int32{6}, phase: Progressing, stable: "v1",
		},
		{
			name:  "autoPromote: healthy canaries are promoted and kept until the end",
			in:    LRP{Desired: rev("v2"), Policy: policy(1, 0, func(p *Policy) { p.Canary, p.AutoPromote = 2, true }), Instances: 6, Observed: fleet(6, "v1", healthy(6, "v2"), healthy(7, "v2")), Record: rolling(now), Room: 5, Now: now},
			moves: "0→v2 1→v2 2→v2", extras: []int32{6, 7}, phase: Progressing, stable: "v1",
			check: func(t *testing.T, s Step) {
				if !s.Record.Promoted {
					t.Error("not promoted")
				}
			},
		},
		{
			name:  "a scale-up restarts nothing and starts the new indexes only",
			in:    LRP{Desired: rev("v1"), Policy: policy(1, 1), Instances: 8, Observed: fleet(6, "v1"), Record: succeeded("v1"), Room: 5, Now: now},
			moves: "6→v1 7→v1", phase: Succeeded, stable: "v1",
		},
		{
			name:  "a scale-down restarts nothing and removes the indexes above N",
			in:    LRP{Desired: rev("v1"), Policy: policy(1, 1), Instances: 3, Observed: fleet(6, "v1"), Record: succeeded("v1"), Room: 5, Now: now},
			phase: Succeeded, stable: "v1",
		},
		{
			name:  "a scale-up during a rollout starts the new indexes at the target",
			in:    LRP{Desired: rev("v2"), Policy: policy(1, 0), Instances: 7, Observed: fleet(6, "v1", claimed(0, "v2")), Record: rolling(now), Now: now},
			moves: "6→v2", phase: Progressing, stable: "v1",
		},
		{
			name:  "a new version during a rollout retargets, keeping the stable version",
			in:    LRP{Desired: rev("v3"), Policy: policy(1, 0), Instances: 6, Observed: fleet(6, "v1", healthy(0, "v2")), Record: rolling(t0), Now: now},
			moves: "0→v3", phase: Progressing, stable: "v1",
			check: func(t *testing.T, s Step) {
				if s.Record.Target.Version != "v3" || !s.Record.Started.Equal(now) {
					t.Errorf("record = %+v", s.Record)
				}
			},
		},
		{
			name:  "a negative count is no instance",
			in:    LRP{Desired: rev("v1"), Policy: policy(1, 1), Instances: -3, Record: succeeded("v1"), Now: now},
			phase: Succeeded, stable: "v1",
		},
		{
			name:  "zero instances: done at once",
			in:    LRP{Desired: rev("v2"), Policy: policy(1, 1), Instances: 0, Observed: fleet(2, "v1"), Record: succeeded("v1"), Room: 5, Now: now},
			phase: Succeeded, stable: "v2",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Next(tt.in)
			if got, want := s.Moves, moves(tt.moves); !slices.Equal(got, want) {
				t.Errorf("moves = %v, want %v", got, want)
			}
			if !slices.Equal(s.Extras, tt.extras) {
				t.Errorf("extras = %v, want %v", s.Extras, tt.extras)
			}
			if s.Status.Phase != tt.phase || s.Record.Phase != tt.phase {
				t.Errorf("phase = %s (record %s), want %s", s.Status.Phase, s.Record.Phase, tt.phase)
			}
			if s.Status.Reason != tt.reason {
				t.Errorf("reason = %q (%s), want %q", s.Status.Reason, s.Status.Message, tt.reason)
			}
			if s.Record.Stable.Version != tt.stable {
				t.Errorf("stable = %q, want %q", s.Record.Stable.Version, tt.stable)
			}
			if s.Status.Paused != tt.paused || s.Status.AwaitingPromotion != tt.awaiting {
				t.Errorf("paused %v awaiting %v, want %v %v", s.Status.Paused, s.Status.AwaitingPromotion, tt.paused, tt.awaiting)
			}
			if tt.check != nil {
				tt.check(t, s)
			}
			// The same input gives the same step, and so does the record
			// read back after a restart.
			again := tt.in
			if b, err := json.Marshal(tt.in.Record); err != nil || json.Unmarshal(b, &again.Record) != nil {
				t.Fatalf("record round trip: %v", err)
			}
			if s2 := Next(again); !slices.Equal(s2.Moves, s.Moves) || !slices.Equal(s2.Extras, s.Extras) || !s2.Record.Equal(s.Record) {
				t.Errorf("a restarted hub decides differently: %+v, then %+v", s, s2)
			}
		})
	}
}

func TestLRPPolicy(t *testing.T) {
	i32 := func(v int32) *int32 { return &v }
	tests := []struct {
		name string
		u    *model.Update
		n    int
		want Policy
	}{
		{"defaults for 6", nil, 6, Policy{MaxUnavailable: 1, MaxSurge: 2, MinHealthy: 10 * time.Second, ProgressDeadline: 600 * time.Second}},
		{"defaults for 1: never everything at once but always progressing", nil, 1, Policy{MaxUnavailable: 1, MaxSurge: 1, MinHealthy: 10 * time.Second, ProgressDeadline: 600 * time.Second}},
		{"defaults for 100", &model.Update{}, 100, Policy{MaxUnavailable: 25, MaxSurge: 25, MinHealthy: 10 * time.Second, ProgressDeadline: 600 * time.Second}},
		{"counts", &model.Update{MaxUnavailable: model.Count(2), MaxSurge: model.Count(0), MinHealthySeconds: i32(0), ProgressDeadlineSeconds: i32(30), AutoRevert: true, Canary: 1, AutoPromote: true}, 6,
			Policy{MaxUnavailable: 2, MaxSurge: 0, MinHealthy: 0, ProgressDeadline: 30 * time.Second, AutoRevert: true, Canary: 1, AutoPromote: true}},
		{"percentages rounding both to 0 give one unavailable", &model.Update{MaxUnavailable: model.Percent(10), MaxSurge: model.Percent(0)}, 5, Policy{MaxUnavailable: 1, MinHealthy: 10 * time.Second, ProgressDeadline: 600 * time.Second}},
		{"100% is everything at once", &model.Update{MaxUnavailable: model.Percent(100)}, 7, Policy{MaxUnavailable: 7, MaxSurge: 2, MinHealthy: 10 * time.Second, ProgressDeadline: 600 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := LRPPolicy(tt.u, tt.n); got != tt.want {
				t.Errorf("LRPPolicy = %+v, want %+v", got, tt.want)
			}
		})
	}
}
