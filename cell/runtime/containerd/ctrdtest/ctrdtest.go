// Package ctrdtest runs a private containerd for integration tests: its own
// root, state and socket in a temporary directory, so tests never touch the
// machine's containerd. Tests skip when Missing reports a reason, unless
// CELLSYNC_REQUIRE_CONTAINERD=1 (set by CI) makes that a failure.
//
//	if reason := ctrdtest.Missing(); reason != "" { t.Skip(reason) }
//	d, err := ctrdtest.Start(ctx)
//	defer d.Stop()
//	rt, err := containerd.New(ctx, containerd.Config{Address: d.Socket, ...})
package ctrdtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	ctrd "github.com/cellsync/cellsync/cell/runtime/containerd"
)

// RequireEnv names the variable that turns a skip into a failure.
const RequireEnv = "CELLSYNC_REQUIRE_CONTAINERD"

// Busybox is where Debian's busybox-static installs the binary the tests'
// image is built from.
const Busybox = "/bin/busybox"

// Required reports whether CI demands the containerd tests run.
func Required() bool { return os.Getenv(RequireEnv) == "1" }

// Missing returns why a private containerd cannot run on this machine, or
// "" when it can.
func Missing() string {
	if os.Geteuid() != 0 {
		return "containerd tests need root"
	}
	for _, bin := range []string{"containerd", "containerd-shim-runc-v2", "runc"} {
		if _, err := exec.LookPath(bin); err != nil {
			return bin + " is not installed (apt-get install -y containerd runc)"
		}
	}
	if _, err := os.Stat(Busybox); err != nil {
		return Busybox + " is not installed (apt-get install -y busybox-static)"
	}
	return missingNetwork()
}

// missingNetwork returns what bridge networking lacks, or "".
func missingNetwork() string {
	for _, plugin := range []string{"bridge", "host-local", "portmap", "loopback"} {
		found := false
		for _, d := range ctrd.DefaultPluginDirs {
			if _, err := os.Stat(filepath.Join(d, plugin)); err == nil {
				found = true
			}
		}
		if !found {
			return "CNI plugin " + plugin + " is not installed (apt-get install -y containernetworking-plugins)"
		}
	}
	for _, bin := range []string{"iptables", "ip"} {
		if _, err := exec.LookPath(bin); err != nil {
			return bin + " is not installed (apt-get install -y iptables iproute2)"
		}
	}
	return ""
}

// Daemon is a running private containerd.
type Daemon struct {
	// Socket is the containerd gRPC address.
	Socket string
	// Dir holds its root, state, socket and log; Stop removes it.
	Dir    string
	cmd    *exec.Cmd
	exited chan error
}

// Start runs containerd in a new temporary directory and returns once it
// accepts a client.
func Start(ctx context.Context) (*Daemon, error) {
	dir, err := os.MkdirTemp("", "csctr-") // short: socket paths are limited
	if err != nil {
		return nil, err
	}
	d := &Daemon{Socket: filepath.Join(dir, "c.sock"), Dir: dir, exited: make(chan error, 1)}
	conf := fmt.Sprintf("version = 2\nroot = %q\nstate = %q\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n[grpc]\n  address = %q\n[ttrpc]\n  address = %q\n",
		filepath.Join(dir, "root"), filepath.Join(dir, "state"), d.Socket, d.Socket+".ttrpc")
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(conf), 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	logf, err := os.Create(d.logPath())
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer logf.Close() // the child keeps its own descriptor
	d.cmd = exec.Command("containerd", "--config", filepath.Join(dir, "config.toml"))
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	if err := d.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start containerd: %w", err)
	}
	go func() { d.exited <- d.cmd.Wait() }()

	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-d.exited:
			d.exited <- err
			log := d.Log()
			d.Stop()
			return nil, fmt.Errorf("containerd exited: %v\n%s", err, log)
		case <-ctx.Done():
			d.Stop()
			return nil, fmt.Errorf("containerd not ready: %w", ctx.Err())
		case <-tick.C:
		}
		if _, err := os.Stat(d.Socket); err != nil {
			continue
		}
		if rt, err := ctrd.New(ctx, ctrd.Config{Address: d.Socket}); err == nil {
			rt.Close()
			return d, nil
		}
	}
}

func (d *Daemon) logPath() string { return filepath.Join(d.Dir, "containerd.log") }

// Log returns what containerd has written, for failure messages.
func (d *Daemon) Log() string {
	b, _ := os.ReadFile(d.logPath())
	return string(b)
}

// Stop terminates containerd (SIGTERM, then SIGKILL after 10 s) and removes
// its directory.
func (d *Daemon) Stop() {
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.exited:
		d.exited <- err
	case <-time.After(10 * time.Second):
		_ = d.cmd.Process.Kill()
		d.exited <- <-d.exited
	}
	os.RemoveAll(d.Dir)
}
