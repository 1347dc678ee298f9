package config

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// replace writes content to path the way editors do: a temporary file
// renamed over the original.
func replace(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestWatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hub.yaml")
	if err := os.WriteFile(path, []byte("git: {url: file:///w}\nworkers: {apply: 4}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	changes := make(chan Hub, 10)
	errs := make(chan error, 10)
	ready := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- watch(ctx, path, 20*time.Millisecond,
			func(h Hub) { changes <- h },
			func(err error) { errs <- err },
			func() { close(ready) })
	}()
	<-ready

	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	next := func(what string) (Hub, error) {
		t.Helper()
		select {
		case h := <-changes:
			return h, nil
		case err := <-errs:
			return Hub{}, err
		case <-timeout.C:
			t.Fatalf("timed out waiting for %s", what)
		}
		return Hub{}, nil
	}

	// A valid change is reported with the new values.
	replace(t, path, "git: {url: file:///w}\nworkers: {apply: 64, fanout: 3}\n")
	h, err := next("the workers change")
	if err != nil {
		t.Fatalf("onError(%v), want onChange", err)
	}
	if h.Workers.Apply != 64 || h.Workers.Fanout != 3 || h.Workers.Convergence != 2 {
		t.Errorf("onChange workers = %+v, want apply=64 fanout=3 convergence=2", h.Workers)
	}

	// Garbage is reported as an error naming the field, with no onChange.
	replace(t, path, "git: {url: file:///w}\nworkers: {apply: 0}\n")
	if h, err := next("the invalid config"); err == nil {
		t.Fatalf("onChange(%+v) for an invalid config", h.Workers)
	} else if !strings.Contains(err.Error(), "workers.apply") {
		t.Errorf("onError(%v) does not name workers.apply", err)
	}
	replace(t, path, "::: not yaml\n\t")
	if h, err := next("the unparseable config"); err == nil {
		t.Fatalf("onChange(%+v) for garbage", h.Workers)
	}

	// An in-place write that fixes it is reported again.
	if err := os.WriteFile(path, []byte("git: {url: file:///w}\nworkers: {convergence: 7}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h, err = next("the fixed config")
	if err != nil {
		t.Fatalf("onError(%v), want onChange", err)
	}
	if h.Workers.Convergence != 7 || h.Workers.Apply != 32 {
		t.Errorf("onChange workers = %+v, want convergence=7 apply=32", h.Workers)
	}

	cancel()
	if err := <-done; err != nil {
		t.Errorf("Watch returned %v", err)
	}
	select {
	case h := <-changes:
		t.Errorf("unexpected onChange(%+v)", h.Workers)
	case err := <-errs:
		t.Errorf("unexpected onError(%v)", err)
	default:
	}
}

func TestWatchMissingDirectory(t *testing.T) {
	err := Watch(context.Background(), filepath.Join(t.TempDir(), "no", "hub.yaml"), func(Hub) {}, func(error) {})
	if err == nil {
		t.Error("Watch of a file in a missing directory succeeded")
	}
}
