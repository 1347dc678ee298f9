package loader

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/cellsync/cellsync/model"
)

// MaxFileSize is the largest workload file read, and the default of
// Options.MaxFileSize. 256 KiB holds about a thousand workloads; within it,
// with model's limits on documents, nodes and aliases, any file parses in at
// most 1 s of CPU and 64 MB (docs/performance.md), so a hostile commit
// cannot exhaust the hub.
const MaxFileSize = 256 << 10

// maxLinkHops bounds symlink chains, so a loop is an error and not a hang.
const maxLinkHops = 8

// Options tune a load. The zero value is ready to use.
type Options struct {
	// MaxFileSize is the largest file read, in bytes: at most MaxFileSize,
	// which is also the default (0).
	MaxFileSize int64
}

// Validate rejects a MaxFileSize over MaxFileSize or negative.
func (o Options) Validate() error {
	if o.MaxFileSize < 0 || o.MaxFileSize > MaxFileSize {
		return fmt.Errorf("%d bytes: must be between 1 and %d", o.MaxFileSize, MaxFileSize)
	}
	return nil
}

// maxSize is the size limit in effect; an invalid MaxFileSize counts as
// MaxFileSize, so the bound holds whatever the caller passed.
func (o Options) maxSize() int64 {
	if o.MaxFileSize <= 0 || o.MaxFileSize > MaxFileSize {
		return MaxFileSize
	}
	return o.MaxFileSize
}

// File is what one workload file yielded: the valid objects and the problems.
type File struct {
	Path    string
	Objects []model.Object
	Errs    []error
}

// Result is a whole tree's load.
type Result struct {
	// Files holds every workload file, sorted by path.
	Files []File
	// Tree holds problems that belong to no single file's content: unreadable
	// directories, oversized files, escaping symlinks.
	Tree []error
}

// Objects returns the valid objects of every file, in file order.
func (r *Result) Objects() []model.Object {
	var out []model.Object
	for _, f := range r.Files {
		out = append(out, f.Objects...)
	}
	return out
}

// Errors returns every problem: tree problems, per-file problems and the
// cross-file rules of model.Check, sorted by file and line.
func (r *Result) Errors() []error {
	errs := append([]error(nil), r.Tree...)
	for _, f := range r.Files {
		errs = append(errs, f.Errs...)
	}
	errs = append(errs, model.Check(r.Objects())...)
	model.SortErrors(errs)
	return errs
}

// LoadDir reads the workload tree in the directory dir, through an os.Root:
// on top of the tree rules, the kernel then refuses to open anything outside
// dir, whatever the symlinks and whatever changes while it reads.
func LoadDir(dir string, opts Options) (*Result, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open workload directory: %w", err)
	}
	defer root.Close()
	return Load(root.FS(), opts), nil
}

// Load reads every workload file under fsys's root.
func Load(fsys fs.FS, opts Options) *Result {
	paths, tree := List(fsys)
	listed := make(map[string]bool, len(paths))
	for _, p := range paths {
		listed[p] = true
	}
	res := &Result{Tree: tree, Files: make([]File, 0, len(paths))}
	for _, p := range paths {
		// A symlink to another listed file would load that file twice.
		if target, err := resolve(fsys, p); err == nil && target != p && listed[target] {
			continue
		}
		res.Files = append(res.Files, ReadFile(fsys, p, opts))
	}
	return res
}

// IsWorkloadPath reports whether a slash-separated path names a file the
// loader reads: a *.yaml or *.yml file with no hidden element.
func IsWorkloadPath(p string) bool {
	for _, elem := range strings.Split(p, "/") {
		if strings.HasPrefix(elem, ".") {
			return false
		}
	}
	ext := path.Ext(p)
	return ext == ".yaml" || ext == ".yml"
}

// List returns the workload files under fsys's root, sorted, plus problems
// met while walking.
func List(fsys fs.FS) ([]string, []error) {
	var paths []string
	var errs []error
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			errs = append(errs, &model.Error{File: p, Doc: -1, Msg: fmt.Sprintf("cannot read: %v", err)})
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if p != "." && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if !d.IsDir() && IsWorkloadPath(p) {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		errs = append(errs, fmt.Errorf("walk workload tree: %w", err))
	}
	sort.Strings(paths)
	return paths, errs
}

