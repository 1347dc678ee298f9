package placement

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/cellsync/cellsync/model"
)

// Errors returned for invalid input. Callers compare with errors.Is.
var (
	// ErrInvalid reports an LRP, task, instance or cell that is malformed:
	// an empty name, a negative count or resource, an unknown spread mode.
	ErrInvalid = errors.New("invalid placement input")
	// ErrUnknownCell reports an existing placement on a cell the State does
	// not know.
	ErrUnknownCell = errors.New("unknown cell")
	// ErrDuplicate reports a second placement for one LRP index or task, or a
	// cell listed twice.
	ErrDuplicate = errors.New("duplicate placement")
)

// cell is the State's record of one cell. A removed cell's slot stays as a
// tombstone (gone set) so that slots LRPs resolved stay valid; it is reused
// only by a cell of the same name, which is what the LRPs' name lists mean.
type cell struct {
	name       string
	zone       int32
	capMem     int64
	capDisk    int64
	capSlots   int64
	usedMem    int64
	usedDisk   int64
	usedSlots  int64
	evacuating bool
	gone       bool
	insts      []instRef
	tasks      []string
}

// instRef names one LRP instance placed on a cell.
type instRef struct {
	lrp   *lrp
	index int32
}

// lrp is the State's record of one LRP: its last desired spec and the cell
// of each index.
type lrp struct {
	name     string
	spec     LRP
	hasSpec  bool
	matching []int32  // resolved cell slots of spec.Cells, deduplicated
	epoch    uint64   // State.epoch when matching was resolved; 0: never
	bits     []uint64 // matching as a bit set over cell slots
	zones    []bool   // per zone: some matching cell is in it
	cells    []int32  // per index, -1 when not placed
	res      []model.Resources
}

// task is the State's record of one placed task.
type task struct {
	cell int32
	res  model.Resources
}

// State is the placement engine's memory: the cells, their free capacity and
// every LRP instance and task placed on them. Each method computes a Plan,
// applies it to the State and returns it, so a caller that calls Place for
// every desired change receives only the delta.
//
// A State is not safe for concurrent use; the hub owns it in one goroutine.
type State struct {
	cells   []cell
	byName  map[string]int32
	tombs   map[string]int32 // slots of removed cells, by name
	zones   []string
	zoneIdx map[string]int32
	lrps    map[string]*lrp
	short   map[string]*lrp // LRPs with indexes left unplaced
	tasks   map[string]task
	// epoch counts cell registrations and zone changes, starting at 1; an
	// LRP's resolved match set is reused only while it is unchanged.
	epoch uint64

	// placeFn places the missing indexes of an LRP; tests swap in a naive
	// scan as a reference and a benchmark baseline.
	placeFn func(s *State, l *lrp, missing []int32, plan *Plan)
	// walkLimit is defaultWalkLimit; tests lower it to exercise fallbacks.
	walkLimit int

	// util is each cell's weighted utilisation (see utilOf), the score of
	// the package documentation. order holds, per zone, a binary min-heap
	// of the live cells by (util, name); pos is each cell's index in it.
	// They let placement visit a zone's cells best first without scanning
	// them all, and cost O(log cells) to keep current on each change.
	util  []float64
	order [][]int32
	pos   []int32
	aux   []int32 // scratch for best-first walks of an order heap
	// rank orders cell slots by name, so ties compare integers; ranked is
	// false after a new slot appears until ensureRanks runs, and before
	// compares names meanwhile (same order, so the heaps stay valid).
	rank   []int32
	ranked bool

	// Scratch space indexed by cell slot, kept zeroed between calls.
	coloc []int32
	mark  []bool
	// Per-zone scratch reused by placeHeap.
	heaps     [][]int32
	zoneCount []int32
	zoneSkip  []bool
}

// New returns an empty State.
func New() *State {
	return &State{
		byName:    map[string]int32{},
		tombs:     map[string]int32{},
		zoneIdx:   map[string]int32{},
		lrps:      map[string]*lrp{},
		short:     map[string]*lrp{},
		tasks:     map[string]task{},
		epoch:     1,
		placeFn:   (*State).placeHeap,
		walkLimit: defaultWalkLimit,
	}
}

