package gitsource

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
)

func TestAuthMethod(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := write("id_ed25519", string(pem.EncodeToMemory(block)))
	tokenFile := write("token", "s3cret-token\n")

	tests := []struct {
		name     string
		url      string
		auth     Auth
		want     string // "none", "basic:<user>", "key:<user>", "password:<user>"
		wantErr  string
		wantPass string
	}{
		{name: "https without credentials", url: "https://git.example/r.git", want: "none"},
		{name: "https token", url: "https://git.example/r.git", auth: Auth{PasswordFile: tokenFile}, want: "basic:token", wantPass: "s3cret-token"},
		{name: "https basic", url: "https://git.example/r.git", auth: Auth{Username: "ci", PasswordFile: tokenFile}, want: "basic:ci", wantPass: "s3cret-token"},
		{name: "ssh key", url: "ssh://git.example/r.git", auth: Auth{SSHKeyFile: keyFile}, want: "key:git"},
		{name: "ssh key with user in url", url: "ssh://deploy@git.example/r.git", auth: Auth{SSHKeyFile: keyFile}, want: "key:deploy"},
		{name: "ssh password", url: "ssh://git.example/r.git", auth: Auth{Username: "ops", PasswordFile: tokenFile}, want: "password:ops"},
		{name: "missing token file", url: "https://git.example/r.git", auth: Auth{PasswordFile: filepath.Join(dir, "nope")}, wantErr: "read credential file"},
		{name: "not a key", url: "ssh://git.example/r.git", auth: Auth{SSHKeyFile: tokenFile}, wantErr: "load ssh key"},
		{name: "missing known hosts", url: "ssh://git.example/r.git", auth: Auth{SSHKeyFile: keyFile, KnownHostsFile: filepath.Join(dir, "kh")}, wantErr: "known hosts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &networkFetcher{url: tt.url, auth: tt.auth}
			am, err := f.authMethod()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "s3cret") {
					t.Fatalf("error %v, want one containing %q and no secret", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := "none"
			switch a := am.(type) {
			case *githttp.BasicAuth:
				got = "basic:" + a.Username
				if a.Password != tt.wantPass {
					t.Errorf("password %q, want %q", a.Password, tt.wantPass)
				}
				if strings.Contains(a.String(), "s3cret") {
					t.Errorf("auth method's String() %q shows the secret", a.String())
				}
			case *gitssh.PublicKeys:
				got = "key:" + a.User
			case *gitssh.Password:
				got = "password:" + a.User
			case nil:
			default:
				t.Fatalf("unexpected auth method %T", am)
			}
			if got != tt.want {
				t.Errorf("auth %s, want %s", got, tt.want)
			}
		})
	}
}

func TestRunTwice(t *testing.T) {
	r := newTestRepo(t, true)
	r.commit(fourApps())
	s, clk, _, _ := runningSource(t, Config{URL: "file://" + r.dir, DataDir: t.TempDir(), DisableWatch: true})
	clk.nextWait(t)
	if err := s.Run(context.Background()); err == nil {
		t.Fatal("a second Run was accepted")
	}
}
