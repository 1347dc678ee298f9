package gitsource

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/format/pktline"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/server"
)

// serveSmartHTTP serves the bare repository of r over Git's smart HTTP
// protocol (fetch only) with go-git's server side, behind HTTP basic auth.
func serveSmartHTTP(t *testing.T, r *testRepo, user, password string) *httptest.Server {
	t.Helper()
	srv := server.NewServer(server.MapLoader{"file:///repo.git": r.repo.Storer})
	ep, err := transport.NewEndpoint("file:///repo.git")
	if err != nil {
		t.Fatal(err)
	}
	h := http.NewServeMux()
	auth := func(w http.ResponseWriter, req *http.Request) bool {
		if u, p, ok := req.BasicAuth(); !ok || u != user || p != password {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return false
		}
		return true
	}
	h.HandleFunc("GET /repo.git/info/refs", func(w http.ResponseWriter, req *http.Request) {
		if !auth(w, req) {
			return
		}
		sess, err := srv.NewUploadPackSession(ep, nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		ar, err := sess.AdvertisedReferencesContext(req.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		ar.Prefix = [][]byte{[]byte("# service=git-upload-pack"), pktline.Flush}
		w.Header().Set("Content-Type", "application/x-git-upload-pack-advertisement")
		if err := ar.Encode(w); err != nil {
			t.Errorf("encode refs: %v", err)
		}
	})
	h.HandleFunc("POST /repo.git/git-upload-pack", func(w http.ResponseWriter, req *http.Request) {
		if !auth(w, req) {
			return
		}
		sess, err := srv.NewUploadPackSession(ep, nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		up := packp.NewUploadPackRequest()
		if err := up.Decode(req.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		resp, err := sess.UploadPack(req.Context(), up)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/x-git-upload-pack-result")
		if err := resp.Encode(w); err != nil {
			t.Errorf("encode pack: %v", err)
		}
	})
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

// TestHTTPRemote fetches a served repository over HTTP with a token read
// from a file, and checks that a wrong token fails without showing up in the
// error.
func TestHTTPRemote(t *testing.T) {
	const token = "tok-3f9a1c"
	r := newTestRepo(t, true)
	r.commit(fourApps())
	srv := serveSmartHTTP(t, r, "ci", token)
	url := srv.URL + "/repo.git"

	tests := []struct {
		name    string
		secret  string
		wantErr bool
	}{
		{name: "good token", secret: token + "\n"},
		{name: "wrong token", secret: "wrong-" + token, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "token")
			if err := os.WriteFile(file, []byte(tt.secret), 0o600); err != nil {
				t.Fatal(err)
			}
			s, _ := newSource(t, r, func(c *Config) {
				c.URL = url
				c.Auth = Auth{Username: "ci", PasswordFile: file}
			})
			snap, err := s.Sync(context.Background())
			if tt.wantErr {
				if err == nil {
					t.Fatal("Sync with a wrong token succeeded")
				}
				if strings.Contains(err.Error(), token) || !strings.Contains(err.Error(), url) {
					t.Fatalf("error %q leaks the token or does not name %s", err, url)
				}
				return
			}
			if err != nil || len(snap.Objects) != 4 {
				t.Fatalf("Sync: %v", err)
			}
			second := r.commit(map[string]string{"apps/a.yaml": lrp("a", "a:2")})
			snap = mustSync(t, s)
			if snap.Commit != second.String() || imageOf(snap, "LRP/a") != "a:2" || snap.Parsed != 1 {
				t.Fatalf("after a second fetch: commit %s image %q parsed %d", snap.Commit, imageOf(snap, "LRP/a"), snap.Parsed)
			}
		})
	}
	t.Run("missing branch", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "token")
		if err := os.WriteFile(file, []byte(token), 0o600); err != nil {
			t.Fatal(err)
		}
		s, _ := newSource(t, r, func(c *Config) {
			c.URL, c.Branch = url, "release"
			c.Auth = Auth{Username: "ci", PasswordFile: file}
		})
		if _, err := s.Sync(context.Background()); !errors.Is(err, ErrBranchNotFound) {
			t.Fatalf("error %v, want ErrBranchNotFound", err)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		dead := httptest.NewServer(http.NotFoundHandler())
		deadURL := dead.URL + "/repo.git"
		dead.Close()
		s, _ := newSource(t, r, func(c *Config) { c.URL = deadURL })
		if _, err := s.Sync(context.Background()); err == nil || !strings.Contains(err.Error(), deadURL) {
			t.Fatalf("error %v, want one naming %s", err, deadURL)
		}
	})
}
