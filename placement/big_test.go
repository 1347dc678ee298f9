package placement

import (
	"fmt"
	"github.com/cellsync/cellsync/internal/cputime"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/cellsync/cellsync/model"
)

// bigConfig shapes a synthetic cluster and workload.
type bigConfig struct {
	cells, zones, lrps, perLRP int
}

// bigInput builds the issue's scenario: cells spread round-robin over
// zones, LRPs of mixed sizes (128 to 1024 MB, 256 to 1024 MB disk). Most
// LRPs match every cell; every 10th matches two thirds of the cells, every
// 7th the even cells, every 50th only two zones; every 20th does not
// spread by zone. Zone-restricted LRPs are kept rare on purpose: a zone
// that hosts them carries their whole load while zone-spread LRPs must put
// an equal share in every zone, so only spread-none LRPs can even it out. Cell capacity is the
// workload's average share plus 35% headroom, so everything fits.
func bigInput(c bigConfig) Input {
	var in Input
	all := make([]string, c.cells)
	var twoZones, even, twoThirds []string
	for i := range c.cells {
		all[i] = fmt.Sprintf("cell-%05d", i)
		z := i % c.zones
		if z < 2 {
			twoZones = append(twoZones, all[i])
		}
		if i%2 == 0 {
			even = append(even, all[i])
		}
		if i%3 != 0 {
			twoThirds = append(twoThirds, all[i])
		}
	}
	mems := []int64{128, 256, 512, 1024}
	disks := []int64{256, 512, 1024}
	var totMem, totDisk int64
	for i := range c.lrps {
		l := LRP{
			Name:      fmt.Sprintf("lrp-%05d", i),
			Instances: c.perLRP,
			Resources: model.Resources{MemoryMB: mems[i%len(mems)], DiskMB: disks[i%len(disks)]},
			Cells:     all,
		}
		switch {
		case i%50 == 0:
			l.Cells = twoZones
		case i%10 == 0:
			l.Cells = twoThirds
		case i%7 == 0:
			l.Cells = even
		}
		if i%20 == 5 {
			l.Spread = model.SpreadNone
		}
		totMem += l.Resources.MemoryMB * int64(c.perLRP)
		totDisk += l.Resources.DiskMB * int64(c.perLRP)
		in.LRPs = append(in.LRPs, l)
	}
	n := int64(c.cells)
	capacity := model.Capacity{
		MemoryMB:   totMem * 135 / 100 / n,
		DiskMB:     totDisk * 135 / 100 / n,
		Containers: int(int64(c.lrps*c.perLRP)*135/100/n) + 1,
	}
	for i, name := range all {
		in.Cells = append(in.Cells, model.Cell{Name: name, Zone: fmt.Sprintf("z%d", i%c.zones), Capacity: capacity})
	}
	return in
}

var issueScale = bigConfig{cells: 1000, zones: 5, lrps: 1000, perLRP: 100}

// TestQualityBigScenario asserts the issue's quality bar on 1,000 cells in
// 5 zones with 1,000 LRPs x 100 instances.
func TestQualityBigScenario(t *testing.T) {
	in := bigInput(issueScale)
	s, plan, err := Load(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Unplaced) > 0 {
		t.Fatalf("%d unplaced, first: %s", len(plan.Unplaced), plan.Unplaced[0])
	}
	if got, want := len(plan.Add), issueScale.lrps*issueScale.perLRP; got != want {
		t.Fatalf("placed %d instances, want %d", got, want)
	}
	checkState(t, s)
	assertQuality(t, s, in)
	checkFixedPoint(t, s)
}

func assertQuality(t *testing.T, s *State, in Input) {
	t.Helper()
	for _, l := range in.LRPs {
		where := s.Where(l.Name)
		perZone := map[string]int{}
		for _, name := range l.Cells {
			z, _ := s.Zone(name)
			perZone[z] += 0
		}
		seen := map[string]bool{}
		for i, c := range where {
			if c == "" {
				t.Fatalf("%s/%d not placed", l.Name, i)
			}
			if seen[c] && len(l.Cells) >= l.Instances {
				t.Errorf("%s: two instances on %s although %d cells match", l.Name, c, len(l.Cells))
			}
			seen[c] = true
			z, _ := s.Zone(c)
			perZone[z]++
		}
		if l.Spread == model.SpreadNone {
			continue
		}
		var counts []int
		for _, n := range perZone {
			counts = append(counts, n)
		}
		if d := slices.Max(counts) - slices.Min(counts); d > 1 {
			t.Errorf("%s: zone imbalance %d (%v)", l.Name, d, perZone)
		}
	}
	lo, hi := 1.0, 0.0
	for _, c := range s.Cells() {
		u := float64(c.Used.MemoryMB) / float64(c.Capacity.MemoryMB)
		lo, hi = min(lo, u), max(hi, u)
	}
	t.Logf("cell memory utilisation: min %.1f%%, max %.1f%%", lo*100, hi*100)
	if hi-lo > 0.10 {
		t.Errorf("memory utilisation spread %.1f points > 10", (hi-lo)*100)
	}
}

