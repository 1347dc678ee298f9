package gitsource

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"time"

	"github.com/cellsync/cellsync/loader"
	"github.com/cellsync/cellsync/model"
)

// Snapshot is the desired model at one commit: every workload's last good
// version and what is wrong with the files that failed. A Snapshot is never
// modified after it is delivered; share it freely, mutate nothing in it.
type Snapshot struct {
	// Commit is the full SHA-1 of the commit the snapshot reflects.
	Commit string
	// Time is the commit's committer time.
	Time time.Time
	// Objects holds every top-level workload by Key ("LRP/web"). A workload
	// whose file is broken at Commit keeps its last good version here; a
	// workload whose deletion is held (see Held) is still here.
	Objects map[string]model.Object
	// FileErrors lists, per file (slash-separated, relative to Config.Path),
	// every problem found at Commit: parse and validation errors and
	// cross-file rules. A file listed here contributes its last good
	// objects, not its current content.
	FileErrors map[string][]*model.Error
	// Held is non-nil when Commit deletes more workloads than
	// Config.MassDeleteFraction allows and no commit confirmed it.
	Held *Held
	// ForcePush is true when Commit does not descend from the previous
	// snapshot's commit: the branch's history was rewritten.
	ForcePush bool
	// Parsed is the number of files read and parsed for this snapshot: all
	// of them on a first load, only the changed ones afterwards.
	Parsed int
	// ParseDuration is the time spent diffing, reading, parsing and
	// validating for this snapshot.
	ParseDuration time.Duration
}

// ErrorCount returns the number of file errors in the snapshot.
func (s *Snapshot) ErrorCount() int {
	n := 0
	for _, errs := range s.FileErrors {
		n += len(errs)
	}
	return n
}

// Held describes deletions kept back by the mass-deletion guard. They are
// released when a later commit carries the AllowMassDeleteAnnotation.
type Held struct {
	// Commit is the commit whose deletions are held.
	Commit string
	// Keys are the workloads the commit deletes, still served, sorted.
	Keys []string
	// Total is the number of workloads before the commit.
	Total int
	// Fraction is the configured limit.
	Fraction float64
}

// String says what is held and how to release it.
func (h *Held) String() string {
	return fmt.Sprintf("commit %s deletes %d of %d workloads, over the %.0f%% limit: deletion held until a commit carries the annotation %s: \"true\"",
		short(h.Commit), len(h.Keys), h.Total, h.Fraction*100, AllowMassDeleteAnnotation)
}

// Key returns an object's key in Snapshot.Objects: "<Kind>/<name>", the form
// model.Assignment.Source uses.
func Key(o model.Object) string {
	h := o.Head()
	return string(h.Kind) + "/" + h.Metadata.Name
}

// fileState is what the model remembers of one workload file.
type fileState struct {
	// good are the last good objects of the file, and keys their Keys.
	good []model.Object
	keys []string
	// errs are the read and parse problems of the file's content at head.
	errs []*model.Error
	// recheck marks a file held at its last good version by a cross-file
	// rule: another file may fix it, so it is re-read at every commit.
	recheck bool
	// symlink marks a file that is a symlink: its target may change without
	// the file itself changing, so it is re-read whenever anything changes.
	symlink bool
}

// desired is the incremental model: per-file last good state plus the last
// snapshot. It is owned by one goroutine.
type desired struct {
	opts     loader.Options
	fraction float64
	files    map[string]*fileState
	paths    []string // the keys of files, sorted
	prev     *Snapshot
}

func newDesired(opts loader.Options, fraction float64) *desired {
	return &desired{opts: opts, fraction: fraction, files: map[string]*fileState{}}
}

// commitInfo identifies the commit being applied.
type commitInfo struct {
	sha       string
	when      time.Time
	forcePush bool
}

