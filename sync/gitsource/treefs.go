package gitsource

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// treeFS is a read-only fs.FS over one Git tree, so that package loader reads
// a commit straight from the object store, without a checkout. Symlinks
// (mode 0120000) are reported as such through fs.ReadLinkFS; Open follows
// them while they stay inside the tree. Submodules are invisible.
//
// A treeFS is not safe for concurrent use: it caches subtrees.
type treeFS struct {
	s       storer.EncodedObjectStorer
	root    *object.Tree
	modTime time.Time // the commit's time, for every entry
	dirs    map[string]*object.Tree
}

var (
	_ fs.ReadDirFS  = (*treeFS)(nil)
	_ fs.StatFS     = (*treeFS)(nil)
	_ fs.ReadLinkFS = (*treeFS)(nil)
)

func newTreeFS(s storer.EncodedObjectStorer, root *object.Tree, modTime time.Time) *treeFS {
	return &treeFS{s: s, root: root, modTime: modTime, dirs: map[string]*object.Tree{".": root}}
}

// tree returns the tree at dir, decoding each subtree once.
func (t *treeFS) tree(dir string) (*object.Tree, error) {
	if tr, ok := t.dirs[dir]; ok {
		return tr, nil
	}
	parent, err := t.tree(path.Dir(dir))
	if err != nil {
		return nil, err
	}
	e, err := entryOf(parent, path.Base(dir))
	if err != nil {
		return nil, err
	}
	if e.Mode != filemode.Dir {
		return nil, errNotDir
	}
	tr, err := object.GetTree(t.s, e.Hash)
	if err != nil {
		return nil, fmt.Errorf("read tree %s: %w", e.Hash, err)
	}
	t.dirs[dir] = tr
	return tr, nil
}

var errNotDir = errors.New("not a directory")

// entry returns name's tree entry; "." has none and yields nil.
func (t *treeFS) entry(name string) (*object.TreeEntry, error) {
	if name == "." {
		return nil, nil
	}
	parent, err := t.tree(path.Dir(name))
	if err != nil {
		if errors.Is(err, errNotDir) {
			return nil, fs.ErrNotExist
		}
		return nil, err
	}
	return entryOf(parent, path.Base(name))
}

func entryOf(tr *object.Tree, base string) (*object.TreeEntry, error) {
	// Entries are sorted, but with Git's order ("a/" sorts as "a/"), so a
	// linear scan is the simple correct choice for the sizes of one directory.
	for i := range tr.Entries {
		if tr.Entries[i].Name == base && tr.Entries[i].Mode != filemode.Submodule {
			return &tr.Entries[i], nil
		}
	}
	return nil, fs.ErrNotExist
}

func (t *treeFS) check(op, name string) error {
	if !fs.ValidPath(name) {
		return &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	return nil
}

// Lstat describes name without following a final symlink.
func (t *treeFS) Lstat(name string) (fs.FileInfo, error) {
	if err := t.check("lstat", name); err != nil {
		return nil, err
	}
	e, err := t.entry(name)
	if err != nil {
		return nil, &fs.PathError{Op: "lstat", Path: name, Err: err}
	}
	return t.info(name, e)
}

// ReadLink returns a symlink's target as stored in the tree.
func (t *treeFS) ReadLink(name string) (string, error) {
	if err := t.check("readlink", name); err != nil {
		return "", err
	}
	e, err := t.entry(name)
	if err == nil && (e == nil || e.Mode != filemode.Symlink) {
		err = fs.ErrInvalid
	}
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
	}
	b, err := t.blobBytes(e, 4096)
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
	}
	return string(b), nil
}

// Stat describes name, following symlinks inside the tree.
func (t *treeFS) Stat(name string) (fs.FileInfo, error) {
	f, err := t.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Stat()
}