// TestQualityAfterCellLoss removes cells one by one from the big scenario
// and checks that only their instances move and the quality bar holds.
func TestQualityAfterCellLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("big scenario")
	}
	in := bigInput(issueScale)
	s, _, err := Load(in)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"cell-00000", "cell-00501", "cell-00999"} {
		before := snapshot(s, in)
		plan := s.RemoveCell(name)
		if len(plan.Unplaced) > 0 {
			t.Fatalf("remove %s: unplaced %s", name, plan.Unplaced[0])
		}
		if len(plan.Add) != len(plan.Remove) || len(plan.Add) == 0 {
			t.Fatalf("remove %s: %d added, %d removed", name, len(plan.Add), len(plan.Remove))
		}
		for _, r := range plan.Remove {
			if r.Cell != name {
				t.Fatalf("remove %s moved %s/%d from %s", name, r.LRP, r.Index, r.Cell)
			}
		}
		after := snapshot(s, in)
		moved := 0
		for lrpName, cells := range before {
			for i, c := range cells {
				if after[lrpName][i] != c {
					moved++
					if c != name {
						t.Fatalf("%s/%d moved from healthy %s to %s", lrpName, i, c, after[lrpName][i])
					}
				}
			}
		}
		if moved != len(plan.Remove) {
			t.Fatalf("%d moved, plan says %d", moved, len(plan.Remove))
		}
	}
	checkState(t, s)
	// Zone balance may be off by 2 after losses without moving healthy
	// instances; memory and anti-affinity must hold.
	lo, hi := 1.0, 0.0
	for _, c := range s.Cells() {
		u := float64(c.Used.MemoryMB) / float64(c.Capacity.MemoryMB)
		lo, hi = min(lo, u), max(hi, u)
	}
	if hi-lo > 0.10 {
		t.Errorf("memory utilisation spread %.1f points > 10", (hi-lo)*100)
	}
}

// snapshot returns the cell of every index of every LRP.
func snapshot(s *State, in Input) map[string][]string {
	out := make(map[string][]string, len(in.LRPs))
	for _, l := range in.LRPs {
		out[l.Name] = s.Where(l.Name)
	}
	return out
}

// BenchmarkPlace places every instance of a fresh workload. The baseline
// is the naive scan-every-cell placer (same rules, same plan), timed once
// right after one untimed heap run of the same input so that the ratio
// compares neighbours in time on a shared machine. The issue's target:
// >= 50,000 placements/s at 1,000 cells x 100,000 instances.
func BenchmarkPlace(b *testing.B) {
	for _, cells := range []int{200, 1000} {
		for _, inst := range []int{20_000, 100_000} {
			cfg := bigConfig{cells: cells, zones: 5, lrps: inst / 100, perLRP: 100}
			b.Run(fmt.Sprintf("cells=%d/instances=%d", cells, inst), func(b *testing.B) {
				in := bigInput(cfg)
				runtime.GC()
				start := time.Now()
				_, plan, err := Load(in)
				heap := time.Since(start)
				if err != nil {
					b.Fatal(err)
				}
				runtime.GC()
				start = time.Now()
				_, naivePlan, err := loadImpl(in, naive)
				slow := time.Since(start)
				if err != nil {
					b.Fatal(err)
				}
				if len(plan.Unplaced) > 0 || len(plan.Add) != inst {
					b.Fatalf("placed %d of %d, %d unplaced", len(plan.Add), inst, len(plan.Unplaced))
				}
				if plan.String() != naivePlan.String() {
					b.Fatal("heap and naive placers disagree")
				}
				b.ReportAllocs()
				b.ResetTimer()
				cpu0 := cputime.Used()
				for b.Loop() {
					if _, _, err := Load(in); err != nil {
						b.Fatal(err)
					}
				}
				per := b.Elapsed().Seconds() / float64(b.N)
				cpu := (cputime.Used() - cpu0).Seconds() / float64(b.N)
				b.ReportMetric(float64(inst)/per, "placements/s")
				b.ReportMetric(cpu*1000, "cpu-ms/op")
				b.ReportMetric(float64(inst)/slow.Seconds(), "naive-placements/s")
				b.ReportMetric(slow.Seconds()/heap.Seconds(), "x-vs-naive")
			})
		}
	}
}

