package hub

import (
	"errors"
	"testing"

	"github.com/cellsync/cellsync/model"
)

func TestHubCondition(t *testing.T) {
	base := hubFacts{leading: true, haveModel: true, commit: "c2", latest: "c2", source: &SourceStatus{Commit: "c2"}}
	with := func(edit func(*hubFacts)) hubFacts {
		f := base
		src := *base.source
		f.source = &src
		edit(&f)
		return f
	}
	tests := []struct {
		name       string
		facts      hubFacts
		wantSynced bool
		want       ConditionState
		wantReason string
	}{
		{"standby", hubFacts{}, false, Progressing, ReasonNotLeading},
		{"no model yet", with(func(f *hubFacts) { f.haveModel = false }), false, Progressing, ReasonWaitingForModel},
		{"first fetch failed", with(func(f *hubFacts) { f.haveModel, f.source.Error = false, "repository does not exist" }), false, Failed, ReasonSourceFailed},
		{"synced", base, true, Ready, ReasonSynced},
		{"no source: the hub's own commit", with(func(f *hubFacts) { f.source = nil }), true, Ready, ReasonSynced},
		{"newer commit handed over", with(func(f *hubFacts) { f.latest = "c3" }), false, Progressing, ReasonCompiling},
		{"newer commit at the source", with(func(f *hubFacts) { f.source.Commit = "c3" }), false, Progressing, ReasonCompiling},
		{"fetch failing", with(func(f *hubFacts) { f.source.Error = "authentication required" }), false, Failed, ReasonSourceFailed},
		{"queued work", with(func(f *hubFacts) { f.work = 3 }), false, Progressing, ReasonApplying},
		{"writes in flight", with(func(f *hubFacts) { f.writes = 1 }), false, Progressing, ReasonApplying},
		{"records to store, between a lost CAS and its retry", with(func(f *hubFacts) { f.pending = 1 }), false, Progressing, ReasonApplying},
		{"etcd refuses", with(func(f *hubFacts) { f.writeErr = errors.New("database space exceeded") }), false, Failed, ReasonWriteFailed},
		{"bodies cannot be written: not compiling, failing", with(func(f *hubFacts) { f.latest, f.writeErr = "c3", errors.New("permission denied") }), false, Failed, ReasonWriteFailed},
		{"a delayed retry", with(func(f *hubFacts) { f.retrying, f.pending = 1, 1 }), false, Failed, ReasonWriteFailed},
		{"a record too large", with(func(f *hubFacts) { f.refused, f.pending = 1, 1 }), false, Failed, ReasonTooLarge},
		{"an ignored record", with(func(f *hubFacts) { f.ignored = 1 }), true, Failed, ReasonRecordIgnored},
		{"a failed workload", with(func(f *hubFacts) { f.failedWorkloads = 1 }), true, Failed, ReasonWorkloadsFailed},
		{"work under way wins over a failure", with(func(f *hubFacts) { f.work, f.failedWorkloads = 1, 1 }), false, Progressing, ReasonApplying},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synced, c := hubCondition(tt.facts)
			if synced != tt.wantSynced || c.State != tt.want || c.Reason != tt.wantReason {
				t.Errorf("= %v, %+v; want %v, %s %s", synced, c, tt.wantSynced, tt.want, tt.wantReason)
			}
		})
	}
}

func TestWorkloadCondition(t *testing.T) {
	src := model.Source{File: "apps/web.yaml", Line: 3}
	counts := func(f srcFlag, n int) srcCounts {
		var c srcCounts
		c[f.index()] = n
		return c
	}
	tests := []struct {
		name     string
		facts    workloadFacts
		want     ConditionState
		reason   string
		wantLine int
	}{
		{"ready", workloadFacts{kind: model.KindLRP, src: src, desired: 2, running: 2}, Ready, ReasonReady, 0},
		{"invalid, at the error's line", workloadFacts{kind: model.KindLRP, src: src, err: &model.Error{File: "apps/web.yaml", Line: 9, Msg: "bad"}}, Failed, ReasonInvalid, 9},
		{"selector failing", workloadFacts{kind: model.KindLRP, src: src, selectorErrs: 2, selectorErr: errors.New("no such key")}, Failed, ReasonSelectorError, 3},
		{"refused", workloadFacts{kind: model.KindSelectorSyncSet, src: src, counts: counts(flagRefused, 1)}, Failed, ReasonTooLarge, 3},
		{"unplaced", workloadFacts{kind: model.KindLRP, src: src, unplaced: 4, unplacedWhy: "needs 2048 MB"}, Failed, ReasonUnplaced, 3},
		{"conflict", workloadFacts{kind: model.KindSelectorSyncSet, src: src, counts: counts(flagConflict, 1)}, Failed, ReasonConflict, 3},
		{"task failed", workloadFacts{kind: model.KindTask, task: &model.TaskRecord{State: model.TaskCompleted, Failed: true, Reason: "exit 1"}}, Failed, ReasonTaskFailed, 0},
		{"crashed", workloadFacts{kind: model.KindLRP, desired: 2, running: 1, crashed: 1}, Failed, ReasonCrashed, 0},
		{"writing", workloadFacts{kind: model.KindSelectorSyncSet, counts: counts(flagPending, 3)}, Progressing, ReasonWriting, 0},
		{"waiting for cells", workloadFacts{kind: model.KindSelectorSyncSet, counts: counts(flagUnapplied, 3)}, Progressing, ReasonWaitingForCells, 0},
		{"task pending", workloadFacts{kind: model.KindTask, task: &model.TaskRecord{State: model.TaskPending, Cell: "c1"}}, Progressing, ReasonTaskPending, 0},
		{"task not placed yet", workloadFacts{kind: model.KindTask}, Progressing, ReasonTaskPending, 0},
		{"task running", workloadFacts{kind: model.KindTask, task: &model.TaskRecord{State: model.TaskRunning}}, Progressing, ReasonTaskRunning, 0},
		{"task done", workloadFacts{kind: model.KindTask, desired: 1, task: &model.TaskRecord{State: model.TaskCompleted}}, Ready, ReasonReady, 0},
		{"starting", workloadFacts{kind: model.KindLRP, desired: 2, running: 1}, Progressing, ReasonStarting, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := workloadCondition(tt.facts)
			if c.State != tt.want || c.Reason != tt.reason || c.Line != tt.wantLine {
				t.Errorf("= %+v, want %s %s line %d", c, tt.want, tt.reason, tt.wantLine)
			}
		})
	}
}

func TestDecideLost(t *testing.T) {
	pending := taskEntry{rec: model.TaskRecord{State: model.TaskPending, Cell: "c1"}}
	fresh := pending
	fresh.fresh = true
	running := taskEntry{rec: model.TaskRecord{State: model.TaskRunning, Cell: "c1"}}
	done := taskEntry{rec: model.TaskRecord{State: model.TaskCompleted, Cell: "c1"}}
	tests := []struct {
		name        string
		te          taskEntry
		known, live bool
		want        lostAction
	}{
		{"record not created yet", taskEntry{}, false, false, lostNothing},
		{"cell alive", pending, true, true, lostNothing},
		{"completed", done, true, false, lostNothing},
		{"never offered: placed again", fresh, true, false, lostReplace},
		{"offered: it may have run", pending, true, false, lostFail},
		{"running", running, true, false, lostFail},
	}
	for _, tt := range tests {
		if got := decideLost(tt.te, tt.known, tt.live); got != tt.want {
			t.Errorf("%s: decideLost = %v, want %v", tt.name, got, tt.want)
		}
	}
}
