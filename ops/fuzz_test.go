package ops

import (
	"reflect"
	"testing"

	"sigs.k8s.io/yaml"
)

// FuzzParseCells checks that any input either fails cleanly or yields
// valid, uniquely named cells that survive a round trip.
func FuzzParseCells(f *testing.F) {
	for _, s := range []string{
		"- {name: c1, zone: z1, labels: {env: prod}, capacity: {memoryMB: 4096, diskMB: 8192, containers: 20}}\n",
		"[]",
		"- {name: c1}\n",
		"- {name: C1, capacity: {memoryMB: 1, diskMB: 1, containers: 1}}\n",
		`[{"name": "a", "capacity": {"memoryMB": 1, "diskMB": 1, "containers": 1}}]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cells, err := ParseCells("f.yaml", data)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for i := range cells {
			if err := cells[i].Validate(); err != nil {
				t.Fatalf("accepted an invalid cell %+v: %v", cells[i], err)
			}
			if seen[cells[i].Name] {
				t.Fatalf("accepted %s twice", cells[i].Name)
			}
			seen[cells[i].Name] = true
		}
		b, err := yaml.Marshal(cells)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseCells("again.yaml", b)
		if err != nil {
			t.Fatalf("round trip of %q: %v", b, err)
		}
		if len(again) != len(cells) || (len(cells) > 0 && !reflect.DeepEqual(again, cells)) {
			t.Fatalf("round trip changed %+v into %+v", cells, again)
		}
	})
}
