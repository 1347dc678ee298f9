package scaletest

import (
	"context"
	"encoding/json"
	"errors"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRunSmall runs every phase on a small fleet and checks correctness,
// not speed: each phase must pass its check and report its figures.
func TestRunSmall(t *testing.T) {
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := Run(ctx, Options{
		Cells: 60, Sets: 6, Resources: 10, LRPs: 3, Instances: 8,
		LeaseTTL: 2 * time.Second, PhaseTimeout: time.Minute, BaselineKeys: 2000,
		Out: out, WorkDir: t.TempDir(),
	})
	if err != nil {
		if rep != nil {
			var b strings.Builder
			_ = rep.WriteTable(&b)
			t.Log(b.String())
		}
		t.Fatalf("Run: %v", err)
	}
	want := []string{"adopt", "commit", "add-res", "add-set", "restart", "resize", "kill"}
	if len(rep.Phases) != len(want) {
		t.Fatalf("ran %d phases, want %d", len(rep.Phases), len(want))
	}
	for i, p := range rep.Phases {
		if p.Name != want[i] || p.Error != "" || len(p.Figures) == 0 {
			t.Errorf("phase %d = %s (error %q, %d figures), want %s passing with figures", i, p.Name, p.Error, len(p.Figures), want[i])
		}
	}
	if !rep.OK || len(rep.Samples) == 0 || rep.Baseline.KeysPerSec <= 0 {
		t.Errorf("report OK=%v, %d samples, baseline %v", rep.OK, len(rep.Samples), rep.Baseline)
	}
	var b strings.Builder
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "PASS") {
		t.Errorf("summary lacks PASS:\n%s", b.String())
	}
	t.Log(b.String())
	raw, err := os.ReadFile(filepath.Join(out, "scaletest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(raw, &back); err != nil || len(back.Phases) != len(want) {
		t.Errorf("JSON report: %v, %d phases", err, len(back.Phases))
	}
	checkPNG(t, filepath.Join(out, "scaletest.png"))
}

// TestRunReportsFailure checks that a phase that cannot finish fails the run
// with ErrFailed and a report, and that later phases are skipped.
func TestRunReportsFailure(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := Run(ctx, Options{Cells: 5, Sets: 1, Resources: 1, LRPs: -1, PhaseTimeout: time.Nanosecond, BaselineKeys: -1, WorkDir: t.TempDir()})
	if !errors.Is(err, ErrFailed) {
		t.Fatalf("Run error = %v, want ErrFailed", err)
	}
	if rep == nil || rep.OK || len(rep.Phases) != 1 || !strings.Contains(rep.Phases[0].Error, "later phases skipped") {
		t.Fatalf("report = %+v, want one failed phase", rep)
	}
	var b strings.Builder
	if err := rep.WriteTable(&b); err != nil || !strings.Contains(b.String(), "FAIL: phases adopt") {
		t.Errorf("summary (err %v):\n%s", err, b.String())
	}
}

// checkPNG fails unless path holds a PNG image of a plausible size.
func checkPNG(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	if err != nil || cfg.Width < 500 || cfg.Height < 300 {
		t.Errorf("%s: %v, %dx%d", path, err, cfg.Width, cfg.Height)
	}
}
