package cell

import (
	"strings"
	"testing"
)

func TestParseMemTotal(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    int64
		wantErr bool
	}{
		{name: "linux", in: "MemTotal:       24684500 kB\nMemFree:        23440000 kB\n", want: 24684500},
		{name: "not first", in: "Foo: 1 kB\nMemTotal: 2048 kB\n", want: 2048},
		{name: "missing", in: "MemFree: 1 kB\n", wantErr: true},
		{name: "no unit", in: "MemTotal: 2048\n", wantErr: true},
		{name: "negative", in: "MemTotal: -5 kB\n", wantErr: true},
		{name: "empty", in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMemTotal(strings.NewReader(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Fatalf("got %d, want %d", got, tt.want)
			}
		})
	}
}

func FuzzParseMemTotal(f *testing.F) {
	f.Add("MemTotal:       24684500 kB\n")
	f.Add("MemTotal: 0 kB")
	f.Add("x")
	f.Fuzz(func(t *testing.T, in string) {
		n, err := parseMemTotal(strings.NewReader(in))
		if err == nil && n <= 0 {
			t.Fatalf("parseMemTotal(%q) = %d with no error", in, n)
		}
		if err != nil && n != 0 {
			t.Fatalf("parseMemTotal(%q) = %d with error %v", in, n, err)
		}
	})
}

func TestDetectCapacity(t *testing.T) {
	c, err := DetectCapacity(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if c.MemoryMB <= 0 || c.DiskMB <= 0 || c.Containers != DefaultContainers {
		t.Fatalf("capacity = %+v", c)
	}
	if _, err := DetectCapacity("/nonexistent/dir", 1); err == nil {
		t.Fatal("want an error for a missing directory")
	}
}
