package containerd_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cellsync/cellsync/cell"
	"github.com/cellsync/cellsync/cell/logs"
)

// BenchmarkCaptureThroughput measures how fast a container writes to its
// stdout when the log driver captures it, against the same container
// writing to /dev/null: each iteration runs both, alternating which goes
// first, so that the machine's load weighs on both alike; the ratio is
// what capture costs the container. Each writer writes as fast as it can:
// "lines" is a shell loop printing 1 KiB lines, one write each, like an
// unbuffered application logger; "yes" is yes(1) through head(1) (4 KiB
// writes of short lines); "bulk" is dd of 64 KiB blocks of zeros, a writer
// that does nothing but copy memory. Throughput is bytes over the time
// from Start to the exit containerd reports, less the time the same setup
// takes for a container that writes nothing (the shortest of three,
// measured first): starting the driver is a cost of starting a container,
// not of writing. On a loaded 2-core machine that ratio mostly measures
// who got the CPUs, so the container's own CPU time (its cgroup's usage)
// is compared too: x-devnull-cpu is the /dev/null run's CPU time over the
// captured run's, which is the throughput ratio of a writer bound by its
// CPU on a machine with a core to spare for the driver.
func BenchmarkCaptureThroughput(b *testing.B) {
	line := strings.Repeat("x", 1023)
	writers := []struct {
		name  string
		bytes int64
		cmd   []string
	}{
		{"lines", 50000 * 1024, []string{"sh", "-c", "i=0; while [ $i -lt 50000 ]; do echo " + line + "; i=$((i+1)); done"}},
		{"yes", 256 << 20, []string{"sh", "-c", "yes 'a log line of some eighty characters, as an application would print it' | head -c 268435456"}},
		{"bulk", 1 << 30, []string{"dd", "if=/dev/zero", "bs=65536", "count=16384"}},
	}
	for _, w := range writers {
		b.Run("writer="+w.name, func(b *testing.B) {
			rt := newRuntime(b)
			ctx := context.Background()
			dir := b.TempDir()
			n := 0
			// run runs one container and returns the time from Start to
			// its exit and the CPU time its cgroup used.
			run := func(cmd []string, captured bool) (time.Duration, time.Duration) {
				n++
				spec := cell.ContainerSpec{ID: fmt.Sprintf("bench-%s-%d", w.name, n), Image: image, Command: cmd}
				if captured {
					spec.Logs = logs.Spec{Dir: filepath.Join(dir, fmt.Sprint(n))}
				}
				t0 := time.Now()
				if err := rt.Start(ctx, spec); err != nil {
					b.Fatal(err)
				}
				cpu := func() time.Duration { return 0 }
				if len(cmd) > 1 { // not the empty container, which is gone at once
					pid, err := rt.Pid(ctx, spec.ID)
					if err != nil {
						b.Fatal(err)
					}
					cpu = cgroupCPU(b, pid)
				}
				e, err := rt.Wait(ctx, spec.ID)
				if err != nil || e.Code != 0 {
					b.Fatalf("wait: %+v, %v", e, err)
				}
				used := cpu()
				if err := rt.Stop(ctx, spec.ID); err != nil {
					b.Fatal(err)
				}
				if captured {
					used, _ := usage(b, spec.Logs.Dir)
					if limit := (logs.Limits{MaxFileBytes: logs.DefaultMaxFileBytes, MaxFiles: logs.DefaultMaxFiles}).Cap(); used == 0 && len(cmd) > 1 || used > limit {
						b.Fatalf("%d bytes of output kept; want some, at most %d", used, limit)
					}
				}
				return e.At.Sub(t0), used
			}
			overhead := map[bool]time.Duration{false: time.Hour, true: time.Hour}
			for range 3 {
				for _, c := range []bool{false, true} {
					wall, _ := run([]string{"true"}, c)
					overhead[c] = min(overhead[c], wall)
				}
			}
			b.ResetTimer()
			total, cpu := map[bool]time.Duration{}, map[bool]time.Duration{}
			for i := range b.N {
				order := []bool{false, true}
				if i%2 == 1 {
					order = []bool{true, false}
				}
				for _, c := range order {
					wall, used := run(w.cmd, c)
					total[c] += wall - overhead[c]
					cpu[c] += used
				}
			}
			rate := func(c bool) float64 { return float64(w.bytes) * float64(b.N) / total[c].Seconds() / 1e6 }
			b.ReportMetric(rate(false), "devnull-MB/s")
			b.ReportMetric(rate(true), "captured-MB/s")
			b.ReportMetric(rate(true)/rate(false), "x-devnull")
			b.ReportMetric(cpu[false].Seconds()/cpu[true].Seconds(), "x-devnull-cpu")
			b.ReportMetric(overhead[true].Seconds()-overhead[false].Seconds(), "s-driver-start")
		})
	}
}

// cgroupCPU returns a function that reads the CPU time used so far by the
// cgroup of a process (cgroup v1 cpuacct or v2 cpu.stat), readable after
// the process exits and until its container is deleted.
func cgroupCPU(tb testing.TB, pid uint32) func() time.Duration {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		tb.Fatal(err)
	}
	var file string
	for _, line := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(line, ":", 3)
		switch {
		case len(parts) != 3:
		case slices.Contains(strings.Split(parts[1], ","), "cpuacct"):
			file = filepath.Join("/sys/fs/cgroup/cpuacct", parts[2], "cpuacct.usage")
		case parts[0] == "0" && parts[1] == "" && file == "":
			file = filepath.Join("/sys/fs/cgroup", parts[2], "cpu.stat")
		}
	}
	return func() time.Duration {
		b, err := os.ReadFile(file)
		if err != nil {
			tb.Fatal(err)
		}
		if strings.HasSuffix(file, "cpu.stat") {
			for _, line := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(line, "usage_usec "); ok {
					n, _ := strconv.ParseInt(v, 10, 64)
					return time.Duration(n) * time.Microsecond
				}
			}
			tb.Fatalf("%s has no usage_usec", file)
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			tb.Fatal(err)
		}
		return time.Duration(n)
	}
}
