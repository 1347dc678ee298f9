package placement

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/cellsync/cellsync/model"
)

// scenario is one testdata/*.yaml file: a full input, the plan Load must
// return, then optional incremental steps on the resulting State, each with
// the plan it must return.
type scenario struct {
	Input Input  `json:"input"`
	Want  string `json:"want"`
	Steps []step `json:"steps"`
}

// step is one incremental call; exactly one of its operation fields is set.
type step struct {
	Place       *LRP        `json:"place"`
	PlaceTask   *Task       `json:"placeTask"`
	AddCell     *model.Cell `json:"addCell"`
	RemoveCell  string      `json:"removeCell"`
	RemoveLRP   string      `json:"removeLRP"`
	ReleaseTask string      `json:"releaseTask"`
	Retry       bool        `json:"retry"`
	Want        string      `json:"want"`
}

func (st step) run(t *testing.T, s *State) Plan {
	t.Helper()
	var (
		p   Plan
		err error
	)
	switch {
	case st.Place != nil:
		p, err = s.Place(*st.Place)
	case st.PlaceTask != nil:
		p, err = s.PlaceTask(*st.PlaceTask)
	case st.AddCell != nil:
		p, err = s.AddCell(*st.AddCell)
	case st.RemoveCell != "":
		p = s.RemoveCell(st.RemoveCell)
	case st.RemoveLRP != "":
		p = s.RemoveLRP(st.RemoveLRP)
	case st.Retry:
		p = s.Retry()
	case st.ReleaseTask != "":
		if !s.ReleaseTask(st.ReleaseTask) {
			t.Fatalf("ReleaseTask(%s) = false", st.ReleaseTask)
		}
	default:
		t.Fatal("step without an operation")
	}
	if err != nil {
		t.Fatalf("step: %v", err)
	}
	return p
}

func loadScenario(t *testing.T, path string) scenario {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var sc scenario
	if err := yaml.UnmarshalStrict(data, &sc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return sc
}

func TestScenarios(t *testing.T) {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no scenarios in testdata")
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			sc := loadScenario(t, f)
			for _, impl := range []struct {
				name  string
				setup func(*State)
			}{
				{"heap", nil},
				{"naive", naive},
				{"short-walks", func(s *State) { s.walkLimit = 1 }},
			} {
				t.Run(impl.name, func(t *testing.T) {
					s, plan, err := loadImpl(sc.Input, impl.setup)
					if err != nil {
						t.Fatalf("Load: %v", err)
					}
					comparePlan(t, "load", plan, sc.Want)
					checkState(t, s)
					for i, st := range sc.Steps {
						p := st.run(t, s)
						comparePlan(t, fmt.Sprintf("step %d", i+1), p, st.Want)
						checkState(t, s)
					}
				})
			}
		})
	}
}

// TestScenariosDeterministic shuffles every scenario's input lists and
// requires the same plan.
func TestScenariosDeterministic(t *testing.T) {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yaml"), func(t *testing.T) {
			sc := loadScenario(t, f)
			rng := rand.New(rand.NewPCG(1, 2))
			for range 5 {
				in := sc.Input
				in.Cells = shuffled(rng, in.Cells)
				in.Instances = shuffled(rng, in.Instances)
				in.Tasks = shuffled(rng, in.Tasks)
				in.LRPs = shuffled(rng, in.LRPs)
				in.Pending = shuffled(rng, in.Pending)
				plan, err := Compute(in)
				if err != nil {
					t.Fatal(err)
				}
				comparePlan(t, "shuffled", plan, sc.Want)
			}
		})
	}
}

func shuffled[T any](rng *rand.Rand, xs []T) []T {
	out := append([]T(nil), xs...)
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func comparePlan(t *testing.T, what string, got Plan, want string) {
	t.Helper()
	g := strings.TrimSpace(got.String())
	w := strings.TrimSpace(want)
	if g != w {
		t.Errorf("%s plan:\n--- got\n%s\n--- want\n%s", what, g, w)
	}
}

// checkState verifies the State's bookkeeping: each cell's usage equals the
// sum of what is placed on it, every index points at a cell that lists it,
// and no cell is over capacity unless the input placed it so.
func checkState(t *testing.T, s *State) {
	t.Helper()
	checkBookkeeping(t, s, true)
}

// checkBookkeeping is checkState with the capacity check optional, for
// States whose cells shrank below their usage on purpose.
func checkBookkeeping(t *testing.T, s *State, capacity bool) {
	t.Helper()
	type use struct{ mem, disk, slots int64 }
	sum := make([]use, len(s.cells))
	for name, l := range s.lrps {
		for i, ci := range l.cells {
			if ci < 0 {
				continue
			}
			c := &s.cells[ci]
			if c.gone {
				t.Errorf("%s/%d on removed cell %s", name, i, c.name)
			}
			found := false
			for _, ref := range c.insts {
				if ref.lrp == l && int(ref.index) == i {
					found = true
				}
			}
			if !found {
				t.Errorf("%s/%d: cell %s does not list it", name, i, c.name)
			}
			sum[ci].mem += l.res[i].MemoryMB
			sum[ci].disk += l.res[i].DiskMB
			sum[ci].slots++
		}
	}
	for name, tk := range s.tasks {
		if s.cells[tk.cell].gone {
			t.Errorf("task %s on removed cell", name)
		}
		sum[tk.cell].mem += tk.res.MemoryMB
		sum[tk.cell].disk += tk.res.DiskMB
		sum[tk.cell].slots++
	}
	for i := range s.cells {
		c := &s.cells[i]
		if got := (use{c.usedMem, c.usedDisk, c.usedSlots}); got != sum[i] {
			t.Errorf("cell %s: usage %+v, placed %+v", c.name, got, sum[i])
		}
		if len(c.insts)+len(c.tasks) != int(c.usedSlots) {
			t.Errorf("cell %s: %d instances + %d tasks, %d slots used", c.name, len(c.insts), len(c.tasks), c.usedSlots)
		}
		if capacity && c.usedMem > c.capMem || c.usedDisk > c.capDisk || c.usedSlots > c.capSlots {
			t.Errorf("cell %s over capacity: used %d/%d MB, %d/%d MB disk, %d/%d slots",
				c.name, c.usedMem, c.capMem, c.usedDisk, c.capDisk, c.usedSlots, c.capSlots)
		}
	}
	live := 0
	for z, h := range s.order {
		for i, ci := range h {
			live++
			if s.pos[ci] != int32(i) || s.cells[ci].zone != int32(z) || s.cells[ci].gone {
				t.Fatalf("zone %d heap: cell %s at %d, pos %d", z, s.cells[ci].name, i, s.pos[ci])
			}
			if i > 0 && s.before(ci, h[(i-1)/2]) {
				t.Fatalf("zone %d heap out of order at %d", z, i)
			}
			if s.util[ci] != s.utilOf(ci) {
				t.Fatalf("cell %s: stale score", s.cells[ci].name)
			}
		}
	}
	if live != len(s.byName) {
		t.Fatalf("%d cells in zone heaps, %d registered", live, len(s.byName))
	}
	for i := range s.coloc {
		if s.coloc[i] != 0 || s.mark[i] {
			t.Fatalf("scratch not reset at slot %d", i)
		}
	}
}
