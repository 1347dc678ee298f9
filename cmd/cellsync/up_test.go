package main

import (
	"bytes"
	"context"
	"fmt"
	"github.com/cellsync/cellsync/cell/runtime/containerd/ctrdtest"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/cellsync/cellsync/ops"
	"github.com/cellsync/cellsync/sync/hub"
)

// syncBuffer is a bytes.Buffer safe for a command writing while the test
// reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// upRun is a `cellsync up` running in this process.
type upRun struct {
	dataDir string
	target  ops.Target
	out     *syncBuffer
	cancel  context.CancelFunc
	done    chan struct{} // closed when up has returned err
	err     error
}

// stop ends the run as Ctrl-C does and returns its error.
func (u *upRun) stop(t *testing.T) error {
	t.Helper()
	u.cancel()
	select {
	case <-u.done:
		return u.err
	case <-time.After(60 * time.Second):
		t.Fatalf("up did not stop:\n%s", u.out.String())
		return nil
	}
}

// startUp runs `cellsync up` with args on dataDir (a new temp dir if
// empty) and waits until it has recorded its endpoints.
func startUp(t *testing.T, dataDir string, args ...string) *upRun {
	t.Helper()
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	ctx, cancel := context.WithCancel(context.Background())
	u := &upRun{dataDir: dataDir, out: &syncBuffer{}, cancel: cancel, done: make(chan struct{})}
	root := newRoot()
	root.SetOut(u.out)
	root.SetErr(u.out)
	root.SetArgs(append([]string{"up", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--router", "127.0.0.1:0", "--refresh", "50ms"}, args...))
	go func() {
		u.err = root.ExecuteContext(ctx)
		close(u.done)
	}()
	t.Cleanup(func() {
		cancel()
		<-u.done
	})
	eventually(t, "up records its endpoints", 30*time.Second, func() bool {
		select {
		case <-u.done:
			t.Fatalf("up exited: %v\n%s", u.err, u.out.String())
		default:
		}
		tg, ok, err := ops.ReadUpFile(dataDir)
		u.target = tg
		return err == nil && ok
	})
	return u
}

// eventually polls cond until it holds or the limit passes.
func eventually(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting until %s", limit, what)
		}
		<-tick.C
	}
}

// waitStatus polls the hub until cond holds and returns that status.
func waitStatus(t *testing.T, target ops.Target, what string, cond func(hub.Status) bool) hub.Status {
	t.Helper()
	var st hub.Status
	eventually(t, what, 30*time.Second, func() bool {
		var err error
		st, err = ops.FetchStatus(context.Background(), target)
		return err == nil && cond(st)
	})
	return st
}

func workload(st hub.Status, id string) hub.WorkloadStatus {
	for _, w := range st.Workloads {
		if w.ID == id {
			return w
		}
	}
	return hub.WorkloadStatus{}
}

// rolledOut holds once repo-example runs everywhere: on all three cells of
// `up`, each having applied the hub's last write (a cell registering late
// would otherwise be missed).
func rolledOut(st hub.Status) bool {
	if len(st.Cells) != 3 {
		return false
	}
	for _, c := range st.Cells {
		if !c.Applied {
			return false
		}
	}
	web, worker := workload(st, "LRP/web"), workload(st, "LRP/worker")
	return st.Synced && web.Running == 4 && worker.Running == 2 && workload(st, "Task/migrate-db").Task == "COMPLETED"
}

// commitChange edits a file of a Git work tree and commits it.
func commitChange(t *testing.T, repoDir, file, old, new string) string {
	t.Helper()
	p := filepath.Join(repoDir, file)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s lacks %q", file, old)
	}
	if err := os.WriteFile(p, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	repo, err := git.PlainOpen(repoDir)
	if err != nil {
		t.Fatal(err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	h, err := wt.Commit("edit "+file, &git.CommitOptions{All: true, Author: &object.Signature{Name: "t", Email: "t@example", When: time.Now()}})
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

func TestUpSim(t *testing.T) {
	dataDir := t.TempDir()
	u := startUp(t, dataDir, "--runtime", "sim")
	st := waitStatus(t, u.target, "repo-example rolled out", rolledOut)
	if len(st.Cells) != 3 {
		t.Errorf("%d cells, want 3", len(st.Cells))
	}
	eventually(t, "the progress line shows it", 10*time.Second, func() bool {
		return strings.Contains(u.out.String(), "running 9  crashed 0  cells 3/3 current  synced")
	})

	// A commit to the created repository rolls out.
	commit := commitChange(t, filepath.Join(dataDir, "repo"), "apps/web.yaml", "instances: 4", "instances: 2")
	waitStatus(t, u.target, "web scaled to 2", func(st hub.Status) bool {
		return st.Commit == commit && st.Synced && workload(st, "LRP/web").Placed == 2
	})
	if err := u.stop(t); err != nil {
		t.Fatalf("up: %v\n%s", err, u.out.String())
	}
	out := u.out.String()
	for _, want := range []string{
		"repository: created " + filepath.Join(dataDir, "repo") + " from ",
		"runtime: simulated (--runtime sim)",
		"hub: status http://127.0.0.1:",
		"stopping: cells stop their containers, then the hub\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !strings.HasSuffix(out, "stopped\n") {
		t.Errorf("output does not end with stopped:\n%s", out)
	}
	if _, ok, _ := ops.ReadUpFile(dataDir); ok {
		t.Error("the endpoints file outlives up")
	}

	// The next run reuses the repository, with its commit.
	u = startUp(t, dataDir, "--runtime", "sim", "--cells", "1")
	waitStatus(t, u.target, "the second run resumes at the last commit", func(st hub.Status) bool {
		return st.Commit == commit && len(st.Cells) == 1
	})
	if err := u.stop(t); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(u.out.String(), "repository: reusing "+filepath.Join(dataDir, "repo")) {
		t.Errorf("second run output:\n%s", u.out.String())
	}
}

func TestUpFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "bad runtime", args: []string{"--runtime", "docker"}, wantErr: `--runtime "docker": use containerd or sim`},
		{name: "no containerd", args: []string{"--runtime", "containerd", "--containerd-socket", "/nonexistent.sock"}, wantErr: "use --runtime sim"},
		{name: "no cells", args: []string{"--cells", "-1"}, wantErr: "need at least one cell"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := run(t, append([]string{"up", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--router", "127.0.0.1:0"}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q\n%s", err, tt.wantErr, out)
			}
		})
	}
}

// TestUpEndToEnd builds the binary, runs `cellsync up` as a subprocess,
// commits a change to its repository and sees it in `cellsync status`.
func TestUpEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := cellsyncBinary(t)
	dataDir := t.TempDir()
	up := exec.Command(bin, "up", "--runtime", "sim", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--router", "127.0.0.1:0")
	var upOut syncBuffer
	up.Stdout, up.Stderr = &upOut, &upOut
	up.Dir = "../.." // where repo-example is
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- up.Wait() }()
	defer func() {
		if up.ProcessState == nil {
			_ = up.Process.Kill()
			<-exited
		}
	}()
	status := func() (string, error) {
		c := exec.Command(bin, "status", "--data-dir", dataDir)
		out, err := c.CombinedOutput()
		return string(out), err
	}
	var out string
	eventually(t, "`cellsync status` shows repo-example running", 60*time.Second, func() bool {
		var err error
		out, err = status()
		return err == nil && strings.Contains(out, ", synced") && fieldsOf(out, "LRP/web") == "3 4 4 4 0 - 0 ready"
	})
	commit := commitChange(t, filepath.Join(dataDir, "repo"), "apps/web.yaml", "instances: 4", "instances: 3")
	eventually(t, "`cellsync status` shows the new commit rolled out", 30*time.Second, func() bool {
		var err error
		out, err = status()
		return err == nil && strings.Contains(out, "commit "+commit[:7]+", synced") && strings.HasPrefix(fieldsOf(out, "LRP/web"), "3 3 3 3 0")
	})
	if err := up.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("up exited with %v:\n%s", err, upOut.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("up did not stop on SIGINT:\n%s", upOut.String())
	}
	if !strings.HasSuffix(upOut.String(), "stopped\n") {
		t.Errorf("up output does not end with stopped:\n%s", upOut.String())
	}
	if _, err := status(); err == nil {
		t.Error("status succeeds after up stopped")
	}
}

