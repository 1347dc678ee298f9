package selectors

import (
	"fmt"
	"github.com/cellsync/cellsync/internal/cputime"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/cel-go/common/types"

	"github.com/cellsync/cellsync/model"
)

// typicalCells builds n cells shaped like a fleet: four zones, an env,
// team, rack and (on some cells) tier label, mixed capacities and versions,
// a few evacuating.
func typicalCells(n int) []model.Cell {
	r := rand.New(rand.NewPCG(1, 2))
	envs := []string{"prod", "prod", "prod", "prod", "prod", "staging", "staging", "staging", "dev", "dev"}
	cells := make([]model.Cell, n)
	for i := range cells {
		c := model.Cell{
			Name: fmt.Sprintf("cell-%04d", i),
			Zone: fmt.Sprintf("z%d", 1+i%4),
			Labels: map[string]string{
				"env":  envs[r.IntN(len(envs))],
				"team": fmt.Sprintf("t%d", r.IntN(10)),
				"rack": fmt.Sprintf("r%d", r.IntN(50)),
			},
			Capacity: model.Capacity{MemoryMB: int64(2048 << r.IntN(5)), DiskMB: 100_000, Containers: 10 + r.IntN(91)},
			Runtime:  "containerd",
			Version:  fmt.Sprintf("1.%d.%d", r.IntN(6), r.IntN(4)),
		}
		if r.IntN(10) == 0 {
			c.Labels["tier"] = "gpu"
		}
		if r.IntN(50) == 0 {
			c.State = model.CellEvacuating
		}
		cells[i] = c
	}
	return cells
}

// typicalSelectors returns 60 selectors: ten shapes seen in workload
// repositories (zone pinning, label and capacity filters, version gates,
// the empty selector), six variants each.
func typicalSelectors(tb testing.TB, env *Env) map[string]*Selector {
	shapes := []func(i int) string{
		func(i int) string { return `` },
		func(i int) string { return fmt.Sprintf(`cell.zone == "z%d"`, 1+i%4) },
		func(i int) string {
			return fmt.Sprintf(`cell.zone in ["z1", "z2"] && cell.capacity.memoryMB >= %d`, 2048<<(i%4))
		},
		func(i int) string {
			return fmt.Sprintf(`cell.labels["env"] == "prod" && cell.labels["team"] == "t%d"`, i)
		},
		func(i int) string {
			return fmt.Sprintf(`cell.label("tier", "standard") == "gpu" && cell.capacity.containers >= %d`, 10*i)
		},
		func(i int) string { return fmt.Sprintf(`semver(cell.version) >= semver("1.%d.0")`, i) },
		func(i int) string {
			return fmt.Sprintf(`cell.runtime == "containerd" && cell.state == "ready" && cell.zone != "z%d"`, 1+i%4)
		},
		func(i int) string {
			return fmt.Sprintf(`"tier" in cell.labels && cell.labels["rack"] in ["r%d", "r%d", "r%d"]`, i, i+10, i+20)
		},
		func(i int) string { return fmt.Sprintf(`cell.name.startsWith("cell-0%d")`, i) },
		func(i int) string {
			return fmt.Sprintf(`cell.labels["env"] in ["staging", "dev"] && cell.capacity.memoryMB >= %d && cell.zone == "z%d"`, 4096<<(i%3), 1+i%4)
		},
	}
	out := map[string]*Selector{}
	for si, shape := range shapes {
		for i := range 6 {
			out[fmt.Sprintf("LRP/s%d-%d", si, i)] = mustCompile(tb, env, shape(i))
		}
	}
	return out
}

// naiveEvaluate is the baseline: every selector against every cell through
// cel-go's standard map activation, no prechecks, no incrementality.
func naiveEvaluate(cells []model.Cell, sels map[string]*Selector) map[string][]string {
	out := make(map[string][]string, len(sels))
	for id, s := range sels {
		var m []string
		for i := range cells {
			if s.all {
				m = append(m, cells[i].Name)
				continue
			}
			v, _, err := s.prg.Eval(map[string]any{"cell": &cells[i]})
			if err == nil && v == types.True {
				m = append(m, cells[i].Name)
			}
		}
		slices.Sort(m)
		out[id] = m
	}
	return out
}

func buildIndex(cells []model.Cell, sels map[string]*Selector) *Index {
	x := NewIndex()
	for _, c := range cells {
		x.UpsertCell(c)
	}
	for id, s := range sels {
		x.SetSelector(id, s)
	}
	return x
}

func checkIndex(tb testing.TB, x *Index, want map[string][]string) {
	tb.Helper()
	for id, w := range want {
		if got := x.Matches(id); !slices.Equal(got, w) && !(len(got) == 0 && len(w) == 0) {
			tb.Fatalf("Matches(%s): %d cells, naive evaluation %d", id, len(got), len(w))
		}
	}
}

// timeNaive measures the baseline in the same run, for the ratio: wall
// and CPU time of one naive evaluation.
func timeNaive(cells []model.Cell, sels map[string]*Selector) (wall, cpu time.Duration) {
	const rounds = 3
	start, cpu0 := time.Now(), cputime.Used()
	for range rounds {
		naiveEvaluate(cells, sels)
	}
	return time.Since(start) / rounds, (cputime.Used() - cpu0) / rounds
}

