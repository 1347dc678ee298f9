package hubserver_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/store"
	"github.com/cellsync/cellsync/sync/hub"
	"github.com/cellsync/cellsync/sync/hubserver"
)

// TestBadCommitsRemoveNothing commits a run of bad changes to repo-example:
// malformed YAML, a selector that does not type-check, and the deletion of
// every workload. After each, the hub reports the problem with its file and
// line, and every stored assignment is exactly what it was.
func TestBadCommitsRemoveNothing(t *testing.T) {
	repoDir, good := exampleRepo(t)
	srv := runProcess(t, hubserver.Options{Config: exampleConfig(t, repoDir, nil)})
	registerCells(t, srv,
		model.Cell{Name: "a", Zone: "z1", Labels: map[string]string{"env": "prod"}, Capacity: model.Capacity{MemoryMB: 4096, DiskMB: 8192, Containers: 20}},
		model.Cell{Name: "b", Zone: "z2", Capacity: model.Capacity{MemoryMB: 4096, DiskMB: 8192, Containers: 20}})
	ctx := context.Background()
	waitHub := func(what string, cond func(hub.Status) bool) hub.Status {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			st := srv.Hub.Status()
			if cond(st) {
				return st
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s: %+v", what, st)
			}
			<-tick.C
		}
	}
	waitHub("the good commit synced", func(st hub.Status) bool { return st.Commit == good && st.Synced && len(st.Cells) == 2 })
	snapshot := func() map[string]string {
		kvs, _, err := srv.Store().List(ctx, store.DesiredPrefix)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, kv := range kvs {
			out[kv.Key] = string(kv.Value)
		}
		return out
	}
	before := snapshot()
	if len(before) == 0 {
		t.Fatal("nothing assigned by the good commit")
	}

	steps := []struct {
		name   string
		change func()
		want   string // in one of status.Errors
	}{
		{"malformed YAML", func() {
			write(t, repoDir, "apps/web.yaml", "apiVersion: cellsync.io/v1\nkind: LRP\nmetadata: {name: web\nspec: [\n")
		}, "apps/web.yaml:"},
		{"selector that does not type-check", func() {
			edit(t, repoDir, "apps/worker.yaml", "cell.capacity.memoryMB >= 2048", "cell.capacity.memoryMB >= \"lots\"")
		}, "apps/worker.yaml:"},
		{"every workload deleted", func() {
			for _, dir := range []string{"apps", "jobs", "platform"} {
				if err := os.RemoveAll(filepath.Join(repoDir, dir)); err != nil {
					t.Fatal(err)
				}
			}
		}, "held"},
	}
	for _, step := range steps {
		step.change()
		sha := commitAll(t, repoDir, step.name)
		st := waitHub(step.name+" seen", func(st hub.Status) bool { return st.Commit == sha && st.Synced })
		t.Logf("%s: %q", step.name, st.Errors)
		found := false
		for _, e := range st.Errors {
			found = found || strings.Contains(e, step.want)
		}
		if !found {
			t.Errorf("%s: status errors %q lack %q", step.name, st.Errors, step.want)
		}
		after := snapshot()
		for k, v := range before {
			if after[k] != v {
				t.Errorf("%s: %s changed or removed", step.name, k)
			}
		}
		if len(after) != len(before) {
			t.Errorf("%s: %d assignments, want %d", step.name, len(after), len(before))
		}
	}
}

func write(t *testing.T, dir, rel, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, rel), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func edit(t *testing.T, dir, rel, old, new string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, rel))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s lacks %q", rel, old)
	}
	write(t, dir, rel, strings.Replace(string(b), old, new, 1))
}
