package main

import (
	"os"
	"testing"

	"github.com/cellsync/cellsync/cell/logs"
)

func TestMain(m *testing.M) {
	// containerd's shim runs this test binary as the containers' log driver
	// when a test runs `up` or a cell on containerd.
	if code, ok := logs.RunDriver(os.Args); ok {
		os.Exit(code)
	}
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir) // the binary cellsyncBinary built
	}
	os.Exit(code)
}
