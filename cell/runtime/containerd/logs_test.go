package containerd_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cellsync/cellsync/cell"
	"github.com/cellsync/cellsync/cell/logs"
	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/store/storetest"
)

// usage returns the bytes in an instance's log directory and the newest
// part number written, which counts rotations.
func usage(t testing.TB, dir string) (bytes int64, newestPart int) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return 0, -1
		}
		t.Fatal(err)
	}
	newestPart = -1
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			continue // rotated away between the listing and the stat
		}
		bytes += fi.Size()
		if _, p, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".log"), "-"); ok {
			if n, err := strconv.Atoi(p); err == nil {
				newestPart = max(newestPart, n)
			}
		}
	}
	return bytes, newestPart
}

// TestLogCapHoldsUnderAFlood runs a container that writes 1 KiB lines as
// fast as it can with the smallest log limits, and samples the disk its
// output uses until the driver has written 30 MB (what 1 MB/s for 30 s
// writes, over 100 times the cap): it never exceeds the cap, and the
// container runs on undisturbed.
func TestLogCapHoldsUnderAFlood(t *testing.T) {
	rt := newRuntime(t)
	st, _ := storetest.New(t)
	h := hub{t, st}
	cfg := agentConfig("flood1", cell.Evacuate, t.TempDir())
	cfg.Logs = logs.Limits{MaxFileBytes: logs.MinMaxFileBytes, MaxFiles: 2}
	startAgentWith(t, st, rt, cfg)
	dir, err := logs.InstanceDir(filepath.Join(cfg.StateDir, "logs"), "LRP/flood/0")
	if err != nil {
		t.Fatal(err)
	}

	line := strings.Repeat("x", 1023)
	flood := lrp("flood", "sh", "-c", "while true; do echo "+line+"; done")
	h.assign("flood1", "LRP/flood", model.Item{Kind: model.KindLRP, Name: "flood", Spec: h.put(flood), Indexes: []int32{0}})

	limit := cfg.Logs.Cap()
	parts := int(30e6/cfg.Logs.MaxFileBytes) + 1 // written ≈ parts × file size
	start := time.Now()
	samples, largest := 0, int64(0)
	eventually(t, "30 MB written", 120*time.Second, func() bool {
		used, newest := usage(t, dir)
		samples++
		largest = max(largest, used)
		if used > limit {
			t.Fatalf("%d bytes of logs on disk after %d parts; the cap is %d", used, newest+1, limit)
		}
		return newest >= parts
	})
	elapsed := time.Since(start)
	t.Logf("flood: %d parts of %d bytes (%.1f MB) in %s = %.1f MB/s; %d samples, at most %d bytes on disk (cap %d)",
		parts, cfg.Logs.MaxFileBytes, float64(parts)*float64(cfg.Logs.MaxFileBytes)/1e6, elapsed.Round(time.Millisecond),
		float64(parts)*float64(cfg.Logs.MaxFileBytes)/1e6/elapsed.Seconds(), samples, largest, limit)
	if a := h.actual("flood1", "LRP/flood/0"); a.State != model.StateRunning || a.CrashCount != 0 {
		t.Fatalf("the flooding instance is %+v; it must run undisturbed", a)
	}
	lines, err := logs.Read(dir, logs.Options{Tail: 3})
	if err != nil || len(lines) != 3 || lines[2].Text != line {
		t.Fatalf("tail of the flood: %d lines, %v", len(lines), err)
	}
}