// AddCell registers a cell or updates its zone, capacity and state. A cell
// that turns evacuating receives nothing new and its LRP instances are
// re-placed; the returned plan holds those moves. Its tasks stay (they run
// at most once). A smaller capacity moves nothing: the cell just receives
// nothing new until it has room again.
func (s *State) AddCell(c model.Cell) (Plan, error) {
	if c.Name == "" || c.Capacity.MemoryMB <= 0 || c.Capacity.DiskMB <= 0 || c.Capacity.Containers <= 0 {
		return Plan{}, fmt.Errorf("cell %q: name and positive capacity required: %w", c.Name, ErrInvalid)
	}
	if c.State != "" && c.State != model.CellReady && c.State != model.CellEvacuating {
		return Plan{}, fmt.Errorf("cell %s: state %q: %w", c.Name, c.State, ErrInvalid)
	}
	zi, ok := s.zoneIdx[c.Zone]
	if !ok {
		zi = int32(len(s.zones))
		s.zones = append(s.zones, c.Zone)
		s.zoneIdx[c.Zone] = zi
		s.order = append(s.order, nil)
	}
	evac := c.State == model.CellEvacuating
	ci, ok := s.byName[c.Name]
	if !ok {
		if slot, ok := s.tombs[c.Name]; ok {
			ci = slot
			delete(s.tombs, c.Name)
			s.cells[ci] = cell{name: c.Name}
		} else {
			ci = int32(len(s.cells))
			s.cells = append(s.cells, cell{name: c.Name})
			s.coloc = append(s.coloc, 0)
			s.mark = append(s.mark, false)
			s.util = append(s.util, 0)
			s.pos = append(s.pos, -1)
			s.rank = append(s.rank, 0)
			s.ranked = false
		}
		s.byName[c.Name] = ci
		s.epoch++
	} else {
		s.unorder(ci)
	}
	rec := &s.cells[ci]
	wasEvac := rec.evacuating
	if rec.zone != zi {
		s.epoch++ // LRPs' per-zone match flags must be recomputed
	}
	rec.zone = zi
	rec.capMem, rec.capDisk, rec.capSlots = c.Capacity.MemoryMB, c.Capacity.DiskMB, int64(c.Capacity.Containers)
	rec.evacuating = evac
	s.util[ci] = s.utilOf(ci)
	s.pos[ci] = int32(len(s.order[zi]))
	s.order[zi] = append(s.order[zi], ci)
	s.zoneUp(zi, s.pos[ci])
	var plan Plan
	if evac && !wasEvac {
		for _, l := range s.lrpsOn(ci) {
			if l.hasSpec {
				s.reconcile(l, &plan, false)
			}
		}
		sortRemovals(plan.Remove)
	}
	return plan, nil
}

// RemoveCell forgets a cell that is gone and re-places its LRP instances on
// the other cells their LRPs match. Its tasks are reported in
// Plan.LostTasks and are not re-placed. Nothing else moves. Removing an
// unknown cell returns an empty plan.
func (s *State) RemoveCell(name string) Plan {
	ci, ok := s.byName[name]
	if !ok {
		return Plan{}
	}
	var plan Plan
	affected := s.lrpsOn(ci)
	c := &s.cells[ci]
	reason := "cell " + name + " is gone"
	// Everything on the cell goes: no per-instance bookkeeping on it.
	plan.Remove = slices.Grow(plan.Remove, len(c.insts))
	for _, ref := range c.insts {
		l, idx := ref.lrp, ref.index
		plan.Remove = append(plan.Remove, Removal{
			Instance: Instance{LRP: l.name, Index: int(idx), Cell: name, Resources: l.res[idx]},
			Reason:   reason,
		})
		l.cells[idx] = -1
	}
	slices.Sort(c.tasks)
	for _, t := range c.tasks {
		plan.LostTasks = append(plan.LostTasks, TaskAssignment{Task: t, Cell: name, Resources: s.tasks[t].res})
		delete(s.tasks, t)
	}
	s.unorder(ci)
	*c = cell{name: name, zone: c.zone, gone: true}
	delete(s.byName, name)
	s.tombs[name] = ci
	for _, l := range affected {
		if l.hasSpec {
			s.reconcile(l, &plan, false)
		}
	}
	sortRemovals(plan.Remove)
	return plan
}

