package placement

import (
	"fmt"
	"strings"

	"github.com/cellsync/cellsync/model"
)

// zoneOf is the zone bucket of cell ci for LRP l: its zone when l spreads by
// zone, a single bucket otherwise.
func (s *State) zoneOf(l *lrp, ci int32) int32 {
	if l.spec.Spread == model.SpreadNone {
		return 0
	}
	return s.cells[ci].zone
}

// better orders candidate cells for one LRP: fewer instances of the LRP
// already on the cell first (anti-affinity), then lower score, then name.
// s.coloc must be filled for the LRP.
func (s *State) better(a, b int32) bool {
	if s.coloc[a] != s.coloc[b] {
		return s.coloc[a] < s.coloc[b]
	}
	return s.before(a, b)
}

// matches reports whether cell slot ci is in l's resolved match set.
func (l *lrp) matches(ci int32) bool {
	w := int(ci) >> 6
	return w < len(l.bits) && l.bits[w]&(1<<(uint(ci)&63)) != 0
}

// defaultWalkLimit bounds how many cells firstFree visits in one zone
// before it gives up and lets the per-LRP heaps decide.
const defaultWalkLimit = 128

// Outcomes of firstFree besides a cell.
const (
	walkNone    = iota // no cell of the zone fits
	walkColoc          // only cells that already hold an instance fit
	walkUnknown        // gave up after State.walkLimit cells
)

// firstFree visits zone z's cells best score first (a best-first walk of the
// zone's heap with a small auxiliary heap of indexes, leaving it untouched)
// and returns the first that matches l, fits r and holds no instance of l:
// the best candidate of the zone whenever one exists. Otherwise it returns
// -1 and walkNone, walkColoc or walkUnknown.
func (s *State) firstFree(l *lrp, z int32, r model.Resources) (int32, int) {
	h := s.order[z]
	if len(h) == 0 {
		return -1, walkNone
	}
	// Most often the zone's best cell will do: skip the walk's set-up.
	if ci := h[0]; s.coloc[ci] == 0 && l.matches(ci) && s.fits(ci, r) {
		return ci, walkNone
	}
	less := func(a, b int32) bool { return s.before(h[a], h[b]) }
	aux := append(s.aux[:0], 0)
	defer func() { s.aux = aux[:0] }()
	outcome := walkNone
	for visited := 0; len(aux) > 0; visited++ {
		if visited == s.walkLimit {
			return -1, walkUnknown
		}
		i := aux[0]
		last := len(aux) - 1
		aux[0] = aux[last]
		aux = aux[:last]
		siftDown(aux, 0, less)
		ci := h[i]
		if l.matches(ci) && s.fits(ci, r) {
			if s.coloc[ci] == 0 {
				return ci, outcome
			}
			outcome = walkColoc
		}
		for _, c := range [2]int32{2*i + 1, 2*i + 2} {
			if int(c) < len(h) {
				aux = append(aux, c)
				siftUp(aux, len(aux)-1, less)
			}
		}
	}
	return -1, outcome
}

func siftUp(a []int32, i int, less func(x, y int32) bool) {
	for i > 0 {
		p := (i - 1) / 2
		if !less(a[i], a[p]) {
			return
		}
		a[i], a[p] = a[p], a[i]
		i = p
	}
}

func siftDown(a []int32, i int, less func(x, y int32) bool) {
	n := len(a)
	for {
		m, l := i, 2*i+1
		if l < n && less(a[l], a[m]) {
			m = l
		}
		if r := l + 1; r < n && less(a[r], a[m]) {
			m = r
		}
		if m == i {
			return
		}
		a[i], a[m] = a[m], a[i]
		i = m
	}
}

