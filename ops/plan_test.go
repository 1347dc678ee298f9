package ops

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cellsync/cellsync/model"
)

var update = flag.Bool("update", false, "rewrite testdata/plan-offline.txt")

func TestReadCellsFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name    string
		path    string
		want    int
		wantErr string
	}{
		{name: "testdata", path: "testdata/cells.yaml", want: 2},
		{name: "no capacity", path: write("a.yaml", "- {name: c1}\n"), wantErr: "capacity"},
		{name: "twice", path: write("b.yaml", "- {name: c1, capacity: {memoryMB: 1, diskMB: 1, containers: 1}}\n- {name: c1, capacity: {memoryMB: 1, diskMB: 1, containers: 1}}\n"), wantErr: "listed twice"},
		{name: "unknown field", path: write("c.yaml", "- {name: c1, zoen: z1, capacity: {memoryMB: 1, diskMB: 1, containers: 1}}\n"), wantErr: "zoen"},
		{name: "missing", path: filepath.Join(dir, "nope.yaml"), wantErr: "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cells, err := ReadCellsFile(tt.path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || len(cells) != tt.want {
				t.Fatalf("cells = %+v, err = %v, want %d cells", cells, err, tt.want)
			}
		})
	}
}

func TestComputePlanOffline(t *testing.T) {
	cells, err := ReadCellsFile("testdata/cells.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ComputePlan(context.Background(), PlanOptions{Dir: "../repo-example", Cells: cells})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Changed() {
		t.Error("a first plan changes nothing")
	}
	var b bytes.Buffer
	if err := RenderPlan(&b, p, FormatTable); err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile("testdata/plan-offline.txt", b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("testdata/plan-offline.txt")
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Errorf("plan:\n%s\nwant (testdata/plan-offline.txt):\n%s", b.String(), want)
	}

	// A cell too small for anything: every instance is unplaceable, with
	// the reason.
	tiny := []model.Cell{{Name: "t1", Zone: "z1", Capacity: model.Capacity{MemoryMB: 8, DiskMB: 8, Containers: 1}}}
	p, err = ComputePlan(context.Background(), PlanOptions{Dir: "../repo-example", Cells: tiny})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Unplaced) == 0 || !strings.Contains(strings.Join(p.Unplaced, "\n"), "LRP web: 4 instances:") {
		t.Errorf("unplaced = %q, want LRP web's instances", p.Unplaced)
	}
}

func TestComputePlanRejectsBrokenDir(t *testing.T) {
	dir := t.TempDir()
	bad := "apiVersion: cellsync.io/v1\nkind: LRP\nmetadata: {name: web}\nspec:\n  image: busybox\n  instances: -1\n"
	if err := os.WriteFile(filepath.Join(dir, "web.yaml"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ComputePlan(context.Background(), PlanOptions{Dir: dir, Cells: []model.Cell{}})
	var le *LoadError
	if !errors.As(err, &le) || len(le.Problems) != 1 || !strings.Contains(le.Problems[0].Error(), "web.yaml:6:") {
		t.Fatalf("err = %v, want a LoadError naming web.yaml:6", err)
	}
	if _, err := ComputePlan(context.Background(), PlanOptions{Dir: "../repo-example"}); err == nil || !strings.Contains(err.Error(), "--cells") {
		t.Errorf("plan without cells nor etcd: err = %v, want advice", err)
	}

	// A link through a symlinked directory outside DIR is refused, not read
	// (issue 15.7).
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "web.yaml"), []byte(strings.Replace(bad, "-1", "1", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "web.yaml")); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{"out": outside, "web.yaml": "out/web.yaml"} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	_, err = ComputePlan(context.Background(), PlanOptions{Dir: dir, Cells: []model.Cell{}})
	if !errors.As(err, &le) || len(le.Problems) != 1 || !strings.Contains(le.Problems[0].Error(), "goes through out, a symlinked directory") {
		t.Fatalf("err = %v, want a LoadError about the symlinked directory", err)
	}
}

func TestItemChanges(t *testing.T) {
	lrp := func(spec string, idx ...int32) model.Item {
		return model.Item{Kind: model.KindLRP, Name: "web", Spec: spec, Indexes: idx}
	}
	cfg := model.Item{Kind: model.KindConfig, Name: "c", Spec: "h1"}
	tests := []struct {
		name          string
		before, after []model.Item
		want          []ItemChange
	}{
		{name: "none", before: []model.Item{cfg}, after: []model.Item{cfg}},
		{name: "added", after: []model.Item{lrp("h", 0, 1)},
			want: []ItemChange{{Cell: "c1", Op: ChangeAdd, Kind: model.KindLRP, Name: "web", AddedIndexes: []int32{0, 1}}}},
		{name: "removed", before: []model.Item{cfg},
			want: []ItemChange{{Cell: "c1", Op: ChangeRemove, Kind: model.KindConfig, Name: "c", Reason: "why"}}},
		{name: "rescaled", before: []model.Item{lrp("h", 0, 2)}, after: []model.Item{lrp("h", 0, 1)},
			want: []ItemChange{{Cell: "c1", Op: ChangeUpdate, Kind: model.KindLRP, Name: "web", AddedIndexes: []int32{1}, RemovedIndexes: []int32{2}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := itemChanges("c1", tt.before, tt.after, "why", nil)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