// lrpsOn returns the LRPs with an instance on cell ci, sorted by name so
// that re-placement order does not depend on history.
func (s *State) lrpsOn(ci int32) []*lrp {
	var out []*lrp
	for _, ref := range s.cells[ci].insts {
		out = append(out, ref.lrp)
	}
	slices.SortFunc(out, func(a, b *lrp) int { return cmp.Compare(a.name, b.name) })
	return slices.Compact(out)
}

// AddInstance records an LRP instance that already runs, as read from the
// hub's store at start. It checks no capacity: existing placements are
// facts. It returns ErrUnknownCell if the cell is not registered and
// ErrDuplicate if the index is already placed.
func (s *State) AddInstance(in Instance) error {
	if in.LRP == "" || in.Index < 0 || in.Index >= model.MaxInstances || in.Resources.MemoryMB < 0 || in.Resources.DiskMB < 0 {
		return fmt.Errorf("instance %s/%d: %w", in.LRP, in.Index, ErrInvalid)
	}
	ci, ok := s.byName[in.Cell]
	if !ok {
		return fmt.Errorf("instance %s/%d on %s: %w", in.LRP, in.Index, in.Cell, ErrUnknownCell)
	}
	l := s.lrp(in.LRP)
	l.grow(in.Index + 1)
	if l.cells[in.Index] >= 0 {
		return fmt.Errorf("instance %s/%d on %s and %s: %w", in.LRP, in.Index,
			s.cells[l.cells[in.Index]].name, in.Cell, ErrDuplicate)
	}
	s.assign(l, int32(in.Index), ci, in.Resources)
	return nil
}

// AddTask records a task that is already placed. It returns ErrUnknownCell
// if the cell is not registered and ErrDuplicate if the task is placed.
func (s *State) AddTask(t TaskAssignment) error {
	if t.Task == "" || t.Resources.MemoryMB < 0 || t.Resources.DiskMB < 0 {
		return fmt.Errorf("task %q: %w", t.Task, ErrInvalid)
	}
	ci, ok := s.byName[t.Cell]
	if !ok {
		return fmt.Errorf("task %s on %s: %w", t.Task, t.Cell, ErrUnknownCell)
	}
	if old, ok := s.tasks[t.Task]; ok {
		return fmt.Errorf("task %s on %s and %s: %w", t.Task, s.cells[old.cell].name, t.Cell, ErrDuplicate)
	}
	s.assignTask(t.Task, ci, t.Resources)
	return nil
}

// ReleaseTask frees the capacity of a task that completed. It reports
// whether the task was placed.
func (s *State) ReleaseTask(name string) bool {
	t, ok := s.tasks[name]
	if !ok {
		return false
	}
	c := &s.cells[t.cell]
	c.usedMem -= t.res.MemoryMB
	c.usedDisk -= t.res.DiskMB
	c.usedSlots--
	if i := slices.Index(c.tasks, name); i >= 0 {
		c.tasks = slices.Delete(c.tasks, i, i+1)
	}
	s.touch(t.cell)
	delete(s.tasks, name)
	return true
}

// Place brings one LRP to its desired spec and returns the delta: indexes
// at or above Instances are removed (highest indexes go first), instances on
// evacuating or no longer matching cells, or on cells that can no longer fit
// changed resources, are re-placed, and missing indexes are placed. Healthy
// instances never move. Call it whenever the LRP or its matching cell set
// changes. It returns ErrInvalid for a malformed LRP and changes nothing then.
func (s *State) Place(spec LRP) (Plan, error) {
	var plan Plan
	if err := s.place(spec, &plan); err != nil {
		return Plan{}, err
	}
	sortRemovals(plan.Remove)
	return plan, nil
}

// place is Place appending to plan, so Load can build one plan without
// copying per-LRP plans. Removals are left unsorted.
func (s *State) place(spec LRP, plan *Plan) error {
	if err := checkLRP(spec); err != nil {
		return err
	}
	l := s.lrp(spec.Name)
	// The selectors package hands the same sorted list while the match set
	// is unchanged; then the resolved slots and the instances' matching are
	// still valid and the O(matching cells) map lookups can be skipped.
	// reconcile re-resolves if a cell registered or moved zone since.
	same := l.hasSpec && slices.Equal(l.spec.Cells, spec.Cells)
	l.spec = spec
	l.hasSpec = true
	if !same {
		l.epoch = 0 // force resolution
	}
	s.reconcile(l, plan, false)
	return nil
}

