package selectors

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cellsync/cellsync/model"
)

func newEnv(t testing.TB, cfg Config) *Env {
	t.Helper()
	env, err := NewEnv(cfg)
	if err != nil {
		t.Fatalf("NewEnv: %v", err)
	}
	return env
}

func prodCell() *model.Cell {
	return &model.Cell{
		Name:     "cell-7",
		Zone:     "z1",
		Labels:   map[string]string{"env": "prod", "tier": "gpu"},
		Capacity: model.Capacity{MemoryMB: 8192, DiskMB: 100_000, Containers: 40},
		Runtime:  "containerd",
		Version:  "1.4.2",
	}
}

func TestCompile(t *testing.T) {
	env := newEnv(t, Config{})
	tests := []struct {
		name    string
		expr    string
		wantErr bool
		// wantLine and wantCol are checked when wantErr is set and they
		// are not zero.
		wantLine, wantCol int
		wantMsg           string
	}{
		{name: "design example", expr: `cell.zone in ["z1", "z2"] && cell.labels["env"] == "prod" && cell.capacity.memoryMB >= 4096`},
		{name: "empty", expr: ``},
		{name: "blank", expr: "  \n "},
		{name: "every attribute", expr: `cell.name != "" && cell.zone != "" && size(cell.labels) >= 0 && cell.capacity.diskMB > 0 && cell.capacity.containers > 0 && cell.runtime == "containerd" && cell.version != "" && cell.state == "ready"`},
		{name: "helpers", expr: `cell.label("env", "dev") == "prod" && semver(cell.version) >= semver("1.2.0")`},
		{name: "optional label", expr: `cell.labels[?"env"].orValue("dev") == "prod"`},
		{name: "label comprehension", expr: `cell.labels.exists(k, k.startsWith("gpu"))`},
		{name: "syntax error", expr: `cell.zone ==`, wantErr: true, wantLine: 1, wantCol: 13},
		{name: "unknown field", expr: `cell.region == "eu"`, wantErr: true, wantLine: 1, wantCol: 5, wantMsg: "undefined field 'region'"},
		{name: "unknown variable", expr: `node.zone == "z1"`, wantErr: true, wantLine: 1, wantCol: 1, wantMsg: "undeclared reference"},
		{name: "int result", expr: `cell.capacity.memoryMB + 1`, wantErr: true, wantMsg: "must be a bool expression, not int"},
		{name: "string result", expr: `cell.zone`, wantErr: true, wantMsg: "not string"},
		{name: "semver result", expr: `semver(cell.version)`, wantErr: true, wantMsg: "not semver"},
		{name: "string compared with int", expr: `cell.zone == 1`, wantErr: true, wantCol: 11, wantMsg: "no matching overload"},
		{name: "int compared with string", expr: `cell.capacity.memoryMB >= "4Gi"`, wantErr: true, wantMsg: "no matching overload"},
		{name: "semver compared with string", expr: `semver(cell.version) >= "1.2.0"`, wantErr: true, wantMsg: "no matching overload"},
		{name: "mixed list", expr: `cell.zone in ["z1", 2]`, wantErr: true, wantMsg: "expected type 'string'"},
		{name: "unknown function", expr: `cell.zone.lower() == "z1"`, wantErr: true, wantMsg: "undeclared reference"},
		{name: "label with one argument", expr: `cell.label("env") == "prod"`, wantErr: true, wantMsg: "found no matching overload"},
		{name: "bad semver constant", expr: `semver(cell.version) >= semver("1.2")`, wantErr: true, wantLine: 1, wantCol: 32, wantMsg: "MAJOR.MINOR.PATCH"},
		{name: "error on second line", expr: "cell.zone == \"z1\" &&\n  cell.zoen == \"z2\"", wantErr: true, wantLine: 2, wantCol: 7, wantMsg: "undefined field 'zoen'"},
		{name: "cost over the limit", expr: `cell.labels.all(a, cell.labels.all(b, cell.labels.all(c, a + b + c != "")))`, wantErr: true, wantMsg: "estimated cost"},
		{name: "constructing a cell", expr: `cellsync.Cell{name: "x"}.name == "x"`, wantErr: true, wantCol: 14, wantMsg: "cannot be constructed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := env.Compile(tt.expr)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Compile(%q) error = %v, wantErr %v", tt.expr, err, tt.wantErr)
			}
			if !tt.wantErr {
				if s.Expr() != tt.expr {
					t.Errorf("Expr() = %q, want %q", s.Expr(), tt.expr)
				}
				return
			}
			var ce *CompileError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v (%T) is not a *CompileError", err, err)
			}
			if ce.Expr != tt.expr {
				t.Errorf("Expr = %q, want %q", ce.Expr, tt.expr)
			}
			if tt.wantLine != 0 && ce.Line != tt.wantLine {
				t.Errorf("Line = %d, want %d (%v)", ce.Line, tt.wantLine, err)
			}
			if tt.wantCol != 0 && ce.Column != tt.wantCol {
				t.Errorf("Column = %d, want %d (%v)", ce.Column, tt.wantCol, err)
			}
			if !strings.Contains(ce.Msg, tt.wantMsg) {
				t.Errorf("Msg = %q, want it to contain %q", ce.Msg, tt.wantMsg)
			}
		})
	}
}

