package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestValidate(t *testing.T) {
	out, err := run(t, "validate", "../../repo-example")
	if err != nil {
		t.Fatalf("validate repo-example: %v\n%s", err, out)
	}
	if !strings.Contains(out, "no problems") {
		t.Errorf("output = %q", out)
	}

	dir := t.TempDir()
	bad := "apiVersion: cellsync.io/v1\nkind: LRP\nmetadata: {name: web}\nspec:\n  image: busybox\n  instances: -1\n"
	if err := os.WriteFile(filepath.Join(dir, "web.yaml"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = run(t, "validate", dir)
	var ee exitError
	if !errors.As(err, &ee) || ee.code != 1 {
		t.Fatalf("validate broken dir: err = %v, want exit status 1", err)
	}
	if !strings.Contains(out, "web.yaml:6: document 1: spec.instances: must be between 0 and 10000, got -1") {
		t.Errorf("output lacks file:line message:\n%s", out)
	}

	sel := "apiVersion: cellsync.io/v1\nkind: Task\nmetadata: {name: t}\nspec:\n  image: busybox\n  selector: 'cell.zoen == \"z1\"'\n"
	if err := os.WriteFile(filepath.Join(dir, "task.yaml"), []byte(sel), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _ = run(t, "validate", dir)
	if !strings.Contains(out, `task.yaml:2: document 1: spec.selector: Task "t": column 5: undefined field 'zoen'`) {
		t.Errorf("output lacks the selector error:\n%s", out)
	}

	// 120 KB of quotes, aliased five times: under the file and alias limits,
	// over the body limit once encoded (each quote becomes \").
	q := "'" + strings.Repeat(`"`, 120<<10) + "'"
	quotes := "apiVersion: cellsync.io/v1\nkind: Config\nmetadata: {name: quotes}\ndata:\n  k0: &q " + q + "\n  k1: *q\n  k2: *q\n  k3: *q\n  k4: *q\n"
	if err := os.WriteFile(filepath.Join(dir, "quotes.yaml"), []byte(quotes), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _ = run(t, "validate", dir)
	if !strings.Contains(out, "quotes.yaml:2: document 1: data: Config quotes is 1228") || !strings.Contains(out, "over the 1048493-byte limit of one stored body") {
		t.Errorf("output lacks the oversized body:\n%s", out)
	}

	if _, err := run(t, "validate", filepath.Join(dir, "missing")); err == nil {
		t.Error("validate of a missing dir succeeded")
	}
}

// TestValidateStaysInsideDir: a symlink to a directory outside DIR is not
// followed, so its workloads are neither read nor reported valid (issue 15.7).
func TestValidateStaysInsideDir(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	secret := "apiVersion: cellsync.io/v1\nkind: Config\nmetadata: {name: outside}\n"
	if err := os.WriteFile(filepath.Join(outside, "secret.yaml"), []byte(secret), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "out")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("out/secret.yaml", filepath.Join(dir, "w.yaml")); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, "validate", dir)
	var ee exitError
	if !errors.As(err, &ee) || ee.code != 1 {
		t.Fatalf("validate: err = %v, want exit status 1; output:\n%s", err, out)
	}
	if !strings.Contains(out, `w.yaml: symlink to "out/secret.yaml" goes through out, a symlinked directory`) {
		t.Errorf("output lacks the symlink error:\n%s", out)
	}
}
