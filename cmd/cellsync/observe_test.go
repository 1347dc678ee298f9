package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/ops"
	"github.com/cellsync/cellsync/sync/hub"
)

// observed are the workloads TestObserveOnContainerd runs: an LRP that
// prints a line a second, one that crashes, one that allocates past its
// memory limit, a Task with a result file and a Task past its timeout.
const observed = `apiVersion: cellsync.io/v1
kind: LRP
metadata: {name: ticker}
spec:
  image: cellsync.local/busybox:1
  command: ["/bin/busybox", "sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 1; done"]
  resources: {memoryMB: 16, diskMB: 16}
  network: none
---
apiVersion: cellsync.io/v1
kind: LRP
metadata: {name: crasher}
spec:
  image: cellsync.local/busybox:1
  command: ["/bin/busybox", "sh", "-c", "echo run $(cat /proc/uptime); echo about to crash; exit 3"]
  resources: {memoryMB: 16, diskMB: 16}
  network: none
---
apiVersion: cellsync.io/v1
kind: LRP
metadata: {name: hog}
spec:
  image: cellsync.local/busybox:1
  command: ["/bin/busybox", "sh", "-c", "x=aaaaaaaaaaaaaaaa; while true; do x=$x$x; done"]
  resources: {memoryMB: 16, diskMB: 16}
  network: none
---
apiVersion: cellsync.io/v1
kind: Task
metadata: {name: report}
spec:
  image: cellsync.local/busybox:1
  command: ["/bin/busybox", "sh", "-c", "echo working; echo '{\"rows\": 42}' > /tmp/result.json"]
  resultFile: /tmp/result.json
  resources: {memoryMB: 16, diskMB: 16}
  network: none
---
apiVersion: cellsync.io/v1
kind: Task
metadata: {name: slow}
spec:
  image: cellsync.local/busybox:1
  command: ["/bin/busybox", "sleep", "600"]
  timeoutSeconds: 2
  resources: {memoryMB: 16, diskMB: 16}
  network: none
`

// TestObserveOnContainerd runs `up` on containerd with the observed
// workloads and reads them back as an operator would: logs (following,
// previous run), status of one workload, tasks and events. It needs root,
// containerd, runc and busybox-static; without them it skips, unless
// CELLSYNC_REQUIRE_CONTAINERD=1 makes it fail.
func TestObserveOnContainerd(t *testing.T) {
	sock := startContainerd(t)
	example := t.TempDir()
	if err := os.WriteFile(filepath.Join(example, "observed.yaml"), []byte(observed), 0o644); err != nil {
		t.Fatal(err)
	}
	repo := filepath.Join(t.TempDir(), "repo")
	if _, err := ops.SeedRepo(repo, example); err != nil {
		t.Fatal(err)
	}
	u := startUp(t, "", "--runtime", "containerd", "--containerd-socket", sock, "--cells", "2", "--repo", repo)
	etcd := []string{"--etcd-endpoints", strings.Join(u.target.Etcd, ","), "--hub", u.target.Hub}
	cli := func(args ...string) (string, error) { return run(t, append(args, etcd...)...) }
	waitStatus(t, u.target, "the ticker runs", func(st hub.Status) bool { return workload(st, "LRP/ticker").Running == 1 })

	t.Run("logs -f shows new lines as they are written", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		out := &syncBuffer{}
		root := newRoot()
		root.SetOut(out)
		root.SetErr(out)
		root.SetArgs(append([]string{"logs", "LRP/ticker", "-f", "--tail", "1"}, etcd...))
		done := make(chan error, 1)
		go func() { done <- root.ExecuteContext(ctx) }()
		defer func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("logs -f: %v", err)
			}
		}()
		tick := regexp.MustCompile(`tick (\d+)`)
		var first string
		eventually(t, "a tick", 20*time.Second, func() bool {
			m := tick.FindStringSubmatch(out.String())
			if m != nil {
				first = m[1]
			}
			return m != nil
		})
		var n int
		fmt.Sscan(first, &n)
		next := fmt.Sprintf("tick %d\n", n+1)
		eventually(t, "the next tick, followed", 10*time.Second, func() bool { return strings.Contains(out.String(), next) })
	})

	t.Run("previous shows the crashed run and status its exit code", func(t *testing.T) {
		// Each run prints its start time first: the previous run's output
		// is another run's. (A run that just started may have printed
		// nothing yet: poll until both have.)
		var prev, cur string
		eventually(t, "two runs of the crasher printed", 60*time.Second, func() bool {
			var err1, err2 error
			prev, err1 = cli("logs", "LRP/crasher", "--previous")
			cur, err2 = cli("logs", "LRP/crasher")
			return err1 == nil && err2 == nil && strings.Contains(prev, "about to crash") && strings.Contains(cur, "about to crash")
		})
		if strings.SplitN(prev, "\n", 2)[0] == strings.SplitN(cur, "\n", 2)[0] {
			t.Fatalf("the previous run (%q) must differ from the last (%q)", prev, cur)
		}
		var d ops.WorkloadDetail
		eventually(t, "status shows exit 3", 30*time.Second, func() bool {
			out, err := cli("status", "LRP/crasher", "-o", "json")
			if err != nil || json.Unmarshal([]byte(out), &d) != nil || len(d.Instances) != 1 {
				return false
			}
			e := d.Instances[0].LastExit
			return e != nil && e.Code == 3 && e.Cause == model.ExitExited
		})
		table, err := cli("status", "LRP/crasher")
		if err != nil || !strings.Contains(table, "exit 3") || !strings.Contains(table, "exited with status 3") {
			t.Fatalf("status LRP/crasher: %v\n%s", err, table)
		}
	})

	t.Run("an instance past its memory limit is reported OOM-killed", func(t *testing.T) {
		var table string
		eventually(t, "OOM-killed in status", 60*time.Second, func() bool {
			var err error
			table, err = cli("status", "LRP/hog")
			return err == nil && strings.Contains(table, "OOM-killed (limit 16 MiB)")
		})
		if !strings.Contains(table, "OOM-killed at its 16 MiB memory limit") {
			t.Fatalf("status LRP/hog:\n%s", table)
		}
	})

	t.Run("tasks shows the result file and the timeout", func(t *testing.T) {
		var out string
		eventually(t, "both tasks completed", 60*time.Second, func() bool {
			var err error
			out, err = cli("tasks")
			return err == nil && strings.Count(out, "COMPLETED") == 2
		})
		for _, want := range []string{`{"rows": 42}`, "timed out: still running after timeoutSeconds 2"} {
			if !strings.Contains(out, want) {
				t.Errorf("tasks lacks %q:\n%s", want, out)
			}
		}
		if out, err := cli("logs", "Task/report"); err != nil || strings.TrimSpace(out) != "working" {
			t.Errorf("logs Task/report = %q, %v", out, err)
		}
	})

	t.Run("events tell what happened", func(t *testing.T) {
		eventually(t, "crash and OOM events", 30*time.Second, func() bool {
			out, err := cli("events")
			return err == nil && strings.Contains(out, model.EventCommitSeen) && strings.Contains(out, model.EventInstanceOOM) &&
				strings.Contains(out, model.EventInstanceCrashed) && strings.Contains(out, model.EventTaskFailed)
		})
		out, err := cli("events", "LRP/crasher")
		if err != nil || !strings.Contains(out, "LRP/crasher/0 crashed") || strings.Contains(out, "hog") {
			t.Fatalf("events LRP/crasher: %v\n%s", err, out)
		}
	})
	if err := u.stop(t); err != nil {
		t.Fatal(err)
	}
}
