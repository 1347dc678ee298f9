package ops

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"

	"github.com/cellsync/cellsync/internal/netprobe"
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

// TestLocalListenersRefuseUnauthenticated: `cellsync up` opens TCP
// listeners for /status and /metrics (loopback), the router and each cell's
// log server (loopback); its etcd is a unix socket in the data dir. A raft
// message and a plain etcd request to every TCP listener it opened are
// refused (issue 15.1).
func TestLocalListenersRefuseUnauthenticated(t *testing.T) {
	dataDir := t.TempDir()
	var l *Local
	opened, err := netprobe.OpenedBy(func() {
		var err error
		l, err = StartLocal(context.Background(), LocalConfig{Runtime: RuntimeSim, Cells: 1, Example: "../repo-example",
			DataDir: dataDir, Metrics: "127.0.0.1:0", Router: "127.0.0.1:0"}, LocalDeps{})
		if err != nil {
			t.Fatal(err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()

	target := l.Target()
	want := []string{strings.TrimPrefix(target.Hub, "http://"), l.routerLn.Addr().String()}
	for _, ls := range l.logSrvs {
		want = append(want, strings.TrimPrefix(ls.URL(), "http://"))
	}
	slices.Sort(want)
	if !slices.Equal(opened, want) {
		t.Errorf("TCP listeners opened %v, want /status and /metrics, the router and the log server: %v", opened, want)
	}
	if len(target.Etcd) != 1 || !strings.HasPrefix(target.Etcd[0], "unix://"+dataDir) {
		t.Errorf("etcd endpoints %v, want the unix socket in %s", target.Etcd, dataDir)
	}
	// Probe once the endpoints serve, so that a refusal is an answer and
	// not a timeout.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(time.Minute); ; <-tick.C {
		if resp, err := http.Get(target.Hub + "/healthz"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("/healthz never answered")
		}
	}
	if err := netprobe.Refused(context.Background(), opened); err != nil {
		t.Error(err)
	}
}
