package gitsource

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cellsync/cellsync/model"
)

// newSource returns a Source following r's main branch through a file://
// URL, with a private registry.
func newSource(t *testing.T, r *testRepo, edit func(*Config)) (*Source, *prometheus.Registry) {
	t.Helper()
	cfg := Config{URL: "file://" + r.dir, DataDir: t.TempDir()}
	if edit != nil {
		edit(&cfg)
	}
	reg := prometheus.NewRegistry()
	s, err := New(cfg, Deps{Logger: testLogger(t), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	return s, reg
}

func mustSync(t *testing.T, s *Source) *Snapshot {
	t.Helper()
	snap, err := s.Sync(context.Background())
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if snap == nil {
		t.Fatal("Sync: no new snapshot")
	}
	return snap
}

// fourApps is a repository of four LRPs in four files.
func fourApps() map[string]string {
	return map[string]string{
		"apps/a.yaml": lrp("a", "a:1"),
		"apps/b.yaml": lrp("b", "b:1"),
		"apps/c.yaml": lrp("c", "c:1"),
		"apps/d.yaml": lrp("d", "d:1"),
	}
}

func TestFirstCloneAndNewCommit(t *testing.T) {
	r := newTestRepo(t, true)
	first := r.commit(fourApps())
	s, reg := newSource(t, r, nil)

	snap := mustSync(t, s)
	if snap.Commit != first.String() || snap.Parsed != 4 || len(snap.FileErrors) != 0 {
		t.Fatalf("first snapshot: commit %s parsed %d errors %v", snap.Commit, snap.Parsed, snap.FileErrors)
	}
	if got, want := keys(snap), []string{"LRP/a", "LRP/b", "LRP/c", "LRP/d"}; !slices.Equal(got, want) {
		t.Fatalf("objects %v, want %v", got, want)
	}
	if again, err := s.Sync(context.Background()); err != nil || again != nil {
		t.Fatalf("Sync without a new commit = %v, %v; want nil, nil", again, err)
	}

	second := r.commit(map[string]string{"apps/b.yaml": lrp("b", "b:2"), "README.md": "docs"})
	snap = mustSync(t, s)
	if snap.Commit != second.String() || snap.Parsed != 1 || snap.ForcePush {
		t.Fatalf("second snapshot: commit %s parsed %d forcePush %v; want %s, 1, false", snap.Commit, snap.Parsed, snap.ForcePush, second)
	}
	if got := imageOf(snap, "LRP/b"); got != "b:2" {
		t.Errorf("LRP/b image %q, want b:2", got)
	}
	if got := imageOf(snap, "LRP/a"); got != "a:1" {
		t.Errorf("LRP/a image %q, want a:1", got)
	}
	if got := testutil.ToFloat64(s.metrics.workloads.WithLabelValues("LRP")); got != 4 {
		t.Errorf("workloads{kind=LRP} = %v, want 4", got)
	}
	if got := testutil.ToFloat64(s.metrics.commitTime); got != float64(snap.Time.Unix()) {
		t.Errorf("commit timestamp metric %v, want %v", got, snap.Time.Unix())
	}
	if n, err := testutil.GatherAndCount(reg, "cellsync_git_fetch_duration_seconds"); err != nil || n != 1 {
		t.Errorf("fetch duration histogram: %d series, %v", n, err)
	}
	if st := s.Status(); st.Commit != second.String() || st.Err != nil {
		t.Errorf("status %+v", st)
	}
}

func TestLastGoodState(t *testing.T) {
	r := newTestRepo(t, true)
	files := fourApps()
	files["apps/multi.yaml"] = lrp("m1", "m:1") + "---\n" + lrp("m2", "m:1")
	files["conf/shared.yaml"] = configDoc("shared")
	r.commit(files)
	s, reg := newSource(t, r, nil)
	mustSync(t, s)

	type step struct {
		name    string
		changes map[string]string
		// want maps key to image ("" for a present non-LRP, "-" for absent).
		want map[string]string
		// wantErrs maps file to the substring its first error must hold.
		wantErrs map[string]string
	}
	steps := []step{
		{
			name:     "bad file keeps its last good version",
			changes:  map[string]string{"apps/a.yaml": lrp("a", "a:2") + "  bogus: 1\n"},
			want:     map[string]string{"LRP/a": "a:1"},
			wantErrs: map[string]string{"apps/a.yaml": "spec.bogus: unknown field"},
		},
		{
			name:     "syntax error keeps every workload of the file",
			changes:  map[string]string{"apps/a.yaml": "kind: [\n"},
			want:     map[string]string{"LRP/a": "a:1"},
			wantErrs: map[string]string{"apps/a.yaml": "invalid YAML"},
		},
		{
			name:    "fixed file is applied",
			changes: map[string]string{"apps/a.yaml": lrp("a", "a:3")},
			want:    map[string]string{"LRP/a": "a:3"},
		},
		{
			name:     "valid documents of a broken file apply, broken ones keep their last good",
			changes:  map[string]string{"apps/multi.yaml": lrp("m1", "m:2") + "---\n" + lrp("m2", "m:2") + "  instances: -1\n"},
			want:     map[string]string{"LRP/m1": "m:2", "LRP/m2": "m:1"},
			wantErrs: map[string]string{"apps/multi.yaml": "document 2"},
		},
		{
			name:     "reference to a missing Config holds the file back",
			changes:  map[string]string{"apps/multi.yaml": "", "apps/b.yaml": lrpUsing("b", "later")},
			want:     map[string]string{"LRP/b": "b:1", "LRP/m1": "-", "LRP/m2": "-"},
			wantErrs: map[string]string{"apps/b.yaml": `Config "later" is not defined`},
		},
		{
			name:    "the Config arriving in another file releases it",
			changes: map[string]string{"conf/later.yaml": configDoc("later")},
			want:    map[string]string{"LRP/b": "img:1", "Config/later": ""},
		},
		{
			name:     "a duplicate name is blamed on the new file",
			changes:  map[string]string{"apps/a2.yaml": lrp("a", "impostor:1")},
			want:     map[string]string{"LRP/a": "a:3"},
			wantErrs: map[string]string{"apps/a2.yaml": "already defined at apps/a.yaml"},
		},
		{
			name:    "deleted file deletes its workloads",
			changes: map[string]string{"apps/a2.yaml": "", "apps/c.yaml": ""},
			want:    map[string]string{"LRP/c": "-", "LRP/a": "a:3"},
		},
		{
			name:     "a file over the size limit keeps its last good version",
			changes:  map[string]string{"apps/d.yaml": lrp("d", "d:2") + "# " + strings.Repeat("x", 1<<20) + "\n"},
			want:     map[string]string{"LRP/d": "d:1"},
			wantErrs: map[string]string{"apps/d.yaml": "byte limit"},
		},
		{
			// 7 KB whose aliases stand for 1,000,000 nodes (issue 15):
			// an error at its line, not a hub out of memory.
			name: "a file whose aliases expand past the node budget keeps its last good version",
			changes: map[string]string{"apps/d.yaml": "apiVersion: cellsync.io/v1\nkind: SelectorSyncSet\nmetadata: {name: d}\nspec:\n  resources:\n" +
				"  - &r {kind: LRP, metadata: {name: d}, spec: {image: x, command: [" + strings.Repeat("a,", 999) + "a]}}\n" +
				strings.Repeat("  - *r\n", 999)},
			want:     map[string]string{"LRP/d": "d:1", "SelectorSyncSet/d": "-"},
			wantErrs: map[string]string{"apps/d.yaml": "the file decodes to more than 200000 YAML nodes"},
		},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			commit := r.commit(st.changes)
			snap := mustSync(t, s)
			for key, img := range st.want {
				o, ok := snap.Objects[key]
				switch {
				case img == "-" && ok:
					t.Errorf("%s present, want deleted", key)
				case img != "-" && !ok:
					t.Errorf("%s missing", key)
				case img != "-" && img != "" && imageOf(snap, key) != img:
					t.Errorf("%s image %q, want %q", key, imageOf(snap, key), img)
				}
				_ = o
			}
			for file, want := range st.wantErrs {
				errs := snap.FileErrors[file]
				if len(errs) == 0 || !strings.Contains(errs[0].Error(), want) {
					t.Errorf("errors of %s at %s = %v, want one containing %q", file, short(commit.String()), errs, want)
				}
			}
			for file, errs := range snap.FileErrors {
				if _, expected := st.wantErrs[file]; !expected {
					t.Errorf("unexpected errors in %s: %v", file, errs)
				}
			}
			if snap.Commit != commit.String() {
				t.Errorf("snapshot commit %s, want %s", snap.Commit, commit)
			}
			if got, want := testutil.ToFloat64(s.metrics.parseErrors), float64(snap.ErrorCount()); got != want {
				t.Errorf("parse errors metric %v, want %v", got, want)
			}
		})
	}
	_ = reg
	var me *model.Error
	if errs := s.Latest().FileErrors["apps/d.yaml"]; len(errs) == 0 || !errors.As(errs[0], &me) || me.File != "apps/d.yaml" {
		t.Errorf("file error %v does not name its file", errs)
	}
}

