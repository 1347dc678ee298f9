package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// copyDir copies a directory tree.
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, p)
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func edit(t *testing.T, file, old, new string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s lacks %q", file, old)
	}
	if err := os.WriteFile(file, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func exitCode(err error) int {
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	}
	return 1
}

func TestPlan(t *testing.T) {
	u := startUp(t, "", "--runtime", "sim")
	waitStatus(t, u.target, "repo-example rolled out", rolledOut)

	dir := t.TempDir()
	copyDir(t, "../../repo-example", dir)
	out, err := run(t, "plan", dir, "--data-dir", u.dataDir)
	if exitCode(err) != 0 || !strings.Contains(out, "\nno changes\n") {
		t.Fatalf("plan of what runs: err = %v\n%s", err, out)
	}

	// Scale web down, change a Config value, drop a resource from a
	// Sync-mode set, and ask for an impossible LRP.
	edit(t, filepath.Join(dir, "apps/web.yaml"), "instances: 4", "instances: 2")
	edit(t, filepath.Join(dir, "apps/web.yaml"), "mode: production", "mode: staging")
	edit(t, filepath.Join(dir, "platform/all-cells.yaml"), "    - kind: Config\n      metadata: {name: agent-conf}\n      data: {level: debug, interval: \"30\"}\n", "")
	edit(t, filepath.Join(dir, "platform/all-cells.yaml"), "        configs:\n          - {name: agent-conf, mountPath: /etc/agent}\n", "")
	big := "apiVersion: cellsync.io/v1\nkind: LRP\nmetadata: {name: huge}\nspec:\n  image: busybox\n  resources: {memoryMB: 100000, diskMB: 1}\n"
	if err := os.WriteFile(filepath.Join(dir, "apps/huge.yaml"), []byte(big), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = run(t, "plan", dir, "--etcd-endpoints", strings.Join(u.target.Etcd, ","))
	if exitCode(err) != 2 {
		t.Fatalf("plan with changes: err = %v, want exit status 2\n%s", err, out)
	}
	for _, want := range []string{
		"plan against 3 cells and their assignments in etcd ",
		"Config/web-settings → ",
		`        ~ .data.mode: "production" → "staging"` + "\n",
		"LRP/web → ",
		" LRP web -instances [",
		"  - cell-1  Config agent-conf  (Sync-mode deletion)\n",
		`        - .spec.configs: [{"mountPath":"/etc/agent","name":"agent-conf"}]` + "\n",
		"LRP/huge → (no cell)  (new workload)\n",
		"UNPLACEABLE\n  LRP huge: 1 instance: ",
		"unchanged: LRP/worker, SelectorSyncSet/prod-audit, Task/migrate-db\n",
		"workloads: 1 new, 0 removed; objects on cells: 0 to add, 6 to update, 5 to remove\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q:\n%s", want, out)
		}
	}
	// The plan changed nothing.
	st := waitStatus(t, u.target, "still rolled out", rolledOut)
	if w := workload(st, "LRP/web"); w.Placed != 4 {
		t.Errorf("after plan web = %+v", w)
	}

	out, err = run(t, "plan", "../../repo-example", "--cells", "../../ops/testdata/cells.yaml", "-o", "json")
	if exitCode(err) != 2 || !strings.Contains(out, `"against": "2 cells from a file (offline)"`) {
		t.Errorf("offline plan: err = %v\n%s", err, out)
	}

	edit(t, filepath.Join(dir, "apps/huge.yaml"), "memoryMB: 100000", "memoryMB: -1")
	out, err = run(t, "plan", dir, "--cells", "../../ops/testdata/cells.yaml")
	if exitCode(err) != 1 || !strings.Contains(out, "huge.yaml:6: ") || !strings.Contains(err.Error(), "run `cellsync validate") {
		t.Errorf("plan of a broken dir: err = %v\n%s", err, out)
	}
}
