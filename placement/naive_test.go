package placement

import "github.com/cellsync/cellsync/model"

// naive makes a State use placeNaive.
func naive(s *State) { s.placeFn = placeNaive }

// placeNaive is the reference placer and the benchmarks' baseline: for each
// missing index it scans every matching cell, with the same rules as
// placeHeap (least-loaded zone with a fitting cell, then fewest instances of
// the LRP on the cell, then lowest score, then name). It must produce the
// same plans as placeHeap.
func placeNaive(s *State, l *lrp, missing []int32, plan *Plan) {
	r := l.spec.Resources
	nz := 1
	if l.spec.Spread != model.SpreadNone {
		nz = len(s.zones)
	}
	zc := make([]int32, nz)
	for _, ci := range l.cells {
		if ci >= 0 {
			s.coloc[ci]++
			zc[s.zoneOf(l, ci)]++
		}
	}
	for _, idx := range missing {
		minZone := int32(-1)
		for _, ci := range l.matching {
			if s.fits(ci, r) {
				z := zc[s.zoneOf(l, ci)]
				if minZone < 0 || z < minZone {
					minZone = z
				}
			}
		}
		best := int32(-1)
		for _, ci := range l.matching {
			if !s.fits(ci, r) || zc[s.zoneOf(l, ci)] != minZone {
				continue
			}
			if best < 0 || s.better(ci, best) {
				best = ci
			}
		}
		if best < 0 {
			plan.Unplaced = append(plan.Unplaced, Unplaced{Kind: model.KindLRP, Name: l.name, Index: int(idx),
				Reason: s.explain(r, len(l.spec.Cells), l.matching)})
			continue
		}
		s.assign(l, idx, best, r)
		plan.Add = append(plan.Add, Instance{LRP: l.name, Index: int(idx), Cell: s.cells[best].name, Resources: r})
		s.coloc[best]++
		zc[s.zoneOf(l, best)]++
	}
	for _, ci := range l.cells {
		if ci >= 0 {
			s.coloc[ci] = 0
		}
	}
}
