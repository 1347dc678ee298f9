package selectors

import (
	"errors"
	"testing"
	"unicode/utf8"

	"github.com/cellsync/cellsync/model"
)

// FuzzCompileEval compiles arbitrary expressions and evaluates those that
// compile against a cell built from the other inputs. It checks that
// nothing panics, that compile errors are *CompileError values pointing
// inside the expression, that accepted selectors are within the estimated
// cost limit, that evaluation stays within the runtime budget, and that the
// prechecks never change the outcome.
func FuzzCompileEval(f *testing.F) {
	f.Add(`cell.zone in ["z1", "z2"] && cell.labels["env"] == "prod"`, "z1", "env", "prod", "1.2.3", int64(4096))
	f.Add(`cell.label("env", "dev") == "dev" || semver(cell.version) >= semver("1.0.0")`, "z2", "team", "a", "v2.0.0-rc.1", int64(1))
	f.Add(`cell.labels.exists(k, cell.labels[k].matches("^p.*"))`, "", "", "", "", int64(0))
	env := newEnv(f, Config{})
	cfg := env.Config()
	f.Fuzz(func(t *testing.T, expr, zone, key, value, version string, mem int64) {
		if len(expr) > 4096 {
			t.Skip("model rejects selectors longer than 4096 bytes")
		}
		s, err := env.Compile(expr)
		if err != nil {
			var ce *CompileError
			if !errors.As(err, &ce) {
				t.Fatalf("Compile(%q) error %v (%T) is not a *CompileError", expr, err, err)
			}
			if ce.Expr != expr || ce.Line < 0 || ce.Column < 0 {
				t.Fatalf("Compile(%q) error has bad position: %+v", expr, ce)
			}
			if ce.Line > 0 && ce.Line > 1+countLines(expr) {
				t.Fatalf("Compile(%q) error line %d is past the end", expr, ce.Line)
			}
			return
		}
		if s.EstimatedCost() > cfg.MaxEstimatedCost {
			t.Fatalf("Compile(%q) accepted estimated cost %d over %d", expr, s.EstimatedCost(), cfg.MaxEstimatedCost)
		}
		c := &model.Cell{Name: "fuzz", Zone: zone, Version: version,
			Labels:   map[string]string{key: value},
			Capacity: model.Capacity{MemoryMB: mem, DiskMB: mem, Containers: int(mem % 1000)}}
		got, matchErr := s.Match(c)
		if s.MatchesAll() {
			if !got || matchErr != nil {
				t.Fatalf("empty selector %q: Match = %v, %v", expr, got, matchErr)
			}
			return
		}
		if matchErr != nil && got {
			t.Fatalf("Match(%q) = true with error %v", expr, matchErr)
		}
		out, det, evalErr := s.prg.Eval(&activation{cell: c})
		if evalErr == nil {
			want := out.Value() == true
			if got != want {
				t.Fatalf("Match(%q) = %v, full evaluation %v", expr, got, want)
			}
			if det == nil || det.ActualCost() == nil || *det.ActualCost() > cfg.MaxRuntimeCost {
				t.Fatalf("Eval(%q) cost not tracked or over budget: %v", expr, det)
			}
			// Match skips cost tracking on such cells because the
			// estimate bounds the actual cost: check that it does.
			if s.fastOK && withinHints(c) && *det.ActualCost() > s.EstimatedCost() {
				t.Fatalf("Eval(%q) actual cost %d exceeds the estimate %d", expr, *det.ActualCost(), s.EstimatedCost())
			}
		} else if got {
			t.Fatalf("Match(%q) = true, full evaluation failed: %v", expr, evalErr)
		}
	})
}

func countLines(s string) int {
	n := 0
	for _, r := range s {
		if r == '\n' {
			n++
		}
	}
	return n
}

// FuzzParseSemver checks that the parser never panics and that what it
// accepts prints back to an equal version.
func FuzzParseSemver(f *testing.F) {
	for _, s := range []string{"1.2.3", "v0.0.1-alpha.1+b.2", "1.2", "01.2.3", "1.2.3-", "9999999999999999999999.0.0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseSemver(s)
		if err != nil {
			if !errors.Is(err, errSemver) {
				t.Fatalf("ParseSemver(%q) error %v does not wrap errSemver", s, err)
			}
			return
		}
		if !utf8.ValidString(s) {
			t.Fatalf("ParseSemver accepted invalid UTF-8 %q", s)
		}
		w, err := ParseSemver(v.String())
		if err != nil {
			t.Fatalf("ParseSemver(%q).String() = %q does not parse: %v", s, v.String(), err)
		}
		if v.Compare(w) != 0 || w.String() != v.String() {
			t.Fatalf("round trip of %q: %q vs %q", s, v, w)
		}
	})
}