func checkLRP(l LRP) error {
	switch {
	case l.Name == "":
		return fmt.Errorf("LRP with empty name: %w", ErrInvalid)
	case l.Instances < 0 || l.Instances > model.MaxInstances:
		return fmt.Errorf("LRP %s: instances %d not in 0..%d: %w", l.Name, l.Instances, model.MaxInstances, ErrInvalid)
	case l.Resources.MemoryMB < 0 || l.Resources.DiskMB < 0:
		return fmt.Errorf("LRP %s: negative resources: %w", l.Name, ErrInvalid)
	case l.Spread != "" && l.Spread != model.SpreadZone && l.Spread != model.SpreadNone:
		return fmt.Errorf("LRP %s: spread %q: %w", l.Name, l.Spread, ErrInvalid)
	}
	return nil
}

// RemoveLRP stops every instance of an LRP that is no longer desired.
func (s *State) RemoveLRP(name string) Plan {
	l, ok := s.lrps[name]
	if !ok {
		return Plan{}
	}
	var plan Plan
	for i, ci := range l.cells {
		if ci >= 0 {
			plan.Remove = append(plan.Remove, s.unassign(l, int32(i), "LRP no longer desired"))
		}
	}
	delete(s.lrps, name)
	delete(s.short, name)
	return plan
}

// PlaceTask places a pending task on the matching ready cell that fits it
// with the lowest score (see the package documentation). A task already
// placed is left where it is and yields an empty plan. It returns
// ErrInvalid for a malformed task.
func (s *State) PlaceTask(t Task) (Plan, error) {
	if t.Name == "" || t.Resources.MemoryMB < 0 || t.Resources.DiskMB < 0 {
		return Plan{}, fmt.Errorf("task %q: %w", t.Name, ErrInvalid)
	}
	if _, ok := s.tasks[t.Name]; ok {
		return Plan{}, nil
	}
	s.ensureRanks()
	best := int32(-1)
	var bestScore float64
	for _, name := range t.Cells {
		ci, ok := s.byName[name]
		if !ok || !s.fits(ci, t.Resources) {
			continue
		}
		sc := s.util[ci]
		if best < 0 || sc < bestScore || (sc == bestScore && s.cells[ci].name < s.cells[best].name) {
			best, bestScore = ci, sc
		}
	}
	var plan Plan
	if best < 0 {
		plan.Unplaced = append(plan.Unplaced, Unplaced{Kind: model.KindTask, Name: t.Name, Index: -1,
			Reason: s.explain(t.Resources, len(t.Cells), s.resolve(t.Cells))})
		return plan, nil
	}
	s.assignTask(t.Name, best, t.Resources)
	plan.Tasks = append(plan.Tasks, TaskAssignment{Task: t.Name, Cell: s.cells[best].name, Resources: t.Resources})
	return plan, nil
}

// resolve maps cell names to live slots, for explanations.
func (s *State) resolve(names []string) []int32 {
	out := make([]int32, 0, len(names))
	for _, n := range names {
		if ci, ok := s.byName[n]; ok {
			out = append(out, ci)
		}
	}
	return out
}

func (s *State) lrp(name string) *lrp {
	l, ok := s.lrps[name]
	if !ok {
		l = &lrp{name: name}
		s.lrps[name] = l
	}
	return l
}

// grow extends the per-index slices to n entries.
func (l *lrp) grow(n int) {
	for len(l.cells) < n {
		l.cells = append(l.cells, -1)
		l.res = append(l.res, model.Resources{})
	}
}

func (s *State) assign(l *lrp, idx int32, ci int32, r model.Resources) {
	c := &s.cells[ci]
	c.usedMem += r.MemoryMB
	c.usedDisk += r.DiskMB
	c.usedSlots++
	c.insts = append(c.insts, instRef{lrp: l, index: idx})
	l.cells[idx] = ci
	l.res[idx] = r
	s.touch(ci)
}

func (s *State) unassign(l *lrp, idx int32, reason string) Removal {
	ci := l.cells[idx]
	c := &s.cells[ci]
	r := l.res[idx]
	c.usedMem -= r.MemoryMB
	c.usedDisk -= r.DiskMB
	c.usedSlots--
	for i, ref := range c.insts {
		if ref.lrp == l && ref.index == idx {
			last := len(c.insts) - 1
			c.insts[i] = c.insts[last]
			c.insts = c.insts[:last]
			break
		}
	}
	l.cells[idx] = -1
	s.touch(ci)
	return Removal{Instance: Instance{LRP: l.name, Index: int(idx), Cell: c.name, Resources: r}, Reason: reason}
}