// pickFast finds the cell placeHeap's ranking would choose, walking the
// zones' score heaps instead of building per-LRP heaps. It gives up (ok
// false) whenever the answer may be a cell that already holds an instance
// of l, nothing fits, or a walk hit s.walkLimit; the per-LRP heaps then
// settle it. zc holds l's per-zone counts and skip is per-zone scratch,
// all false on entry and on return.
func (s *State) pickFast(l *lrp, r model.Resources, zc []int32, skip []bool) (best int32, ok bool) {
	defer clear(skip)
	if l.spec.Spread == model.SpreadNone {
		best = -1
		for z := range s.order {
			if !l.zoneMatch(z) {
				continue
			}
			ci, out := s.firstFree(l, int32(z), r)
			if out == walkUnknown {
				return -1, false
			}
			if ci >= 0 && (best < 0 || s.before(ci, best)) {
				best = ci
			}
		}
		return best, best >= 0
	}
	for {
		// The least-loaded zones that may still hold a candidate compete.
		level := int32(-1)
		for z := range zc {
			if !skip[z] && l.zoneMatch(z) && (level < 0 || zc[z] < level) {
				level = zc[z]
			}
		}
		if level < 0 {
			return -1, false
		}
		best = -1
		saw := false
		for z := range zc {
			if skip[z] || !l.zoneMatch(z) || zc[z] != level {
				continue
			}
			ci, out := s.firstFree(l, int32(z), r)
			switch {
			case out == walkUnknown:
				return -1, false
			case ci >= 0:
				if best < 0 || s.before(ci, best) {
					best = ci
				}
			case out == walkColoc:
				saw = true
			default:
				skip[z] = true // nothing in z fits: it drops out of the balance
			}
		}
		if best >= 0 {
			return best, true
		}
		if saw {
			return -1, false
		}
	}
}

// zoneMatch reports whether l matches some cell of zone z.
func (l *lrp) zoneMatch(z int) bool {
	return z < len(l.zones) && l.zones[z]
}

// placeHeap places the missing indexes of l. While every least-loaded zone
// has a free matching cell, pickFast finds it from the zones' score orders
// in a few steps. Otherwise it builds one min-heap of fitting candidate
// cells per zone, ordered by better (O(matching cells)); each further
// instance then costs O(zones + log cells). Zone counts and co-location
// counts live in scratch arrays indexed by zone and cell slot, reset before
// returning.
func (s *State) placeHeap(l *lrp, missing []int32, plan *Plan) {
	r := l.spec.Resources
	nz := 1
	if l.spec.Spread != model.SpreadNone {
		nz = len(s.zones)
	}
	for len(s.heaps) < nz {
		s.heaps = append(s.heaps, nil)
		s.zoneCount = append(s.zoneCount, 0)
	}
	for len(s.zoneSkip) < len(s.zones) {
		s.zoneSkip = append(s.zoneSkip, false)
	}
	heaps, zc := s.heaps[:nz], s.zoneCount[:nz]
	for z := range heaps {
		heaps[z] = heaps[z][:0]
		zc[z] = 0
	}
	for _, ci := range l.cells {
		if ci >= 0 {
			s.coloc[ci]++
			zc[s.zoneOf(l, ci)]++
		}
	}
	defer func() {
		for _, ci := range l.cells {
			if ci >= 0 {
				s.coloc[ci] = 0
			}
		}
	}()
	for len(missing) > 0 {
		ci, ok := s.pickFast(l, r, zc, s.zoneSkip[:len(s.zones)])
		if !ok {
			break
		}
		idx := missing[0]
		missing = missing[1:]
		s.assign(l, idx, ci, r)
		plan.Add = append(plan.Add, Instance{LRP: l.name, Index: int(idx), Cell: s.cells[ci].name, Resources: r})
		s.coloc[ci]++
		zc[s.zoneOf(l, ci)]++
	}
	if len(missing) == 0 {
		return
	}
	for _, ci := range l.matching {
		if s.fits(ci, r) {
			z := s.zoneOf(l, ci)
			heaps[z] = append(heaps[z], ci)
		}
	}
	for z := range heaps {
		h := heaps[z]
		for i := len(h)/2 - 1; i >= 0; i-- {
			s.down(h, i)
		}
	}
	var reason string
	for _, idx := range missing {
		// Least-loaded zone that has a fitting cell; zones with equal counts
		// compete on their best cell.
		best := -1
		for z := range heaps {
			if len(heaps[z]) == 0 {
				continue
			}
			if best < 0 || zc[z] < zc[best] || (zc[z] == zc[best] && s.better(heaps[z][0], heaps[best][0])) {
				best = z
			}
		}
		if best < 0 {
			if reason == "" {
				reason = s.explain(r, len(l.spec.Cells), l.matching)
			}
			plan.Unplaced = append(plan.Unplaced, Unplaced{Kind: model.KindLRP, Name: l.name, Index: int(idx), Reason: reason})
			continue
		}
		h := heaps[best]
		ci := h[0]
		s.assign(l, idx, ci, r)
		plan.Add = append(plan.Add, Instance{LRP: l.name, Index: int(idx), Cell: s.cells[ci].name, Resources: r})
		s.coloc[ci]++
		zc[best]++
		if !s.fits(ci, r) {
			last := len(h) - 1
			h[0] = h[last]
			h = h[:last]
			heaps[best] = h
		}
		if len(h) > 0 {
			s.down(h, 0)
		}
	}
}

