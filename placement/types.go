package placement

import (
	"fmt"
	"strings"

	"github.com/cellsync/cellsync/model"
)

// LRP is the placement view of a desired long-running process: how many
// instances, what each needs, how to spread them and where they may run.
type LRP struct {
	// Name identifies the LRP; instances are keyed by (Name, index).
	Name string `json:"name"`
	// Instances is the desired count; indexes 0..Instances-1 are placed.
	Instances int `json:"instances"`
	// Resources is what one instance needs. Each instance also takes one
	// container slot.
	Resources model.Resources `json:"resources"`
	// Spread is model.SpreadZone (the default when empty) or
	// model.SpreadNone.
	Spread string `json:"spread,omitempty"`
	// Cells names the cells the LRP's selector matches, as package selectors
	// computes them. Names of cells the State does not know are ignored.
	Cells []string `json:"cells"`
}

// Task is the placement view of a pending one-off task.
type Task struct {
	// Name identifies the task.
	Name string `json:"name"`
	// Resources is what the task needs; it also takes one container slot.
	Resources model.Resources `json:"resources"`
	// Cells names the cells the task's selector matches.
	Cells []string `json:"cells"`
}

// Instance is one LRP instance assigned to a cell: an existing placement
// given to the State, or a new one in Plan.Add.
type Instance struct {
	// LRP is the name of the LRP.
	LRP string `json:"lrp"`
	// Index is the instance index, 0..Instances-1.
	Index int `json:"index"`
	// Cell is the name of the cell that runs the instance.
	Cell string `json:"cell"`
	// Resources is what the instance reserves on its cell.
	Resources model.Resources `json:"resources"`
}

// TaskAssignment is one task assigned to a cell.
type TaskAssignment struct {
	// Task is the name of the task.
	Task string `json:"task"`
	// Cell is the name of the cell that runs the task.
	Cell string `json:"cell"`
	// Resources is what the task reserves on its cell.
	Resources model.Resources `json:"resources"`
}

// Removal is an LRP instance to stop, with the reason.
type Removal struct {
	Instance
	// Reason says why, for people: "scale down", "cell c7 is gone", ...
	Reason string `json:"reason"`
}

// Unplaced is an LRP instance or a task that could not be placed.
type Unplaced struct {
	// Kind is model.KindLRP or model.KindTask.
	Kind model.Kind `json:"kind"`
	// Name is the LRP's or the task's name.
	Name string `json:"name"`
	// Index is the LRP instance index; -1 for a task.
	Index int `json:"index"`
	// Reason says why, for people: "needs 2048 MB memory, largest free is
	// 512 MB on any of 12 matching cells".
	Reason string `json:"reason"`
}

// String formats the entry as "LRP web index 3: <reason>" or
// "Task t1: <reason>".
func (u Unplaced) String() string {
	if u.Kind == model.KindLRP {
		return fmt.Sprintf("LRP %s index %d: %s", u.Name, u.Index, u.Reason)
	}
	return fmt.Sprintf("%s %s: %s", u.Kind, u.Name, u.Reason)
}

// Plan is the outcome of a placement call: what to start, what to stop and
// what could not be placed. The State has already applied it: the hub acts
// on it (writes the per-cell instances) and need not tell the State again.
type Plan struct {
	// Add lists LRP instances to start, in placement order.
	Add []Instance `json:"add,omitempty"`
	// Remove lists LRP instances to stop, sorted by LRP name and index.
	Remove []Removal `json:"remove,omitempty"`
	// Tasks lists tasks assigned to a cell.
	Tasks []TaskAssignment `json:"tasks,omitempty"`
	// LostTasks lists tasks whose cell is gone. They are never re-placed
	// (a task runs at most once): the hub completes them as failed.
	LostTasks []TaskAssignment `json:"lostTasks,omitempty"`
	// Unplaced lists what could not be placed, with a reason.
	Unplaced []Unplaced `json:"unplaced,omitempty"`
}

// Empty reports whether the plan changes nothing and reports nothing.
func (p *Plan) Empty() bool {
	return len(p.Add) == 0 && len(p.Remove) == 0 && len(p.Tasks) == 0 &&
		len(p.LostTasks) == 0 && len(p.Unplaced) == 0
}

// merge appends q's entries to p.
func (p *Plan) merge(q Plan) {
	p.Add = append(p.Add, q.Add...)
	p.Remove = append(p.Remove, q.Remove...)
	p.Tasks = append(p.Tasks, q.Tasks...)
	p.LostTasks = append(p.LostTasks, q.LostTasks...)
	p.Unplaced = append(p.Unplaced, q.Unplaced...)
}

// String renders the plan one entry a line, in a stable format used by the
// scenario files in testdata:
//
//	add web/0 c1
//	remove web/3 c2: scale down
//	task t1 c1
//	lost t2 c3
//	unplaced LRP web index 4: no cell matches the selector
func (p *Plan) String() string {
	var b strings.Builder
	for _, a := range p.Add {
		fmt.Fprintf(&b, "add %s/%d %s\n", a.LRP, a.Index, a.Cell)
	}
	for _, r := range p.Remove {
		fmt.Fprintf(&b, "remove %s/%d %s: %s\n", r.LRP, r.Index, r.Cell, r.Reason)
	}
	for _, t := range p.Tasks {
		fmt.Fprintf(&b, "task %s %s\n", t.Task, t.Cell)
	}
	for _, t := range p.LostTasks {
		fmt.Fprintf(&b, "lost %s %s\n", t.Task, t.Cell)
	}
	for _, u := range p.Unplaced {
		fmt.Fprintf(&b, "unplaced %s\n", u)
	}
	return b.String()
}

// FromLRP returns the placement view of a desired LRP, defaults applied,
// given the names of the cells its selector matches.
func FromLRP(l *model.LRP, cells []string) LRP {
	return LRP{
		Name:      l.Metadata.Name,
		Instances: int(l.Spec.Replicas()),
		Resources: l.Spec.Needs(),
		Spread:    l.Spec.Spread,
		Cells:     cells,
	}
}

// FromTask returns the placement view of a pending task, defaults applied,
// given the names of the cells its selector matches.
func FromTask(t *model.Task, cells []string) Task {
	return Task{Name: t.Metadata.Name, Resources: t.Spec.Needs(), Cells: cells}
}
