package gitsource

import (
	"context"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/cellsync/cellsync/loader"
)

// treeFiles is a tree that exercises every loader rule.
var treeFiles = map[string]string{
	"apps/web.yaml":          lrp("web", "web:1"),
	"apps/worker.yml":        lrp("worker", "worker:1"),
	"apps/README.md":         "not a workload",
	"apps/broken.yaml":       "kind: LRP\nmetadata: {name: Bad}\n",
	"platform/conf.yaml":     configDoc("conf"),
	"platform/deep/x.yaml":   lrp("x", "x:1"),
	".github/ci.yaml":        lrp("hidden", "h:1"),
	"apps/.hidden.yaml":      lrp("hidden2", "h:1"),
	"links/web.yaml":         symlinkPrefix + "../apps/web.yaml",
	"links/escape.yaml":      symlinkPrefix + "../../etc/passwd.yaml",
	"links/dir.yaml":         symlinkPrefix + "../platform",
	"links/loop.yaml":        symlinkPrefix + "loop.yaml",
	"links/dangling.yaml":    symlinkPrefix + "nowhere.yaml",
	"a.yaml":                 configDoc("a"),
	"a/b.yaml":               configDoc("b"), // "a.yaml" and "a/" sort differently in Git and fs
	"sub/cells/only.yaml":    lrp("only", "o:1"),
	"sub/cells/nested/n.yml": lrp("n", "n:1"),
}

// treeFSOf commits files and returns a treeFS over the commit's root.
func treeFSOf(t *testing.T, files map[string]string) *treeFS {
	t.Helper()
	r := newTestRepo(t, true)
	h := r.commit(files)
	c, err := r.repo.CommitObject(h)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := c.Tree()
	if err != nil {
		t.Fatal(err)
	}
	return newTreeFS(r.repo.Storer, tree, c.Committer.When)
}

// TestTreeFSConformance runs the standard library's fs.FS checker.
func TestTreeFSConformance(t *testing.T) {
	fsys := treeFSOf(t, map[string]string{
		"apps/web.yaml":    lrp("web", "web:1"),
		"apps/notes.txt":   "x",
		"a.yaml":           "a",
		"a/b.yaml":         "b",
		"links/web.yaml":   symlinkPrefix + "../apps/web.yaml",
		"deep/er/est.yaml": "z",
	})
	if err := fstest.TestFS(fsys, "apps/web.yaml", "apps/notes.txt", "a.yaml", "a/b.yaml", "links/web.yaml", "deep/er/est.yaml"); err != nil {
		t.Fatal(err)
	}
}

