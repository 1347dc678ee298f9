package hub

import (
	"sync"

	"github.com/cellsync/cellsync/model"
)

// srcFlag is one condition of one source's record on one cell. The cell's
// record (cellState) keeps the flags of each of its sources and reports
// every change to the tally, which counts them per source; status then
// reads the counts instead of walking every cell.
type srcFlag uint8

const (
	// flagPending: the stored record does not match what the hub wants yet
	// (a write is queued, in flight, lost its compare-and-swap, or was
	// refused).
	flagPending srcFlag = 1 << iota
	// flagUnapplied: the record landed, and the cell has not yet reported
	// applying the revision it landed at.
	flagUnapplied
	// flagRefused: the record, or an object merged into it, is over the
	// size limit of one etcd request.
	flagRefused
	// flagConflict: an object the source puts on the cell has fields
	// another source sets differently.
	flagConflict

	nFlags = 4
)

func (f srcFlag) index() int {
	switch f {
	case flagPending:
		return 0
	case flagUnapplied:
		return 1
	case flagRefused:
		return 2
	default:
		return 3
	}
}

// srcCounts counts, for one source, the cells on which each flag is set.
type srcCounts [nFlags]int

func (c *srcCounts) of(f srcFlag) int { return c[f.index()] }

// lrpCounts counts one LRP's instances by reported state.
type lrpCounts struct{ running, crashed int }

// tally holds the counters status reads: flags per source, instances per
// LRP and per-cell write states. It is updated by deltas as cells change
// and guarded by its own lock, which is always taken last.
type tally struct {
	mu     sync.Mutex
	bySrc  map[string]*srcCounts
	totals srcCounts
	lrps   map[string]*lrpCounts
	// writes counts cells with a write in flight; retrying, cells whose
	// write waits in a delayed retry.
	writes, retrying int
}

func newTally() *tally {
	return &tally{bySrc: map[string]*srcCounts{}, lrps: map[string]*lrpCounts{}}
}

// flag adds d (±1) to the count of flag f of src.
func (t *tally) flag(src string, f srcFlag, d int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.bySrc[src]
	if c == nil {
		c = &srcCounts{}
		t.bySrc[src] = c
	}
	c[f.index()] += d
	t.totals[f.index()] += d
	if *c == (srcCounts{}) {
		delete(t.bySrc, src) // a source nothing flags costs nothing
	}
}

// instance moves one LRP instance of lrp from state old to state now
// ("" when absent).
func (t *tally) instance(lrp, old, now string) {
	if old == now {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.lrps[lrp]
	if c == nil {
		c = &lrpCounts{}
		t.lrps[lrp] = c
	}
	switch old {
	case model.StateRunning:
		c.running--
	case model.StateCrashed:
		c.crashed--
	}
	switch now {
	case model.StateRunning:
		c.running++
	case model.StateCrashed:
		c.crashed++
	}
	if *c == (lrpCounts{}) {
		delete(t.lrps, lrp)
	}
}

// cellWrites adds dw to the cells with a write in flight and dr to those
// waiting in a delayed retry.
func (t *tally) cellWrites(dw, dr int) {
	t.mu.Lock()
	t.writes += dw
	t.retrying += dr
	t.mu.Unlock()
}

// tallySnapshot is a copy of the tally at one moment.
type tallySnapshot struct {
	bySrc            map[string]srcCounts
	totals           srcCounts
	lrps             map[string]lrpCounts
	writes, retrying int
}

func (t *tally) snapshot() tallySnapshot {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := tallySnapshot{bySrc: make(map[string]srcCounts, len(t.bySrc)), totals: t.totals,
		lrps: make(map[string]lrpCounts, len(t.lrps)), writes: t.writes, retrying: t.retrying}
	for k, v := range t.bySrc {
		s.bySrc[k] = *v
	}
	for k, v := range t.lrps {
		s.lrps[k] = *v
	}
	return s
}
