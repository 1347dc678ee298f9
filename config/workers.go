package config

import (
	"fmt"
	"strconv"
	"strings"
)

// Workers sizes the worker pool of each hub controller. Each value is a
// number of goroutines between 1 and MaxWorkers.
//
// *Workers is a flag.Value (and a pflag.Value): "--workers fanout=8,apply=32"
// overlays the named pools and keeps the others.
type Workers struct {
	// Fanout evaluates selectors and placement per workload. Goroutines.
	// Default 8.
	Fanout int `yaml:"fanout"`
	// Apply merges and writes per-cell instances. Goroutines. Default 32.
	Apply int `yaml:"apply"`
	// Convergence re-places, restarts and fails work of dead or crashed
	// instances. Goroutines. Default 2.
	Convergence int `yaml:"convergence"`
}

// DefaultWorkers returns the default pool sizes.
func DefaultWorkers() Workers { return Workers{Fanout: 8, Apply: 32, Convergence: 2} }

// ParseWorkers parses "fanout=8,apply=32" over DefaultWorkers. Pool names are
// fanout, apply and convergence; a pool not named keeps its default.
func ParseWorkers(s string) (Workers, error) {
	w := DefaultWorkers()
	if err := w.Set(s); err != nil {
		return Workers{}, err
	}
	return w, nil
}

// Set overlays the pools named in s ("name=n,name=n") onto w; w is unchanged
// on error.
func (w *Workers) Set(s string) error {
	out := *w
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, val, ok := strings.Cut(part, "=")
		if !ok {
			return fmt.Errorf("workers %q: %q is not name=count", s, part)
		}
		n, err := strconv.Atoi(strings.TrimSpace(val))
		if err != nil || n < 1 || n > MaxWorkers {
			return fmt.Errorf("workers %q: %s must be a count between 1 and %d, got %q", s, name, MaxWorkers, val)
		}
		switch strings.TrimSpace(name) {
		case "fanout":
			out.Fanout = n
		case "apply":
			out.Apply = n
		case "convergence":
			out.Convergence = n
		default:
			return fmt.Errorf("workers %q: unknown pool %q (want fanout, apply or convergence)", s, name)
		}
	}
	*w = out
	return nil
}

// String renders w as Set parses it.
func (w *Workers) String() string {
	if w == nil {
		return ""
	}
	return fmt.Sprintf("fanout=%d,apply=%d,convergence=%d", w.Fanout, w.Apply, w.Convergence)
}

// Type names the flag's value type for pflag's help output.
func (w *Workers) Type() string { return "pools" }
