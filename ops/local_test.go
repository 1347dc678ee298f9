package ops

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5"
)

func TestFreeAddr(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	taken := ln.Addr().String()
	tests := []struct {
		name      string
		addr      string
		wantMoved bool
	}{
		{name: "free", addr: "127.0.0.1:0", wantMoved: false},
		{name: "taken", addr: taken, wantMoved: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, moved, err := freeAddr(tt.addr)
			if err != nil {
				t.Fatal(err)
			}
			if moved != tt.wantMoved || (moved && (got == taken || !strings.HasPrefix(got, "127.0.0.1:"))) {
				t.Errorf("freeAddr(%s) = %s, moved %v", tt.addr, got, moved)
			}
		})
	}
}

func TestSeedRepo(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "repo")
	created, err := SeedRepo(dir, "../repo-example")
	if err != nil || !created {
		t.Fatalf("first seed: created %v, err %v", created, err)
	}
	repo, err := git.PlainOpen(dir)
	if err != nil {
		t.Fatal(err)
	}
	head, err := repo.Head()
	if err != nil || head.Name().String() != "refs/heads/main" {
		t.Fatalf("head = %v, %v; want refs/heads/main", head, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "apps", "web.yaml")); err != nil {
		t.Error(err)
	}
	created, err = SeedRepo(dir, "../repo-example")
	if err != nil || created {
		t.Errorf("second seed: created %v, err %v; want the repository reused", created, err)
	}
	if _, err := SeedRepo(filepath.Join(t.TempDir(), "r"), "/nonexistent"); err == nil {
		t.Error("seeding from a missing example succeeded")
	}
	if _, err := FindExample(t.TempDir()); err == nil || !strings.Contains(err.Error(), "pass --repo") {
		t.Errorf("FindExample outside a checkout: %v", err)
	}
	if got, err := FindExample("."); err != nil || filepath.Base(got) != "repo-example" {
		t.Errorf("FindExample(.) = %q, %v", got, err)
	}
}
