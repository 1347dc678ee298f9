package rollout

import (
	"testing"

	"github.com/cellsync/cellsync/model"
)

func TestDescribe(t *testing.T) {
	parse := func(src string) model.Object {
		t.Helper()
		objs, errs := model.ParseFile("f.yaml", []byte(src))
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		return objs[0]
	}
	const lrp = "apiVersion: cellsync.io/v1\nkind: LRP\nmetadata: {name: web}\nspec:\n  image: busybox\n"
	const set = "apiVersion: cellsync.io/v1\nkind: SelectorSyncSet\nmetadata: {name: base}\nspec:\n  resources: [{kind: Config, metadata: {name: c}}]\n"
	tests := []struct {
		name string
		src  string
		want string
	}{
		{"defaults", lrp + "  instances: 6\n",
			"web: 6 instances, 1 at a time, 2 surge instances beside them where there is room, each instance healthy 10s before the next, fails after 10m0s without progress, stops on failure"},
		{"the issue's example", lrp + "  instances: 6\n  update: {maxUnavailable: 1, maxSurge: 0, canary: 1, autoPromote: true, autoRevert: true}\n",
			"web: 6 instances, 1 at a time, canary 1 promoted once healthy, each instance healthy 10s before the next, fails after 10m0s without progress, reverts on failure"},
		{"manual promotion", lrp + "  instances: 2\n  update: {canary: 1, maxSurge: 0}\n",
			"web: 2 instances, 1 at a time, canary 1 then waits for a commit setting canary: 0, each instance healthy 10s before the next, fails after 10m0s without progress, stops on failure"},
		{"everything at once is never hidden", lrp + "  instances: 4\n  update: {maxUnavailable: 100%, maxSurge: 0}\n",
			"web: 4 instances, EVERYTHING AT ONCE (maxUnavailable 4 of 4: every instance stops before the new version is healthy), each instance healthy 10s before the next, fails after 10m0s without progress, stops on failure"},
		{"one instance by default", lrp,
			"web: 1 instance, EVERYTHING AT ONCE (maxUnavailable 1 of 1: every instance stops before the new version is healthy), 1 surge instance beside them where there is room, each instance healthy 10s before the next, fails after 10m0s without progress, stops on failure"},
		{"none down", lrp + "  instances: 3\n  update: {maxUnavailable: 0, maxSurge: 1, minHealthySeconds: 0, progressDeadlineSeconds: 60}\n",
			"web: 3 instances, 0 at a time (none down: each replacement waits for a surge instance), 1 surge instance beside them where there is room, each instance healthy 0s before the next, fails after 1m0s without progress, stops on failure"},
		{"paused", "apiVersion: cellsync.io/v1\nkind: LRP\nmetadata: {name: web, annotations: {cellsync.io/paused: 'true'}}\nspec: {image: x, instances: 0}\n",
			"web: 0 instances, nothing to replace"},
		{"paused with instances", "apiVersion: cellsync.io/v1\nkind: LRP\nmetadata: {name: web, annotations: {cellsync.io/paused: 'true'}}\nspec: {image: x, instances: 8}\n",
			"web: 8 instances, 2 at a time, 2 surge instances beside them where there is room, each instance healthy 10s before the next, fails after 10m0s without progress, stops on failure; PAUSED (cellsync.io/paused): nothing moves until it is removed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DescribeLRP(parse(tt.src).(*model.LRP)); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
	sets := []struct {
		name  string
		src   string
		cells int
		want  string
	}{
		{"no rollout", set, 120, "base: 120 cells, EVERYTHING AT ONCE (no spec.rollout: every cell changes together)"},
		{"partitions", set + "  rollout:\n    maxUnavailable: 10%\n    autoRevert: true\n    partitions: [{name: canary, selector: 'true'}, {name: eu, selector: 'true'}]\n", 120,
			"base: 120 cells, 12 at a time, partitions canary → eu → the rest, each cell healthy 10s before the next, fails after 10m0s without progress, reverts on failure"},
		{"budget over the cells", set + "  rollout: {maxUnavailable: 5}\n", 3, "base: 3 cells, EVERYTHING AT ONCE (maxUnavailable 5 of 3), each cell healthy 10s before the next, fails after 10m0s without progress, stops on failure"},
	}
	for _, tt := range sets {
		t.Run(tt.name, func(t *testing.T) {
			if got := DescribeSet(parse(tt.src).(*model.SelectorSyncSet), tt.cells); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestStatusString(t *testing.T) {
	const x, y = "aaaaaaaa1111", "bbbbbbbb2222"
	tests := []struct {
		s    Status
		want string
	}{
		{Status{Phase: Progressing, Updated: 3, Total: 6, Waiting: "1 new instances turning healthy (10s each)"}, "progressing 3/6 (1 new instances turning healthy (10s each))"},
		{Status{Phase: Progressing, Paused: true, Updated: 3, Total: 6, Waiting: "paused: remove it"}, "paused at 3/6 (paused: remove it)"},
		{Status{Phase: Progressing, AwaitingPromotion: true, Total: 6, Waiting: "1 canaries healthy: promote by committing canary: 0"}, "canaries healthy at 0/6, awaiting promotion (1 canaries healthy: promote by committing canary: 0)"},
		{Status{Phase: Succeeded, Updated: 6, Total: 6, Commit: x}, "succeeded 6/6 at commit aaaaaaaa"},
		{Status{Phase: Failed, Reason: ReasonCrashed, Message: "instance 0 of version v2: boom", Commit: x, StableCommit: y},
			"failed at commit aaaaaaaa (Crashed: instance 0 of version v2: boom), running the version of commit bbbbbbbb where it was not replaced"},
		{Status{Phase: Failed, Reason: ReasonDeadline, Message: "no new instance turned healthy in 10m0s", Commit: x},
			"failed at commit aaaaaaaa (ProgressDeadlineExceeded: no new instance turned healthy in 10m0s)"},
		{Status{Phase: Reverting, Reason: ReasonStartFailed, Message: "m", Updated: 5, Total: 6, Commit: x, StableCommit: y},
			"reverting 5/6 to commit bbbbbbbb: failed at commit aaaaaaaa (StartFailed: m)"},
		{Status{Phase: Reverted, Reason: ReasonHealthCheck, Message: "m", Updated: 6, Total: 6, Commit: x, StableCommit: y},
			"failed at commit aaaaaaaa (HealthCheckFailing: m), running the version of commit bbbbbbbb"},
	}
	for _, tt := range tests {
		if got := tt.s.String(); got != tt.want {
			t.Errorf("got  %s\nwant %s", got, tt.want)
		}
	}
}
