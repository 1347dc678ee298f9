package gitsource

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// lockedBuffer is a log sink safe for the source's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestSecretsNeverLogged fetches with a wrong and a right token and receives
// forged and signed webhooks, logging at debug level: neither the Git token
// nor the webhook secret appears in the logs or the errors.
func TestSecretsNeverLogged(t *testing.T) {
	const token, webhookSecret = "tok-7d2e91", "hook-5b8c03"
	r := newTestRepo(t, true)
	r.commit(fourApps())
	srv := serveSmartHTTP(t, r, "ci", token)
	var logs lockedBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var errs []string
	for _, secret := range []string{"wrong-" + token, token} {
		file := filepath.Join(t.TempDir(), "token")
		if err := os.WriteFile(file, []byte(secret), 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := New(Config{URL: srv.URL + "/repo.git", DataDir: t.TempDir(), WebhookSecret: webhookSecret,
			Auth: Auth{Username: "ci", PasswordFile: file}}, Deps{Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Sync(context.Background()); err != nil {
			errs = append(errs, err.Error())
		}
		for _, sig := range []string{"sha256=00", sign(webhookSecret, []byte("{}"))} {
			req := httptest.NewRequest(http.MethodPost, WebhookPath, strings.NewReader("{}"))
			req.Header.Set(SignatureHeader, sig)
			s.WebhookHandler().ServeHTTP(httptest.NewRecorder(), req)
		}
	}
	if len(errs) != 1 {
		t.Fatalf("errors %v, want the wrong token's only", errs)
	}
	out := logs.String() + strings.Join(errs, "\n")
	if !strings.Contains(out, "webhook signature rejected") {
		t.Fatalf("the forged webhook was not logged; logs:\n%s", out)
	}
	for _, secret := range []string{token, webhookSecret} {
		if strings.Contains(out, secret) {
			t.Errorf("%q appears in the logs or errors:\n%s", secret, out)
		}
	}
}