// ReadFile reads and parses one workload file, applying the size limit and
// the symlink rules.
func ReadFile(fsys fs.FS, p string, opts Options) File {
	f := File{Path: p}
	fail := func(format string, args ...any) File {
		f.Errs = append(f.Errs, &model.Error{File: p, Doc: -1, Msg: fmt.Sprintf(format, args...)})
		return f
	}
	target, err := resolve(fsys, p)
	if err != nil {
		return fail("%v", err)
	}
	file, err := fsys.Open(target)
	if err != nil {
		return fail("cannot open: %v", unwrapPath(err))
	}
	defer file.Close()
	info, err := file.Stat()
	if err != nil {
		return fail("cannot stat: %v", unwrapPath(err))
	}
	if info.IsDir() {
		return fail("is a symlink to a directory; symlinked directories are not followed")
	}
	if info.Size() > opts.maxSize() {
		return fail("file is %d bytes, over the %d-byte limit", info.Size(), opts.maxSize())
	}
	// Read one byte past the limit: a file that grew since Stat is still caught.
	data, err := io.ReadAll(io.LimitReader(file, opts.maxSize()+1))
	if err != nil {
		return fail("cannot read: %v", unwrapPath(err))
	}
	if int64(len(data)) > opts.maxSize() {
		return fail("file is over the %d-byte limit", opts.maxSize())
	}
	f.Objects, f.Errs = model.ParseFile(p, data)
	return f
}

// resolve follows p's symlinks inside fsys and returns the final path; a
// target outside the tree, a path through a symlinked directory, or a chain
// too long, is an error.
func resolve(fsys fs.FS, p string) (string, error) {
	if dir, err := symlinkedDir(fsys, p); err != nil || dir != "" {
		return "", dirError("path goes through", dir, err)
	}
	for hop := 0; ; hop++ {
		info, err := fs.Lstat(fsys, p)
		if err != nil { // without fs.ReadLinkFS, Lstat is Stat: no symlinks seen
			return "", fmt.Errorf("cannot stat: %v", unwrapPath(err))
		}
		if info.Mode()&fs.ModeSymlink == 0 {
			return p, nil
		}
		if hop == maxLinkHops {
			return "", fmt.Errorf("more than %d symlinks in a chain", maxLinkHops)
		}
		link, err := fs.ReadLink(fsys, p)
		if err != nil {
			return "", fmt.Errorf("cannot read symlink: %v", unwrapPath(err))
		}
		next := path.Join(path.Dir(p), link)
		if path.IsAbs(link) || next == ".." || strings.HasPrefix(next, "../") {
			return "", fmt.Errorf("symlink to %q leaves the repository", link)
		}
		if dir, err := symlinkedDir(fsys, next); err != nil || dir != "" {
			return "", dirError(fmt.Sprintf("symlink to %q goes through", link), dir, err)
		}
		p = next
	}
}

// symlinkedDir returns the first directory on p's path that is a symlink, or
// "". A symlinked directory is not followed, as in a Git tree, so that no
// link leads the loader out of the tree through a directory it did not list.
func symlinkedDir(fsys fs.FS, p string) (string, error) {
	var dirs []string
	for dir := path.Dir(p); dir != "."; dir = path.Dir(dir) {
		dirs = append(dirs, dir)
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		info, err := fs.Lstat(fsys, dirs[i])
		if err != nil {
			return dirs[i], err
		}
		if info.Mode()&fs.ModeSymlink != 0 {
			return dirs[i], nil
		}
	}
	return "", nil
}

// dirError describes what symlinkedDir found.
func dirError(what, dir string, err error) error {
	if err != nil {
		return fmt.Errorf("%s %s: cannot stat: %v", what, dir, unwrapPath(err))
	}
	return fmt.Errorf("%s %s, a symlinked directory; symlinked directories are not followed", what, dir)
}

// unwrapPath drops the *fs.PathError wrapper, whose path repeats the file name
// the caller already reports.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
