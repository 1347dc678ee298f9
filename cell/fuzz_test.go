package cell

import (
	"testing"

	"github.com/cellsync/cellsync/model"
)

// FuzzParsePortRange: a range is accepted only when it is within the
// documented bounds, and it prints back to itself.
func FuzzParsePortRange(f *testing.F) {
	for _, s := range []string{"61000-61999", "1024-65535", "80-90", "a-b", "5-", "-", "2000-1000", " 3000 - 3001 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParsePortRange(s)
		if err != nil {
			return
		}
		if r.First < minHostPort || r.Last > 65535 || r.First > r.Last {
			t.Fatalf("%q accepted as %v", s, r)
		}
		if back, err := ParsePortRange(r.String()); err != nil || back != r {
			t.Fatalf("%v does not round-trip: %v, %v", r, back, err)
		}
	})
}

// FuzzParsePortsLabel: a container label an agent reads back (it may have
// been edited on the machine) never yields a mapping the spec does not
// name, and what portsLabel writes reads back the same.
func FuzzParsePortsLabel(f *testing.F) {
	want := []model.Port{{Name: "http", ContainerPort: 8080}, {Name: "admin", ContainerPort: 9090}}
	f.Add("http:8080:61000,admin:9090:61001")
	f.Add("http:8080:61000")
	f.Add("http:8080:x,admin:9090:1")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		pm, err := parsePortsLabel(s, want)
		if err != nil {
			return
		}
		if len(pm) != len(want) {
			t.Fatalf("%q: %d mappings for %d ports", s, len(pm), len(want))
		}
		for i, p := range pm {
			if p.Name != want[i].Name || p.ContainerPort != want[i].ContainerPort {
				t.Fatalf("%q: mapping %d is %+v", s, i, p)
			}
		}
		if back, err := parsePortsLabel(portsLabel(pm), want); err != nil || len(back) != len(pm) {
			t.Fatalf("%q does not round-trip: %v", s, err)
		}
	})
}
