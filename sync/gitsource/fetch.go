package gitsource

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
)

// ErrBranchNotFound is returned (wrapped) when the remote has no such branch.
var ErrBranchNotFound = errors.New("branch not found")

// ErrPathNotFound is returned (wrapped) when the commit has no directory at
// Config.Path.
var ErrPathNotFound = errors.New("path not found")

// trackingRef is where the mirror keeps the fetched branch head.
func trackingRef(branch string) plumbing.ReferenceName {
	return plumbing.NewRemoteReferenceName("origin", branch)
}

// openMirror opens the bare mirror repository in dir, creating it once.
func openMirror(dir string) (*git.Repository, error) {
	dir = filepath.Join(dir, "mirror.git")
	r, err := git.PlainOpen(dir)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		r, err = git.PlainInit(dir, true)
	}
	if err != nil {
		return nil, fmt.Errorf("open mirror %s: %w", dir, err)
	}
	return r, nil
}

// fetcher brings the branch head and everything it reaches into the mirror.
type fetcher interface {
	// fetch updates the mirror and returns the branch head. Errors name the
	// URL without credentials; ErrBranchNotFound when the branch is missing.
	fetch(ctx context.Context) (plumbing.Hash, error)
}

// localFetcher reads a repository on this machine directly with go-git (no
// git binary, whose upload-pack go-git's file transport would run) and
// copies the new objects into the mirror. The mirror keeps the previous
// commit readable even if the source repository is garbage-collected after a
// force push.
type localFetcher struct {
	url, dir, branch string
	mirror           *git.Repository
}

func (f *localFetcher) fetch(ctx context.Context) (plumbing.Hash, error) {
	src, err := git.PlainOpen(f.dir)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("fetch %s: open repository: %w", f.url, err)
	}
	ref, err := src.Reference(plumbing.NewBranchReferenceName(f.branch), true)
	if errors.Is(err, plumbing.ErrReferenceNotFound) && refBeingWritten(f.dir, f.branch) {
		return plumbing.ZeroHash, errRefBusy
	}
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return plumbing.ZeroHash, fmt.Errorf("fetch %s: %w: %q", f.url, ErrBranchNotFound, f.branch)
	}
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("fetch %s: resolve branch %q: %w", f.url, f.branch, err)
	}
	if err := copyObjects(ctx, src.Storer, f.mirror.Storer, ref.Hash()); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("fetch %s: copy objects: %w", f.url, err)
	}
	if err := f.mirror.Storer.SetReference(plumbing.NewHashReference(trackingRef(f.branch), ref.Hash())); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("fetch %s: update mirror: %w", f.url, err)
	}
	return ref.Hash(), nil
}

// errRefBusy says the branch's loose ref file exists but is empty: a writer
// that does not write atomically (go-git itself truncates, then writes) is
// half way. The write's end is a new change: Sync reports nothing new.
var errRefBusy = errors.New("branch ref is being written")

// refBeingWritten reports whether the branch's loose ref file is empty.
func refBeingWritten(dir, branch string) bool {
	fi, err := os.Stat(filepath.Join(gitDirOf(dir), filepath.FromSlash("refs/heads/"+branch)))
	return err == nil && fi.Size() == 0
}

// gitDirOf returns the directory holding refs of the repository at dir:
// dir/.git for a working repository, dir itself for a bare one.
func gitDirOf(dir string) string {
	if fi, err := os.Stat(filepath.Join(dir, ".git")); err == nil && fi.IsDir() {
		return filepath.Join(dir, ".git")
	}
	return dir
}

// packThreshold is the number of new objects from which a fetch writes one
// packfile into the mirror instead of loose objects: a first clone of a big
// repository then costs one file, not one per object.
const packThreshold = 64

// copyObjects copies head and every object it reaches that dst lacks. Objects
// are written after everything they reach (or all at once, as a packfile), so
// an object present in dst implies its whole closure is: the walk stops at
// the first known object and costs only what is new.
func copyObjects(ctx context.Context, src, dst storer.EncodedObjectStorer, head plumbing.Hash) error {
	missing, err := missingObjects(ctx, src, dst, head)
	if err != nil || len(missing) == 0 {
		return err
	}
	if pw, ok := dst.(storer.PackfileWriter); ok && len(missing) >= packThreshold {
		w, err := pw.PackfileWriter()
		if err != nil {
			return fmt.Errorf("open packfile: %w", err)
		}
		if _, err := packfile.NewEncoder(w, src, false).Encode(missing, 0); err != nil {
			w.Close()
			return fmt.Errorf("write packfile: %w", err)
		}
		if err := w.Close(); err != nil {
			return fmt.Errorf("write packfile: %w", err)
		}
		return nil
	}
	for _, h := range missing {
		obj, err := src.EncodedObject(plumbing.AnyObject, h)
		if err != nil {
			return fmt.Errorf("read %s: %w", h, err)
		}
		if _, err := dst.SetEncodedObject(obj); err != nil {
			return fmt.Errorf("write %s: %w", h, err)
		}
	}
	return nil
}

