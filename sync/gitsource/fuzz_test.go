package gitsource

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/cellsync/cellsync/loader"
	"github.com/cellsync/cellsync/model"
)

// FuzzSignature checks that only the exact HMAC of the body is accepted.
func FuzzSignature(f *testing.F) {
	f.Add("secret", []byte(`{"ref":"refs/heads/main"}`), "sha256=00")
	f.Add("", []byte{}, "")
	f.Add("s", []byte("x"), "sha1=abc")
	f.Fuzz(func(t *testing.T, secret string, body []byte, header string) {
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(body)
		want := mac.Sum(nil)
		if !validSignature(secret, body, "sha256="+hex.EncodeToString(want)) {
			t.Fatal("the correct signature is rejected")
		}
		if validSignature(secret, body, header) {
			got, err := hex.DecodeString(strings.TrimPrefix(header, "sha256="))
			if err != nil || !strings.HasPrefix(header, "sha256=") || !hmac.Equal(got, want) {
				t.Fatalf("header %q accepted but is not the signature", header)
			}
		}
	})
}

// FuzzLastGood commits arbitrary content over a good file: whatever it is,
// nothing panics, every error names the file, and a file with errors never
// loses its workload.
func FuzzLastGood(f *testing.F) {
	f.Add([]byte(lrp("a", "a:2")))
	f.Add([]byte("kind: [\n"))
	f.Add([]byte(lrp("a", "a:2") + "---\n" + lrp("Bad", "x")))
	f.Fuzz(func(t *testing.T, content []byte) {
		repo, err := git.Init(memory.NewStorage(), nil)
		if err != nil {
			t.Fatal(err)
		}
		r := &testRepo{tb: t, repo: repo, files: map[string]string{}}
		trees := make([]*object.Tree, 0, 2)
		for _, files := range []map[string]string{
			{"a.yaml": lrp("a", "a:1"), "b.yaml": lrp("b", "b:1"), "c.yaml": configDoc("c")},
			{"a.yaml": string(content) + " "}, // never empty: empty means delete to commit
		} {
			c, err := repo.CommitObject(r.commit(files))
			if err != nil {
				t.Fatal(err)
			}
			tree, err := c.Tree()
			if err != nil {
				t.Fatal(err)
			}
			trees = append(trees, tree)
		}
		d := newDesired(loader.Options{}, DefaultMassDeleteFraction)
		d.apply(newTreeFS(repo.Storer, trees[0], r.headTime()), commitInfo{sha: "1"}, map[string]bool{"a.yaml": false, "b.yaml": false, "c.yaml": false}, nil)
		snap := d.apply(newTreeFS(repo.Storer, trees[1], r.headTime()), commitInfo{sha: "2"}, map[string]bool{"a.yaml": false}, nil)
		for file, errs := range snap.FileErrors {
			for _, e := range errs {
				var me *model.Error
				if !errors.As(e, &me) || me.File != file {
					t.Fatalf("error %v listed under %q", e, file)
				}
			}
		}
		if len(snap.FileErrors["a.yaml"]) > 0 && snap.Objects["LRP/a"] == nil {
			t.Fatalf("a.yaml has errors %v but LRP/a was dropped", snap.FileErrors["a.yaml"])
		}
		if snap.Objects["LRP/b"] == nil {
			t.Fatal("LRP/b, in an unchanged file, disappeared")
		}
	})
}
