package router

import (
	"fmt"
	"testing"
)

func TestPick(t *testing.T) {
	loads := func(l ...int64) func(int) int64 { return func(i int) int64 { return l[i] } }
	tests := []struct {
		name string
		b    Balance
		n    int
		turn uint64
		skip int
		load func(int) int64
		want int
	}{
		{"round robin takes turns", RoundRobin, 3, 4, -1, nil, 1},
		{"round robin skips the failed one", RoundRobin, 3, 4, 1, nil, 2},
		{"round robin wraps when skipping", RoundRobin, 3, 5, 2, nil, 0},
		{"one endpoint is taken even when skipped", RoundRobin, 1, 7, 0, nil, 0},
		{"least outstanding", LeastOutstanding, 3, 0, -1, loads(5, 1, 3), 1},
		{"ties go in turn", LeastOutstanding, 3, 2, -1, loads(1, 1, 1), 2},
		{"the first least loaded after the turn", LeastOutstanding, 3, 4, -1, loads(0, 2, 0), 2},
		{"least outstanding skips the failed one", LeastOutstanding, 3, 0, 1, loads(5, 1, 3), 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pick(tt.b, tt.n, tt.turn, tt.skip, tt.load); got != tt.want {
				t.Fatalf("pick = %d, want %d", got, tt.want)
			}
		})
	}
	// Round robin over many turns is even.
	counts := make([]int, 3)
	for turn := range uint64(300) {
		counts[pick(RoundRobin, 3, turn, -1, nil)]++
	}
	if fmt.Sprint(counts) != "[100 100 100]" {
		t.Fatalf("round robin counts = %v", counts)
	}
}

func TestParseBalance(t *testing.T) {
	for in, want := range map[string]Balance{"": RoundRobin, "round-robin": RoundRobin, "least-outstanding": LeastOutstanding} {
		if got, err := ParseBalance(in); err != nil || got != want {
			t.Errorf("ParseBalance(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseBalance("random"); err == nil {
		t.Error("ParseBalance(random) did not fail")
	}
}
