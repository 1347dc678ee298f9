package selectors

import (
	"fmt"
	"maps"
	"math/bits"
	"slices"
	"strings"
	"sync"

	"github.com/cellsync/cellsync/model"
)

// Change says that a cell entered (Matched) or left (!Matched) the match set
// of a selector.
type Change struct {
	// Selector is the ID the selector was registered under.
	Selector string
	// Cell is the cell's name.
	Cell    string
	Matched bool
}

// Index holds the live cells and the registered selectors, and keeps, for
// each selector, the set of cells it matches. Every update evaluates only
// what it can change: a cell update evaluates that cell against every
// selector, a selector update evaluates that selector against every cell.
// The Index is safe for concurrent use; updates are serialised by a mutex.
//
// An evaluation that fails (a missing map key, a bad version passed to
// semver, an exhausted cost budget wrapping ErrCostLimit) means no match;
// the Index also remembers which cells failed for which selector, so that
// Errors can report it instead of a bare "no cell matches".
type Index struct {
	mu    sync.RWMutex
	cells map[string]*stored
	// order holds the cells sorted by name, so that selector updates visit
	// cells, and report changes, in name order without sorting.
	order []*stored
	// Each cell owns a slot, a bit position in every match set; slots of
	// removed cells are reused.
	free  []int
	slots int
	sels  map[string]*entry
	// ids are the selector IDs, sorted.
	ids []string
}

// entry is one registered selector and its match set, a bit set over cell
// slots.
type entry struct {
	sel  *Selector
	bits []uint64
	// errs is the set of cells whose last evaluation failed, over the same
	// slots; errSample is one of those failures, for people.
	errs      []uint64
	errSample error
	// sorted caches the sorted match set; nil when it must be rebuilt.
	// A built slice is never modified, so it can be handed out.
	sorted []string
}

// NewIndex returns an empty Index.
func NewIndex() *Index {
	return &Index{cells: map[string]*stored{}, sels: map[string]*entry{}}
}

// match evaluates e's selector against c and records whether it failed.
func (x *Index) match(act *activation, e *entry, c *stored) bool {
	act.cell = c
	ok, err := e.sel.match(act, &c.Cell, c.small)
	e.setErr(c.slot, c.Name, err)
	return ok
}

func (x *Index) position(name string) (int, bool) {
	return slices.BinarySearchFunc(x.order, name, func(c *stored, n string) int { return strings.Compare(c.Name, n) })
}

// UpsertCell adds or replaces the cell c.Name, evaluates it against every
// selector and returns the match sets it entered or left, ordered by
// selector ID. The Index keeps its own copy of c. An update that changes
// nothing returns nil without evaluating.
func (x *Index) UpsertCell(c model.Cell) []Change {
	x.mu.Lock()
	defer x.mu.Unlock()
	cp := newStored(c)
	if old, ok := x.cells[c.Name]; ok {
		if cellEqual(&old.Cell, &c) {
			return nil
		}
		cp.slot = old.slot
		i, _ := x.position(c.Name)
		x.order[i] = cp
	} else {
		if n := len(x.free); n > 0 {
			cp.slot, x.free = x.free[n-1], x.free[:n-1]
		} else {
			cp.slot = x.slots
			x.slots++
		}
		i, _ := x.position(c.Name)
		x.order = slices.Insert(x.order, i, cp)
	}
	x.cells[c.Name] = cp
	var out []Change
	act := &activation{}
	for _, id := range x.ids {
		e := x.sels[id]
		now := x.match(act, e, cp)
		if e.has(cp.slot) == now {
			continue
		}
		e.set(cp.slot, now)
		out = append(out, Change{Selector: id, Cell: c.Name, Matched: now})
	}
	return out
}

// RemoveCell forgets a cell and returns the match sets it left, ordered by
// selector ID. Removing an unknown cell returns nil.
func (x *Index) RemoveCell(name string) []Change {
	x.mu.Lock()
	defer x.mu.Unlock()
	c, ok := x.cells[name]
	if !ok {
		return nil
	}
	delete(x.cells, name)
	i, _ := x.position(name)
	x.order = slices.Delete(x.order, i, i+1)
	x.free = append(x.free, c.slot)
	var out []Change
	for _, id := range x.ids {
		e := x.sels[id]
		e.setErr(c.slot, name, nil)
		if e.has(c.slot) {
			e.set(c.slot, false)
			out = append(out, Change{Selector: id, Cell: name, Matched: false})
		}
	}
	return out
}