func TestMassDeletionGuard(t *testing.T) {
	tests := []struct {
		name    string
		confirm func(t *testing.T, r *testRepo, s *Source, held *Held)
	}{
		{name: "annotation in a later commit", confirm: func(t *testing.T, r *testRepo, s *Source, held *Held) {
			r.commit(map[string]string{"apps/a.yaml": "apiVersion: cellsync.io/v1\nkind: LRP\nmetadata:\n  name: a\n  annotations: {cellsync.io/allow-mass-delete: \"true\"}\nspec: {image: a:1}\n"})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newTestRepo(t, true)
			r.commit(fourApps())
			s, _ := newSource(t, r, nil)
			mustSync(t, s)

			// Two of four is exactly the limit: allowed.
			r.commit(map[string]string{"apps/d.yaml": ""})
			if snap := mustSync(t, s); snap.Held != nil || len(snap.Objects) != 3 {
				t.Fatalf("deleting 1 of 4: held %v, %d objects", snap.Held, len(snap.Objects))
			}
			// Two of three is over it: held.
			commit := r.commit(map[string]string{"apps/b.yaml": "", "apps/c.yaml": ""})
			snap := mustSync(t, s)
			if snap.Held == nil || !slices.Equal(snap.Held.Keys, []string{"LRP/b", "LRP/c"}) || snap.Held.Commit != commit.String() {
				t.Fatalf("held %+v, want LRP/b and LRP/c at %s", snap.Held, commit)
			}
			if len(snap.Objects) != 3 {
				t.Fatalf("held snapshot has %v, want the three workloads", keys(snap))
			}
			if got := testutil.ToFloat64(s.metrics.heldDeletions); got != 2 {
				t.Errorf("held metric %v, want 2", got)
			}
			// An unrelated commit does not release the hold.
			r.commit(map[string]string{"README.md": "x"})
			if snap := mustSync(t, s); snap.Held == nil || len(snap.Objects) != 3 {
				t.Fatalf("after an unrelated commit: held %v, objects %v", snap.Held, keys(snap))
			}
			tt.confirm(t, r, s, s.Latest().Held)
			snap = mustSync(t, s)
			if snap.Held != nil || !slices.Equal(keys(snap), []string{"LRP/a"}) {
				t.Fatalf("after confirmation: held %v, objects %v; want only LRP/a", snap.Held, keys(snap))
			}
		})
	}
}

