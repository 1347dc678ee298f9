package selectors

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cellsync/cellsync/model"
)

func mustCompile(t testing.TB, env *Env, expr string) *Selector {
	t.Helper()
	s, err := env.Compile(expr)
	if err != nil {
		t.Fatalf("Compile(%q): %v", expr, err)
	}
	return s
}

func cell(name, zone string, labels ...string) model.Cell {
	c := model.Cell{Name: name, Zone: zone, Capacity: model.Capacity{MemoryMB: 4096, DiskMB: 10000, Containers: 10}}
	if len(labels) > 0 {
		c.Labels = map[string]string{}
		for i := 0; i+1 < len(labels); i += 2 {
			c.Labels[labels[i]] = labels[i+1]
		}
	}
	return c
}

func TestIndexScenario(t *testing.T) {
	env := newEnv(t, Config{})
	x := NewIndex()
	type step struct {
		name string
		do   func() []Change
		want []Change
		// wantMatches is checked for every listed selector after the step.
		wantMatches map[string][]string
	}
	steps := []step{
		{name: "selector before any cell", do: func() []Change {
			return x.SetSelector("LRP/web", mustCompile(t, env, `cell.zone in ["z1", "z2"]`))
		}, wantMatches: map[string][]string{"LRP/web": {}}},
		{name: "matching cell", do: func() []Change { return x.UpsertCell(cell("a", "z1", "env", "prod")) },
			want: []Change{{Selector: "LRP/web", Cell: "a", Matched: true}}},
		{name: "non-matching cell", do: func() []Change { return x.UpsertCell(cell("b", "z3")) }},
		{name: "empty selector matches all", do: func() []Change { return x.SetSelector("SelectorSyncSet/all", mustCompile(t, env, ``)) },
			want: []Change{{Selector: "SelectorSyncSet/all", Cell: "a", Matched: true}, {Selector: "SelectorSyncSet/all", Cell: "b", Matched: true}}},
		{name: "label selector; b has no env label", do: func() []Change {
			return x.SetSelector("SelectorSyncSet/prod", mustCompile(t, env, `cell.labels["env"] == "prod"`))
		}, want: []Change{{Selector: "SelectorSyncSet/prod", Cell: "a", Matched: true}}},
		{name: "unchanged cell is a no-op", do: func() []Change { return x.UpsertCell(cell("a", "z1", "env", "prod")) }},
		{name: "relabel a", do: func() []Change { return x.UpsertCell(cell("a", "z1", "env", "dev")) },
			want: []Change{{Selector: "SelectorSyncSet/prod", Cell: "a", Matched: false}}},
		{name: "move b into z2 with env=prod", do: func() []Change { return x.UpsertCell(cell("b", "z2", "env", "prod")) },
			want:        []Change{{Selector: "LRP/web", Cell: "b", Matched: true}, {Selector: "SelectorSyncSet/prod", Cell: "b", Matched: true}},
			wantMatches: map[string][]string{"LRP/web": {"a", "b"}, "SelectorSyncSet/prod": {"b"}, "SelectorSyncSet/all": {"a", "b"}}},
		{name: "change selector", do: func() []Change { return x.SetSelector("LRP/web", mustCompile(t, env, `cell.zone == "z2"`)) },
			want: []Change{{Selector: "LRP/web", Cell: "a", Matched: false}}},
		{name: "remove cell", do: func() []Change { return x.RemoveCell("b") },
			want: []Change{{Selector: "LRP/web", Cell: "b", Matched: false}, {Selector: "SelectorSyncSet/all", Cell: "b", Matched: false}, {Selector: "SelectorSyncSet/prod", Cell: "b", Matched: false}}},
		{name: "remove unknown cell", do: func() []Change { return x.RemoveCell("b") }},
		{name: "remove selector", do: func() []Change { return x.RemoveSelector("SelectorSyncSet/all") },
			want:        []Change{{Selector: "SelectorSyncSet/all", Cell: "a", Matched: false}},
			wantMatches: map[string][]string{"SelectorSyncSet/all": nil, "LRP/web": {}}},
		{name: "remove unknown selector", do: func() []Change { return x.RemoveSelector("SelectorSyncSet/all") }},
		{name: "nil selector matches all", do: func() []Change { return x.SetSelector("Task/t", nil) },
			want: []Change{{Selector: "Task/t", Cell: "a", Matched: true}}},
	}
	for _, st := range steps {
		got := st.do()
		if !slices.Equal(got, st.want) {
			t.Fatalf("%s: changes = %v, want %v", st.name, got, st.want)
		}
		for id, want := range st.wantMatches {
			if got := x.Matches(id); !slices.Equal(got, want) || (want == nil) != (got == nil) {
				t.Fatalf("%s: Matches(%q) = %#v, want %#v", st.name, id, got, want)
			}
		}
	}
	if !x.Matching("Task/t", "a") || x.Matching("Task/t", "zz") || x.Matching("nope", "a") {
		t.Errorf("Matching disagrees with Matches")
	}
	if cells, sels := x.Len(); cells != 1 || sels != 3 {
		t.Errorf("Len() = %d, %d; want 1, 3", cells, sels)
	}
	if s, ok := x.Selector("LRP/web"); !ok || s.Expr() != `cell.zone == "z2"` {
		t.Errorf("Selector(LRP/web) = %v, %v", s, ok)
	}
}