// speedup is baseline over measured, by CPU time where it is known.
func speedup(naiveWall, naiveCPU, wall, cpu time.Duration) float64 {
	if naiveCPU > 0 && cpu > 0 {
		return float64(naiveCPU) / float64(cpu)
	}
	return float64(naiveWall) / float64(wall)
}

// BenchmarkFullEvaluation registers 60 typical selectors in an index that
// holds n cells: every selector evaluated against every cell. The issue's
// figure is n=1000: at most 30 ms. naive-ms is the baseline measured in the
// same run; speedup is naive over index (CPU time: the machine is shared).
func BenchmarkFullEvaluation(b *testing.B) {
	env := newEnv(b, Config{})
	sels := typicalSelectors(b, env)
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("cells=%d/selectors=%d", n, len(sels)), func(b *testing.B) {
			cells := typicalCells(n)
			want := naiveEvaluate(cells, sels)
			empty := NewIndex()
			for _, c := range cells {
				empty.UpsertCell(c)
			}
			checkIndex(b, buildIndex(cells, sels), want)
			naive, naiveCPU := timeNaive(cells, sels)
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cputime.Used()
			for b.Loop() {
				x := &Index{cells: empty.cells, order: empty.order, slots: empty.slots, sels: map[string]*entry{}}
				for id, s := range sels {
					x.SetSelector(id, s)
				}
			}
			cpu := (cputime.Used() - cpu0) / time.Duration(b.N)
			per := b.Elapsed() / time.Duration(b.N)
			b.ReportMetric(float64(per.Microseconds())/1000, "ms/full-eval")
			b.ReportMetric(float64(cpu.Microseconds())/1000, "cpu-ms/full-eval")
			b.ReportMetric(float64(naive.Microseconds())/1000, "naive-ms")
			b.ReportMetric(float64(naiveCPU.Microseconds())/1000, "naive-cpu-ms")
			b.ReportMetric(speedup(naive, naiveCPU, per, cpu), "speedup")
		})
	}
}

// BenchmarkCellLabelChange relabels one cell (env prod <-> dev) in an index
// of n cells and 60 selectors. The figure is at most 1 ms; the
// baseline is re-evaluating every selector against every cell, and speedup
// is its CPU time over the update's.
func BenchmarkCellLabelChange(b *testing.B) {
	env := newEnv(b, Config{})
	sels := typicalSelectors(b, env)
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("cells=%d/selectors=%d", n, len(sels)), func(b *testing.B) {
			cells := typicalCells(n)
			x := buildIndex(cells, sels)
			// Correctness first: one relabel, then compare with a full
			// naive evaluation.
			c := cells[7]
			c.Labels = map[string]string{"env": "dev", "team": "t3", "rack": "r1", "tier": "gpu"}
			cells[7] = c
			x.UpsertCell(c)
			checkIndex(b, x, naiveEvaluate(cells, sels))
			naive, naiveCPU := timeNaive(cells, sels)
			variants := [2]model.Cell{}
			for i, env := range []string{"prod", "dev"} {
				v := c
				v.Labels = map[string]string{"env": env, "team": "t3", "rack": "r1", "tier": "gpu"}
				variants[i] = v
			}
			b.ReportAllocs()
			i := 0
			b.ResetTimer()
			cpu0 := cputime.Used()
			for b.Loop() {
				x.UpsertCell(variants[i&1])
				i++
			}
			cpu := (cputime.Used() - cpu0) / time.Duration(b.N)
			per := b.Elapsed() / time.Duration(b.N)
			b.ReportMetric(float64(cpu.Nanoseconds())/1000, "cpu-µs/update")
			b.ReportMetric(float64(per.Nanoseconds())/1000, "µs/update")
			b.ReportMetric(float64(naive.Microseconds())/1000, "naive-ms")
			b.ReportMetric(float64(naiveCPU.Microseconds())/1000, "naive-cpu-ms")
			b.ReportMetric(speedup(naive, naiveCPU, per, cpu), "speedup")
		})
	}
}

// BenchmarkEval times one evaluation of each selector shape against one
// cell, through Match (typed activation, prechecks) and through cel-go's
// standard map activation; cel-go's own figures are about 400 ns.
func BenchmarkEval(b *testing.B) {
	env := newEnv(b, Config{})
	cells := typicalCells(64)
	exprs := []struct{ name, expr string }{
		{"zone", `cell.zone == "z1"`},
		{"zone-memory", `cell.zone in ["z1", "z2"] && cell.capacity.memoryMB >= 4096`},
		{"labels", `cell.labels["env"] == "prod" && cell.labels["team"] == "t3"`},
		{"label-helper", `cell.label("tier", "standard") == "gpu"`},
		{"semver", `semver(cell.version) >= semver("1.2.0")`},
	}
	for _, e := range exprs {
		s := mustCompile(b, env, e.expr)
		b.Run(e.name+"/match", func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			cpu0 := cputime.Used()
			for b.Loop() {
				s.Match(&cells[i&63])
				i++
			}
			b.ReportMetric(float64(cputime.Used()-cpu0)/float64(b.N), "cpu-ns/eval")
		})
		b.Run(e.name+"/map-activation", func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			cpu0 := cputime.Used()
			for b.Loop() {
				s.prg.Eval(map[string]any{"cell": &cells[i&63]})
				i++
			}
			b.ReportMetric(float64(cputime.Used()-cpu0)/float64(b.N), "cpu-ns/eval")
		})
	}
}
