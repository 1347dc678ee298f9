package ops

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/cellsync/cellsync/cell"
)

func TestSplitNetworks(t *testing.T) {
	tests := []struct {
		name    string
		prefix  string
		subnet  string
		ports   cell.PortRange
		n       int
		want    []string // bridge subnet first-last
		wantErr string
	}{
		{"three cells", "csup", "10.89.0.0/16", cell.PortRange{First: 61000, Last: 61999}, 3,
			[]string{"csup1 10.89.0.0/18 61000-61332", "csup2 10.89.64.0/18 61333-61665", "csup3 10.89.128.0/18 61666-61998"}, ""},
		{"one cell takes everything", "cs", "10.89.0.0/24", cell.PortRange{First: 2000, Last: 2099}, 1,
			[]string{"cs1 10.89.0.0/24 2000-2099"}, ""},
		{"a test slot split in two", "cst7-", "10.213.7.0/24", cell.PortRange{First: 40700, Last: 40799}, 2,
			[]string{"cst7-1 10.213.7.0/25 40700-40749", "cst7-2 10.213.7.128/25 40750-40799"}, ""},
		{"unmasked subnet", "b", "10.1.2.3/24", cell.PortRange{First: 2000, Last: 2001}, 2,
			[]string{"b1 10.1.2.0/25 2000-2000", "b2 10.1.2.128/25 2001-2001"}, ""},
		{"subnet too small", "b", "10.0.0.0/29", cell.PortRange{First: 2000, Last: 2099}, 2, nil, "cannot hold 2 bridges"},
		{"too few ports", "b", "10.0.0.0/16", cell.PortRange{First: 2000, Last: 2001}, 3, nil, "cannot give 3 cells a port each"},
		{"name too long", "averylongprefix", "10.0.0.0/16", cell.PortRange{First: 2000, Last: 2099}, 1, nil, "longer than 15"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SplitNetworks(tt.prefix, netip.MustParsePrefix(tt.subnet), tt.ports, tt.n)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var s []string
			for _, c := range got {
				s = append(s, c.Bridge+" "+c.Subnet.String()+" "+c.Ports.String())
			}
			if strings.Join(s, "\n") != strings.Join(tt.want, "\n") {
				t.Fatalf("got\n%s\nwant\n%s", strings.Join(s, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}
