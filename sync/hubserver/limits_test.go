package hubserver_test

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cellsync/cellsync/config"
	"github.com/cellsync/cellsync/internal/httpserve"
	"github.com/cellsync/cellsync/internal/netprobe"
	"github.com/cellsync/cellsync/sync/hubserver"
)

// TestWebhookListenerLimits: the hub's webhook listener cuts a request whose
// body trickles, and serves at most MaxConns connections at once, the next
// one waiting for a slot (issue 15.8: 50 slow connections stayed open
// indefinitely).
func TestWebhookListenerLimits(t *testing.T) {
	repoDir, _ := exampleRepo(t)
	secret := webhookSecretFile(t)
	const maxConns = 3
	srv := runProcess(t, hubserver.Options{
		Config: exampleConfig(t, repoDir, func(c *config.Hub) {
			c.Git.WebhookSecretFile = secret
			c.Listen.Webhook = "127.0.0.1:0"
		}),
		HTTPLimits: httpserve.Limits{ReadHeaderTimeout: time.Minute, ReadTimeout: 300 * time.Millisecond, MaxConns: maxConns},
	})
	addr := srv.WebhookAddr()
	if addr == "" {
		t.Fatal("no webhook listener")
	}
	if err := netprobe.Cut(addr, "POST /hooks/git HTTP/1.1\r\nHost: hub\r\nContent-Length: 1000\r\n\r\n{"); err != nil {
		t.Errorf("a webhook request whose body trickles: %v", err)
	}
	code, err := netprobe.Queued(addr, maxConns, "POST /hooks/git HTTP/1.1\r\nHost: hub\r\nContent-Length: 2\r\n\r\n{}")
	if err != nil {
		t.Fatal(err)
	}
	if code != http.StatusUnauthorized {
		t.Errorf("the waiting, unsigned request got status %d, want 401", code)
	}
}

// webhookSecretFile writes a webhook secret for git.webhookSecretFile.
func webhookSecretFile(t *testing.T) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(file, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}