// apply turns one commit into a snapshot. fsys is the commit's tree under
// the configured path; changed maps every path that changed since the
// previous apply to whether it was deleted (paths of any file, workload or
// not). treeErrs are problems found while listing the tree.
func (d *desired) apply(fsys fs.FS, c commitInfo, changed map[string]bool, treeErrs []error) *Snapshot {
	start := time.Now()
	reread := map[string]bool{}
	next := make(map[string]*fileState, len(d.files)+len(changed))
	for p, f := range d.files {
		next[p] = f
	}
	for p, deleted := range changed {
		if !loader.IsWorkloadPath(p) {
			continue
		}
		if deleted {
			delete(next, p)
			continue
		}
		reread[p] = true
	}
	for p, f := range d.files {
		if _, present := next[p]; present && (f.recheck || (f.symlink && len(changed) > 0)) {
			reread[p] = true
		}
	}
	for p := range reread {
		next[p] = d.read(fsys, p)
	}

	// Cross-file rules. Objects of re-read files come last, so that a
	// duplicate name is blamed on the file that introduced it; a re-read
	// file that breaks a rule goes back to its last good version, and the
	// rules run again, until no re-read file breaks one.
	sorted := d.paths
	if len(next) != len(d.files) || addsFile(d.files, reread) {
		sorted = make([]string, 0, len(next))
		for p := range next {
			sorted = append(sorted, p)
		}
		slices.Sort(sorted)
	}
	paths := make([]string, 0, len(sorted))
	for _, p := range sorted {
		if !reread[p] {
			paths = append(paths, p)
		}
	}
	for _, p := range sorted {
		if reread[p] {
			paths = append(paths, p)
		}
	}
	var checkErrs map[string][]*model.Error
	for {
		objs := make([]model.Object, 0, len(d.prevObjects()))
		for _, p := range paths {
			objs = append(objs, next[p].good...)
		}
		checkErrs = groupErrors(model.Check(objs))
		reverted := false
		for p := range checkErrs {
			f := next[p]
			if !reread[p] || f == nil || f.recheck {
				continue
			}
			back := &fileState{errs: append(slices.Clone(f.errs), checkErrs[p]...), recheck: true, symlink: f.symlink}
			if old := d.files[p]; old != nil {
				back.good, back.keys = old.good, old.keys
			}
			next[p] = back
			reverted = true
		}
		if !reverted {
			break
		}
	}

	snap := &Snapshot{
		Commit:     c.sha,
		Time:       c.when,
		ForcePush:  c.forcePush,
		Objects:    make(map[string]model.Object, max(len(paths), len(d.prevObjects()))),
		FileErrors: map[string][]*model.Error{},
		Parsed:     len(reread),
	}
	for _, p := range paths {
		f := next[p]
		for i, k := range f.keys {
			if _, dup := snap.Objects[k]; !dup { // the first definition wins, as in model.Check
				snap.Objects[k] = f.good[i]
			}
		}
		if errs := next[p].errs; len(errs) > 0 {
			snap.FileErrors[p] = append(snap.FileErrors[p], errs...)
		}
	}
	for p, errs := range checkErrs {
		snap.FileErrors[p] = append(snap.FileErrors[p], errs...)
	}
	for p, errs := range groupErrors(treeErrs) {
		snap.FileErrors[p] = append(snap.FileErrors[p], errs...)
	}
	for p := range snap.FileErrors {
		snap.FileErrors[p] = dedupErrors(snap.FileErrors[p])
	}
	d.guard(snap, c)
	d.files, d.paths, d.prev = next, sorted, snap
	snap.ParseDuration = time.Since(start)
	return snap
}

// prevObjects returns the previous snapshot's objects, to size buffers.
func (d *desired) prevObjects() map[string]model.Object {
	if d.prev == nil {
		return nil
	}
	return d.prev.Objects
}

// addsFile reports whether a re-read file is new. With the file count
// unchanged, that is the only way the set of files can have changed.
func addsFile(files map[string]*fileState, reread map[string]bool) bool {
	for p := range reread {
		if _, ok := files[p]; !ok {
			return true
		}
	}
	return false
}

// guard holds back a mass deletion: when snap deletes more than the allowed
// fraction of the previous snapshot's workloads and no workload carries the
// annotation, the deleted workloads stay.
func (d *desired) guard(snap *Snapshot, c commitInfo) {
	if d.prev == nil || len(d.prev.Objects) == 0 {
		return
	}
	var gone []string
	for k := range d.prev.Objects {
		if _, ok := snap.Objects[k]; !ok {
			gone = append(gone, k)
		}
	}
	if float64(len(gone)) <= d.fraction*float64(len(d.prev.Objects)) {
		return
	}
	for _, o := range snap.Objects {
		if o.Head().Metadata.Annotations[AllowMassDeleteAnnotation] == "true" {
			return
		}
	}
	slices.Sort(gone)
	for _, k := range gone {
		snap.Objects[k] = d.prev.Objects[k]
	}
	snap.Held = &Held{Commit: c.sha, Keys: gone, Total: len(d.prev.Objects), Fraction: d.fraction}
}

// read reads one file; on any problem the file keeps its last good objects,
// overlaid with the documents that are valid now.
func (d *desired) read(fsys fs.FS, p string) *fileState {
	f := loader.ReadFile(fsys, p, d.opts)
	st := &fileState{good: f.Objects}
	if info, err := fs.Lstat(fsys, p); err == nil && info.Mode()&fs.ModeSymlink != 0 {
		st.symlink = true
	}
	defer func() {
		st.keys = make([]string, len(st.good))
		for i, o := range st.good {
			st.keys[i] = Key(o)
		}
	}()
	if len(f.Errs) == 0 {
		return st
	}
	st.errs = toModelErrors(p, f.Errs)
	if old := d.files[p]; old != nil {
		seen := make(map[string]bool, len(f.Objects))
		for _, o := range f.Objects {
			seen[Key(o)] = true
		}
		good := slices.Clone(f.Objects)
		for _, o := range old.good {
			if !seen[Key(o)] {
				good = append(good, o)
			}
		}
		st.good = good
	}
	return st
}

// toModelErrors makes every error an *model.Error, attributing those that are
// not to file.
func toModelErrors(file string, errs []error) []*model.Error {
	out := make([]*model.Error, 0, len(errs))
	for _, err := range errs {
		var me *model.Error
		if !errors.As(err, &me) {
			me = &model.Error{File: file, Doc: -1, Msg: err.Error()}
		}
		out = append(out, me)
	}
	return out
}

// groupErrors groups errors by file; errors with no file go under "".
func groupErrors(errs []error) map[string][]*model.Error {
	out := map[string][]*model.Error{}
	for _, me := range toModelErrors("", errs) {
		out[me.File] = append(out[me.File], me)
	}
	return out
}

// dedupErrors sorts errors by line and drops repeats: a file held back by a
// cross-file rule may break the same rule in its last good version.
func dedupErrors(errs []*model.Error) []*model.Error {
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
	seen := make(map[string]bool, len(errs))
	out := errs[:0]
	for _, e := range errs {
		if msg := e.Error(); !seen[msg] {
			seen[msg] = true
			out = append(out, e)
		}
	}
	return out
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
