package scaletest

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestTargetsFor(t *testing.T) {
	tests := []struct {
		cells int
		want  targets
	}{
		{cells: 100, want: targets1k},
		{cells: 1000, want: targets1k},
		{cells: 10000, want: targets10k},
		{cells: 50000, want: targets10k},
		// Half-way on a log scale: the geometric mean of the two goals.
		{cells: 3162, want: targets{stored: 17.3, applied: 17.3, edit: 1.7, addSet: 3.5, restart: 8.7, heapMB: 1023.9}},
	}
	for _, tt := range tests {
		if got := targetsFor(tt.cells); got != tt.want {
			t.Errorf("targetsFor(%d) = %+v, want %+v", tt.cells, got, tt.want)
		}
	}
}

// report is a run of cells cells whose commit phase stored in stored
// seconds.
func report(cells int, stored float64) *Report {
	return &Report{Cells: cells, Phases: []*Phase{{Name: "commit", Figures: []Figure{{Key: "stored", Value: stored}, {Key: "rss", Value: float64(cells)}}}}}
}

func TestGridGrowth(t *testing.T) {
	tests := []struct {
		name              string
		runs              []*Report
		wantFig, wantCell float64
		wantRow           string
	}{
		{name: "from 1,000 cells, linear", runs: []*Report{report(100, 0.5), report(1000, 2), report(10000, 20)},
			wantFig: 10, wantCell: 10, wantRow: "×10 for ×10 cells: yes"},
		{name: "from 1,000 cells, faster than the fleet", runs: []*Report{report(1000, 2), report(10000, 40)},
			wantFig: 20, wantCell: 10, wantRow: "×20 for ×10 cells: NO"},
		{name: "no 1,000: from the smallest", runs: []*Report{report(100, 1), report(300, 3.3)},
			wantFig: 3.3, wantCell: 3, wantRow: "×3.30 for ×3 cells: yes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &Grid{Runs: tt.runs, OK: true}
			f, c, ok := g.Growth("commit", "stored")
			if !ok || f != tt.wantFig || c != tt.wantCell {
				t.Errorf("Growth = %v, %v, %v; want %v, %v", f, c, ok, tt.wantFig, tt.wantCell)
			}
			var b strings.Builder
			if err := g.WriteTable(&b); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(b.String(), tt.wantRow) {
				t.Errorf("table lacks %q:\n%s", tt.wantRow, b.String())
			}
		})
	}
}

// TestRunGrid runs two small fleets and checks the grid's files and table.
func TestRunGrid(t *testing.T) {
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	g, err := RunGrid(ctx, []int{30, 15}, Options{
		Sets: 3, Resources: 4, LRPs: 2, Instances: 4,
		LeaseTTL: 2 * time.Second, PhaseTimeout: time.Minute, BaselineKeys: -1, Out: out,
	})
	if err != nil {
		t.Fatalf("RunGrid: %v", err)
	}
	if len(g.Runs) != 2 || g.Runs[0].Cells != 15 || g.Runs[1].Cells != 30 || !g.OK {
		t.Fatalf("grid runs %d, OK %v; want 15 then 30 cells", len(g.Runs), g.OK)
	}
	var b strings.Builder
	if err := g.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"15 cells", "30 cells", "commit: every instance stored (s)", "growth 15→30 cells", "PASS"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("grid table lacks %q:\n%s", want, b.String())
		}
	}
	raw, err := os.ReadFile(filepath.Join(out, "grid.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back Grid
	if err := json.Unmarshal(raw, &back); err != nil || len(back.Runs) != 2 || len(back.Runs[0].Samples) != 0 {
		t.Errorf("grid.json: %v, %d runs", err, len(back.Runs))
	}
	checkPNG(t, filepath.Join(out, "growth.png"))
	checkPNG(t, filepath.Join(out, "30-cells", "scaletest.png"))
}
