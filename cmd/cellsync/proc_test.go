package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/store"
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

// registerCellRecords writes n cell registrations, c0000 and on, in zones
// z0 to z<zones-1>, as agents would (without running any).
func registerCellRecords(t *testing.T, st *store.Client, n, zones int) {
	t.Helper()
	ops := make([]store.Op, 0, n)
	for i := 0; i < n; i++ {
		c := model.Cell{Name: fmt.Sprintf("c%04d", i), Zone: fmt.Sprintf("z%d", i%zones), Capacity: model.Capacity{MemoryMB: 4096, DiskMB: 4096, Containers: 20}}
		v, _ := store.Encode(c)
		ops = append(ops, store.Op{Key: store.CellKey(c.Name), Value: v})
	}
	if _, err := st.Write(context.Background(), ops); err != nil {
		t.Fatal(err)
	}
}