// TestTreeFSMatchesDirFS loads the same tree from a Git commit and from a
// checkout on disk: the loader must see exactly the same thing.
func TestTreeFSMatchesDirFS(t *testing.T) {
	dir := t.TempDir()
	for p, content := range treeFiles {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		if target, ok := strings.CutPrefix(content, symlinkPrefix); ok {
			err = os.Symlink(target, full)
		} else {
			err = os.WriteFile(full, []byte(content), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	tfs := treeFSOf(t, treeFiles)
	sub, err := tfs.root.Tree("sub")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		git  fs.FS
		disk fs.FS
	}{
		{name: "root", git: tfs, disk: os.DirFS(dir)},
		{name: "subdirectory", git: newTreeFS(tfs.s, sub, time.Time{}), disk: os.DirFS(filepath.Join(dir, "sub"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := describeLoad(loader.Load(tt.disk, loader.Options{}))
			got := describeLoad(loader.Load(tt.git, loader.Options{}))
			if got != want {
				t.Errorf("tree load differs from disk load\n got:\n%s\nwant:\n%s", got, want)
			}
			if !strings.Contains(want, "yaml") {
				t.Fatalf("the disk load found nothing: %s", want)
			}
		})
	}
}

// describeLoad renders a load result as text for comparison.
func describeLoad(res *loader.Result) string {
	var b strings.Builder
	for _, f := range res.Files {
		fmt.Fprintf(&b, "file %s:", f.Path)
		for _, o := range f.Objects {
			fmt.Fprintf(&b, " %s@%d", Key(o), o.Head().Source.Line)
		}
		b.WriteString("\n")
	}
	for _, err := range res.Errors() {
		// The OS says ENOENT where fs.FS says fs.ErrNotExist: same meaning.
		fmt.Fprintf(&b, "error %s\n", strings.Replace(err.Error(), "no such file or directory", "file does not exist", 1))
	}
	return b.String()
}

func TestTreeFSErrors(t *testing.T) {
	fsys := treeFSOf(t, map[string]string{"apps/web.yaml": "x", "link.yaml": symlinkPrefix + "apps/web.yaml"})
	tests := []struct {
		name    string
		op      func() error
		wantErr error
	}{
		{name: "open missing", op: func() error { _, err := fsys.Open("nope.yaml"); return err }, wantErr: fs.ErrNotExist},
		{name: "open under a file", op: func() error { _, err := fsys.Open("apps/web.yaml/x"); return err }, wantErr: fs.ErrNotExist},
		{name: "invalid path", op: func() error { _, err := fsys.Open("../x"); return err }, wantErr: fs.ErrInvalid},
		{name: "readdir of a file", op: func() error { _, err := fsys.ReadDir("apps/web.yaml"); return err }, wantErr: fs.ErrInvalid},
		{name: "readlink of a file", op: func() error { _, err := fsys.ReadLink("apps/web.yaml"); return err }, wantErr: fs.ErrInvalid},
		{name: "readlink of a link", op: func() error {
			target, err := fsys.ReadLink("link.yaml")
			if err == nil && target != "apps/web.yaml" {
				return fmt.Errorf("target %q", target)
			}
			return err
		}},
		{name: "lstat of a link", op: func() error {
			info, err := fsys.Lstat("link.yaml")
			if err == nil && info.Mode()&fs.ModeSymlink == 0 {
				return fmt.Errorf("mode %v is not a symlink", info.Mode())
			}
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.op()
			if tt.wantErr == nil && err != nil {
				t.Fatalf("error %v, want none", err)
			}
			if tt.wantErr != nil && !errorsIs(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
		})
	}
}

// TestDiffTrees compares diffTrees with go-git's own tree diff.
func TestDiffTrees(t *testing.T) {
	base := map[string]string{
		"a.yaml": "a", "dir/b.yaml": "b", "dir/sub/c.yaml": "c", "gone/x.yaml": "x", "gone/deep/y.yaml": "y",
		"swap": "file", "link.yaml": symlinkPrefix + "a.yaml", "same/s.yaml": "s",
	}
	tests := []struct {
		name    string
		changes map[string]string
		want    map[string]bool
	}{
		{name: "nothing", changes: map[string]string{}, want: map[string]bool{}},
		{name: "modify nested", changes: map[string]string{"dir/sub/c.yaml": "c2"}, want: map[string]bool{"dir/sub/c.yaml": false}},
		{name: "add and delete", changes: map[string]string{"new/n.yaml": "n", "a.yaml": ""},
			want: map[string]bool{"new/n.yaml": false, "a.yaml": true}},
		{name: "delete a directory", changes: map[string]string{"gone/x.yaml": "", "gone/deep/y.yaml": ""},
			want: map[string]bool{"gone/x.yaml": true, "gone/deep/y.yaml": true}},
		{name: "file becomes a directory", changes: map[string]string{"swap": "", "swap/z.yaml": "z"},
			want: map[string]bool{"swap": true, "swap/z.yaml": false}},
		{name: "symlink becomes a file", changes: map[string]string{"link.yaml": "a"}, want: map[string]bool{"link.yaml": false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newTestRepo(t, true)
			h1 := r.commit(base)
			h2 := r.commit(tt.changes)
			trees := [2]*object.Tree{}
			for i, h := range []plumbing.Hash{h1, h2} {
				c, err := r.repo.CommitObject(h)
				if err != nil {
					t.Fatal(err)
				}
				if trees[i], err = c.Tree(); err != nil {
					t.Fatal(err)
				}
			}
			got := map[string]bool{}
			if err := diffTrees(context.Background(), r.repo.Storer, trees[0], trees[1], "", got); err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("diffTrees = %v, want %v", got, tt.want)
			}
			changes, err := object.DiffTree(trees[0], trees[1])
			if err != nil {
				t.Fatal(err)
			}
			ref := map[string]bool{}
			for _, c := range changes {
				if c.From.Name != "" {
					ref[c.From.Name] = true
				}
				if c.To.Name != "" {
					ref[c.To.Name] = false
				}
			}
			if !maps.Equal(got, ref) {
				t.Errorf("diffTrees = %v, go-git's DiffTree = %v", got, ref)
			}
		})
	}
}
