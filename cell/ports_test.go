package cell

import (
	"slices"
	"strings"
	"testing"
)

func TestPortPool(t *testing.T) {
	type step struct {
		op      string // allocate, reserve, release
		owner   string
		n       int   // allocate
		ports   []int // reserve; the ports allocate must return
		wantErr string
	}
	tests := []struct {
		name  string
		r     PortRange
		steps []step
	}{
		{"hands out in order", PortRange{2000, 2009}, []step{
			{op: "allocate", owner: "a", n: 2, ports: []int{2000, 2001}},
			{op: "allocate", owner: "b", n: 1, ports: []int{2002}},
		}},
		{"released ports come back only after the others", PortRange{2000, 2003}, []step{
			{op: "allocate", owner: "a", n: 2, ports: []int{2000, 2001}},
			{op: "release", owner: "a"},
			{op: "allocate", owner: "b", n: 1, ports: []int{2002}},
			{op: "allocate", owner: "c", n: 2, ports: []int{2003, 2000}},
			{op: "allocate", owner: "d", n: 1, ports: []int{2001}},
		}},
		{"never twice, even when wrapping", PortRange{2000, 2002}, []step{
			{op: "allocate", owner: "a", n: 1, ports: []int{2000}},
			{op: "allocate", owner: "b", n: 1, ports: []int{2001}},
			{op: "release", owner: "a"},
			{op: "allocate", owner: "c", n: 2, ports: []int{2002, 2000}},
			{op: "allocate", owner: "d", n: 1, wantErr: "1 needed, 0 of 2000-2002 free"},
		}},
		{"too few free allocates nothing", PortRange{2000, 2002}, []step{
			{op: "allocate", owner: "a", n: 2, ports: []int{2000, 2001}},
			{op: "allocate", owner: "b", n: 2, wantErr: "2 needed, 1 of"},
			{op: "allocate", owner: "c", n: 1, ports: []int{2002}},
		}},
		{"reserve adopted ports, then allocation skips them", PortRange{2000, 2003}, []step{
			{op: "reserve", owner: "a", ports: []int{2000, 2002}},
			{op: "allocate", owner: "b", n: 2, ports: []int{2001, 2003}},
		}},
		{"reserve conflicts and range", PortRange{2000, 2003}, []step{
			{op: "reserve", owner: "a", ports: []int{2001}},
			{op: "reserve", owner: "b", ports: []int{2003, 2001}, wantErr: "host port 2001 is held by a"},
			{op: "reserve", owner: "b", ports: []int{3000}, wantErr: "host port 3000 is outside 2000-2003"},
			// b's failed reserve left 2003 free.
			{op: "allocate", owner: "c", n: 3, ports: []int{2000, 2002, 2003}},
		}},
		{"reserve again by the same owner is a no-op", PortRange{2000, 2003}, []step{
			{op: "reserve", owner: "a", ports: []int{2001}},
			{op: "reserve", owner: "a", ports: []int{2001}},
			{op: "release", owner: "a"},
			{op: "allocate", owner: "b", n: 4, ports: []int{2000, 2001, 2002, 2003}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPortPool(tt.r)
			for i, s := range tt.steps {
				var got []int
				var err error
				switch s.op {
				case "allocate":
					got, err = p.allocate(s.owner, s.n)
				case "reserve":
					err = p.reserve(s.owner, s.ports)
				case "release":
					p.release(s.owner)
				}
				if s.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), s.wantErr) {
						t.Fatalf("step %d %s %s: err = %v, want %q", i, s.op, s.owner, err, s.wantErr)
					}
					continue
				}
				if err != nil {
					t.Fatalf("step %d %s %s: %v", i, s.op, s.owner, err)
				}
				if s.op == "allocate" && !slices.Equal(got, s.ports) {
					t.Fatalf("step %d allocate %s: got %v, want %v", i, s.owner, got, s.ports)
				}
				// Invariant: every port has one owner and the indexes agree.
				n := 0
				for owner, ports := range p.held {
					for _, port := range ports {
						if p.owner[port] != owner {
							t.Fatalf("step %d: port %d held by %s but owned by %s", i, port, owner, p.owner[port])
						}
						n++
					}
				}
				if n != len(p.owner) {
					t.Fatalf("step %d: %d held, %d owned", i, n, len(p.owner))
				}
			}
		})
	}
}

func TestParsePortRange(t *testing.T) {
	tests := []struct {
		in      string
		want    PortRange
		wantErr bool
	}{
		{"61000-61999", PortRange{61000, 61999}, false},
		{" 2000 - 2000 ", PortRange{2000, 2000}, false},
		{"2000", PortRange{}, true},
		{"80-90", PortRange{}, true},
		{"3000-2000", PortRange{}, true},
		{"60000-70000", PortRange{}, true},
		{"a-b", PortRange{}, true},
	}
	for _, tt := range tests {
		got, err := ParsePortRange(tt.in)
		if (err != nil) != tt.wantErr || (!tt.wantErr && got != tt.want) {
			t.Errorf("ParsePortRange(%q) = %v, %v; want %v, err %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}
