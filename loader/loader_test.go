package loader_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cellsync/cellsync/loader"
)

const cfg = "apiVersion: cellsync.io/v1\nkind: Config\nmetadata: {name: %s}\n"

func write(t *testing.T, root, rel, content string) {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadRules(t *testing.T) {
	root := t.TempDir()
	write(t, root, "a.yaml", strings.Replace(cfg, "%s", "a", 1))
	write(t, root, "nested/b.yml", strings.Replace(cfg, "%s", "b", 1))
	write(t, root, ".git/c.yaml", strings.Replace(cfg, "%s", "hidden-dir", 1))
	write(t, root, "nested/.d.yaml", strings.Replace(cfg, "%s", "hidden-file", 1))
	write(t, root, "README.md", "not yaml")
	write(t, root, "big.yaml", strings.Replace(cfg, "%s", "big", 1)+"data: {k: '"+strings.Repeat("x", 2000)+"'}\n")
	write(t, root, "bad.yaml", "kind: Config\nmetadata: {name: x}\nextra: 1\n")
	write(t, root, "dup.yaml", strings.Replace(cfg, "%s", "a", 1))
	outside := filepath.Join(t.TempDir(), "secret.yaml")
	if err := os.WriteFile(outside, []byte(strings.Replace(cfg, "%s", "outside", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "escape.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../etc/passwd", filepath.Join(root, "nested/up.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("nested/b.yml", filepath.Join(root, "inside.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("loop2.yaml", filepath.Join(root, "loop1.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("loop1.yaml", filepath.Join(root, "loop2.yaml")); err != nil {
		t.Fatal(err)
	}

	res := loader.Load(os.DirFS(root), loader.Options{MaxFileSize: 1024})
	var names []string
	for _, o := range res.Objects() {
		names = append(names, o.Head().Metadata.Name)
	}
	if got, want := strings.Join(names, ","), "a,a,b"; got != want {
		t.Errorf("objects = %s, want %s (a, dup a, b once: inside.yaml links to it)", got, want)
	}
	all := ""
	for _, err := range res.Errors() {
		all += err.Error() + "\n"
	}
	for _, want := range []string{
		"bad.yaml:3: document 1: extra: unknown field",
		"bad.yaml:1: document 1: apiVersion: must be",
		"loop2.yaml: more than 8 symlinks",
		"big.yaml: file is ",
		"over the 1024-byte limit",
		`escape.yaml: symlink to "` + outside + `" leaves the repository`,
		`nested/up.yaml: symlink to "../../etc/passwd" leaves the repository`,
		"loop1.yaml: more than 8 symlinks",
		`dup.yaml:2: document 1: metadata.name: Config "a" is already defined at a.yaml:2`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("errors lack %q; got:\n%s", want, all)
		}
	}
	if strings.Contains(all, "hidden") || strings.Contains(all, "README") {
		t.Errorf("hidden or non-YAML files were read:\n%s", all)
	}
}

func TestIsWorkloadPath(t *testing.T) {
	tests := []struct {
		path string
		want bool
	}{
		{"a.yaml", true}, {"x/b.yml", true}, {"x/.h/b.yaml", false}, {".a.yaml", false}, {"a.json", false}, {"a.yaml.bak", false},
	}
	for _, tt := range tests {
		if got := loader.IsWorkloadPath(tt.path); got != tt.want {
			t.Errorf("IsWorkloadPath(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
}

func TestRepoExampleIsValid(t *testing.T) {
	res := loader.Load(os.DirFS("../repo-example"), loader.Options{})
	for _, err := range res.Errors() {
		t.Error(err)
	}
	kinds := map[string]int{}
	for _, o := range res.Objects() {
		kinds[string(o.Head().Kind)]++
	}
	if kinds["LRP"] < 2 || kinds["Task"] < 1 || kinds["Config"] < 1 || kinds["SelectorSyncSet"] < 2 {
		t.Errorf("repo-example lacks the promised workloads: %v", kinds)
	}
}

// TestSymlinkedDirectoriesNotFollowed: as in a Git tree, no path through a
// symlinked directory is read, so a link cannot lead out of the tree through
// one (issue 15.7). Both through os.DirFS (the tree rules) and LoadDir (an
// os.Root as well).
func TestSymlinkedDirectoriesNotFollowed(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	write(t, outside, "secret.yaml", strings.Replace(cfg, "%s", "outside", 1))
	write(t, root, "nested/b.yaml", strings.Replace(cfg, "%s", "b", 1))
	for link, target := range map[string]string{
		"out":          outside,                        // absolute, to a directory outside
		"up":           "../" + filepath.Base(outside), // relative, to a directory outside (siblings in TempDir's parent)
		"in":           "nested",                       // to a directory inside
		"abs.yaml":     "out/secret.yaml",
		"rel.yaml":     "up/secret.yaml",
		"inside.yaml":  "in/b.yaml",
		"nested/x.yml": "../out/secret.yaml",
	} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "rel.yaml")); err != nil {
		t.Skipf("the relative link does not reach outside on this machine: %v", err)
	}
	load := map[string]func() *loader.Result{
		"DirFS": func() *loader.Result { return loader.Load(os.DirFS(root), loader.Options{}) },
		"LoadDir": func() *loader.Result {
			res, err := loader.LoadDir(root, loader.Options{})
			if err != nil {
				t.Fatal(err)
			}
			return res
		},
	}
	for name, load := range load {
		t.Run(name, func(t *testing.T) {
			res := load()
			var names []string
			for _, o := range res.Objects() {
				names = append(names, o.Head().Metadata.Name)
			}
			if got := strings.Join(names, ","); got != "b" {
				t.Errorf("objects = %s, want only b: nothing through a symlinked directory", got)
			}
			all := ""
			for _, err := range res.Errors() {
				all += err.Error() + "\n"
			}
			for _, want := range []string{
				`abs.yaml: symlink to "out/secret.yaml" goes through out, a symlinked directory; symlinked directories are not followed`,
				`rel.yaml: symlink to "up/secret.yaml" goes through up, a symlinked directory`,
				`inside.yaml: symlink to "in/b.yaml" goes through in, a symlinked directory`,
				`nested/x.yml: symlink to "../out/secret.yaml" goes through out, a symlinked directory`,
			} {
				if !strings.Contains(all, want) {
					t.Errorf("errors lack %q; got:\n%s", want, all)
				}
			}
		})
	}
	if _, err := loader.LoadDir(filepath.Join(root, "nested/b.yaml"), loader.Options{}); err == nil {
		t.Error("LoadDir of a file succeeded")
	}
}
