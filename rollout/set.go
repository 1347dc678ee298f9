package rollout

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/cellsync/cellsync/model"
)

// Cell is one cell a set matches, as the hub sees it.
type Cell struct {
	Name string
	// Partition is the index of the first partition whose selector matches
	// the cell, or the number of partitions when none does.
	Partition int
	// Version is the set's version the hub has assigned to the cell; ""
	// for a cell that has none yet (it just started matching).
	Version string
	// Applied: the cell reports the write of Version applied.
	Applied bool
	// HealthySince is since when every instance of the set's LRPs on the
	// cell runs Version, healthy (for a set without LRPs: since the hub
	// saw the write applied); zero while that is not so.
	HealthySince time.Time
	// Crashed is the report of an instance of the set's LRPs on the cell
	// that crashed at Version; nil when none did.
	Crashed *model.Actual
}

// Set is everything one step of a set's rollout across cells decides
// from.
type Set struct {
	// Desired is the set's version in the desired model.
	Desired Revision
	Policy  SetPolicy
	// Partitions are the names of spec.rollout.partitions, in order.
	Partitions []string
	// Paused is the set's pause annotation.
	Paused bool
	// Cells are the cells the set matches now, in any order.
	Cells []Cell
	// Assigned are the revisions of the versions Cells name; a step with
	// a zero Record takes Stable from them when every cell runs one
	// version, healthy.
	Assigned []Revision
	// Record is the record the last step returned (zero for the first).
	Record Record
	Now    time.Time
}

// CellMove assigns the set's version to a cell.
type CellMove struct {
	Cell    string
	Version string
}

// SetStep is what the hub does now for a set.
type SetStep struct {
	// Moves are the cells whose version the hub writes now, in rollout
	// order; every other cell keeps its version.
	Moves []CellMove
	// Record is the record after this step; the hub persists it when it
	// differs from the input's.
	Record Record
	Status Status
}

type setView struct {
	in    *Set
	cells []*Cell // by partition, then name
}

func (v setView) done(c *Cell, version string) bool {
	return c.Version == version && c.Applied && !c.HealthySince.IsZero() && v.in.Now.Sub(c.HealthySince) >= v.in.Policy.MinHealthy
}

// NextSet decides one step of a set's rollout across its matching cells:
// at most maxUnavailable cells change at once, partitions in order, and a
// cell counts as done once it has applied the new version and the set's
// LRPs on it have been healthy for the minimum time. Like Next, it is a
// pure function of its input.
func NextSet(in Set) SetStep {
	v := setView{in: &in, cells: make([]*Cell, len(in.Cells))}
	for i := range in.Cells {
		v.cells[i] = &in.Cells[i]
	}
	slices.SortFunc(v.cells, func(a, b *Cell) int {
		return cmp.Or(cmp.Compare(a.Partition, b.Partition), cmp.Compare(a.Name, b.Name))
	})
	rec, pol, now := in.Record, in.Policy, in.Now
	if rec.Target.Version == "" {
		rec.Stable = v.stableNow(in.Assigned)
	}
	if in.Desired.Version != rec.Target.Version {
		rec.begin(in.Desired, now, in.Paused)
	}
	rec.resume(in.Paused, now)

	if rec.forward() {
		complete := true
		for _, c := range v.cells {
			if rec.Phase == Progressing && c.Version == rec.Target.Version && c.Crashed != nil {
				reason, msg := crashReason(fmt.Sprintf("cell %s, instance %s/%d", c.Name, c.Crashed.Name, c.Crashed.Index), c.Crashed)
				rec.fail(reason, msg, pol.AutoRevert, now)
			}
			if v.done(c, rec.Target.Version) {
				rec.progressed(c.HealthySince.Add(pol.MinHealthy))
			} else {
				complete = false
			}
		}
		if !complete {
			rec.deadline(pol.ProgressDeadline, now, pol.AutoRevert, "cell")
		}
	}

	goal := rec.goal()
	st := Status{Total: len(v.cells)}
	var step SetStep
	// partition is the lowest partition with a cell not done: the one
	// rolling now (cells are sorted by partition).
	changing, partition := 0, -1
	for _, c := range v.cells {
		if v.done(c, goal) {
			st.Updated++
			continue
		}
		if c.Version == goal {
			changing++
		}
		if partition < 0 {
			partition = c.Partition
		}
	}
	st.Available = len(v.cells) - changing
	budget := pol.MaxUnavailable - changing
	for _, c := range v.cells {
		if c.Version == goal {
			continue
		}
		switch {
		case c.Version == "" && rec.safe() != goal:
			// A newly matching cell gets the proven version at once; it
			// joins the rollout like any other cell afterwards.
			step.Moves = append(step.Moves, CellMove{Cell: c.Name, Version: rec.safe()})
		case goal == "" || rec.Paused || budget <= 0:
		case rec.forward() && c.Partition != partition:
			// Partitions roll in order: a later one waits until every
			// cell of the earlier ones is done.
		default:
			step.Moves = append(step.Moves, CellMove{Cell: c.Name, Version: goal})
			budget--
			changing++
		}
	}
	if goal != "" && st.Updated == len(v.cells) {
		rec.finish()
	}
	st.fill(&rec)
	st.Waiting = v.waiting(&rec, changing, partition)
	step.Record, step.Status = rec, st
	return step
}

// stableNow returns the revision every cell runs, done, or zero.
func (v setView) stableNow(assigned []Revision) Revision {
	if len(v.cells) == 0 {
		return Revision{}
	}
	version := v.cells[0].Version
	for _, c := range v.cells {
		if !v.done(c, version) {
			return Revision{}
		}
	}
	for _, r := range assigned {
		if r.Version == version {
			return r
		}
	}
	return Revision{}
}

// waiting says what a set's rollout waits for.
func (v setView) waiting(rec *Record, changing, partition int) string {
	switch {
	case rec.Paused:
		return "paused: remove the " + model.AnnotationPaused + " annotation to resume"
	case changing == 0:
		return ""
	case rec.forward() && partition >= 0 && partition < len(v.in.Partitions):
		return fmt.Sprintf("partition %s: %d cells changing", v.in.Partitions[partition], changing)
	}
	return fmt.Sprintf("%d cells changing", changing)
}
