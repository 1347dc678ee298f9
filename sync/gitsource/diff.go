package gitsource

import (
	"context"
	"fmt"
	"path"

	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// diffTrees records in changed every file path (relative to the trees) that
// differs between a and b, true for the ones b no longer has. Subtrees with
// equal hashes are skipped without being read, so a one-file commit costs a
// few tree reads whatever the repository's size. (go-git's DiffTree reads
// every child tree of each directory it enters.)
func diffTrees(ctx context.Context, s storer.EncodedObjectStorer, a, b *object.Tree, prefix string, changed map[string]bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	old := make(map[string]object.TreeEntry, len(a.Entries))
	for _, e := range a.Entries {
		if e.Mode != filemode.Submodule {
			old[e.Name] = e
		}
	}
	for _, e := range b.Entries {
		if e.Mode == filemode.Submodule {
			continue
		}
		p := path.Join(prefix, e.Name)
		o, had := old[e.Name]
		delete(old, e.Name)
		switch {
		case had && o.Hash == e.Hash && o.Mode == e.Mode:
		case had && o.Mode == filemode.Dir && e.Mode == filemode.Dir:
			ta, err := object.GetTree(s, o.Hash)
			if err != nil {
				return fmt.Errorf("read tree %s: %w", p, err)
			}
			tb, err := object.GetTree(s, e.Hash)
			if err != nil {
				return fmt.Errorf("read tree %s: %w", p, err)
			}
			if err := diffTrees(ctx, s, ta, tb, p, changed); err != nil {
				return err
			}
		default:
			if had {
				if err := mark(s, o, p, true, changed); err != nil {
					return err
				}
			}
			if err := mark(s, e, p, false, changed); err != nil {
				return err
			}
		}
	}
	for name, o := range old {
		if err := mark(s, o, path.Join(prefix, name), true, changed); err != nil {
			return err
		}
	}
	return nil
}

// mark records entry e at p, and every file under it when it is a
// directory, as deleted or present. A present mark wins over a deleted one
// (a file replaced by a directory of the same name, or the reverse).
func mark(s storer.EncodedObjectStorer, e object.TreeEntry, p string, deleted bool, changed map[string]bool) error {
	if e.Mode != filemode.Dir {
		if prev, seen := changed[p]; !seen || prev {
			changed[p] = deleted
		}
		return nil
	}
	t, err := object.GetTree(s, e.Hash)
	if err != nil {
		return fmt.Errorf("read tree %s: %w", p, err)
	}
	for _, c := range t.Entries {
		if c.Mode == filemode.Submodule {
			continue
		}
		if err := mark(s, c, path.Join(p, c.Name), deleted, changed); err != nil {
			return err
		}
	}
	return nil
}
