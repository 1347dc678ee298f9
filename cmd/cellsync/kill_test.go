package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/store"
	"github.com/cellsync/cellsync/store/storetest"
)

// TestHubKilledMidFanOut runs `cellsync hub` as a process against an etcd
// that outlives it, kills it with SIGKILL while it fans a commit out to
// 1,000 cells, and starts it again: the end state is exactly the desired
// state, the Task's record was created once, and one cell holds it.
func TestHubKilledMidFanOut(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and fans out to 1,000 cells")
	}
	const cells, sets, instances = 1000, 20, 50
	bin := cellsyncBinary(t)
	st, srv := storetest.New(t)
	ctx := context.Background()
	registerCellRecords(t, st, cells, 3)

	repo := t.TempDir()
	r, err := git.PlainInitWithOptions(repo, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: "refs/heads/main"}})
	if err != nil {
		t.Fatal(err)
	}
	var docs []string
	for s := 0; s < sets; s++ {
		docs = append(docs, fmt.Sprintf("apiVersion: cellsync.io/v1\nkind: SelectorSyncSet\nmetadata: {name: s%02d}\nspec:\n  resources:\n  - {kind: Config, metadata: {name: a%02d}, data: {k: v}}\n  - {kind: Config, metadata: {name: b%02d}, data: {k: v}}", s, s, s))
	}
	docs = append(docs, fmt.Sprintf("apiVersion: cellsync.io/v1\nkind: LRP\nmetadata: {name: web}\nspec: {image: busybox, instances: %d, resources: {memoryMB: 64, diskMB: 64}}", instances),
		"apiVersion: cellsync.io/v1\nkind: Task\nmetadata: {name: migrate}\nspec: {image: busybox}")
	if err := os.WriteFile(filepath.Join(repo, "all.yaml"), []byte(strings.Join(docs, "\n---\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	wt, _ := r.Worktree()
	if _, err := wt.Add("all.yaml"); err != nil {
		t.Fatal(err)
	}
	if _, err := wt.Commit("workloads", &git.CommitOptions{Author: &object.Signature{Name: "t", Email: "t@example", When: time.Now()}}); err != nil {
		t.Fatal(err)
	}

	conf := filepath.Join(t.TempDir(), "hub.yaml")
	body := fmt.Sprintf("git: {url: %q}\ndataDir: %q\netcd: {endpoints: [%q]}\nlisten: {metrics: \"\", webhook: \"\"}\n", repo, t.TempDir(), srv.Endpoints()[0])
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	start := func() (*exec.Cmd, chan error) {
		p := startHubProcess(t, bin, conf)
		return p.cmd, p.exited
	}
	count := func() int64 {
		resp, err := st.Etcd().Get(ctx, store.DesiredPrefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			t.Fatal(err)
		}
		return resp.Count
	}
	want := int64(cells*sets + instances + 1) // web spreads one instance per cell; one task
	first, exited := start()
	deadline := time.Now().Add(60 * time.Second)
	tick := time.NewTicker(2 * time.Millisecond)
	for n := count(); n == 0; n = count() {
		if time.Now().After(deadline) {
			t.Fatal("the hub wrote nothing")
		}
		<-tick.C
	}
	tick.Stop()
	if err := first.Process.Kill(); err != nil { // SIGKILL: no cleanup at all
		t.Fatal(err)
	}
	<-exited
	killedAt := count()
	t.Logf("killed with %d of %d assignments stored", killedAt, want)

	second, exited2 := start()
	deadline = time.Now().Add(90 * time.Second)
	poll := time.NewTicker(50 * time.Millisecond)
	defer poll.Stop()
	for count() != want {
		if time.Now().After(deadline) {
			t.Fatalf("after the restart %d of %d assignments stored", count(), want)
		}
		<-poll.C
	}

	// Exactly the desired state: every cell has every set; each web index
	// is on one cell; one task record, created once, held by one cell.
	kvs, _, err := st.List(ctx, store.DesiredPrefix)
	if err != nil {
		t.Fatal(err)
	}
	setsOn := map[string]int{}
	indexes := map[int32]int{}
	var taskHolders []string
	for _, kv := range kvs {
		cell, src, _ := store.SplitCellKey(store.DesiredPrefix, kv.Key)
		var a model.Assignment
		if err := store.Decode(kv, &a); err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.HasPrefix(src, "SelectorSyncSet/"):
			setsOn[cell]++
		case src == "LRP/web":
			for _, it := range a.Items {
				for _, i := range it.Indexes {
					indexes[i]++
				}
			}
		case src == "Task/migrate":
			taskHolders = append(taskHolders, cell)
		}
	}
	for i := 0; i < cells; i++ {
		if n := setsOn[fmt.Sprintf("c%04d", i)]; n != sets {
			t.Fatalf("c%04d has %d sets, want %d", i, n, sets)
		}
	}
	for i := int32(0); i < instances; i++ {
		if indexes[i] != 1 {
			t.Errorf("web index %d placed %d times", i, indexes[i])
		}
	}
	rec, kv, ok, err := store.GetJSON[model.TaskRecord](ctx, st, store.TaskKey("migrate"))
	if err != nil || !ok {
		t.Fatalf("task record: %v %v", ok, err)
	}
	resp, err := st.Etcd().Get(ctx, store.TaskKey("migrate"))
	if err != nil {
		t.Fatal(err)
	}
	if created := resp.Kvs[0].CreateRevision; created != kv.ModRevision {
		t.Errorf("task record rewritten after its creation (created %d, modified %d)", created, kv.ModRevision)
	}
	if len(taskHolders) != 1 || taskHolders[0] != rec.Cell {
		t.Errorf("task assigned to %v, its record says %s", taskHolders, rec.Cell)
	}
	_ = second.Process.Signal(os.Interrupt)
	<-exited2
}
