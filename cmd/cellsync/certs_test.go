package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCerts(t *testing.T) {
	dir := t.TempDir()
	out, err := run(t, "certs", "--dir", dir, "--cell", "c1", "--cell", "c2")
	if err != nil {
		t.Fatalf("certs: %v\n%s", err, out)
	}
	for _, f := range []string{"ca.pem", "etcd.pem", "etcd-key.pem", "hub.pem", "hub-key.pem", "cell-c1.pem", "cell-c1-key.pem", "cell-c2-key.pem"} {
		info, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Errorf("%s not written: %v", f, err)
			continue
		}
		if strings.HasSuffix(f, "-key.pem") && info.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, info.Mode().Perm())
		}
	}
	if !strings.Contains(out, "cell-c2 ") {
		t.Errorf("output lacks cell-c2:\n%s", out)
	}
	if _, err := run(t, "certs", "--dir", dir, "--cell", "../x"); err == nil {
		t.Error("a cell name with a path was accepted")
	}
}