func TestForcePush(t *testing.T) {
	r := newTestRepo(t, true)
	base := r.commit(fourApps())
	r.commit(map[string]string{"apps/a.yaml": lrp("a", "a:2")})
	r.commit(map[string]string{"apps/e.yaml": lrp("e", "e:1")})
	s, _ := newSource(t, r, nil)
	if snap := mustSync(t, s); imageOf(snap, "LRP/a") != "a:2" || snap.Objects["LRP/e"] == nil {
		t.Fatalf("before the rewrite: %v", keys(snap))
	}
	files := fourApps()
	files["apps/b.yaml"] = lrp("b", "b:9")
	rewritten := r.rewrite(base, files)
	snap := mustSync(t, s)
	if !snap.ForcePush || snap.Commit != rewritten.String() {
		t.Fatalf("forcePush %v commit %s, want true and %s", snap.ForcePush, snap.Commit, rewritten)
	}
	if imageOf(snap, "LRP/a") != "a:1" || imageOf(snap, "LRP/b") != "b:9" || snap.Objects["LRP/e"] != nil {
		t.Fatalf("after the rewrite: a=%s b=%s e=%v", imageOf(snap, "LRP/a"), imageOf(snap, "LRP/b"), snap.Objects["LRP/e"])
	}
	r.commit(map[string]string{"apps/c.yaml": lrp("c", "c:2")})
	if snap := mustSync(t, s); snap.ForcePush {
		t.Error("a fast-forward after the rewrite is reported as a force push")
	}
}

