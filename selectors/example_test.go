package selectors_test

import (
	"fmt"

	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/selectors"
)

func Example() {
	env, err := selectors.NewEnv(selectors.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	web, err := env.Compile(`cell.zone in ["z1", "z2"] && cell.label("env", "dev") == "prod"`)
	if err != nil {
		fmt.Println(err)
		return
	}
	idx := selectors.NewIndex()
	idx.SetSelector("LRP/web", web)
	for _, ch := range idx.UpsertCell(model.Cell{Name: "c1", Zone: "z1", Labels: map[string]string{"env": "prod"}}) {
		fmt.Println(ch.Selector, ch.Cell, ch.Matched)
	}
	idx.UpsertCell(model.Cell{Name: "c2", Zone: "z3"})
	fmt.Println(idx.Matches("LRP/web"))
	// Output:
	// LRP/web c1 true
	// [c1]
}

func ExampleEnv_Compile_error() {
	env, _ := selectors.NewEnv(selectors.Config{})
	_, err := env.Compile(`semver(cell.version) >= semver("1.2")`)
	fmt.Println(err)
	// Output:
	// column 32: invalid semantic version "1.2": want MAJOR.MINOR.PATCH
}

func ExampleSemver_Compare() {
	a, _ := selectors.ParseSemver("1.10.0")
	b, _ := selectors.ParseSemver("v1.9.3")
	rc, _ := selectors.ParseSemver("2.0.0-rc.1")
	ga, _ := selectors.ParseSemver("2.0.0")
	fmt.Println(a.Compare(b), rc.Compare(ga))
	// Output:
	// 1 -1
}
