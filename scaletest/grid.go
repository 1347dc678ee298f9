package scaletest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Grid is the scale test run at several fleet sizes, to see how each
// phase's cost grows with the number of cells: linearly at most.
type Grid struct {
	// Runs are the reports, by ascending fleet size.
	Runs []*Report `json:"runs"`
	// OK is true when every run passed its correctness checks.
	OK bool `json:"ok"`
}

// gridRows are the figures the grid compares across sizes: the phase, the
// figure's key and how the row is labelled.
var gridRows = []struct{ phase, key, label string }{
	{"adopt", "registered", "adopt: all cells registered (s)"},
	{"commit", "stored", "commit: every instance stored (s)"},
	{"commit", "applied", "commit: every cell applied (s)"},
	{"add-res", "stored", "add one resource: stored (s)"},
	{"add-res", "applied", "add one resource: applied (s)"},
	{"add-set", "stored", "add one set: stored (s)"},
	{"restart", "resync", "restart: resynced (s)"},
	{"resize", "stored", "resize: one resource stored (s)"},
	{"kill", "replaced", "kill 10%: instances re-placed (s)"},
	{"restart", "heap", "hub live heap after restart (MB)"},
	{"commit", "rss", "process RSS, commit peak (MB)"},
}

// maxGrowth is how much faster than the fleet a figure may grow: the time
// at 10× the cells may be at most 12× (the linearity target).
const maxGrowth = 1.2

// RunGrid runs the scale test once for each fleet size in sizes, from
// smallest to largest, each on a new embedded etcd with the rest of o.
// With o.Out set, each run's report goes to <Out>/<cells>-cells/ and the
// grid's to <Out>/grid.json and <Out>/growth.png. It stops at the first run
// that cannot run; a run that fails its checks is kept and makes the error
// ErrFailed.
func RunGrid(ctx context.Context, sizes []int, o Options) (*Grid, error) {
	if len(sizes) < 2 {
		return nil, fmt.Errorf("scaletest grid: need at least two fleet sizes, got %v", sizes)
	}
	if len(o.EtcdEndpoints) > 0 {
		return nil, errors.New("scaletest grid: each size needs an empty etcd, so the grid runs on embedded etcd only")
	}
	sizes = slices.Clone(sizes)
	slices.Sort(sizes)
	g := &Grid{OK: true}
	out := o.Out
	for _, n := range sizes {
		run := o
		run.Cells = n
		if out != "" {
			run.Out = filepath.Join(out, fmt.Sprintf("%d-cells", n))
		}
		rep, err := Run(ctx, run)
		if rep != nil {
			g.Runs = append(g.Runs, rep)
		}
		switch {
		case errors.Is(err, ErrFailed):
			g.OK = false
		case err != nil:
			return g, fmt.Errorf("scaletest grid at %d cells: %w", n, err)
		}
	}
	if out != "" {
		if err := g.writeFiles(out); err != nil {
			return g, err
		}
	}
	if !g.OK {
		return g, ErrFailed
	}
	return g, nil
}

// value returns the figure key of phase in run r, and whether it exists.
func (r *Report) value(phase, key string) (float64, bool) {
	for _, p := range r.Phases {
		if p.Name != phase {
			continue
		}
		for _, f := range p.Figures {
			if f.Key == key {
				return f.Value, true
			}
		}
	}
	return 0, false
}

// reference is the run growth is measured from: 1,000 cells if the grid
// has it, else its smallest.
func (g *Grid) reference() *Report {
	for _, r := range g.Runs {
		if r.Cells == 1000 {
			return r
		}
	}
	return g.Runs[0]
}

// Growth returns, for one row, the ratio of the largest run's figure to the
// reference run's, and the ratio of their fleet sizes.
func (g *Grid) Growth(phase, key string) (figure, cells float64, ok bool) {
	ref, last := g.reference(), g.Runs[len(g.Runs)-1]
	a, okA := ref.value(phase, key)
	b, okB := last.value(phase, key)
	if !okA || !okB || a <= 0 || ref == last {
		return 0, 0, false
	}
	return b / a, float64(last.Cells) / float64(ref.Cells), true
}

// WriteTable prints the grid: one row per compared figure, one column per
// fleet size, and the growth from the reference size to the largest.
func (g *Grid) WriteTable(w io.Writer) error {
	if len(g.Runs) == 0 {
		_, err := fmt.Fprintln(w, "cellsync scaletest grid: no run completed")
		return err
	}
	ref, last := g.reference(), g.Runs[len(g.Runs)-1]
	header := []string{"figure"}
	for _, r := range g.Runs {
		header = append(header, strconv.Itoa(r.Cells)+" cells")
	}
	header = append(header, fmt.Sprintf("growth %d→%d cells (≤ %.1f× the cells)", ref.Cells, last.Cells, maxGrowth))
	rows := [][]string{header}
	for _, row := range gridRows {
		line := []string{row.label}
		for _, r := range g.Runs {
			v, ok := r.value(row.phase, row.key)
			cell := "-"
			if ok {
				cell = num(v)
			}
			line = append(line, cell)
		}
		growth := ""
		if f, c, ok := g.Growth(row.phase, row.key); ok {
			verdict := "yes"
			if f > maxGrowth*c && row.phase != "kill" {
				verdict = "NO"
			}
			growth = fmt.Sprintf("×%s for ×%s cells: %s", num(f), num(c), verdict)
		}
		rows = append(rows, append(line, growth))
	}
	perCell := []string{"process RSS per cell, commit peak (MB)"}
	for _, r := range g.Runs {
		v, _ := r.value("commit", "rss")
		perCell = append(perCell, fmt.Sprintf("%.2f", v/float64(r.Cells)))
	}
	rows = append(rows, append(perCell, ""))
	fmt.Fprintf(w, "cellsync scaletest grid: %d sets × %d Configs, %d LRPs × %d instances; load average %s at start, %s at end\n",
		ref.Sets, ref.Resources, ref.LRPs, ref.Instances, g.Runs[0].LoadStart, last.LoadEnd)
	width := make([]int, len(header))
	for _, row := range rows {
		for i, c := range row {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	for _, row := range rows {
		var b strings.Builder
		for i, c := range row {
			b.WriteString(c)
			if i < len(row)-1 {
				b.WriteString(strings.Repeat(" ", width[i]-len([]rune(c))+2))
			}
		}
		fmt.Fprintln(w, "    "+strings.TrimRight(b.String(), " "))
	}
	fmt.Fprintln(w, "    (re-placement after a kill waits for the lease TTL, so it is not expected to grow)")
	verdict := "PASS: every run left every cell with exactly its desired assignments"
	if !g.OK {
		verdict = "FAIL: a run failed its correctness check (see its report)"
	}
	if _, err := fmt.Fprintln(w, verdict); err != nil {
		return fmt.Errorf("write grid: %w", err)
	}
	return nil
}

// writeFiles writes grid.json and growth.png into dir.
func (g *Grid) writeFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create report dir: %w", err)
	}
	// The per-size reports, with their samples, are in their own
	// directories; the grid keeps the figures.
	slim := Grid{OK: g.OK}
	for _, r := range g.Runs {
		c := *r
		c.Samples = nil
		slim.Runs = append(slim.Runs, &c)
	}
	b, err := json.MarshalIndent(slim, "", "  ")
	if err != nil {
		return fmt.Errorf("encode grid: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "grid.json"), b, 0o644); err != nil {
		return fmt.Errorf("write grid: %w", err)
	}
	png, err := g.Chart()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "growth.png"), png, 0o644); err != nil {
		return fmt.Errorf("write growth chart: %w", err)
	}
	return nil
}