func (s *State) assignTask(name string, ci int32, r model.Resources) {
	c := &s.cells[ci]
	c.usedMem += r.MemoryMB
	c.usedDisk += r.DiskMB
	c.usedSlots++
	c.tasks = append(c.tasks, name)
	s.tasks[name] = task{cell: ci, res: r}
	s.touch(ci)
}

// resolveMatching maps l.spec.Cells to cell slots, deduplicated, and fills
// the bit set and per-zone flags placement uses.
func (s *State) resolveMatching(l *lrp) {
	l.matching = l.matching[:0]
	for _, name := range l.spec.Cells {
		ci, ok := s.byName[name]
		if !ok || s.mark[ci] {
			continue
		}
		s.mark[ci] = true
		l.matching = append(l.matching, ci)
	}
	for _, ci := range l.matching {
		s.mark[ci] = false
	}
	l.epoch = s.epoch
	n := (len(s.cells) + 63) / 64
	l.bits = slices.Grow(l.bits[:0], n)[:n]
	clear(l.bits)
	l.zones = slices.Grow(l.zones[:0], len(s.zones))[:len(s.zones)]
	clear(l.zones)
	for _, ci := range l.matching {
		l.bits[ci>>6] |= 1 << (uint(ci) & 63)
		l.zones[s.cells[ci].zone] = true
	}
}

// reconcile brings l to l.spec: scale down, evict instances that must move,
// place what is missing. The match set is resolved again when l.spec.Cells
// changed (Place resets l.epoch) or a cell registered or changed zone since
// the last resolution; only then is every instance's cell re-checked
// against it, which checkMatch forces too.
func (s *State) reconcile(l *lrp, plan *Plan, checkMatch bool) {
	s.ensureRanks()
	if l.epoch != s.epoch {
		s.resolveMatching(l)
		checkMatch = true
	}
	n := l.spec.Instances
	for i := n; i < len(l.cells); i++ {
		if l.cells[i] >= 0 {
			plan.Remove = append(plan.Remove, s.unassign(l, int32(i), "scale down"))
		}
	}
	if len(l.cells) > n {
		l.cells = l.cells[:n]
		l.res = l.res[:n]
	}
	l.grow(n)
	if checkMatch {
		for _, ci := range l.matching {
			s.mark[ci] = true
		}
	}
	want := l.spec.Resources
	var missing []int32
	for i := range n {
		ci := l.cells[i]
		if ci < 0 {
			missing = append(missing, int32(i))
			continue
		}
		c := &s.cells[ci]
		var reason string
		switch {
		case c.evacuating:
			reason = "cell " + c.name + " is evacuating"
		case checkMatch && !s.mark[ci]:
			reason = "cell " + c.name + " no longer matches"
		case l.res[i] != want:
			dm, dd := want.MemoryMB-l.res[i].MemoryMB, want.DiskMB-l.res[i].DiskMB
			if (dm > 0 && c.usedMem+dm > c.capMem) || (dd > 0 && c.usedDisk+dd > c.capDisk) {
				reason = "cell " + c.name + " cannot fit the new resources"
				break
			}
			c.usedMem += dm
			c.usedDisk += dd
			l.res[i] = want
			s.touch(ci)
		}
		if reason != "" {
			plan.Remove = append(plan.Remove, s.unassign(l, int32(i), reason))
			missing = append(missing, int32(i))
		}
	}
	if checkMatch {
		for _, ci := range l.matching {
			s.mark[ci] = false
		}
	}
	if len(missing) == 0 {
		delete(s.short, l.name)
		return
	}
	s.placeFn(s, l, missing, plan)
	for _, ci := range l.cells {
		if ci < 0 {
			s.short[l.name] = l
			return
		}
	}
	delete(s.short, l.name)
}

