package placement

import (
	"errors"
	"testing"

	"github.com/cellsync/cellsync/model"
)

func testCell(name, zone string) model.Cell {
	return model.Cell{Name: name, Zone: zone, Capacity: model.Capacity{MemoryMB: 4096, DiskMB: 8192, Containers: 8}}
}

func TestInputErrors(t *testing.T) {
	res := model.Resources{MemoryMB: 128, DiskMB: 128}
	tests := []struct {
		name    string
		in      Input
		wantErr error
	}{
		{name: "valid", in: Input{Cells: []model.Cell{testCell("c1", "z1")}}},
		{name: "duplicate cell", in: Input{Cells: []model.Cell{testCell("c1", "z1"), testCell("c1", "z2")}}, wantErr: ErrDuplicate},
		{name: "cell without capacity", in: Input{Cells: []model.Cell{{Name: "c1"}}}, wantErr: ErrInvalid},
		{name: "cell with unknown state", in: Input{Cells: []model.Cell{{Name: "c1", State: "sleeping",
			Capacity: model.Capacity{MemoryMB: 1, DiskMB: 1, Containers: 1}}}}, wantErr: ErrInvalid},
		{name: "duplicate LRP", in: Input{LRPs: []LRP{{Name: "a"}, {Name: "a"}}}, wantErr: ErrDuplicate},
		{name: "negative instances", in: Input{LRPs: []LRP{{Name: "a", Instances: -1}}}, wantErr: ErrInvalid},
		{name: "negative memory", in: Input{LRPs: []LRP{{Name: "a", Resources: model.Resources{MemoryMB: -1}}}}, wantErr: ErrInvalid},
		{name: "unknown spread", in: Input{LRPs: []LRP{{Name: "a", Spread: "rack"}}}, wantErr: ErrInvalid},
		{name: "empty LRP name", in: Input{LRPs: []LRP{{}}}, wantErr: ErrInvalid},
		{name: "duplicate index", in: Input{
			Cells:     []model.Cell{testCell("c1", "z1"), testCell("c2", "z1")},
			LRPs:      []LRP{{Name: "a", Instances: 1, Resources: res}},
			Instances: []Instance{{LRP: "a", Index: 0, Cell: "c1", Resources: res}, {LRP: "a", Index: 0, Cell: "c2", Resources: res}},
		}, wantErr: ErrDuplicate},
		{name: "negative index", in: Input{
			Cells:     []model.Cell{testCell("c1", "z1")},
			LRPs:      []LRP{{Name: "a", Instances: 1, Resources: res}},
			Instances: []Instance{{LRP: "a", Index: -1, Cell: "c1", Resources: res}},
		}, wantErr: ErrInvalid},
		{name: "duplicate task", in: Input{
			Cells: []model.Cell{testCell("c1", "z1")},
			Tasks: []TaskAssignment{{Task: "t", Cell: "c1"}, {Task: "t", Cell: "c1"}},
		}, wantErr: ErrDuplicate},
		{name: "empty pending task name", in: Input{Pending: []Task{{}}}, wantErr: ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compute(tt.in)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("Compute() error = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestStateErrors(t *testing.T) {
	s := New()
	if _, err := s.AddCell(testCell("c1", "z1")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		call    func() error
		wantErr error
	}{
		{name: "instance on unknown cell", call: func() error {
			return s.AddInstance(Instance{LRP: "a", Cell: "nope"})
		}, wantErr: ErrUnknownCell},
		{name: "task on unknown cell", call: func() error {
			return s.AddTask(TaskAssignment{Task: "t", Cell: "nope"})
		}, wantErr: ErrUnknownCell},
		{name: "instance without LRP", call: func() error {
			return s.AddInstance(Instance{Cell: "c1"})
		}, wantErr: ErrInvalid},
		{name: "place invalid", call: func() error {
			_, err := s.Place(LRP{Name: "a", Instances: -3})
			return err
		}, wantErr: ErrInvalid},
		{name: "place task invalid", call: func() error {
			_, err := s.PlaceTask(Task{Name: "t", Resources: model.Resources{DiskMB: -1}})
			return err
		}, wantErr: ErrInvalid},
		{name: "valid instance", call: func() error {
			return s.AddInstance(Instance{LRP: "a", Cell: "c1"})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
		})
	}
	if got := s.Where("a"); len(got) != 1 || got[0] != "c1" {
		t.Fatalf("Where(a) = %v after a failed Place, want [c1]", got)
	}
}

func TestCloneIsIndependent(t *testing.T) {
	s, _, err := Load(Input{
		Cells: []model.Cell{testCell("c1", "z1"), testCell("c2", "z2")},
		LRPs:  []LRP{{Name: "web", Instances: 2, Resources: model.Resources{MemoryMB: 256, DiskMB: 256}, Cells: []string{"c1", "c2"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	c := s.Clone()
	p := c.RemoveCell("c1")
	if len(p.Add) != 1 || p.Add[0].Cell != "c2" {
		t.Fatalf("clone RemoveCell plan:\n%s", p.String())
	}
	if got := s.Where("web"); got[0] != "c1" || got[1] != "c2" {
		t.Fatalf("original changed: Where(web) = %v", got)
	}
	if got := c.Where("web"); got[0] != "c2" || got[1] != "c2" {
		t.Fatalf("clone: Where(web) = %v, want [c2 c2]", got)
	}
	checkState(t, s)
	checkState(t, c)
	if len(s.Cells()) != 2 || len(c.Cells()) != 1 {
		t.Fatalf("cells: original %d, clone %d", len(s.Cells()), len(c.Cells()))
	}
}

func TestCellUpdates(t *testing.T) {
	res := model.Resources{MemoryMB: 1024, DiskMB: 256}
	s, _, err := Load(Input{
		Cells: []model.Cell{testCell("c1", "z1"), testCell("c2", "z1")},
		LRPs:  []LRP{{Name: "web", Instances: 2, Resources: res, Cells: []string{"c1", "c2"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Shrinking a cell below its usage moves nothing.
	small := testCell("c1", "z1")
	small.Capacity.MemoryMB = 512
	if p, err := s.AddCell(small); err != nil || !p.Empty() {
		t.Fatalf("shrink: plan %q, err %v", p.String(), err)
	}
	if got := s.Where("web"); got[0] != "c1" {
		t.Fatalf("shrink moved web/0 to %s", got[0])
	}
	// It takes nothing new, though.
	p, err := s.Place(LRP{Name: "web", Instances: 3, Resources: res, Cells: []string{"c1", "c2"}})
	if err != nil || len(p.Add) != 1 || p.Add[0].Cell != "c2" {
		t.Fatalf("scale up: plan %q, err %v", p.String(), err)
	}
	// A cell re-registering after being removed is a new cell.
	s.RemoveCell("c2")
	if _, err := s.AddCell(testCell("c2", "z2")); err != nil {
		t.Fatal(err)
	}
	p, err = s.Place(LRP{Name: "web", Instances: 3, Resources: res, Cells: []string{"c1", "c2"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Where("web"); got[1] != "c2" || got[2] != "c2" || len(p.Add) != 2 {
		t.Fatalf("after re-registration: Where(web) = %v, plan %q", got, p.String())
	}
	checkBookkeeping(t, s, false)
}

func TestPlanString(t *testing.T) {
	u := Unplaced{Kind: model.KindTask, Name: "t1", Index: -1, Reason: "no cell matches the selector"}
	if got, want := u.String(), "Task t1: no cell matches the selector"; got != want {
		t.Errorf("Unplaced.String() = %q, want %q", got, want)
	}
	var p Plan
	if !p.Empty() || p.String() != "" {
		t.Errorf("zero plan: Empty %v, String %q", p.Empty(), p.String())
	}
}

func TestFromModel(t *testing.T) {
	n := int32(3)
	l := &model.LRP{Header: model.Header{Metadata: model.Meta{Name: "web"}},
		Spec: model.LRPSpec{Instances: &n, Spread: model.SpreadNone}}
	got := FromLRP(l, []string{"c1"})
	want := LRP{Name: "web", Instances: 3, Resources: model.DefaultResources, Spread: model.SpreadNone, Cells: []string{"c1"}}
	if got.Name != want.Name || got.Instances != want.Instances || got.Resources != want.Resources ||
		got.Spread != want.Spread || len(got.Cells) != 1 {
		t.Errorf("FromLRP() = %+v, want %+v", got, want)
	}
	r := model.Resources{MemoryMB: 64, DiskMB: 32}
	tk := &model.Task{Header: model.Header{Metadata: model.Meta{Name: "job"}},
		Spec: model.TaskSpec{Process: model.Process{Resources: &r}}}
	if got := FromTask(tk, nil); got.Name != "job" || got.Resources != r {
		t.Errorf("FromTask() = %+v", got)
	}
}
