package model_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cellsync/cellsync/internal/cputime"
	"github.com/cellsync/cellsync/loader"
	"github.com/cellsync/cellsync/model"
)

// FuzzParseFile feeds arbitrary bytes to the parser: it must never panic,
// every error must be a *model.Error naming the file, every object it
// returns must have a name and a source in that file, and any input within
// loader.MaxFileSize costs at most 1 s of CPU and 64 MB, with at most
// MaxErrors problems listed (plus their count).
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
	f.Add([]byte(aliasBomb(500, 500)))
	f.Add([]byte("spec: &s {command: &c [a, *c], env: &e {A: *s}}\nx: [*s, *c, *e]\n"))
	f.Add([]byte(lrpHead + "  update: {maxUnavailable: 25%, maxSurge: 1, minHealthySeconds: 5, progressDeadlineSeconds: 60, canary: 1, autoPromote: true}\n"))
	f.Add([]byte(setHead + "  rollout: {maxUnavailable: 10%, partitions: [{name: a, selector: 'true'}]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > loader.MaxFileSize {
			t.Skip("over the loader's size limit")
		}
		var objs []model.Object
		var errs []error
		cpu := cputime.Used()
		alloc := allocated(func() { objs, errs = model.ParseFile("fuzz.yaml", data) })
		if cpu = cputime.Used() - cpu; cpu > time.Second {
			t.Fatalf("parsing %d bytes took %s of CPU, over 1 s", len(data), cpu)
		}
		if alloc > maxParseBytes {
			t.Fatalf("parsing %d bytes allocated %d MB, over %d MB", len(data), alloc>>20, maxParseBytes>>20)
		}
		if len(errs) > model.MaxErrors+1 {
			t.Fatalf("%d errors listed, over %d", len(errs), model.MaxErrors+1)
		}
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
			checkRolloutLimits(t, o)
		}
		model.Check(objs)
	})
}

// FuzzCellBodies: every body of a parsed object decodes back to an object
// of the same kind and name, its hash is its content address, and the size
// limit refuses exactly the objects with a body over it, naming the file.
func FuzzCellBodies(f *testing.F) {
	seeds, _ := filepath.Glob("../repo-example/*/*.yaml")
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, 300)
	}
	f.Add([]byte("apiVersion: cellsync.io/v1\nkind: Config\nmetadata: {name: c}\ndata: {k: '<<<&&>>>\"\"'}\n"), 90)
	f.Fuzz(func(t *testing.T, data []byte, limit int) {
		objs, _ := model.ParseFile("fuzz.yaml", data)
		limit = max(limit, 1)
		for _, o := range objs {
			all, err := model.CellBodies(o, 0)
			if err != nil {
				t.Fatalf("CellBodies without a limit: %v", err)
			}
			largest := 0
			for _, b := range all {
				largest = max(largest, len(b.Data))
				if b.Hash != model.SpecHash(b.Data) {
					t.Fatalf("hash %s is not the body's", b.Hash)
				}
				back, err := model.DecodeObject(b.Data)
				if err != nil {
					t.Fatalf("body of %s %s does not decode: %v", b.Object.Head().Kind, b.Object.Head().Metadata.Name, err)
				}
				if back.Head().Kind != b.Object.Head().Kind || back.Head().Metadata.Name != b.Object.Head().Metadata.Name {
					t.Fatalf("body decodes to %s %s, want %s %s", back.Head().Kind, back.Head().Metadata.Name, b.Object.Head().Kind, b.Object.Head().Metadata.Name)
				}
			}
			_, err = model.CellBodies(o, limit)
			var me *model.Error
			switch {
			case largest > limit && (!errors.As(err, &me) || me.File != "fuzz.yaml" || !strings.Contains(me.Msg, fmt.Sprintf("over the %d-byte limit", limit))):
				t.Fatalf("a %d-byte body under a %d-byte limit: %v", largest, limit, err)
			case largest <= limit && err != nil:
				t.Fatalf("bodies of at most %d bytes under a %d-byte limit: %v", largest, limit, err)
			}
		}
	})
}

// checkRolloutLimits fails when a parsed object carries a rollout amount
// or duration outside its documented range.
func checkRolloutLimits(t *testing.T, o model.Object) {
	t.Helper()
	inRange := func(a *model.Amount, lo, hi int32) bool {
		if a == nil {
			return true
		}
		if a.Percent {
			hi = 100
		}
		return a.Value >= lo && a.Value <= hi
	}
	switch o := o.(type) {
	case *model.LRP:
		u := o.Spec.Update
		if u == nil {
			return
		}
		if !inRange(u.MaxUnavailable, 0, model.MaxInstances) || !inRange(u.MaxSurge, 0, model.MaxInstances) ||
			u.Canary < 0 || u.Canary > model.MaxInstances ||
			(u.MinHealthySeconds != nil && (*u.MinHealthySeconds < 0 || *u.MinHealthySeconds > model.MaxMinHealthySeconds)) ||
			(u.ProgressDeadlineSeconds != nil && (*u.ProgressDeadlineSeconds < 1 || *u.ProgressDeadlineSeconds > model.MaxProgressDeadlineSeconds)) {
			t.Fatalf("update out of range accepted: %+v", u)
		}
	case *model.SelectorSyncSet:
		r := o.Spec.Rollout
		if r != nil && (!inRange(r.MaxUnavailable, 1, model.MaxRolloutCells) || len(r.Partitions) > model.MaxPartitions) {
			t.Fatalf("rollout out of range accepted: %+v", r)
		}
	}
}