// down restores the heap property below position i.
func (s *State) down(h []int32, i int) {
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && s.better(h[r], h[l]) {
			m = r
		}
		if !s.better(h[m], h[i]) {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

// explain says, for people, why nothing among the matching cells fits r.
// names is how many cells the selector matched; matching are those the
// State knows. When one resource alone blocks every ready cell it names
// that resource and the largest free amount; otherwise it counts the cells
// by the first resource they lack (memory, disk, container slot).
func (s *State) explain(r model.Resources, names int, matching []int32) string {
	if names == 0 {
		return "no cell matches the selector"
	}
	var live, ready, lackMem, lackDisk, lackSlot int
	var maxMem, maxDisk, maxSlots int64
	for _, ci := range matching {
		c := &s.cells[ci]
		if c.gone {
			continue
		}
		live++
		if c.evacuating {
			continue
		}
		ready++
		freeMem, freeDisk, freeSlots := c.capMem-c.usedMem, c.capDisk-c.usedDisk, c.capSlots-c.usedSlots
		maxMem, maxDisk, maxSlots = max(maxMem, freeMem), max(maxDisk, freeDisk), max(maxSlots, freeSlots)
		switch {
		case freeMem < r.MemoryMB:
			lackMem++
		case freeDisk < r.DiskMB:
			lackDisk++
		case freeSlots < 1:
			lackSlot++
		}
	}
	switch {
	case live == 0 && names == 1:
		return "the 1 matching cell is not registered"
	case live == 0:
		return fmt.Sprintf("none of the %d matching cells is registered", names)
	case ready == 0 && live == 1:
		return "the 1 matching cell is evacuating"
	case ready == 0:
		return fmt.Sprintf("all %d matching cells are evacuating", live)
	case maxMem < r.MemoryMB:
		return fmt.Sprintf("needs %d MB memory, largest free is %d MB %s", r.MemoryMB, max(maxMem, 0), onCells(ready))
	case maxDisk < r.DiskMB:
		return fmt.Sprintf("needs %d MB disk, largest free is %d MB %s", r.DiskMB, max(maxDisk, 0), onCells(ready))
	case maxSlots < 1:
		return "no free container slot " + onCells(ready)
	}
	var parts []string
	for _, p := range []struct {
		n         int
		one, many string
	}{{lackMem, "lacks memory", "lack memory"}, {lackDisk, "lacks disk", "lack disk"}, {lackSlot, "lacks a container slot", "lack a container slot"}} {
		switch {
		case p.n == 1:
			parts = append(parts, "1 "+p.one)
		case p.n > 1:
			parts = append(parts, fmt.Sprintf("%d %s", p.n, p.many))
		}
	}
	return fmt.Sprintf("no cell has %d MB memory, %d MB disk and a container slot free: of %d matching cells, %s",
		r.MemoryMB, r.DiskMB, ready, strings.Join(parts, ", "))
}

// onCells phrases where a search looked: "on the 1 matching cell" or "on
// any of 12 matching cells".
func onCells(n int) string {
	if n == 1 {
		return "on the 1 matching cell"
	}
	return fmt.Sprintf("on any of %d matching cells", n)
}
