package containerd

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"

	containerd "github.com/containerd/containerd"
)

// cgroupRoot is where the cgroup filesystems are mounted.
const cgroupRoot = "/sys/fs/cgroup"

// oomKilled reports whether the kernel OOM-killed a process in the
// container's memory cgroup. It reads the cgroup's OOM-kill counter, which
// outlives the process until the task is deleted: memory.events on cgroup
// v2, memory.oom_control on v1. Any failure to read counts as no.
func (r *Runtime) oomKilled(ctx context.Context, c containerd.Container) bool {
	spec, err := c.Spec(ctx)
	if err != nil || spec.Linux == nil || spec.Linux.CgroupsPath == "" {
		return false
	}
	file := filepath.Join(cgroupRoot, "memory", spec.Linux.CgroupsPath, "memory.oom_control")
	if _, err := os.Stat(filepath.Join(cgroupRoot, "memory")); err != nil {
		file = filepath.Join(cgroupRoot, spec.Linux.CgroupsPath, "memory.events")
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return false
	}
	return oomKills(b) > 0
}

// oomKills returns the "oom_kill" counter of a memory.events or
// memory.oom_control file ("key value" lines), or 0.
func oomKills(b []byte) int64 {
	for line := range bytes.Lines(b) {
		k, v, ok := bytes.Cut(line, []byte(" "))
		if !ok || string(k) != "oom_kill" {
			continue
		}
		n, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
		if err != nil || n < 0 {
			return 0
		}
		return n
	}
	return 0
}