// ReadDir lists a directory, sorted by name.
func (t *treeFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if err := t.check("readdir", name); err != nil {
		return nil, err
	}
	tr, err := t.tree(name)
	if err != nil {
		if errors.Is(err, errNotDir) {
			err = fs.ErrInvalid
		}
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	out := make([]fs.DirEntry, 0, len(tr.Entries))
	for i := range tr.Entries {
		e := &tr.Entries[i]
		if e.Mode == filemode.Submodule {
			continue
		}
		info, err := t.info(path.Join(name, e.Name), e)
		if err != nil {
			return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
		}
		out = append(out, fs.FileInfoToDirEntry(info))
	}
	// Git sorts "a.yaml" before "a/" by treating directories as "a/": fs
	// wants plain name order.
	slices.SortFunc(out, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return out, nil
}

// Open opens name for reading, following symlinks inside the tree.
func (t *treeFS) Open(name string) (fs.File, error) {
	if err := t.check("open", name); err != nil {
		return nil, err
	}
	p := name
	for hop := 0; ; hop++ {
		e, err := t.entry(p)
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		if e == nil || e.Mode == filemode.Dir {
			return t.openDir(name, p, e)
		}
		if e.Mode != filemode.Symlink {
			info, err := t.info(p, e)
			if err != nil {
				return nil, &fs.PathError{Op: "open", Path: name, Err: err}
			}
			return &treeFile{fsys: t, entry: e, info: info}, nil
		}
		if hop == 8 {
			return nil, &fs.PathError{Op: "open", Path: name, Err: errors.New("too many symlinks")}
		}
		link, err := t.ReadLink(p)
		if err != nil {
			return nil, err
		}
		next := path.Join(path.Dir(p), link)
		if path.IsAbs(link) || next == ".." || strings.HasPrefix(next, "../") {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		}
		p = next
	}
}

func (t *treeFS) openDir(name, p string, e *object.TreeEntry) (fs.File, error) {
	info, err := t.info(p, e)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return &treeDir{fsys: t, path: p, info: info}, nil
}

// info describes an entry; e nil is the root.
func (t *treeFS) info(name string, e *object.TreeEntry) (*entryInfo, error) {
	if e == nil {
		return &entryInfo{name: ".", mode: fs.ModeDir | 0o555, mod: t.modTime}, nil
	}
	fi := &entryInfo{name: path.Base(name), mod: t.modTime}
	switch e.Mode {
	case filemode.Dir:
		fi.mode = fs.ModeDir | 0o555
	case filemode.Symlink:
		fi.mode = fs.ModeSymlink | 0o777
	case filemode.Executable:
		fi.mode = 0o555
	default:
		fi.mode = 0o444
	}
	if e.Mode != filemode.Dir {
		// Sizes cost an object read; directory listings and Lstat never
		// need them, so they are looked up on demand.
		h := e.Hash
		fi.sizeOf = func() int64 {
			n, err := t.s.EncodedObjectSize(h)
			if err != nil {
				return 0 // reading the blob then reports the error
			}
			return n
		}
	}
	return fi, nil
}

// blobBytes reads a whole blob of at most limit bytes.
func (t *treeFS) blobBytes(e *object.TreeEntry, limit int64) ([]byte, error) {
	blob, err := object.GetBlob(t.s, e.Hash)
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", e.Hash, err)
	}
	r, err := blob.Reader()
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", e.Hash, err)
	}
	defer r.Close()
	return io.ReadAll(io.LimitReader(r, limit))
}

// treeFile is an open blob, read from the object store on first use.
type treeFile struct {
	fsys  *treeFS
	entry *object.TreeEntry
	info  *entryInfo
	r     io.ReadCloser
}

// load reads the blob once, for both its size and its content.
func (f *treeFile) load() error {
	if f.r != nil {
		return nil
	}
	blob, err := object.GetBlob(f.fsys.s, f.entry.Hash)
	if err != nil {
		return fmt.Errorf("read blob %s: %w", f.entry.Hash, err)
	}
	if f.r, err = blob.Reader(); err != nil {
		return fmt.Errorf("read blob %s: %w", f.entry.Hash, err)
	}
	f.info.size, f.info.sizeOf = blob.Size, nil
	return nil
}

func (f *treeFile) Stat() (fs.FileInfo, error) {
	if err := f.load(); err != nil {
		return nil, &fs.PathError{Op: "stat", Path: f.info.name, Err: err}
	}
	return f.info, nil
}

func (f *treeFile) Read(p []byte) (int, error) {
	if err := f.load(); err != nil {
		return 0, &fs.PathError{Op: "read", Path: f.info.name, Err: err}
	}
	return f.r.Read(p)
}

func (f *treeFile) Close() error {
	if f.r == nil {
		return nil
	}
	return f.r.Close()
}

// treeDir is an open directory.
type treeDir struct {
	fsys    *treeFS
	path    string
	info    fs.FileInfo
	entries []fs.DirEntry
	read    bool
}

func (d *treeDir) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *treeDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.path, Err: fs.ErrInvalid}
}
func (d *treeDir) Close() error { return nil }

// ReadDir implements fs.ReadDirFile.
func (d *treeDir) ReadDir(n int) ([]fs.DirEntry, error) {
	if !d.read {
		all, err := d.fsys.ReadDir(d.path)
		if err != nil {
			return nil, err
		}
		d.entries, d.read = all, true
	}
	if n <= 0 {
		out := d.entries
		d.entries = nil
		return out, nil
	}
	if len(d.entries) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(d.entries))
	out := d.entries[:n]
	d.entries = d.entries[n:]
	return out, nil
}

type entryInfo struct {
	name   string
	size   int64
	sizeOf func() int64 // set while size is not known yet
	mode   fs.FileMode
	mod    time.Time
}

func (i *entryInfo) Name() string { return i.name }
func (i *entryInfo) Size() int64 {
	if i.sizeOf != nil {
		i.size, i.sizeOf = i.sizeOf(), nil
	}
	return i.size
}
func (i *entryInfo) Mode() fs.FileMode  { return i.mode }
func (i *entryInfo) ModTime() time.Time { return i.mod }
func (i *entryInfo) IsDir() bool        { return i.mode.IsDir() }
func (i *entryInfo) Sys() any           { return nil }
