package logs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Layout on disk, under a cell's logs root:
//
//	<root>/<instance>/<run>-<part>.log
//
// <instance> is the model.InstanceID with '/' replaced by '_' ("LRP_web_0",
// "Task_migrate-db"): names are DNS labels, so the mapping is one to one.
// Each start of the container is a new run; a run's output is split into
// parts of at most Limits.MaxFileBytes, of which the newest Limits.MaxFiles
// are kept. A new run removes every run but the one before it.

// instancePattern is what InstanceDir accepts: an LRP instance or a Task of
// a workload named by a DNS label.
var instancePattern = regexp.MustCompile(`^(LRP/[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?/[0-9]{1,5}|Task/[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)$`)

// ErrBadInstance is an instance ID that names no log directory.
var ErrBadInstance = errors.New("not an instance ID")

// InstanceDir returns the log directory of an instance ("LRP/web/0",
// "Task/migrate-db") under root. It returns an error wrapping
// ErrBadInstance for anything else, so a request cannot name a path outside
// root.
func InstanceDir(root, instance string) (string, error) {
	if !instancePattern.MatchString(instance) {
		return "", fmt.Errorf("%w: %q (want LRP/<name>/<index> or Task/<name>)", ErrBadInstance, instance)
	}
	return filepath.Join(root, strings.ReplaceAll(instance, "/", "_")), nil
}

// Instance is one instance's log directory, as List finds it.
type Instance struct {
	// ID is the model.InstanceID.
	ID string
	// Dir is the directory.
	Dir string
	// Modified is when output was last written.
	Modified time.Time
}

// List returns the instance log directories under root; entries that are
// not are ignored. A missing root lists nothing.
func List(root string) ([]Instance, error) {
	ents, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list logs: %w", err)
	}
	var out []Instance
	for _, e := range ents {
		id := strings.ReplaceAll(e.Name(), "_", "/")
		if !e.IsDir() || !instancePattern.MatchString(id) {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		mod := fi.ModTime()
		if r, err := listRuns(filepath.Join(root, e.Name())); err == nil && len(r) > 0 {
			if last := r[len(r)-1]; len(last.parts) > 0 {
				if pi, err := os.Stat(last.parts[len(last.parts)-1].path); err == nil {
					mod = pi.ModTime()
				}
			}
		}
		out = append(out, Instance{ID: id, Dir: filepath.Join(root, e.Name()), Modified: mod})
	}
	return out, nil
}

// part is one file of a run.
type part struct {
	n    int
	path string
}

// run is one start of a container: its parts, oldest first.
type run struct {
	n     int
	parts []part
}

// partName is the file name of part p of run r.
func partName(r, p int) string { return fmt.Sprintf("%08d-%08d.log", r, p) }

// parsePartName is partName's inverse; ok is false for any other name.
func parsePartName(name string) (r, p int, ok bool) {
	base, found := strings.CutSuffix(name, ".log")
	rs, ps, found2 := strings.Cut(base, "-")
	if !found || !found2 || len(rs) != 8 || len(ps) != 8 {
		return 0, 0, false
	}
	r, err1 := strconv.Atoi(rs)
	p, err2 := strconv.Atoi(ps)
	if err1 != nil || err2 != nil || r < 0 || p < 0 {
		return 0, 0, false
	}
	return r, p, true
}

// listRuns returns the runs in dir, oldest first. It returns an error
// wrapping fs.ErrNotExist when dir does not exist.
func listRuns(dir string) ([]run, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	byRun := map[int]*run{}
	for _, e := range ents {
		r, p, ok := parsePartName(e.Name())
		if !ok || e.IsDir() {
			continue
		}
		if byRun[r] == nil {
			byRun[r] = &run{n: r}
		}
		byRun[r].parts = append(byRun[r].parts, part{n: p, path: filepath.Join(dir, e.Name())})
	}
	out := make([]run, 0, len(byRun))
	for _, r := range byRun {
		sort.Slice(r.parts, func(i, j int) bool { return r.parts[i].n < r.parts[j].n })
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].n < out[j].n })
	return out, nil
}
