package hubserver_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cellsync/cellsync/config"
	"github.com/cellsync/cellsync/internal/httpserve"
	"github.com/cellsync/cellsync/sync/hubserver"
)

// TestWebhookListenerLimits: the hub's webhook listener cuts a request whose
// body trickles, and serves at most MaxConns connections at once, the next
// one waiting for a slot (issue 15.8: 50 slow connections stayed open
// indefinitely).
func TestWebhookListenerLimits(t *testing.T) {
	repoDir, _ := exampleRepo(t)
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
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
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	send := func(c net.Conn, s string) {
		if _, err := io.WriteString(c, s); err != nil {
			t.Fatal(err)
		}
	}

	slow := dial()
	send(slow, "POST /hooks/git HTTP/1.1\r\nHost: hub\r\nContent-Length: 1000\r\n\r\n{")
	if err := slow.SetReadDeadline(time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	var ne net.Error
	if _, err := io.Copy(io.Discard, slow); errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("a webhook request whose body trickles was held for a minute")
	}

	held := make([]net.Conn, maxConns)
	for i := range held {
		held[i] = dial()
		send(held[i], "POST /hooks/git HTTP/1.1\r\n") // headers never end
	}
	extra := dial()
	send(extra, "POST /hooks/git HTTP/1.1\r\nHost: hub\r\nContent-Length: 2\r\n\r\n{}")
	served := make(chan int, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(extra), nil)
		if err != nil {
			served <- 0
			return
		}
		resp.Body.Close()
		served <- resp.StatusCode
	}()
	select {
	case code := <-served:
		t.Fatalf("connection %d was served (status %d) while %d were held", maxConns+1, code, maxConns)
	case <-time.After(300 * time.Millisecond): // a slow machine can only make this pass
	}
	held[0].Close()
	select {
	case code := <-served:
		if code != http.StatusUnauthorized {
			t.Fatalf("the waiting, unsigned request got status %d, want 401", code)
		}
	case <-time.After(time.Minute):
		t.Fatal("the waiting connection was not served after a slot freed")
	}
}