// missingObjects lists the objects reachable from head that dst lacks, each
// after everything it reaches.
func missingObjects(ctx context.Context, src, dst storer.EncodedObjectStorer, head plumbing.Hash) ([]plumbing.Hash, error) {
	type item struct {
		hash     plumbing.Hash
		expanded bool // its children are on the stack above it
	}
	var out []plumbing.Hash
	seen := map[plumbing.Hash]bool{}
	stack := []item{{hash: head}}
	for len(stack) > 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		top := &stack[len(stack)-1]
		if top.expanded {
			out = append(out, top.hash)
			stack = stack[:len(stack)-1]
			continue
		}
		if seen[top.hash] || dst.HasEncodedObject(top.hash) == nil {
			stack = stack[:len(stack)-1]
			continue
		}
		seen[top.hash] = true
		top.expanded = true
		obj, err := src.EncodedObject(plumbing.AnyObject, top.hash)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", top.hash, err)
		}
		var children []plumbing.Hash
		switch obj.Type() {
		case plumbing.CommitObject:
			c, err := object.DecodeCommit(src, obj)
			if err != nil {
				return nil, fmt.Errorf("decode commit %s: %w", obj.Hash(), err)
			}
			children = append([]plumbing.Hash{c.TreeHash}, c.ParentHashes...)
		case plumbing.TreeObject:
			t, err := object.DecodeTree(src, obj)
			if err != nil {
				return nil, fmt.Errorf("decode tree %s: %w", obj.Hash(), err)
			}
			for _, e := range t.Entries {
				if e.Mode != filemode.Submodule { // a submodule's commit lives elsewhere
					children = append(children, e.Hash)
				}
			}
		case plumbing.TagObject:
			t, err := object.DecodeTag(src, obj)
			if err != nil {
				return nil, fmt.Errorf("decode tag %s: %w", obj.Hash(), err)
			}
			children = append(children, t.Target)
		}
		for _, h := range children {
			stack = append(stack, item{hash: h}) // may move the stack: top is stale now
		}
	}
	return out, nil
}

// networkFetcher fetches https:// and ssh:// remotes with go-git.
type networkFetcher struct {
	url, branch string
	auth        Auth
	mirror      *git.Repository
}

func (f *networkFetcher) fetch(ctx context.Context) (plumbing.Hash, error) {
	redacted := redactURL(f.url)
	am, err := f.authMethod()
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("fetch %s: %w", redacted, err)
	}
	remote := git.NewRemote(f.mirror.Storer, &config.RemoteConfig{Name: "origin", URLs: []string{f.url}})
	spec := config.RefSpec(fmt.Sprintf("+%s:%s", plumbing.NewBranchReferenceName(f.branch), trackingRef(f.branch)))
	err = remote.FetchContext(ctx, &git.FetchOptions{
		RemoteName: "origin",
		RefSpecs:   []config.RefSpec{spec},
		Auth:       am,
		Tags:       git.NoTags,
		Force:      true,
	})
	var noRef git.NoMatchingRefSpecError
	switch {
	case err == nil, errors.Is(err, git.NoErrAlreadyUpToDate):
	case errors.As(err, &noRef), errors.Is(err, transport.ErrEmptyRemoteRepository):
		return plumbing.ZeroHash, fmt.Errorf("fetch %s: %w: %q", redacted, ErrBranchNotFound, f.branch)
	default:
		return plumbing.ZeroHash, fmt.Errorf("fetch %s: %w", redacted, err)
	}
	ref, err := f.mirror.Reference(trackingRef(f.branch), true)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("fetch %s: read fetched branch %q: %w", redacted, f.branch, err)
	}
	return ref.Hash(), nil
}

// authMethod reads the credential files; nil when none are configured.
func (f *networkFetcher) authMethod() (transport.AuthMethod, error) {
	a := f.auth
	u, err := url.Parse(f.url)
	if err != nil {
		return nil, fmt.Errorf("parse url: %w", err)
	}
	user := a.Username
	if user == "" && u.User != nil {
		user = u.User.Username()
	}
	if u.Scheme != "ssh" {
		if a.PasswordFile == "" {
			return nil, nil
		}
		pw, err := readSecret(a.PasswordFile)
		if err != nil {
			return nil, err
		}
		if user == "" {
			user = "token" // hosts ignore the user of a token; go-git needs one
		}
		return &githttp.BasicAuth{Username: user, Password: pw}, nil
	}
	if user == "" {
		user = "git"
	}
	switch {
	case a.SSHKeyFile != "":
		var pass string
		if a.SSHKeyPassphraseFile != "" {
			if pass, err = readSecret(a.SSHKeyPassphraseFile); err != nil {
				return nil, err
			}
		}
		keys, err := gitssh.NewPublicKeysFromFile(user, a.SSHKeyFile, pass)
		if err != nil {
			return nil, fmt.Errorf("load ssh key %s: %w", a.SSHKeyFile, err)
		}
		if a.KnownHostsFile != "" {
			cb, err := gitssh.NewKnownHostsCallback(a.KnownHostsFile)
			if err != nil {
				return nil, fmt.Errorf("load known hosts %s: %w", a.KnownHostsFile, err)
			}
			keys.HostKeyCallback = cb
		}
		return keys, nil
	case a.PasswordFile != "":
		pw, err := readSecret(a.PasswordFile)
		if err != nil {
			return nil, err
		}
		return &gitssh.Password{User: user, Password: pw}, nil
	}
	return nil, nil // go-git falls back to the SSH agent
}

// redactURL drops any password from a URL, for messages.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return raw
	}
	return u.Redacted()
}
