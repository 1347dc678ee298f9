package hub

import (
	"testing"
	"time"
)

func TestRestartDelay(t *testing.T) {
	p := RestartPolicy{}.withDefaults()
	tests := []struct {
		crashes int
		want    time.Duration
		ok      bool
	}{
		{1, 0, false}, {3, 0, false}, // the cell restarts these itself
		{4, 30 * time.Second, true},
		{5, time.Minute, true},
		{8, 8 * time.Minute, true},
		{9, 16 * time.Minute, true},
		{50, 16 * time.Minute, true}, // capped
		{200, 0, false},              // given up
	}
	for _, tt := range tests {
		got, ok := p.delay(tt.crashes)
		if got != tt.want || ok != tt.ok {
			t.Errorf("delay(%d) = %v, %v; want %v, %v", tt.crashes, got, ok, tt.want, tt.ok)
		}
	}
}