// fieldsOf returns the fields after the first one of the table row whose
// first field is key, joined by spaces, or "".
func fieldsOf(table, key string) string {
	for _, line := range strings.Split(table, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == key {
			return strings.Join(f[1:], " ")
		}
	}
	return ""
}

// TestUpContainerd runs `up --runtime containerd` on repo-example against a
// private containerd and sees its LRPs RUNNING. It needs root, containerd,
// runc and busybox-static; without them it skips, unless
// CELLSYNC_REQUIRE_CONTAINERD=1 makes it fail.
func TestUpContainerd(t *testing.T) {
	sock := startContainerd(t)
	n, err := ctrdtest.ReserveNet()
	if err != nil {
		t.Fatal(err)
	}
	defer n.Release(nil) // up removes its bridges itself
	prefix := n.Bridge.Name + "-"
	u := startUp(t, "", "--runtime", "containerd", "--containerd-socket", sock, "--cells", "2",
		"--bridge-prefix", prefix, "--bridge-subnet", n.Bridge.Subnet.String(),
		"--port-range", fmt.Sprintf("%d-%d", n.FirstPort, n.LastPort))
	// web's four instances each serve port 8080 in their own network
	// namespace on their cell's bridge and pass an HTTP health check.
	// Real containers with CNI on a loaded machine: a longer wait than
	// waitStatus's, and the state it stopped at when it fails.
	var st hub.Status
	deadline := time.Now().Add(120 * time.Second)
	for {
		var err error
		st, err = ops.FetchStatus(context.Background(), u.target)
		if err == nil && workload(st, "LRP/worker").Running == 2 && workload(st, "SelectorSyncSet/node-agent").Running == 2 &&
			workload(st, "LRP/web").Running == 4 && workload(st, "Task/migrate-db").Task == "COMPLETED" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("repo-example not RUNNING in containerd after 120 s: %+v %+v %+v %+v (err %v)\n%s", workload(st, "LRP/web"), workload(st, "LRP/worker"),
				workload(st, "SelectorSyncSet/node-agent"), workload(st, "Task/migrate-db"), err, u.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The README's last step: curl through the router.
	m := regexp.MustCompile(`router: (http://127\.0\.0\.1:\d+) `).FindStringSubmatch(u.out.String())
	if m == nil {
		t.Fatalf("up did not print the router's address:\n%s", u.out.String())
	}
	deadline = time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, m[1]+"/", nil)
		req.Host = "web.apps.internal"
		body := ""
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
		}
		if err == nil && resp.StatusCode == 200 && body == "<h1>served by cellsync</h1>" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("curl -H 'Host: web.apps.internal' %s/: %v %q", m[1], err, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	out, err := run(t, "cells", "--etcd-endpoints", strings.Join(u.target.Etcd, ","))
	if err != nil || !strings.Contains(out, "containerd") && !strings.Contains(out, "ok") {
		t.Errorf("cells: %v\n%s", err, out)
	}
	if err := u.stop(t); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"runtime: containerd at " + sock, "image: imported " + ops.BusyboxImage} {
		if !strings.Contains(u.out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, u.out.String())
		}
	}
	for _, i := range []string{"1", "2"} {
		if _, err := net.InterfaceByName(prefix + i); err == nil {
			t.Errorf("bridge %s%s left behind", prefix, i)
		}
	}
}

// startContainerd runs a private containerd for one test and returns its
// socket; it skips the test when that cannot be done, unless
// CELLSYNC_REQUIRE_CONTAINERD=1.
func startContainerd(t *testing.T) string {
	t.Helper()
	if reason := ctrdtest.Missing(); reason != "" {
		if ctrdtest.Required() {
			t.Fatalf("%s=1 but %s", ctrdtest.RequireEnv, reason)
		}
		t.Skip(reason)
	}
	d, err := ctrdtest.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)
	return d.Socket
}
