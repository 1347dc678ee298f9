package containerd

import (
	"strconv"
	"strings"
	"testing"
)

func TestOOMKills(t *testing.T) {
	tests := []struct {
		name string
		file string
		want int64
	}{
		{"cgroup v2 memory.events", "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n", 1},
		{"cgroup v1 memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n", 3},
		{"no kill", "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n", 0},
		{"older kernel without the counter", "oom_kill_disable 0\nunder_oom 0\n", 0},
		{"garbage", "oom_kill lots\n", 0},
		{"negative", "oom_kill -1\n", 0},
	}
	for _, tt := range tests {
		if got := oomKills([]byte(tt.file)); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
}

// FuzzOOMKills checks that the counter parser never panics, never returns
// a negative count, and finds a counter it is given.
func FuzzOOMKills(f *testing.F) {
	f.Add([]byte("oom 1\noom_kill 1\n"), int64(7))
	f.Add([]byte("oom_kill_disable 0\nunder_oom 0\n"), int64(0))
	f.Add([]byte("\x00\n oom_kill"), int64(1<<62))
	f.Fuzz(func(t *testing.T, b []byte, n int64) {
		if got := oomKills(b); got < 0 {
			t.Fatalf("oomKills(%q) = %d", b, got)
		}
		if n < 0 || strings.Contains(string(b), "oom_kill") {
			return
		}
		if got := oomKills(append(b, "\noom_kill "+strconv.FormatInt(n, 10)+"\n"...)); got != n {
			t.Fatalf("oomKills with oom_kill %d appended = %d", n, got)
		}
	})
}
