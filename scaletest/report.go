package scaletest

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// Report holds every figure of a run; it is what the JSON file contains.
type Report struct {
	// Cells, Sets, Resources, LRPs and Instances are the run's size.
	Cells     int `json:"cells"`
	Sets      int `json:"sets"`
	Resources int `json:"resources"`
	LRPs      int `json:"lrps"`
	Instances int `json:"instances"`
	// Workers and ResizedWorkers are the pools before and after phase 6.
	Workers        string `json:"workers"`
	ResizedWorkers string `json:"resizedWorkers"`
	// LeaseTTLSeconds is the cells' lease TTL.
	LeaseTTLSeconds float64 `json:"leaseTTLSeconds"`
	// Etcd is "embedded" or the endpoints used.
	Etcd string `json:"etcd"`
	// CPUs, GoVersion and the load averages (1, 5, 15 minutes) describe
	// the machine, which may be shared.
	CPUs      int    `json:"cpus"`
	GoVersion string `json:"goVersion"`
	LoadStart string `json:"loadAvgStart"`
	LoadEnd   string `json:"loadAvgEnd"`
	// Baseline is the raw batched put loop against the same etcd.
	Baseline Baseline `json:"baseline"`
	// Phases are in the order run.
	Phases []*Phase `json:"phases"`
	// Samples are every observation, all phases.
	Samples []Sample `json:"samples"`
	// OK is true when every phase passed its correctness check.
	OK bool `json:"ok"`
}

// Baseline is the store's limit: a single loop writing Keys keys of
// ValueBytes each with store.Client.Write in Batch-op transactions.
type Baseline struct {
	Keys         int     `json:"keys"`
	ValueBytes   int     `json:"valueBytes"`
	Batch        int     `json:"batch"`
	Seconds      float64 `json:"seconds"`
	KeysPerSec   float64 `json:"keysPerSec"`
	Transactions int     `json:"transactions"`
}

// Phase is one measured step of the run.
type Phase struct {
	// Name is short ("commit"), Title says what the phase does.
	Name  string `json:"name"`
	Title string `json:"title"`
	// Start and Seconds place the phase on the run's time line.
	Start   float64 `json:"start"`
	Seconds float64 `json:"seconds"`
	// Figures are the phase's measurements, in table order.
	Figures []Figure `json:"figures"`
	// Apply is the hub's apply duration histogram over the phase (one
	// observation per per-cell instance applied in memory).
	Apply Histogram `json:"applyDuration"`
	// PeakRSSMB and PeakHeapMB are the highest samples during the phase.
	PeakRSSMB  float64 `json:"peakRSSMB"`
	PeakHeapMB float64 `json:"peakHeapMB"`
	// Error is why the phase failed its wait or its correctness check;
	// empty when it passed.
	Error string `json:"error,omitempty"`
}

// Figure is one measurement, with the target the issue sets and Hive's
// figure for the same step.
type Figure struct {
	// Key names the figure across fleet sizes, for the grid ("stored"),
	// or is empty for figures the grid does not compare.
	Key   string  `json:"key,omitempty"`
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
	// Target is the goal on this machine ("≤ 10 s"), or "".
	Target string `json:"target,omitempty"`
	// Met is set when the figure has a numeric target: whether it was met.
	Met *bool `json:"met,omitempty"`
	// Hive is Hive's figure for the same step, from its 2019 and 2020 scale
	// tests, or "".
	Hive string `json:"hive,omitempty"`
}

func (p *Phase) add(f Figure) { p.Figures = append(p.Figures, f) }

// atMost returns a figure with a "≤ limit" target.
func atMost(key, name string, v float64, unit string, limit float64, hive string) Figure {
	met := v <= limit
	return Figure{Key: key, Name: name, Value: v, Unit: unit, Target: fmt.Sprintf("≤ %s %s", num(limit), unit), Met: &met, Hive: hive}
}