// BenchmarkRemoveCell re-places the instances of one lost cell in a fully
// placed cluster, removing a different cell each iteration from a fresh
// copy every cells/20 removals (so the cluster keeps its headroom). The
// baseline is the naive placer on the same removals, each timed next to the
// heap placer doing it. The issue's target:
// <= 10 ms at 1,000 cells x 100,000 instances.
func BenchmarkRemoveCell(b *testing.B) {
	for _, cells := range []int{200, 1000} {
		for _, inst := range []int{20_000, 100_000} {
			cfg := bigConfig{cells: cells, zones: 5, lrps: inst / 100, perLRP: 100}
			b.Run(fmt.Sprintf("cells=%d/instances=%d", cells, inst), func(b *testing.B) {
				base, _, err := Load(bigInput(cfg))
				if err != nil {
					b.Fatal(err)
				}
				victim := func(i int) string { return fmt.Sprintf("cell-%05d", (i*7919)%cells) }
				perCopy := cells / 20
				// Five rounds, keeping each side's fastest: other processes
				// on the shared machine only ever add time.
				var heap, slow time.Duration
				for round := range 5 {
					fast, ref := base.Clone(), base.Clone()
					ref.placeFn = placeNaive
					runtime.GC()
					var h, n time.Duration
					for i := range perCopy {
						start := time.Now()
						p := fast.RemoveCell(victim(i))
						h += time.Since(start)
						start = time.Now()
						q := ref.RemoveCell(victim(i))
						n += time.Since(start)
						if p.String() != q.String() {
							b.Fatal("heap and naive placers disagree")
						}
						if len(p.Unplaced) > 0 || len(p.Add) != len(p.Remove) || len(p.Add) == 0 {
							b.Fatalf("re-placed %d of %d", len(p.Add), len(p.Remove))
						}
					}
					if round == 0 || h < heap {
						heap = h
					}
					if round == 0 || n < slow {
						slow = n
					}
				}
				b.ReportAllocs()
				var s *State
				var moved int
				b.ResetTimer()
				var cpu time.Duration
				for i := 0; b.Loop(); i++ {
					if i%perCopy == 0 {
						b.StopTimer()
						s = base.Clone()
						runtime.GC()
						b.StartTimer()
					}
					cpu0 := cputime.Used()
					moved += len(s.RemoveCell(victim(i % perCopy)).Add)
					cpu += cputime.Used() - cpu0
				}
				per := b.Elapsed().Seconds() / float64(b.N)
				b.ReportMetric(per*1000, "ms/cell")
				b.ReportMetric(cpu.Seconds()*1000/float64(b.N), "cpu-ms/cell")
				b.ReportMetric(float64(moved)/float64(b.N), "instances/cell")
				b.ReportMetric(slow.Seconds()/heap.Seconds(), "x-vs-naive")
			})
		}
	}
}

// BenchmarkPlaceOne scales one LRP of the full cluster up and down by one,
// the hub's common incremental call.
func BenchmarkPlaceOne(b *testing.B) {
	in := bigInput(issueScale)
	s, _, err := Load(in)
	if err != nil {
		b.Fatal(err)
	}
	l := in.LRPs[1]
	b.ReportAllocs()
	cpu0 := cputime.Used()
	for i := 0; b.Loop(); i++ {
		l.Instances = issueScale.perLRP + 1 - i%2
		p, err := s.Place(l)
		if err != nil || len(p.Add)+len(p.Remove) != 1 {
			b.Fatalf("plan %v, err %v", p, err)
		}
	}
	b.ReportMetric((cputime.Used()-cpu0).Seconds()*1e6/float64(b.N), "cpu-µs/op")
}

// BenchmarkLoadExisting rebuilds the State of a fully placed cluster from
// its snapshot, as a restarted hub does from etcd: 100,000 existing
// instances on 1,000 cells, nothing to change.
func BenchmarkLoadExisting(b *testing.B) {
	s, _, err := Load(bigInput(issueScale))
	if err != nil {
		b.Fatal(err)
	}
	in := s.Snapshot()
	if p, err := Compute(in); err != nil || !p.Empty() {
		b.Fatalf("reload plan not empty (err %v):\n%s", err, p.String())
	}
	b.ReportAllocs()
	cpu0 := cputime.Used()
	for b.Loop() {
		if _, _, err := Load(in); err != nil {
			b.Fatal(err)
		}
	}
	per := b.Elapsed().Seconds() / float64(b.N)
	cpu := (cputime.Used() - cpu0).Seconds() / float64(b.N)
	b.ReportMetric(float64(len(in.Instances))/per, "instances/s")
	b.ReportMetric(cpu*1000, "cpu-ms/op")
}
