package selectors

import (
	"maps"
	"slices"
	"sort"
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

// IndexOptions configures an Index.
type IndexOptions struct {
	// OnError, if set, is called for every evaluation that fails (the cell
	// then does not match): a missing map key, a bad version passed to
	// semver, an exhausted cost budget (wrapping ErrCostLimit). It is
	// called with the Index locked and must not call back into it.
	OnError func(selectorID, cell string, err error)
}

// Index holds the live cells and the registered selectors, and keeps, for
// each selector, the set of cells it matches. Every update evaluates only
// what it can change: a cell update evaluates that cell against every
// selector, a selector update evaluates that selector against every cell.
// The Index is safe for concurrent use; updates are serialised by a mutex.
type Index struct {
	opts IndexOptions

	mu    sync.RWMutex
	cells map[string]*model.Cell
	sels  map[string]*entry
	// ids are the selector IDs in sorted order, so that updates visit
	// selectors, and report changes, in a stable order.
	ids []string
}

// entry is one registered selector and its match set.
type entry struct {
	sel     *Selector
	matched map[string]struct{}
	// sorted caches the sorted match set; nil when it must be rebuilt.
	// A built slice is never modified, so it can be handed out.
	sorted []string
}

// NewIndex returns an empty Index.
func NewIndex(opts IndexOptions) *Index {
	return &Index{opts: opts, cells: map[string]*model.Cell{}, sels: map[string]*entry{}}
}

func (x *Index) match(id string, s *Selector, c *model.Cell) bool {
	ok, err := s.Match(c)
	if err != nil && x.opts.OnError != nil {
		x.opts.OnError(id, c.Name, err)
	}
	return ok
}

// UpsertCell adds or replaces the cell c.Name, evaluates it against every
// selector and returns the match sets it entered or left, ordered by
// selector ID. The Index keeps its own copy of c. An update that changes
// nothing returns nil without evaluating.
func (x *Index) UpsertCell(c model.Cell) []Change {
	x.mu.Lock()
	defer x.mu.Unlock()
	if old, ok := x.cells[c.Name]; ok && cellEqual(old, &c) {
		return nil
	}
	cp := c
	cp.Labels = maps.Clone(c.Labels)
	x.cells[c.Name] = &cp
	var out []Change
	for _, id := range x.ids {
		e := x.sels[id]
		now := x.match(id, e.sel, &cp)
		if _, was := e.matched[c.Name]; was == now {
			continue
		}
		e.set(c.Name, now)
		out = append(out, Change{Selector: id, Cell: c.Name, Matched: now})
	}
	return out
}

// RemoveCell forgets a cell and returns the match sets it left, ordered by
// selector ID. Removing an unknown cell returns nil.
func (x *Index) RemoveCell(name string) []Change {
	x.mu.Lock()
	defer x.mu.Unlock()
	if _, ok := x.cells[name]; !ok {
		return nil
	}
	delete(x.cells, name)
	var out []Change
	for _, id := range x.ids {
		e := x.sels[id]
		if _, was := e.matched[name]; was {
			e.set(name, false)
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
		e = &entry{matched: map[string]struct{}{}}
		x.sels[id] = e
		i, _ := slices.BinarySearch(x.ids, id)
		x.ids = slices.Insert(x.ids, i, id)
	}
	e.sel = s
	var out []Change
	for name, c := range x.cells {
		now := x.match(id, s, c)
		if _, was := e.matched[name]; was == now {
			continue
		}
		e.set(name, now)
		out = append(out, Change{Selector: id, Cell: name, Matched: now})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Cell < out[j].Cell })
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
	out := make([]Change, 0, len(e.matched))
	for name := range e.matched {
		out = append(out, Change{Selector: id, Cell: name, Matched: false})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Cell < out[j].Cell })
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
		e.sorted = slices.Sorted(maps.Keys(e.matched))
		if e.sorted == nil {
			e.sorted = []string{}
		}
	}
	return e.sorted
}

// Matching reports whether the selector registered under id matches cell.
func (x *Index) Matching(id, cell string) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	e, ok := x.sels[id]
	if !ok {
		return false
	}
	_, m := e.matched[cell]
	return m
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

// Len returns the number of cells and of selectors in the index.
func (x *Index) Len() (cells, selectors int) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.cells), len(x.sels)
}

func (e *entry) set(cell string, matched bool) {
	if matched {
		e.matched[cell] = struct{}{}
	} else {
		delete(e.matched, cell)
	}
	e.sorted = nil
}

// cellEqual reports whether two cell records have the same attributes.
func cellEqual(a, b *model.Cell) bool {
	return a.Name == b.Name && a.Zone == b.Zone && a.Capacity == b.Capacity &&
		a.Runtime == b.Runtime && a.Version == b.Version && a.State == b.State &&
		maps.Equal(a.Labels, b.Labels)
}