// TestIndexErrors: the cells a selector fails to evaluate against are
// counted, and the count follows every update of the cell or the selector.
func TestIndexErrors(t *testing.T) {
	env := newEnv(t, Config{})
	x := NewIndex()
	x.UpsertCell(cell("a", "z1", "env", "prod"))
	x.UpsertCell(cell("b", "z1"))
	x.SetSelector("s", mustCompile(t, env, `cell.labels["env"] == "prod"`))
	x.UpsertCell(cell("c", "z2"))
	check := func(step string, want int, wantIn string) {
		t.Helper()
		n, sample := x.Errors("s")
		if n != want || (want > 0) != (sample != nil) {
			t.Fatalf("%s: Errors = %d, %v; want %d", step, n, sample, want)
		}
		if sample != nil && !strings.Contains(sample.Error(), wantIn) {
			t.Fatalf("%s: sample %q lacks %q", step, sample, wantIn)
		}
	}
	check("b and c have no env label", 2, "no such key")
	x.UpsertCell(cell("b", "z1", "env", "dev"))
	check("b relabelled", 1, "cell c: ")
	x.RemoveCell("c")
	check("c removed", 0, "")
	x.UpsertCell(cell("d", "z1"))
	check("d registered", 1, "cell d: ")
	x.SetSelector("s", mustCompile(t, env, `"env" in cell.labels && cell.labels["env"] == "prod"`))
	check("selector fixed", 0, "")
	if n, err := x.Errors("unknown"); n != 0 || err != nil {
		t.Errorf("Errors(unknown) = %d, %v", n, err)
	}
}

func TestIndexKeepsItsOwnCopy(t *testing.T) {
	env := newEnv(t, Config{})
	x := NewIndex()
	x.SetSelector("s", mustCompile(t, env, `cell.labels["env"] == "prod"`))
	c := cell("a", "z1", "env", "prod")
	x.UpsertCell(c)
	c.Labels["env"] = "dev" // the caller's map, not the index's
	if !x.Matching("s", "a") {
		t.Fatal("mutating the caller's cell changed the index")
	}
	if got := x.UpsertCell(c); len(got) != 1 || got[0].Matched {
		t.Errorf("UpsertCell after relabel = %v, want a to leave s", got)
	}
}

// model of the property test: random cells and selectors from small
// pools, so that updates collide and match sets move both ways.
var (
	propZones   = []string{"", "z1", "z2", "z3"}
	propEnvs    = []string{"", "prod", "dev"}
	propVersion = []string{"", "1.0.0", "1.2.0", "1.10.0-rc.1", "bad"}
	propExprs   = []string{
		``,
		`cell.zone == "z1"`,
		`"z2" == cell.zone && cell.capacity.memoryMB >= 4096`,
		`cell.zone in ["z1", "z3"]`,
		`cell.zone in ["z1", "z3"] && cell.labels["env"] == "prod"`,
		`cell.labels["env"] == "prod"`,
		`cell.labels["env"] in ["prod", "dev"] && cell.zone != "z2"`,
		`cell.labels["env"] == "prod" && cell.zone == "z2"`,
		`cell.label("env", "none") == "none"`,
		`cell.labels["env"] == "dev" || cell.zone == "z3"`,
		`semver(cell.version) >= semver("1.2.0")`,
		`cell.zone == "z1" && semver(cell.version) < semver("1.2.0")`,
		`cell.state == "ready" && cell.capacity.containers > 5`,
		`cell.labels.exists(k, k == "rack")`,
		`!(cell.zone == "z1")`,
		`cell.name in ["c1", "c3", "c5"]`,
	}
)

func randomCell(r *rand.Rand) model.Cell {
	c := model.Cell{
		Name:     fmt.Sprintf("c%d", r.IntN(12)),
		Zone:     propZones[r.IntN(len(propZones))],
		Capacity: model.Capacity{MemoryMB: int64(1024 * (1 + r.IntN(8))), DiskMB: 1000, Containers: r.IntN(10)},
		Version:  propVersion[r.IntN(len(propVersion))],
	}
	if r.IntN(4) == 0 {
		c.State = model.CellEvacuating
	}
	if env := propEnvs[r.IntN(len(propEnvs))]; env != "" {
		c.Labels = map[string]string{"env": env}
	}
	if r.IntN(3) == 0 {
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		c.Labels["rack"] = fmt.Sprint(r.IntN(3))
	}
	return c
}

