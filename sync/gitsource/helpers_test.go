package gitsource

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"

	"github.com/cellsync/cellsync/model"
)

// testRepo is a real repository in t.TempDir(), written with go-git's object
// store directly (no worktree, no git binary), so that tests build commits of
// thousands of files quickly.
type testRepo struct {
	tb    testing.TB
	dir   string
	repo  *git.Repository
	head  plumbing.Hash
	files map[string]string
	n     int
}

// symlinkPrefix marks a file value that is a symlink to the rest.
const symlinkPrefix = "->"

func newTestRepo(tb testing.TB, bare bool) *testRepo {
	tb.Helper()
	dir := tb.TempDir()
	r, err := git.PlainInit(dir, bare)
	if err != nil {
		tb.Fatal(err)
	}
	return &testRepo{tb: tb, dir: dir, repo: r, files: map[string]string{}}
}

// commit applies changes (an empty value deletes) on top of the current
// files and moves main to the new commit.
func (r *testRepo) commit(changes map[string]string) plumbing.Hash {
	r.tb.Helper()
	for p, c := range changes {
		if c == "" {
			delete(r.files, p)
		} else {
			r.files[p] = c
		}
	}
	var parents []plumbing.Hash
	if !r.head.IsZero() {
		parents = []plumbing.Hash{r.head}
	}
	return r.commitTree(r.files, parents)
}

// rewrite replaces the branch with a commit of files on top of parent: a
// force push.
func (r *testRepo) rewrite(parent plumbing.Hash, files map[string]string) plumbing.Hash {
	r.tb.Helper()
	r.files = maps.Clone(files)
	return r.commitTree(r.files, []plumbing.Hash{parent})
}

func (r *testRepo) commitTree(files map[string]string, parents []plumbing.Hash) plumbing.Hash {
	r.tb.Helper()
	s := r.repo.Storer
	tree := r.writeTree(s, files)
	r.n++
	when := time.Date(2026, 1, 1, 0, 0, r.n, 0, time.UTC)
	sig := object.Signature{Name: "test", Email: "test@cellsync.io", When: when}
	c := &object.Commit{Author: sig, Committer: sig, Message: "commit", TreeHash: tree, ParentHashes: parents}
	obj := s.NewEncodedObject()
	if err := c.Encode(obj); err != nil {
		r.tb.Fatal(err)
	}
	h, err := s.SetEncodedObject(obj)
	if err != nil {
		r.tb.Fatal(err)
	}
	if err := s.SetReference(plumbing.NewHashReference(plumbing.NewBranchReferenceName("main"), h)); err != nil {
		r.tb.Fatal(err)
	}
	r.head = h
	return h
}

// writeTree writes files (slash paths) as nested trees and returns the root.
func (r *testRepo) writeTree(s storer.EncodedObjectStorer, files map[string]string) plumbing.Hash {
	r.tb.Helper()
	sub := map[string]map[string]string{}
	var entries []object.TreeEntry
	for p, content := range files {
		first, rest, nested := strings.Cut(p, "/")
		if nested {
			if sub[first] == nil {
				sub[first] = map[string]string{}
			}
			sub[first][rest] = content
			continue
		}
		mode, data := filemode.Regular, content
		if target, ok := strings.CutPrefix(content, symlinkPrefix); ok {
			mode, data = filemode.Symlink, target
		}
		entries = append(entries, object.TreeEntry{Name: first, Mode: mode, Hash: r.writeBlob(s, data)})
	}
	for name, files := range sub {
		entries = append(entries, object.TreeEntry{Name: name, Mode: filemode.Dir, Hash: r.writeTree(s, files)})
	}
	// Git orders a directory as if its name ended in "/".
	key := func(e object.TreeEntry) string {
		if e.Mode == filemode.Dir {
			return e.Name + "/"
		}
		return e.Name
	}
	sort.Slice(entries, func(i, j int) bool { return key(entries[i]) < key(entries[j]) })
	obj := s.NewEncodedObject()
	if err := (&object.Tree{Entries: entries}).Encode(obj); err != nil {
		r.tb.Fatal(err)
	}
	h, err := s.SetEncodedObject(obj)
	if err != nil {
		r.tb.Fatal(err)
	}
	return h
}

func (r *testRepo) writeBlob(s storer.EncodedObjectStorer, data string) plumbing.Hash {
	r.tb.Helper()
	obj := s.NewEncodedObject()
	obj.SetType(plumbing.BlobObject)
	w, err := obj.Writer()
	if err != nil {
		r.tb.Fatal(err)
	}
	if _, err := io.WriteString(w, data); err != nil {
		r.tb.Fatal(err)
	}
	if err := w.Close(); err != nil {
		r.tb.Fatal(err)
	}
	h, err := s.SetEncodedObject(obj)
	if err != nil {
		r.tb.Fatal(err)
	}
	return h
}

// lrp returns a valid LRP document.
func lrp(name, image string) string {
	return "apiVersion: cellsync.io/v1\nkind: LRP\nmetadata: {name: " + name + "}\nspec:\n  image: " + image + "\n  instances: 2\n"
}

// configDoc returns a valid Config document.
func configDoc(name string) string {
	return "apiVersion: cellsync.io/v1\nkind: Config\nmetadata: {name: " + name + "}\ndata: {k: v}\n"
}

// lrpUsing returns an LRP that references a Config.
func lrpUsing(name, cfg string) string {
	return lrp(name, "img:1") + "  configs: [{name: " + cfg + ", env: true}]\n"
}

// fakeClock fires After channels only when advanced, and reports every wait
// on waits so that a test knows Run is idle.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []fakeTimer
	waits  chan time.Duration
}

type fakeTimer struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), waits: make(chan time.Duration, 100)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.mu.Lock()
	c.timers = append(c.timers, fakeTimer{at: c.now.Add(d), ch: ch})
	c.mu.Unlock()
	c.waits <- d
	return ch
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	for _, t := range c.timers {
		if t.at.After(c.now) {
			kept = append(kept, t)
			continue
		}
		t.ch <- c.now
	}
	c.timers = kept
}

// nextWait returns the duration of Run's next wait, failing after a
// generous deadline.
func (c *fakeClock) nextWait(tb testing.TB) time.Duration {
	tb.Helper()
	select {
	case d := <-c.waits:
		return d
	case <-time.After(10 * time.Second):
		tb.Fatal("Run did not wait within 10s")
		return 0
	}
}

// runSource runs s until the test ends.
func runSource(tb testing.TB, s *Source) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("Run: %v", err)
		}
	})
}

func testLogger(tb testing.TB) *slog.Logger {
	if os.Getenv("GITSOURCE_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// keys returns a snapshot's object keys, sorted.
func keys(s *Snapshot) []string {
	out := make([]string, 0, len(s.Objects))
	for k := range s.Objects {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// imageOf returns the image of the LRP at key, "" if there is none.
func imageOf(s *Snapshot, key string) string {
	if l, ok := s.Objects[key].(*model.LRP); ok {
		return l.Spec.Image
	}
	return ""
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }

// headTime returns the committer time of the branch head.
func (r *testRepo) headTime() time.Time {
	c, err := r.repo.CommitObject(r.head)
	if err != nil {
		r.tb.Fatal(err)
	}
	return c.Committer.When
}
