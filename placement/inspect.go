package placement

import (
	"cmp"
	"slices"

	"github.com/cellsync/cellsync/model"
)

// CellUsage is a snapshot of one cell's capacity and reservations.
type CellUsage struct {
	// Name and Zone identify the cell.
	Name string
	Zone string
	// Evacuating is true for a cell that receives nothing new.
	Evacuating bool
	// Capacity is what the cell offers.
	Capacity model.Capacity
	// Used is what placed instances and tasks reserve.
	Used model.Capacity
	// Instances counts LRP instances on the cell; Tasks counts tasks.
	Instances int
	Tasks     int
}

// Cells returns the usage of every registered cell, sorted by name.
func (s *State) Cells() []CellUsage {
	out := make([]CellUsage, 0, len(s.byName))
	for i := range s.cells {
		c := &s.cells[i]
		if c.gone {
			continue
		}
		out = append(out, CellUsage{
			Name: c.name, Zone: s.zones[c.zone], Evacuating: c.evacuating,
			Capacity:  model.Capacity{MemoryMB: c.capMem, DiskMB: c.capDisk, Containers: int(c.capSlots)},
			Used:      model.Capacity{MemoryMB: c.usedMem, DiskMB: c.usedDisk, Containers: int(c.usedSlots)},
			Instances: len(c.insts), Tasks: len(c.tasks),
		})
	}
	slices.SortFunc(out, func(a, b CellUsage) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// Where returns the cell of each index of an LRP, "" for an index that is
// not placed, or nil for an unknown LRP.
func (s *State) Where(lrpName string) []string {
	l, ok := s.lrps[lrpName]
	if !ok {
		return nil
	}
	out := make([]string, len(l.cells))
	for i, ci := range l.cells {
		if ci >= 0 {
			out[i] = s.cells[ci].name
		}
	}
	return out
}

// Zone returns the zone of a registered cell.
func (s *State) Zone(cell string) (string, bool) {
	ci, ok := s.byName[cell]
	if !ok {
		return "", false
	}
	return s.zones[s.cells[ci].zone], true
}

// Clone returns an independent deep copy of the State, for dry runs (what
// would this commit do?) and for benchmarks.
func (s *State) Clone() *State {
	n := &State{
		cells:     slices.Clone(s.cells),
		byName:    make(map[string]int32, len(s.byName)),
		tombs:     make(map[string]int32, len(s.tombs)),
		zones:     slices.Clone(s.zones),
		zoneIdx:   make(map[string]int32, len(s.zoneIdx)),
		lrps:      make(map[string]*lrp, len(s.lrps)),
		short:     make(map[string]*lrp, len(s.short)),
		tasks:     make(map[string]task, len(s.tasks)),
		epoch:     s.epoch,
		placeFn:   s.placeFn,
		walkLimit: s.walkLimit,
		coloc:     make([]int32, len(s.coloc)),
		mark:      make([]bool, len(s.mark)),
		util:      slices.Clone(s.util),
		pos:       slices.Clone(s.pos),
		rank:      slices.Clone(s.rank),
		ranked:    s.ranked,
		order:     make([][]int32, len(s.order)),
	}
	for z, o := range s.order {
		n.order[z] = slices.Clone(o)
	}
	for k, v := range s.byName {
		n.byName[k] = v
	}
	for k, v := range s.tombs {
		n.tombs[k] = v
	}
	for k, v := range s.zoneIdx {
		n.zoneIdx[k] = v
	}
	for k, v := range s.tasks {
		n.tasks[k] = v
	}
	for k, l := range s.lrps {
		c := *l
		c.spec.Cells = slices.Clone(l.spec.Cells)
		c.matching = slices.Clone(l.matching)
		c.cells = slices.Clone(l.cells)
		c.res = slices.Clone(l.res)
		c.bits = slices.Clone(l.bits)
		c.zones = slices.Clone(l.zones)
		n.lrps[k] = &c
	}
	for k := range s.short {
		n.short[k] = n.lrps[k]
	}
	for i := range n.cells {
		c := &n.cells[i]
		c.tasks = slices.Clone(c.tasks)
		insts := make([]instRef, len(c.insts))
		for j, ref := range c.insts {
			insts[j] = instRef{lrp: n.lrps[ref.lrp.name], index: ref.index}
		}
		c.insts = insts
	}
	return n
}