// fullEvaluation computes every match set from scratch, by the CEL program
// alone (no prechecks), as the reference for the index.
func fullEvaluation(cells map[string]model.Cell, sels map[string]*Selector) map[string][]string {
	out := map[string][]string{}
	for id, s := range sels {
		m := []string{}
		for name, c := range cells {
			if ok, _ := s.eval(&c); ok {
				m = append(m, name)
			}
		}
		slices.Sort(m)
		out[id] = m
	}
	return out
}

func TestIndexMatchesFullEvaluation(t *testing.T) {
	env := newEnv(t, Config{})
	compiled := make([]*Selector, len(propExprs))
	for i, e := range propExprs {
		compiled[i] = mustCompile(t, env, e)
	}
	for seed := range uint64(25) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 42))
			x := NewIndex()
			cells := map[string]model.Cell{}
			sels := map[string]*Selector{}
			before := fullEvaluation(cells, sels)
			for step := range 200 {
				var got []Change
				var what string
				switch op := r.IntN(10); {
				case op < 5:
					c := randomCell(r)
					cells[c.Name] = c
					got = x.UpsertCell(c)
					what = fmt.Sprintf("UpsertCell(%+v)", c)
				case op < 7:
					name := fmt.Sprintf("c%d", r.IntN(12))
					delete(cells, name)
					got = x.RemoveCell(name)
					what = "RemoveCell(" + name + ")"
				case op < 9:
					id := fmt.Sprintf("s%d", r.IntN(6))
					i := r.IntN(len(compiled))
					sels[id] = compiled[i]
					got = x.SetSelector(id, compiled[i])
					what = fmt.Sprintf("SetSelector(%s, %q)", id, propExprs[i])
				default:
					id := fmt.Sprintf("s%d", r.IntN(6))
					delete(sels, id)
					got = x.RemoveSelector(id)
					what = "RemoveSelector(" + id + ")"
				}
				after := fullEvaluation(cells, sels)
				for id, want := range after {
					if m := x.Matches(id); !slices.Equal(m, want) {
						t.Fatalf("step %d %s: Matches(%s) = %v, full evaluation %v", step, what, id, m, want)
					}
					for name := range cells {
						if x.Matching(id, name) != slices.Contains(want, name) {
							t.Fatalf("step %d %s: Matching(%s, %s) disagrees", step, what, id, name)
						}
					}
				}
				if wantChanges := diff(before, after); !sameChanges(got, wantChanges) {
					t.Fatalf("step %d %s: changes = %v, want %v", step, what, got, wantChanges)
				}
				if nc, ns := x.Len(); nc != len(cells) || ns != len(sels) {
					t.Fatalf("step %d: Len() = %d, %d; want %d, %d", step, nc, ns, len(cells), len(sels))
				}
				before = after
			}
		})
	}
}

// diff lists the changes between two sets of match sets.
func diff(before, after map[string][]string) []Change {
	var out []Change
	for _, id := range unionKeys(before, after) {
		b, a := before[id], after[id]
		for _, c := range a {
			if !slices.Contains(b, c) {
				out = append(out, Change{Selector: id, Cell: c, Matched: true})
			}
		}
		for _, c := range b {
			if !slices.Contains(a, c) {
				out = append(out, Change{Selector: id, Cell: c, Matched: false})
			}
		}
	}
	return out
}

func unionKeys(a, b map[string][]string) []string {
	var ks []string
	for k := range a {
		ks = append(ks, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			ks = append(ks, k)
		}
	}
	return ks
}

func sameChanges(a, b []Change) bool {
	cmp := func(x, y Change) int {
		if x.Selector != y.Selector {
			if x.Selector < y.Selector {
				return -1
			}
			return 1
		}
		if x.Cell != y.Cell {
			if x.Cell < y.Cell {
				return -1
			}
			return 1
		}
		return 0
	}
	a, b = slices.Clone(a), slices.Clone(b)
	slices.SortFunc(a, cmp)
	slices.SortFunc(b, cmp)
	return slices.Equal(a, b)
}

func TestIndexConcurrentReaders(t *testing.T) {
	env := newEnv(t, Config{})
	x := NewIndex()
	x.SetSelector("s", mustCompile(t, env, `cell.zone == "z1"`))
	var wg sync.WaitGroup
	done := make(chan struct{})
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				m := x.Matches("s")
				if !slices.IsSorted(m) {
					t.Error("Matches not sorted")
					return
				}
				x.Matching("s", "c1")
			}
		}()
	}
	for i := range 500 {
		zone := "z1"
		if i%3 == 0 {
			zone = "z2"
		}
		x.UpsertCell(cell(fmt.Sprintf("c%d", i%50), zone))
	}
	close(done)
	wg.Wait()
	want := 0
	for i := 450; i < 500; i++ {
		if i%3 != 0 {
			want++
		}
	}
	if got := len(x.Matches("s")); got != want {
		t.Errorf("len(Matches) = %d, want %d", got, want)
	}
}
