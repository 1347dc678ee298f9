package model_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/cellsync/cellsync/model"
)

// FuzzParseFile feeds arbitrary bytes to the parser: it must never panic,
// every error must be a *model.Error naming the file, and every object it
// returns must have a name and a source in that file.
func FuzzParseFile(f *testing.F) {
	seeds, _ := filepath.Glob("../repo-example/*/*.yaml")
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(lrpHead + "  instances: -1\n---\nkind: [\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, errs := model.ParseFile("fuzz.yaml", data)
		for _, err := range errs {
			var me *model.Error
			if !errors.As(err, &me) || me.File != "fuzz.yaml" {
				t.Fatalf("error %v does not name the file", err)
			}
		}
		for _, o := range objs {
			h := o.Head()
			if h.Metadata.Name == "" || h.Source.File != "fuzz.yaml" {
				t.Fatalf("object without name or source: %+v", h)
			}
		}
		model.Check(objs)
	})
}