// Retry tries again to place every LRP index left unplaced by earlier
// calls, in LRP name order. Call it when capacity may have freed or grown:
// after ReleaseTask, RemoveLRP, a scale-down, or AddCell of a ready cell.
// It costs nothing when nothing is unplaced.
func (s *State) Retry() Plan {
	if len(s.short) == 0 {
		return Plan{}
	}
	ls := make([]*lrp, 0, len(s.short))
	for _, l := range s.short {
		ls = append(ls, l)
	}
	slices.SortFunc(ls, func(a, b *lrp) int { return cmp.Compare(a.name, b.name) })
	var plan Plan
	for _, l := range ls {
		s.reconcile(l, &plan, false)
	}
	sortRemovals(plan.Remove)
	return plan
}

// fits reports whether cell ci can take one more instance needing r.
func (s *State) fits(ci int32, r model.Resources) bool {
	c := &s.cells[ci]
	return !c.gone && !c.evacuating &&
		c.usedMem+r.MemoryMB <= c.capMem &&
		c.usedDisk+r.DiskMB <= c.capDisk &&
		c.usedSlots < c.capSlots
}

// Score weights; see the package documentation.
const (
	weightMemory     = 0.5
	weightDisk       = 0.25
	weightContainers = 0.25
)

// utilOf is cell ci's weighted utilisation, the score: lower is better.
// It does not depend on what is being placed, so the cells of a zone can be
// kept sorted by it.
func (s *State) utilOf(ci int32) float64 {
	c := &s.cells[ci]
	return weightMemory*float64(c.usedMem)/float64(c.capMem) +
		weightDisk*float64(c.usedDisk)/float64(c.capDisk) +
		weightContainers*float64(c.usedSlots)/float64(c.capSlots)
}

// before orders cells by score, then name.
func (s *State) before(a, b int32) bool {
	if s.util[a] != s.util[b] {
		return s.util[a] < s.util[b]
	}
	if s.ranked {
		return s.rank[a] < s.rank[b]
	}
	return s.cells[a].name < s.cells[b].name
}

// ensureRanks numbers the cell slots (tombstones included, since a
// tombstone's slot returns only under its own name) in name order, once
// after cells were added.
func (s *State) ensureRanks() {
	if s.ranked {
		return
	}
	idx := make([]int32, len(s.cells))
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortFunc(idx, func(a, b int32) int { return cmp.Compare(s.cells[a].name, s.cells[b].name) })
	for r, ci := range idx {
		s.rank[ci] = int32(r)
	}
	s.ranked = true
}

// touch recomputes cell ci's score after its usage changed and restores
// its zone's heap.
func (s *State) touch(ci int32) {
	s.util[ci] = s.utilOf(ci)
	z := s.cells[ci].zone
	s.zoneDown(z, s.zoneUp(z, s.pos[ci]))
}

// zoneUp moves the entry at index i of zone z's heap up while it beats its
// parent and returns its final index.
func (s *State) zoneUp(z, i int32) int32 {
	h := s.order[z]
	for i > 0 {
		p := (i - 1) / 2
		if !s.before(h[i], h[p]) {
			break
		}
		h[i], h[p] = h[p], h[i]
		s.pos[h[i]], s.pos[h[p]] = i, p
		i = p
	}
	return i
}

// zoneDown moves the entry at index i of zone z's heap down while a child
// beats it.
func (s *State) zoneDown(z, i int32) {
	h := s.order[z]
	n := int32(len(h))
	for {
		m, l := i, 2*i+1
		if l < n && s.before(h[l], h[m]) {
			m = l
		}
		if r := l + 1; r < n && s.before(h[r], h[m]) {
			m = r
		}
		if m == i {
			return
		}
		h[i], h[m] = h[m], h[i]
		s.pos[h[i]], s.pos[h[m]] = i, m
		i = m
	}
}

// unorder takes cell ci out of its zone's heap.
func (s *State) unorder(ci int32) {
	z := s.cells[ci].zone
	h := s.order[z]
	i, last := s.pos[ci], int32(len(h)-1)
	if i != last {
		h[i] = h[last]
		s.pos[h[i]] = i
	}
	s.order[z] = h[:last]
	s.pos[ci] = -1
	if i != last {
		s.zoneDown(z, s.zoneUp(z, i))
	}
}

func sortRemovals(rs []Removal) {
	slices.SortFunc(rs, func(a, b Removal) int {
		if c := cmp.Compare(a.LRP, b.LRP); c != 0 {
			return c
		}
		return cmp.Compare(a.Index, b.Index)
	})
}
