package hubserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/cellsync/cellsync/config"
	"github.com/cellsync/cellsync/events"
	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/ops"
	"github.com/cellsync/cellsync/store"
	"github.com/cellsync/cellsync/sync/hub"
	"github.com/cellsync/cellsync/sync/hubserver"
)

func commitAll(t *testing.T, dir, msg string) string {
	t.Helper()
	repo, err := git.PlainOpen(dir)
	if err != nil {
		t.Fatal(err)
	}
	wt, _ := repo.Worktree()
	if err := wt.AddGlob("."); err != nil {
		t.Fatal(err)
	}
	h, err := wt.Commit(msg, &git.CommitOptions{All: true, Author: &object.Signature{Name: "t", Email: "t@example", When: time.Now()}})
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

// exampleRepo makes a Git repository holding repo-example, as `cellsync up`
// does, and returns its directory and first commit.
func exampleRepo(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	if _, err := ops.SeedRepo(dir, "../../repo-example"); err != nil {
		t.Fatal(err)
	}
	repo, err := git.PlainOpen(dir)
	if err != nil {
		t.Fatal(err)
	}
	head, err := repo.Head()
	if err != nil {
		t.Fatal(err)
	}
	return dir, head.Hash().String()
}

// exampleConfig is a valid hub config on repoDir with its own data dir and
// no listeners; tweak, if set, changes it before validation.
func exampleConfig(t *testing.T, repoDir string, tweak func(*config.Hub)) config.Hub {
	t.Helper()
	cfg := config.Default()
	cfg.Git.URL = repoDir
	cfg.DataDir = t.TempDir()
	cfg.Listen = config.Listen{}
	if tweak != nil {
		tweak(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// runProcess starts and runs a hub process until the test ends.
func runProcess(t *testing.T, opts hubserver.Options) *hubserver.Server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := hubserver.Start(ctx, opts)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	return srv
}

// registerCells writes cell records as cell agents would.
func registerCells(t *testing.T, srv *hubserver.Server, cells ...model.Cell) {
	t.Helper()
	var ops []store.Op
	for _, c := range cells {
		v, _ := store.Encode(c)
		ops = append(ops, store.Op{Key: store.CellKey(c.Name), Value: v})
	}
	if _, err := srv.Store().Write(context.Background(), ops); err != nil {
		t.Fatal(err)
	}
}

func TestHubProcessEndToEnd(t *testing.T) {
	repoDir, first := exampleRepo(t)
	cfg := exampleConfig(t, repoDir, func(c *config.Hub) { c.Listen.Metrics = "127.0.0.1:0" })
	cfgPath := filepath.Join(t.TempDir(), "hub.yaml")
	writeConfig := func(workers string) {
		t.Helper()
		body := fmt.Sprintf("git: {url: %q}\ndataDir: %q\nlisten: {metrics: \"127.0.0.1:0\", webhook: \"\"}\nworkers: %s\n", repoDir, cfg.DataDir, workers)
		if err := os.WriteFile(cfgPath, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeConfig("{fanout: 8, apply: 32, convergence: 2}")
	srv := runProcess(t, hubserver.Options{Config: cfg, ConfigPath: cfgPath})
	var cells []model.Cell
	for i, zone := range []string{"z1", "z2", "z1"} {
		cells = append(cells, model.Cell{Name: fmt.Sprintf("cell-%d", i), Zone: zone, Labels: map[string]string{"env": "prod"},
			Capacity: model.Capacity{MemoryMB: 4096, DiskMB: 8192, Containers: 20}})
	}
	registerCells(t, srv, cells...)

	status := func() hub.Status {
		resp, err := http.Get("http://" + srv.MetricsAddr() + "/status")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var st hub.Status
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	waitFor := func(what string, cond func(hub.Status) bool) hub.Status {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		var st hub.Status
		for time.Now().Before(deadline) {
			if st = status(); cond(st) {
				return st
			}
			<-tick.C
		}
		t.Fatalf("timed out waiting for %s: %+v", what, st)
		return st
	}
	st := waitFor("first commit synced", func(st hub.Status) bool {
		return st.Commit == first && st.Synced && len(st.Cells) == 3 && len(st.Workloads) == 6
	})
	byID := map[string]hub.WorkloadStatus{}
	for _, w := range st.Workloads {
		byID[w.ID] = w
	}
	if w := byID["LRP/web"]; w.Desired != 4 || w.Placed != 4 {
		t.Errorf("web = %+v, want 4 desired and placed", w)
	}
	if w := byID["SelectorSyncSet/node-agent"]; w.Cells != 3 {
		t.Errorf("node-agent on %d cells, want all 3", w.Cells)
	}
	if w := byID["Task/migrate-db"]; w.Task != model.TaskPending {
		t.Errorf("migrate-db = %+v, want a PENDING task", w)
	}

	// A new commit in the local repository is picked up (fsnotify) and
	// rolled out: scale web to 2.
	web := filepath.Join(repoDir, "apps", "web.yaml")
	b, _ := os.ReadFile(web)
	if err := os.WriteFile(web, []byte(strings.Replace(string(b), "instances: 4", "instances: 2", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	second := commitAll(t, repoDir, "scale web")
	waitFor("scale-down rolled out", func(st hub.Status) bool {
		for _, w := range st.Workloads {
			if w.ID == "LRP/web" {
				return st.Commit == second && st.Synced && w.Placed == 2
			}
		}
		return false
	})

	// The hub's event log, on its HTTP API, tells of both commits.
	evDeadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + srv.MetricsAddr() + events.Path + "?since=1h")
		if err != nil {
			t.Fatal(err)
		}
		var evs []model.Event
		err = json.NewDecoder(resp.Body).Decode(&evs)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, e := range evs {
			if e.Type == model.EventCommitSeen && e.Source == "hub" {
				seen[e.Commit] = true
			}
		}
		if seen[first] && seen[second] {
			break
		}
		if time.Now().After(evDeadline) {
			t.Fatalf("GET /events lacks CommitSeen for %s and %s: %+v", first, second, evs)
		}
		<-time.After(20 * time.Millisecond)
	}

	// Editing the config file resizes the worker pools without a restart.
	writeConfig("{fanout: 3, apply: 5, convergence: 1}")
	deadline := time.Now().Add(10 * time.Second)
	for srv.Hub.Workers() != (hub.Workers{Fanout: 3, Apply: 5, Convergence: 1}) {
		if time.Now().After(deadline) {
			t.Fatalf("workers = %+v after editing the config file", srv.Hub.Workers())
		}
		<-time.After(20 * time.Millisecond)
	}

	resp, err := http.Get("http://" + srv.MetricsAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body := new(strings.Builder)
	_, _ = fmt.Fprint(body, mustRead(t, resp))
	for _, m := range []string{"cellsync_workqueue_depth", "cellsync_etcd_writes_total", "cellsync_git_workloads"} {
		if !strings.Contains(body.String(), m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
}

func mustRead(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}