func TestPathRestriction(t *testing.T) {
	r := newTestRepo(t, true)
	r.commit(map[string]string{"cells/web.yaml": lrp("web", "w:1"), "other/x.yaml": lrp("x", "x:1"), "web.yaml": "not: [valid"})
	s, _ := newSource(t, r, func(c *Config) { c.Path = "/cells/" })
	snap := mustSync(t, s)
	if got := keys(snap); !slices.Equal(got, []string{"LRP/web"}) || len(snap.FileErrors) != 0 {
		t.Fatalf("objects %v errors %v, want only LRP/web", got, snap.FileErrors)
	}
	if _, ok := snap.Objects["LRP/web"].(*model.LRP); !ok || snap.Objects["LRP/web"].Head().Source.File != "web.yaml" {
		t.Errorf("source file %q, want web.yaml relative to the path", snap.Objects["LRP/web"].Head().Source.File)
	}
	r.commit(map[string]string{"cells/web.yaml": ""})
	_, err := s.Sync(context.Background())
	if !errors.Is(err, ErrPathNotFound) {
		t.Fatalf("Sync with the path gone: %v, want ErrPathNotFound", err)
	}
	if s.Latest() != snap {
		t.Error("the last good snapshot was replaced")
	}
}

func TestFetchErrors(t *testing.T) {
	r := newTestRepo(t, true)
	r.commit(fourApps())
	tests := []struct {
		name     string
		url      string
		branch   string
		wantIs   error
		wantText string
	}{
		{name: "missing branch", branch: "nope", wantIs: ErrBranchNotFound, wantText: `branch not found: "nope"`},
		{name: "missing repository", url: "file://" + r.dir + "-gone", wantText: r.dir + "-gone"},
		{name: "local path missing", url: r.dir + "/missing", wantText: r.dir + "/missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newSource(t, r, func(c *Config) {
				if tt.url != "" {
					c.URL = tt.url
				}
				if tt.branch != "" {
					c.Branch = tt.branch
				}
			})
			_, err := s.Sync(context.Background())
			if err == nil {
				t.Fatal("Sync succeeded")
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %v is not %v", err, tt.wantIs)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error %q does not name %q", err, tt.wantText)
			}
			if st := s.Status(); st.Err == nil || st.Failures != 1 {
				t.Errorf("status %+v, want the error and 1 failure", st)
			}
		})
	}
}

