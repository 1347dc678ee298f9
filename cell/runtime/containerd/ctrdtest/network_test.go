package ctrdtest

import (
	"strings"
	"testing"
)

func TestSplitRule(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		ok   bool
	}{
		{`CNI-HOSTPORT-DNAT -p tcp -m comment --comment "dnat name: \"cellsync-cst7\" id: \"br-a\"" -m multiport --dports 40700 -j CNI-DN-abc`,
			[]string{"CNI-HOSTPORT-DNAT", "-p", "tcp", "-m", "comment", "--comment", `dnat name: "cellsync-cst7" id: "br-a"`, "-m", "multiport", "--dports", "40700", "-j", "CNI-DN-abc"}, true},
		{`POSTROUTING -s 10.213.7.2/32 -j CNI-1`, []string{"POSTROUTING", "-s", "10.213.7.2/32", "-j", "CNI-1"}, true},
		{`X --comment "open`, nil, false},
		{`X --comment ""`, []string{"X", "--comment", ""}, true},
	}
	for _, tt := range tests {
		got, ok := splitRule(tt.in)
		if ok != tt.ok || (ok && strings.Join(got, "|") != strings.Join(tt.want, "|")) {
			t.Errorf("splitRule(%s) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
