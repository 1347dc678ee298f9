package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/store"
	"github.com/cellsync/cellsync/store/storetest"
)

// TestDeposedLeaderCannotWrite: two `cellsync hub` processes on one etcd.
// The leader is frozen (SIGSTOP) in the middle of a 1,000-cell fan-out of
// 20 sets and its leader key deleted, as its lease expiring would (without
// the race of how soon the frozen process hears of it); the standby takes
// over and writes a newer commit that keeps 10 of the sets; the old leader
// resumes, still believing it leads, with writes queued and its model still
// at the old commit (it follows a clone that never gets the new one, so
// that every write of its own is recognisable). A compare-and-swap does not
// stop it re-creating the records of the dropped sets (their keys are
// absent, as it expects); the fence does: every hub write is
// conditioned on the writer's election key, so none of the old leader's
// lands after the takeover, it steps down as "not leading", and the end
// state is exactly the new leader's (issue #14, item 6).
func TestDeposedLeaderCannotWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and fans out to 1,000 cells twice")
	}
	const cells, sets = 1000, 20
	bin := cellsyncBinary(t)
	st, srv := storetest.New(t)
	ctx := context.Background()
	registerCellRecords(t, st, cells, 1)

	repo := t.TempDir()
	r, err := git.PlainInitWithOptions(repo, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: "refs/heads/main"}})
	if err != nil {
		t.Fatal(err)
	}
	commit := func(value string, sets int) string {
		t.Helper()
		var docs []string
		for s := 0; s < sets; s++ {
			docs = append(docs, fmt.Sprintf("apiVersion: cellsync.io/v1\nkind: SelectorSyncSet\nmetadata: {name: s%02d}\nspec:\n  resourceApplyMode: Sync\n  resources:\n  - {kind: Config, metadata: {name: a%02d}, data: {k: %s}}", s, s, value))
		}
		if err := os.WriteFile(filepath.Join(repo, "all.yaml"), []byte(strings.Join(docs, "\n---\n")), 0o644); err != nil {
			t.Fatal(err)
		}
		wt, _ := r.Worktree()
		if _, err := wt.Add("all.yaml"); err != nil {
			t.Fatal(err)
		}
		h, err := wt.Commit(value, &git.CommitOptions{Author: &object.Signature{Name: "t", Email: "t@example", When: time.Now()}})
		if err != nil {
			t.Fatal(err)
		}
		return h.String()
	}
	old := commit("old", sets)
	stale := t.TempDir()
	if _, err := git.PlainClone(stale, false, &git.CloneOptions{URL: repo}); err != nil {
		t.Fatal(err)
	}
	config := func(repo string) string {
		t.Helper()
		conf := filepath.Join(t.TempDir(), "hub.yaml")
		body := fmt.Sprintf("git: {url: %q}\ndataDir: %q\netcd: {endpoints: [%q], maxTxnOps: 1024}\nlisten: {metrics: \"\", webhook: \"\"}\n", repo, t.TempDir(), srv.Endpoints()[0])
		if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return conf
	}
	records := func() map[string]model.Assignment {
		t.Helper()
		kvs, _, err := st.List(ctx, store.DesiredPrefix)
		if err != nil {
			t.Fatal(err)
		}
		out := make(map[string]model.Assignment, len(kvs))
		for _, kv := range kvs {
			var a model.Assignment
			if err := store.Decode(kv, &a); err != nil {
				t.Fatal(err)
			}
			out[kv.Key] = a
		}
		return out
	}
	within := func(limit time.Duration, cond func() bool) bool {
		deadline := time.Now().Add(limit)
		for !cond() {
			if time.Now().After(deadline) {
				return false
			}
			time.Sleep(2 * time.Millisecond)
		}
		return true
	}
	wait := func(what string, limit time.Duration, cond func() bool) {
		t.Helper()
		if !within(limit, cond) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}

	leader := startHubProcess(t, bin, config(stale))
	wait("the leader to start its fan-out", 60*time.Second, func() bool { return len(records()) > 0 })
	if err := leader.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer leader.cmd.Process.Signal(syscall.SIGCONT)
	frozenAt := len(records())
	resp, err := st.Etcd().Get(ctx, store.LeaderKey, clientv3.WithPrefix())
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("leader keys: %v, %v", resp, err)
	}
	if _, err := st.Write(ctx, []store.Op{{Key: string(resp.Kvs[0].Key), Delete: true}}); err != nil {
		t.Fatal(err)
	}
	t.Logf("leader frozen with %d of %d records written; its leader key deleted", frozenAt, cells*sets)

	const kept = sets / 2
	next := commit("new", kept)
	standby := startHubProcess(t, bin, config(repo))
	wait("the new leader to write the new commit everywhere", 90*time.Second, func() bool {
		got := records()
		if len(got) != cells*kept {
			return false
		}
		for _, a := range got {
			if a.Commit != next {
				return false
			}
		}
		return true
	})
	takeover, err := st.Etcd().Get(ctx, store.LeaderKey, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	after := takeover.Header.Revision

	if err := leader.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	// The old leader learns it no longer leads from its first fenced
	// write; its term ends after every write of the term has returned.
	if !within(30*time.Second, func() bool { return strings.Contains(leader.out.String(), "hub term ended") }) {
		t.Errorf("the old leader still believes it leads")
	}

	kvs, _, err := st.List(ctx, store.Root)
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range kvs {
		if kv.ModRevision <= after || !strings.HasPrefix(kv.Key, store.DesiredPrefix) && !strings.HasPrefix(kv.Key, store.StatusPrefix) {
			continue
		}
		if strings.Contains(string(kv.Value), old) {
			t.Errorf("%s written by the deposed leader after the takeover: %s", kv.Key, kv.Value)
		}
	}
	got := records()
	if len(got) != cells*kept {
		t.Errorf("%d records, want %d", len(got), cells*kept)
	}
	for key, a := range got {
		if a.Commit != next || len(a.Items) != 1 {
			t.Errorf("%s = %+v, want the new leader's record", key, a)
			break
		}
	}
	if !strings.Contains(leader.out.String(), "not leading") {
		t.Errorf("the old leader's log does not say why it stepped down:\n%s", leader.out.String())
	}
	_ = standby.cmd.Process.Signal(os.Interrupt)
	<-standby.exited
}