func TestUnreachableRemoteKeepsLastGood(t *testing.T) {
	r := newTestRepo(t, true)
	r.commit(fourApps())
	s, _ := newSource(t, r, nil)
	good := mustSync(t, s)
	moved := r.dir + "-moved"
	if err := os.Rename(r.dir, moved); err != nil {
		t.Fatal(err)
	}
	_, err := s.Sync(context.Background())
	if err == nil || !strings.Contains(err.Error(), "file://"+r.dir) {
		t.Fatalf("Sync of a vanished remote: %v, want an error naming the URL", err)
	}
	if s.Latest() != good || s.Status().Commit != good.Commit {
		t.Fatal("the last good snapshot is not served")
	}
	if err := os.Rename(moved, r.dir); err != nil {
		t.Fatal(err)
	}
	r.commit(map[string]string{"apps/a.yaml": lrp("a", "a:2")})
	if snap := mustSync(t, s); imageOf(snap, "LRP/a") != "a:2" || s.Status().Err != nil {
		t.Fatalf("no recovery: %v %v", imageOf(snap, "LRP/a"), s.Status().Err)
	}
}

func TestLocalWorkingRepository(t *testing.T) {
	r := newTestRepo(t, false) // a non-bare repository, given as a plain path
	r.commit(fourApps())
	s, _ := newSource(t, r, func(c *Config) { c.URL = r.dir })
	if snap := mustSync(t, s); len(snap.Objects) != 4 {
		t.Fatalf("objects %v", keys(snap))
	}
	// The mirror survives a restart of the Source: the second one finds the
	// objects and copies nothing.
	dataDir := s.cfg.DataDir
	s2, err := New(Config{URL: r.dir, DataDir: dataDir}, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if snap := mustSync(t, s2); len(snap.Objects) != 4 || snap.Parsed != 4 {
		t.Fatalf("restarted source: objects %v parsed %d", keys(snap), snap.Parsed)
	}
}

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		wantErr  string
		wantKind remoteKind
	}{
		{name: "file url", cfg: Config{URL: "file:///srv/x", DataDir: "d"}, wantKind: remoteLocal},
		{name: "local path", cfg: Config{URL: "./x", DataDir: "d"}, wantKind: remoteLocal},
		{name: "https", cfg: Config{URL: "https://git.example/x.git", DataDir: "d"}, wantKind: remoteNetwork},
		{name: "ssh", cfg: Config{URL: "ssh://git@git.example/x.git", DataDir: "d"}, wantKind: remoteNetwork},
		{name: "password in url", cfg: Config{URL: "https://u:s3cret@git.example/x.git", DataDir: "d"}, wantErr: "passwordFile"},
		{name: "unknown scheme", cfg: Config{URL: "ftp://git.example/x", DataDir: "d"}, wantErr: "not supported"},
		{name: "no data dir", cfg: Config{URL: "file:///x"}, wantErr: "dataDir"},
		{name: "no url", cfg: Config{DataDir: "d"}, wantErr: "url is required"},
		{name: "fraction over 1", cfg: Config{URL: "file:///x", DataDir: "d", MassDeleteFraction: 2}, wantErr: "over 1"},
		{name: "bad branch", cfg: Config{URL: "file:///x", DataDir: "d", Branch: "a..b"}, wantErr: "not a valid branch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kind, _, err := tt.cfg.validate()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Fatalf("error %q leaks the password", err)
				}
				return
			}
			if err != nil || kind != tt.wantKind {
				t.Fatalf("kind %v err %v, want %v", kind, err, tt.wantKind)
			}
			if tt.cfg.Branch != "main" || tt.cfg.PollInterval != DefaultPollInterval || tt.cfg.MassDeleteFraction != 0.5 {
				t.Errorf("defaults not applied: %+v", tt.cfg)
			}
		})
	}
}

