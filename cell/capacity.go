package cell

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/cellsync/cellsync/model"
)

// DefaultContainers is the container capacity DetectCapacity reports when
// the caller gives none.
const DefaultContainers = 100

// DetectCapacity measures what this machine offers: total memory from
// /proc/meminfo and the space of the file system holding dir. The agent's
// flags override any field; containers <= 0 means DefaultContainers.
func DetectCapacity(dir string, containers int) (model.Capacity, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return model.Capacity{}, fmt.Errorf("detect capacity: %w", err)
	}
	defer f.Close()
	memKB, err := parseMemTotal(f)
	if err != nil {
		return model.Capacity{}, fmt.Errorf("detect capacity: /proc/meminfo: %w", err)
	}
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil {
		return model.Capacity{}, fmt.Errorf("detect capacity: disk of %s: %w", dir, err)
	}
	if containers <= 0 {
		containers = DefaultContainers
	}
	return model.Capacity{
		MemoryMB:   memKB >> 10,
		DiskMB:     int64(fs.Blocks) * int64(fs.Bsize) >> 20,
		Containers: containers,
	}, nil
}

// parseMemTotal returns the MemTotal line of /proc/meminfo, in KiB.
func parseMemTotal(r io.Reader) (int64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("malformed MemTotal line %q", sc.Text())
		}
		n, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("malformed MemTotal line %q", sc.Text())
		}
		return n, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no MemTotal line")
}