// SetSelector registers s under id, or replaces the selector registered
// there, evaluates it against every cell and returns the cells that entered
// or left its match set, ordered by cell name. A nil s matches every cell,
// like the empty selector.
func (x *Index) SetSelector(id string, s *Selector) []Change {
	if s == nil {
		s = &Selector{all: true}
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	e, ok := x.sels[id]
	if !ok {
		e = &entry{bits: make([]uint64, (x.slots+63)/64)}
		x.sels[id] = e
		i, _ := slices.BinarySearch(x.ids, id)
		x.ids = slices.Insert(x.ids, i, id)
	}
	e.sel = s
	var out []Change
	act := &activation{}
	for _, c := range x.order {
		now := x.match(act, e, c)
		if e.has(c.slot) == now {
			continue
		}
		e.set(c.slot, now)
		out = append(out, Change{Selector: id, Cell: c.Name, Matched: now})
	}
	return out
}

// RemoveSelector forgets the selector registered under id and returns the
// cells that left its match set (all of them), ordered by cell name.
func (x *Index) RemoveSelector(id string) []Change {
	x.mu.Lock()
	defer x.mu.Unlock()
	e, ok := x.sels[id]
	if !ok {
		return nil
	}
	delete(x.sels, id)
	i, _ := slices.BinarySearch(x.ids, id)
	x.ids = slices.Delete(x.ids, i, i+1)
	var out []Change
	for _, c := range x.order {
		if e.has(c.slot) {
			out = append(out, Change{Selector: id, Cell: c.Name, Matched: false})
		}
	}
	return out
}

// Matches returns the names of the cells the selector registered under id
// matches, sorted; nil for an unknown id. The slice is shared: callers must
// not modify it. Later updates build a new slice and leave it intact.
func (x *Index) Matches(id string) []string {
	x.mu.RLock()
	e, ok := x.sels[id]
	if !ok {
		x.mu.RUnlock()
		return nil
	}
	if s := e.sorted; s != nil {
		x.mu.RUnlock()
		return s
	}
	x.mu.RUnlock()
	x.mu.Lock()
	defer x.mu.Unlock()
	e, ok = x.sels[id]
	if !ok {
		return nil
	}
	if e.sorted == nil {
		out := make([]string, 0, e.count())
		for _, c := range x.order {
			if e.has(c.slot) {
				out = append(out, c.Name)
			}
		}
		e.sorted = out
	}
	return e.sorted
}

// Matching reports whether the selector registered under id matches cell.
func (x *Index) Matching(id, cell string) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	e, ok := x.sels[id]
	c, ok2 := x.cells[cell]
	return ok && ok2 && e.has(c.slot)
}

// Selector returns the selector registered under id.
func (x *Index) Selector(id string) (*Selector, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	e, ok := x.sels[id]
	if !ok {
		return nil, false
	}
	return e.sel, true
}

// Errors returns how many cells the selector registered under id failed to
// evaluate against at their last evaluation (each of them counts as not
// matching), and one of those failures, naming its cell; 0 and nil when
// none failed or id is unknown.
func (x *Index) Errors(id string) (cells int, sample error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	e, ok := x.sels[id]
	if !ok {
		return 0, nil
	}
	for _, w := range e.errs {
		cells += bits.OnesCount64(w)
	}
	if cells == 0 {
		return 0, nil
	}
	return cells, e.errSample
}

// Len returns the number of cells and of selectors in the index.
func (x *Index) Len() (cells, selectors int) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.cells), len(x.sels)
}

func (e *entry) has(slot int) bool {
	w := slot / 64
	return w < len(e.bits) && e.bits[w]&(1<<(slot%64)) != 0
}

func (e *entry) set(slot int, matched bool) {
	w := slot / 64
	if matched {
		if w >= len(e.bits) {
			e.bits = append(e.bits, make([]uint64, w+1-len(e.bits))...)
		}
		e.bits[w] |= 1 << (slot % 64)
	} else if w < len(e.bits) {
		e.bits[w] &^= 1 << (slot % 64)
	}
	e.sorted = nil
}

// setErr records whether the evaluation against the cell in slot failed.
func (e *entry) setErr(slot int, cell string, err error) {
	w := slot / 64
	if err == nil {
		if w < len(e.errs) {
			e.errs[w] &^= 1 << (slot % 64)
		}
		return
	}
	if w >= len(e.errs) {
		e.errs = append(e.errs, make([]uint64, w+1-len(e.errs))...)
	}
	e.errs[w] |= 1 << (slot % 64)
	e.errSample = fmt.Errorf("cell %s: %w", cell, err)
}

func (e *entry) count() int {
	n := 0
	for _, w := range e.bits {
		n += bits.OnesCount64(w)
	}
	return n
}

// cellEqual reports whether two cell records have the same attributes.
func cellEqual(a, b *model.Cell) bool {
	return a.Name == b.Name && a.Zone == b.Zone && a.Capacity == b.Capacity &&
		a.Runtime == b.Runtime && a.Version == b.Version && a.State == b.State &&
		maps.Equal(a.Labels, b.Labels)
}