// TestSymlinkTargetChange changes only the target of a symlinked workload
// file: the symlink does not change in the tree, but its workload must.
func TestSymlinkTargetChange(t *testing.T) {
	r := newTestRepo(t, true)
	files := fourApps()
	files["shared/web.txt"] = lrp("web", "web:1")
	files["apps/web.yaml"] = symlinkPrefix + "../shared/web.txt"
	r.commit(files)
	s, _ := newSource(t, r, nil)
	if snap := mustSync(t, s); imageOf(snap, "LRP/web") != "web:1" {
		t.Fatalf("LRP/web image %q through the symlink, want web:1", imageOf(snap, "LRP/web"))
	}
	r.commit(map[string]string{"shared/web.txt": lrp("web", "web:2")})
	if snap := mustSync(t, s); imageOf(snap, "LRP/web") != "web:2" {
		t.Fatalf("LRP/web image %q after its target changed, want web:2", imageOf(snap, "LRP/web"))
	}
	r.commit(map[string]string{"apps/web.yaml": symlinkPrefix + "../../outside.yaml"})
	snap := mustSync(t, s)
	if imageOf(snap, "LRP/web") != "web:2" || len(snap.FileErrors["apps/web.yaml"]) == 0 {
		t.Fatalf("escaping symlink: image %q errors %v; want the last good web:2 and an error", imageOf(snap, "LRP/web"), snap.FileErrors)
	}
}

// TestFirstCloneWritesPack: a first clone of many objects lands in the
// mirror as one packfile, and later commits are read on top of it.
func TestFirstCloneWritesPack(t *testing.T) {
	r := newTestRepo(t, true)
	files := map[string]string{}
	for i := range 150 {
		files[fmt.Sprintf("apps/d%d/w%03d.yaml", i/50, i)] = lrp(fmt.Sprintf("w%03d", i), "img:1")
	}
	r.commit(files)
	s, _ := newSource(t, r, nil)
	if snap := mustSync(t, s); len(snap.Objects) != 150 || len(snap.FileErrors) != 0 {
		t.Fatalf("%d objects, errors %v", len(snap.Objects), snap.FileErrors)
	}
	packs, err := filepath.Glob(filepath.Join(s.cfg.DataDir, "mirror.git", "objects", "pack", "*.pack"))
	if err != nil || len(packs) != 1 {
		t.Fatalf("packfiles %v (%v), want one", packs, err)
	}
	second := r.commit(map[string]string{"apps/d0/w000.yaml": lrp("w000", "img:2")})
	if snap := mustSync(t, s); snap.Commit != second.String() || imageOf(snap, "LRP/w000") != "img:2" {
		t.Fatalf("after a small commit: %s %q", snap.Commit, imageOf(snap, "LRP/w000"))
	}
	if packs, _ := filepath.Glob(filepath.Join(s.cfg.DataDir, "mirror.git", "objects", "pack", "*.pack")); len(packs) != 1 {
		t.Errorf("a small fetch wrote a packfile: %v", packs)
	}
}

// TestRestartKeepsLastGood restarts the Source on its data dir after a
// commit that breaks one file and deletes most others: the new Source must
// neither drop the broken file's workload nor apply the mass deletion.
func TestRestartKeepsLastGood(t *testing.T) {
	r := newTestRepo(t, true)
	r.commit(fourApps())
	s1, _ := newSource(t, r, nil)
	mustSync(t, s1)
	bad := r.commit(map[string]string{"apps/a.yaml": "kind: [\n", "apps/b.yaml": "", "apps/c.yaml": "", "apps/d.yaml": ""})
	if snap := mustSync(t, s1); snap.Held == nil || snap.Objects["LRP/a"] == nil {
		t.Fatalf("before the restart: held %v objects %v", snap.Held, keys(snap))
	}

	s2, err := New(Config{URL: s1.cfg.URL, DataDir: s1.cfg.DataDir}, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	snap := mustSync(t, s2)
	if snap.Commit != bad.String() {
		t.Fatalf("commit %s, want %s", snap.Commit, bad)
	}
	if imageOf(snap, "LRP/a") != "a:1" || len(snap.FileErrors["apps/a.yaml"]) == 0 {
		t.Errorf("after the restart LRP/a is %q with errors %v; want the last good a:1, reported", imageOf(snap, "LRP/a"), snap.FileErrors)
	}
	if snap.Held == nil || !slices.Equal(snap.Held.Keys, []string{"LRP/b", "LRP/c", "LRP/d"}) {
		t.Errorf("after the restart held %+v, want LRP/b, c and d", snap.Held)
	}
}