// targets are the goals of one run on this 2-core machine, by fleet size:
// the 1,000-cell goals at 1,000 cells and below, the 10,000-cell goals at
// 10,000 and above, interpolated on a log scale between the two.
type targets struct {
	// Seconds from the commit until every per-cell instance is stored and
	// until every cell applied it; until one edit, and one new set, is
	// stored on every cell; until a restarted hub has resynced.
	stored, applied, edit, addSet, restart float64
	// heapMB bounds the hub's live heap after the restart.
	heapMB float64
}

var (
	targets1k  = targets{stored: 10, applied: 5, edit: 1, addSet: 2, restart: 5, heapMB: 512}
	targets10k = targets{stored: 30, applied: 60, edit: 3, addSet: 6, restart: 15, heapMB: 2048}
)

func targetsFor(cells int) targets {
	f := math.Log10(float64(cells)) - 3 // 0 at 1,000 cells, 1 at 10,000
	f = min(max(f, 0), 1)
	at := func(a, b float64) float64 { return math.Round(a*math.Pow(b/a, f)*10) / 10 }
	a, b := targets1k, targets10k
	return targets{
		stored: at(a.stored, b.stored), applied: at(a.applied, b.applied), edit: at(a.edit, b.edit),
		addSet: at(a.addSet, b.addSet), restart: at(a.restart, b.restart), heapMB: at(a.heapMB, b.heapMB),
	}
}

func num(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 100 || v == float64(int64(v)):
		return fmt.Sprintf("%.0f", v)
	case v >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

// WriteTable prints the human summary: one row per figure.
func (r *Report) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "cellsync scaletest: %d cells, %d sets × %d Configs, %d LRPs × %d instances; workers %s → %s; etcd %s\n",
		r.Cells, r.Sets, r.Resources, r.LRPs, r.Instances, r.Workers, r.ResizedWorkers, r.Etcd)
	fmt.Fprintf(w, "machine: %d CPUs, %s, load average %s at start, %s at end\n", r.CPUs, r.GoVersion, r.LoadStart, r.LoadEnd)
	fmt.Fprintf(w, "baseline: raw batched put loop (%d-op transactions, %d-byte values): %s keys/s\n\n", r.Baseline.Batch, r.Baseline.ValueBytes, num(r.Baseline.KeysPerSec))
	// Rows are aligned by hand so that every phase's figures share one
	// set of columns while each phase's title spans the whole line.
	rows := [][]string{{"figure", "cellsync", "target", "met", "Hive"}}
	for _, p := range r.Phases {
		for _, f := range p.Figures {
			met := ""
			if f.Met != nil {
				met = map[bool]string{true: "yes", false: "NO"}[*f.Met]
			}
			rows = append(rows, []string{f.Name, num(f.Value) + " " + f.Unit, f.Target, met, f.Hive})
		}
	}
	width := make([]int, len(rows[0]))
	for _, row := range rows {
		for i, c := range row {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	line := func(row []string) {
		var b strings.Builder
		b.WriteString("    ")
		for i, c := range row {
			b.WriteString(c)
			if i < len(row)-1 {
				b.WriteString(strings.Repeat(" ", width[i]-utf8.RuneCountInString(c)+2))
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
	line(rows[0])
	next := 1
	for _, p := range r.Phases {
		status := ""
		if p.Error != "" {
			status = "  FAILED: " + p.Error
		}
		fmt.Fprintf(w, "%s: %s (%.1f s)%s\n", p.Name, p.Title, p.Seconds, status)
		for range p.Figures {
			line(rows[next])
			next++
		}
	}
	verdict := "PASS: every phase left every cell with exactly its desired assignments"
	if !r.OK {
		var failed []string
		for _, p := range r.Phases {
			if p.Error != "" {
				failed = append(failed, p.Name)
			}
		}
		verdict = "FAIL: phases " + strings.Join(failed, ", ")
	}
	if _, err := fmt.Fprintln(w, "\n"+verdict); err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	return nil
}

// writeFiles writes scaletest.json and scaletest.png into dir.
func (r *Report) writeFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create report dir: %w", err)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "scaletest.json"), b, 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	png, err := r.Chart()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "scaletest.png"), png, 0o644); err != nil {
		return fmt.Errorf("write chart: %w", err)
	}
	return nil
}