func TestCompileErrorString(t *testing.T) {
	tests := []struct {
		name string
		err  CompileError
		want string
	}{
		{name: "first line", err: CompileError{Line: 1, Column: 4, Msg: "bad"}, want: "column 4: bad"},
		{name: "later line", err: CompileError{Line: 3, Column: 2, Msg: "bad"}, want: "line 3, column 2: bad"},
		{name: "whole expression", err: CompileError{Msg: "too costly"}, want: "too costly"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestMatch(t *testing.T) {
	env := newEnv(t, Config{})
	bare := &model.Cell{Name: "bare", Capacity: model.Capacity{MemoryMB: 1, DiskMB: 1, Containers: 1}}
	tests := []struct {
		name    string
		expr    string
		cell    *model.Cell
		want    bool
		wantErr bool
	}{
		{name: "empty matches", expr: ``, cell: bare, want: true},
		{name: "design example", expr: `cell.zone in ["z1", "z2"] && cell.labels["env"] == "prod" && cell.capacity.memoryMB >= 4096`, cell: prodCell(), want: true},
		{name: "other zone", expr: `cell.zone in ["z2", "z3"]`, cell: prodCell(), want: false},
		{name: "capacity too small", expr: `cell.capacity.memoryMB >= 16384`, cell: prodCell(), want: false},
		{name: "containers", expr: `cell.capacity.containers == 40 && cell.capacity.diskMB == 100000`, cell: prodCell(), want: true},
		{name: "name", expr: `cell.name.startsWith("cell-")`, cell: prodCell(), want: true},
		{name: "runtime", expr: `cell.runtime == "containerd"`, cell: prodCell(), want: true},
		{name: "state defaults to ready", expr: `cell.state == "ready"`, cell: bare, want: true},
		{name: "evacuating", expr: `cell.state == "ready"`, cell: &model.Cell{Name: "e", State: model.CellEvacuating}, want: false},
		{name: "has zone", expr: `has(cell.zone)`, cell: prodCell(), want: true},
		{name: "has no zone", expr: `has(cell.zone)`, cell: bare, want: false},
		{name: "label present", expr: `cell.labels["env"] == "prod"`, cell: prodCell(), want: true},
		{name: "missing label is an error, no match", expr: `cell.labels["env"] == "prod"`, cell: bare, want: false, wantErr: true},
		{name: "missing label negated is an error, no match", expr: `cell.labels["env"] != "prod"`, cell: bare, want: false, wantErr: true},
		{name: "missing label guarded by in", expr: `"env" in cell.labels && cell.labels["env"] == "prod"`, cell: bare, want: false},
		{name: "missing label guarded by has", expr: `!has(cell.labels.env) || cell.labels.env != "prod"`, cell: bare, want: true},
		{name: "missing label with optional default", expr: `cell.labels[?"env"].orValue("dev") == "dev"`, cell: bare, want: true},
		{name: "missing label absorbed by false conjunct", expr: `cell.labels["env"] == "prod" && cell.zone == "z9"`, cell: bare, want: false},
		{name: "missing label absorbed by true disjunct", expr: `cell.labels["env"] == "prod" || cell.name == "bare"`, cell: bare, want: true},
		{name: "label exists", expr: `cell.labels.exists(k, k == "tier")`, cell: prodCell(), want: true},
		{name: "nil labels", expr: `size(cell.labels) == 0`, cell: bare, want: true},
		{name: "cell equals itself", expr: `cell == cell && cell.capacity == cell.capacity`, cell: prodCell(), want: true},
		{name: "semver", expr: `semver(cell.version) >= semver("1.2.0")`, cell: prodCell(), want: true},
		{name: "semver of empty version is an error", expr: `semver(cell.version) >= semver("1.2.0")`, cell: bare, want: false, wantErr: true},
		{name: "semver guarded", expr: `cell.version != "" && semver(cell.version) < semver("1.2.0")`, cell: bare, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := env.Compile(tt.expr)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			got, err := s.Match(tt.cell)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Match error = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("Match = %v, want %v", got, tt.want)
			}
			// The prechecks must never change the outcome.
			full, _ := s.eval(tt.cell)
			if full != got {
				t.Errorf("full evaluation = %v, Match = %v", full, got)
			}
		})
	}
}

func TestLabelHelper(t *testing.T) {
	env := newEnv(t, Config{})
	tests := []struct {
		name   string
		labels map[string]string
		expr   string
		want   bool
	}{
		{name: "present", labels: map[string]string{"env": "prod"}, expr: `cell.label("env", "dev") == "prod"`, want: true},
		{name: "absent gives default", labels: map[string]string{"team": "a"}, expr: `cell.label("env", "dev") == "dev"`, want: true},
		{name: "nil labels give default", labels: nil, expr: `cell.label("env", "dev") == "dev"`, want: true},
		{name: "present but empty is not the default", labels: map[string]string{"env": ""}, expr: `cell.label("env", "dev") == ""`, want: true},
		{name: "dynamic key", labels: map[string]string{"a": "b", "b": "c"}, expr: `cell.label(cell.label("a", ""), "") == "c"`, want: true},
		{name: "absent does not match value", labels: nil, expr: `cell.label("env", "dev") == "prod"`, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := env.Compile(tt.expr)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			got, err := s.Match(&model.Cell{Name: "c", Labels: tt.labels})
			if err != nil {
				t.Fatalf("Match: %v", err)
			}
			if got != tt.want {
				t.Errorf("Match = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSemverHelper(t *testing.T) {
	env := newEnv(t, Config{})
	tests := []struct {
		name    string
		version string
		expr    string
		want    bool
		wantErr bool
	}{
		{name: "at least", version: "1.4.2", expr: `semver(cell.version) >= semver("1.2.0")`, want: true},
		{name: "numeric not lexical", version: "1.10.0", expr: `semver(cell.version) > semver("1.9.0")`, want: true},
		{name: "below", version: "1.1.9", expr: `semver(cell.version) >= semver("1.2.0")`, want: false},
		{name: "less", version: "0.9.0", expr: `semver(cell.version) < semver("1.0.0")`, want: true},
		{name: "less or equal", version: "1.0.0", expr: `semver(cell.version) <= semver("1.0.0")`, want: true},
		{name: "pre-release sorts before release", version: "2.0.0-rc.1", expr: `semver(cell.version) < semver("2.0.0")`, want: true},
		{name: "v prefix", version: "v1.4.2", expr: `semver(cell.version) == semver("1.4.2")`, want: true},
		{name: "build metadata ignored", version: "1.4.2+abc", expr: `semver(cell.version) == semver("1.4.2")`, want: true},
		{name: "not equal", version: "1.4.2", expr: `semver(cell.version) != semver("1.4.3")`, want: true},
		{name: "range", version: "1.5.0", expr: `semver(cell.version) >= semver("1.2.0") && semver(cell.version) < semver("2.0.0")`, want: true},
		{name: "invalid version is an error", version: "latest", expr: `semver(cell.version) >= semver("1.2.0")`, want: false, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := env.Compile(tt.expr)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			got, err := s.Match(&model.Cell{Name: "c", Version: tt.version})
			if (err != nil) != tt.wantErr {
				t.Fatalf("Match error = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("Match = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseSemver(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{in: "1.2.3", want: "1.2.3"},
		{in: "v0.0.1", want: "0.0.1"},
		{in: "1.0.0-alpha.1+build.7", want: "1.0.0-alpha.1+build.7"},
		{in: "1.0.0-x-y-z", want: "1.0.0-x-y-z"},
		{in: "18446744073709551615.0.0", want: "18446744073709551615.0.0"},
		{in: "1.2", wantErr: true},
		{in: "1.2.3.4", wantErr: true},
		{in: "01.2.3", wantErr: true},
		{in: "1.2.3-01", wantErr: true},
		{in: "1.2.3-", wantErr: true},
		{in: "1.2.3+", wantErr: true},
		{in: "1.2.3-a..b", wantErr: true},
		{in: "1.2.3-a_b", wantErr: true},
		{in: "1.-2.3", wantErr: true},
		{in: "18446744073709551616.0.0", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			v, err := ParseSemver(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseSemver(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if err != nil {
				if !errors.Is(err, errSemver) {
					t.Errorf("error %v does not wrap errSemver", err)
				}
				return
			}
			if got := v.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSemverCompare(t *testing.T) {
	// Ascending precedence, from the semver 2.0.0 specification's example
	// plus numeric edge cases; equal neighbours are marked.
	order := []string{
		"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
		"1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.2.0", "1.10.0", "2.0.0",
	}
	for i := range order {
		for j := range order {
			a, _ := ParseSemver(order[i])
			b, _ := ParseSemver(order[j])
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			t.Run(fmt.Sprintf("%s vs %s", order[i], order[j]), func(t *testing.T) {
				if got := a.Compare(b); got != want {
					t.Errorf("Compare = %d, want %d", got, want)
				}
			})
		}
	}
}

func TestCostLimits(t *testing.T) {
	many := &model.Cell{Name: "many", Labels: map[string]string{}}
	for i := range 200 {
		many.Labels[fmt.Sprintf("k%03d", i)] = "v"
	}
	tests := []struct {
		name           string
		cfg            Config
		expr           string
		wantCompileErr bool
		wantCostErr    bool
	}{
		{name: "default limits accept a label scan", cfg: Config{}, expr: `cell.labels.all(k, cell.labels[k] == "v")`},
		{name: "estimate over the limit", cfg: Config{MaxEstimatedCost: 10}, expr: `cell.labels.all(k, cell.labels[k] == "v")`, wantCompileErr: true},
		{name: "runtime budget exhausted", cfg: Config{MaxEstimatedCost: 1 << 40, MaxRuntimeCost: 100}, expr: `cell.labels.all(k, cell.labels[k] == "v")`, wantCostErr: true},
		{name: "quadratic scan exhausts the default budget", cfg: Config{MaxEstimatedCost: 1 << 40}, expr: `cell.labels.all(a, cell.labels.all(b, a + b != ""))`, wantCostErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newEnv(t, tt.cfg)
			s, err := env.Compile(tt.expr)
			if (err != nil) != tt.wantCompileErr {
				t.Fatalf("Compile error = %v, wantErr %v", err, tt.wantCompileErr)
			}
			if err != nil {
				return
			}
			got, err := s.Match(many)
			if errors.Is(err, ErrCostLimit) != tt.wantCostErr {
				t.Fatalf("Match error = %v, want cost error %v", err, tt.wantCostErr)
			}
			if tt.wantCostErr && got {
				t.Errorf("Match = true after exhausting the budget")
			}
			if !tt.wantCostErr && (err != nil || !got) {
				t.Errorf("Match = %v, %v; want true, nil", got, err)
			}
		})
	}
}

func TestDefaultConfig(t *testing.T) {
	env := newEnv(t, Config{MaxRuntimeCost: 7})
	want := Config{MaxEstimatedCost: DefaultMaxEstimatedCost, MaxRuntimeCost: 7}
	if got := env.Config(); got != want {
		t.Errorf("Config() = %+v, want %+v", got, want)
	}
}

func TestWithinHints(t *testing.T) {
	long := strings.Repeat("x", MaxStringHint+1)
	manyLabels := map[string]string{}
	for i := range MaxLabelsHint + 1 {
		manyLabels[fmt.Sprint(i)] = ""
	}
	tests := []struct {
		name string
		cell model.Cell
		want bool
	}{
		{name: "typical", cell: *prodCell(), want: true},
		{name: "long zone", cell: model.Cell{Zone: long}, want: false},
		{name: "long label value", cell: model.Cell{Labels: map[string]string{"k": long}}, want: false},
		{name: "long label key", cell: model.Cell{Labels: map[string]string{long: "v"}}, want: false},
		{name: "too many labels", cell: model.Cell{Labels: manyLabels}, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := withinHints(&tt.cell); got != tt.want {
				t.Errorf("withinHints = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestEstimateBoundsActualCost backs the fast path of Match: for selectors
// without comprehensions and cells within the size hints, the compile-time
// estimate must bound the cost the cost-limited program actually spends.
// Selectors with comprehensions always run cost-limited (cel-go's estimate
// of them is not an upper bound), and that is checked too.
func TestEstimateBoundsActualCost(t *testing.T) {
	env := newEnv(t, Config{})
	full := &model.Cell{Name: strings.Repeat("n", MaxStringHint), Zone: strings.Repeat("z", MaxStringHint),
		Version: "1.2.3-" + strings.Repeat("a", MaxStringHint-6), Labels: map[string]string{}}
	for i := range MaxLabelsHint {
		full.Labels[fmt.Sprintf("%0*d", MaxStringHint, i)] = strings.Repeat("v", MaxStringHint)
	}
	cells := []*model.Cell{prodCell(), {Name: "bare"}, full}
	exprs := append([]string{
		`cell.labels.all(k, cell.labels[k].startsWith("v"))`,
		`cell.labels.exists(k, k.contains("9") && cell.labels[k].size() > 3)`,
		`cell.labels.filter(k, k.endsWith("1")).size() > 2`,
		`cell.labels.map(k, k + cell.labels[k]).exists(s, s.size() > 300)`,
		`cell.name.matches("^n+$") && cell.zone + cell.name != ""`,
		`cell.labels.exists_one(k, cell.labels[k] == cell.zone)`,
		`[cell.zone, cell.name, cell.version].exists(s, s.size() > 100)`,
		`cell == cell`,
		`cell.label(cell.zone, cell.name) == cell.version`,
	}, propExprs...)
	for _, expr := range exprs {
		s := mustCompile(t, env, expr)
		if s.MatchesAll() {
			continue
		}
		loops := strings.Contains(expr, "(k,") || strings.Contains(expr, "(s,")
		if s.fastOK == loops {
			t.Errorf("%s: fastOK = %v with comprehension %v", expr, s.fastOK, loops)
		}
		if !s.fastOK {
			continue
		}
		for _, c := range cells {
			_, det, err := s.prg.Eval(&activation{cell: c})
			if det == nil || det.ActualCost() == nil {
				t.Fatalf("%s: no cost tracked (err %v)", expr, err)
			}
			if got := *det.ActualCost(); got > s.EstimatedCost() {
				t.Errorf("%s on %.10s: actual cost %d > estimate %d", expr, c.Name, got, s.EstimatedCost())
			}
		}
	}
}
