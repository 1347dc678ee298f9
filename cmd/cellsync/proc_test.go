package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

// cellsyncBinary builds the cellsync binary once for the tests that run it
// as a process.
func cellsyncBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "cellsync-bin-"); binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "cellsync")
		var out []byte
		if out, binErr = exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); binErr != nil {
			binErr = &buildError{err: binErr, out: string(out)}
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return "go build: " + e.err.Error() + "\n" + e.out }

// hubProcess is a `cellsync hub` process; it is killed when the test ends
// if it still runs.
type hubProcess struct {
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan error
}

func startHubProcess(t *testing.T, bin, conf string) *hubProcess {
	t.Helper()
	p := &hubProcess{cmd: exec.Command(bin, "hub", "--config", conf, "--log-level", "warn"), out: &syncBuffer{}, exited: make(chan error, 1)}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}
