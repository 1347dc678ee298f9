package placement_test

import (
	"fmt"

	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/placement"
)

func Example() {
	capacity := model.Capacity{MemoryMB: 4096, DiskMB: 8192, Containers: 10}
	s := placement.New()
	for _, c := range []model.Cell{
		{Name: "a1", Zone: "za", Capacity: capacity},
		{Name: "a2", Zone: "za", Capacity: capacity},
		{Name: "b1", Zone: "zb", Capacity: capacity},
	} {
		if _, err := s.AddCell(c); err != nil {
			fmt.Println(err)
			return
		}
	}
	web := placement.LRP{
		Name:      "web",
		Instances: 3,
		Resources: model.Resources{MemoryMB: 512, DiskMB: 512},
		Cells:     []string{"a1", "a2", "b1"}, // from package selectors
	}
	plan, err := s.Place(web)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(plan.String())

	// Scale up: only the new index is placed.
	web.Instances = 4
	plan, _ = s.Place(web)
	fmt.Print(plan.String())

	// A cell's lease expires: only its instances move.
	plan = s.RemoveCell("b1")
	fmt.Print(plan.String())
	// Output:
	// add web/0 a1
	// add web/1 b1
	// add web/2 a2
	// add web/3 b1
	// add web/1 a1
	// add web/3 a2
	// remove web/1 b1: cell b1 is gone
	// remove web/3 b1: cell b1 is gone
}
