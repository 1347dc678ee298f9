package gitsource

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/fsnotify/fsnotify"
)

// refWatch is an fsnotify watcher on the ref files of a local repository and
// the names in it that mean "the branch moved".
type refWatch struct {
	w         *fsnotify.Watcher
	branchDir string // directory of the branch's loose ref file
	branch    string // base name of the loose ref file
	gitDir    string // holds packed-refs
}

// newWatcher watches the branch's loose ref and packed-refs of the local
// repository: a commit, a push into it or a `git pack-refs` changes one of
// them. fsnotify is not recursive, so the two directories are watched.
func (s *Source) newWatcher() (*refWatch, error) {
	gitDir := gitDirOf(s.localDir)
	rel := filepath.FromSlash("refs/heads/" + s.cfg.Branch)
	rw := &refWatch{
		branchDir: filepath.Join(gitDir, filepath.Dir(rel)),
		branch:    filepath.Base(rel),
		gitDir:    gitDir,
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("create watcher: %w", err)
	}
	for _, dir := range []string{gitDir, rw.branchDir} {
		if err := w.Add(dir); err != nil {
			w.Close()
			return nil, fmt.Errorf("watch %s: %w", dir, err)
		}
	}
	rw.w = w
	return rw, nil
}

// matches reports whether an event is about the branch's ref.
func (rw *refWatch) matches(ev fsnotify.Event) bool {
	dir, base := filepath.Dir(ev.Name), filepath.Base(ev.Name)
	return (dir == rw.branchDir && base == rw.branch) || (dir == rw.gitDir && base == "packed-refs")
}

// watch turns ref events into triggers until ctx ends, then closes the
// watcher.
func (s *Source) watch(ctx context.Context, rw *refWatch) {
	defer rw.w.Close()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-rw.w.Events:
			if !ok {
				return
			}
			if rw.matches(ev) {
				s.Trigger()
			}
		case err, ok := <-rw.w.Errors:
			if !ok {
				return
			}
			s.log.Warn("ref watcher", "err", err)
		}
	}
}
