//go:build unix

package selectors

import (
	"syscall"
	"time"
)

// cpuTime returns the CPU time the process has used. Benchmarks report it
// next to wall time because the machine is shared: CPU time is what a
// selector evaluation costs, wall time also counts waiting for a core.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
