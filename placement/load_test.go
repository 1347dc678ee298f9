package placement

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/cellsync/cellsync/model"
)

// The stateless form of placement, which only tests use: a State built in
// one call from a full picture, compared with the incremental calls the hub
// makes, and a dump of a State to check that placement is stable.

// Input is a full picture for one placement run: the cells, what already
// runs on them and what is desired.
type Input struct {
	// Cells are the registered cells, ready or evacuating.
	Cells []model.Cell `json:"cells"`
	// Instances are the LRP instances already placed.
	Instances []Instance `json:"instances,omitempty"`
	// Tasks are the tasks already placed.
	Tasks []TaskAssignment `json:"tasks,omitempty"`
	// LRPs are the desired LRPs. An LRP with instances but absent here is
	// no longer desired: its instances are removed.
	LRPs []LRP `json:"lrps,omitempty"`
	// Pending are the tasks waiting for a cell.
	Pending []Task `json:"pending,omitempty"`
}

// Compute returns the plan that brings in.Instances and in.Tasks to the
// desired LRPs and pending tasks. It is Load without the State.
func Compute(in Input) (Plan, error) {
	_, plan, err := Load(in)
	return plan, err
}

// Load builds a State from a full picture and returns it with the plan
// already applied, so the caller can go on incrementally with Place,
// RemoveCell and the other methods.
//
// Existing instances on cells that are not in in.Cells are removed and
// re-placed; existing tasks on such cells are reported lost. LRPs are
// placed largest first (memory, then disk, then name), which packs better
// than input order and keeps the plan independent of it; pending tasks
// follow, by name. It returns ErrInvalid, ErrDuplicate or ErrUnknownCell
// (wrapped) for malformed input.
func Load(in Input) (*State, Plan, error) {
	return loadImpl(in, nil)
}

// loadImpl is Load with a hook that lets tests adjust the new State.
func loadImpl(in Input, setup func(*State)) (*State, Plan, error) {
	s := New()
	if setup != nil {
		setup(s)
	}
	var plan Plan
	for _, c := range in.Cells {
		if _, ok := s.byName[c.Name]; ok {
			return nil, Plan{}, fmt.Errorf("cell %s listed twice: %w", c.Name, ErrDuplicate)
		}
		if _, err := s.AddCell(c); err != nil {
			return nil, Plan{}, fmt.Errorf("load cells: %w", err)
		}
	}
	desired := make(map[string]bool, len(in.LRPs))
	for _, l := range in.LRPs {
		if desired[l.Name] {
			return nil, Plan{}, fmt.Errorf("LRP %s desired twice: %w", l.Name, ErrDuplicate)
		}
		desired[l.Name] = true
	}
	for _, inst := range in.Instances {
		if _, ok := s.byName[inst.Cell]; !ok {
			plan.Remove = append(plan.Remove, Removal{Instance: inst, Reason: "cell " + inst.Cell + " is gone"})
			continue
		}
		if err := s.AddInstance(inst); err != nil {
			return nil, Plan{}, fmt.Errorf("load instances: %w", err)
		}
	}
	for _, t := range in.Tasks {
		if _, ok := s.byName[t.Cell]; !ok {
			plan.LostTasks = append(plan.LostTasks, t)
			continue
		}
		if err := s.AddTask(t); err != nil {
			return nil, Plan{}, fmt.Errorf("load tasks: %w", err)
		}
	}
	var gone []string
	for name := range s.lrps {
		if !desired[name] {
			gone = append(gone, name)
		}
	}
	slices.Sort(gone)
	for _, name := range gone {
		plan.merge(s.RemoveLRP(name))
	}
	lrps := slices.Clone(in.LRPs)
	slices.SortFunc(lrps, func(a, b LRP) int {
		if c := cmp.Compare(b.Resources.MemoryMB, a.Resources.MemoryMB); c != 0 {
			return c
		}
		if c := cmp.Compare(b.Resources.DiskMB, a.Resources.DiskMB); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
	total := 0
	for _, l := range lrps {
		total += max(l.Instances, 0)
	}
	plan.Add = slices.Grow(plan.Add, min(total, 1<<20))
	for _, l := range lrps {
		if err := s.place(l, &plan); err != nil {
			return nil, Plan{}, fmt.Errorf("place: %w", err)
		}
	}
	tasks := slices.Clone(in.Pending)
	slices.SortFunc(tasks, func(a, b Task) int { return cmp.Compare(a.Name, b.Name) })
	for _, t := range tasks {
		p, err := s.PlaceTask(t)
		if err != nil {
			return nil, Plan{}, fmt.Errorf("place: %w", err)
		}
		plan.merge(p)
	}
	sortRemovals(plan.Remove)
	slices.SortFunc(plan.LostTasks, func(a, b TaskAssignment) int { return cmp.Compare(a.Task, b.Task) })
	return s, plan, nil
}

// Snapshot returns the State as an Input: its cells, every placed instance
// and task, and the last spec of every LRP given to Place. After Retry,
// Compute on a snapshot adds and removes nothing (it may report again what
// is still unplaced), which makes a snapshot a faithful dump for debugging
// and a check that placement is stable.
func (s *State) Snapshot() Input {
	var in Input
	for _, c := range s.Cells() {
		state := model.CellReady
		if c.Evacuating {
			state = model.CellEvacuating
		}
		in.Cells = append(in.Cells, model.Cell{Name: c.Name, Zone: c.Zone, Capacity: c.Capacity, State: state})
	}
	names := make([]string, 0, len(s.lrps))
	for name := range s.lrps {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		l := s.lrps[name]
		if l.hasSpec {
			spec := l.spec
			spec.Cells = slices.Clone(spec.Cells)
			in.LRPs = append(in.LRPs, spec)
		}
		for i, ci := range l.cells {
			if ci >= 0 {
				in.Instances = append(in.Instances, Instance{LRP: name, Index: i, Cell: s.cells[ci].name, Resources: l.res[i]})
			}
		}
	}
	for name, t := range s.tasks {
		in.Tasks = append(in.Tasks, TaskAssignment{Task: name, Cell: s.cells[t.cell].name, Resources: t.res})
	}
	slices.SortFunc(in.Tasks, func(a, b TaskAssignment) int { return cmp.Compare(a.Task, b.Task) })
	return in
}
