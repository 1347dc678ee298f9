package gitsource

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/prometheus/client_golang/prometheus"
)

// countingFetcher counts fetches.
type countingFetcher struct {
	next fetcher
	n    atomic.Int64
}

func (f *countingFetcher) fetch(ctx context.Context) (plumbing.Hash, error) {
	f.n.Add(1)
	return f.next.fetch(ctx)
}

// runningSource starts Run on r with a fake clock and returns the source,
// the clock and a channel of delivered snapshots. It returns after the first
// sync, when Run waits.
func runningSource(t *testing.T, cfg Config) (*Source, *fakeClock, *countingFetcher, chan *Snapshot) {
	t.Helper()
	clk := newFakeClock()
	snaps := make(chan *Snapshot, 100)
	s, err := New(cfg, Deps{Logger: testLogger(t), Registerer: prometheus.NewRegistry(), Clock: clk,
		OnSnapshot: func(s *Snapshot) { snaps <- s }})
	if err != nil {
		t.Fatal(err)
	}
	cf := &countingFetcher{next: s.fetcher}
	s.fetcher = cf
	runSource(t, s)
	return s, clk, cf, snaps
}

func waitSnapshot(t *testing.T, snaps chan *Snapshot, commit plumbing.Hash) *Snapshot {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case s := <-snaps:
			if s.Commit == commit.String() {
				return s
			}
		case <-deadline:
			t.Fatalf("no snapshot of %s within 10s", commit)
			return nil
		}
	}
}

func TestRunPollsAndCollapsesTriggers(t *testing.T) {
	r := newTestRepo(t, true)
	first := r.commit(fourApps())
	s, clk, cf, snaps := runningSource(t, Config{URL: "file://" + r.dir, DataDir: t.TempDir(),
		PollInterval: time.Minute, DisableWatch: true})
	if d := clk.nextWait(t); d != time.Minute {
		t.Fatalf("wait %v after a good sync, want the poll interval", d)
	}
	waitSnapshot(t, snaps, first)

	second := r.commit(map[string]string{"apps/a.yaml": lrp("a", "a:2")})
	clk.Advance(time.Minute)
	waitSnapshot(t, snaps, second)
	clk.nextWait(t)
	if got := cf.n.Load(); got != 2 {
		t.Fatalf("%d fetches after one poll, want 2", got)
	}

	// A burst of triggers is at most one fetch besides the one it may find
	// running: sends never block and collapse into one pending trigger.
	for range 50 {
		s.Trigger()
	}
	clk.nextWait(t)
	if cf.n.Load() == 4 { // the pending trigger arrived while the first fetch ran
		clk.nextWait(t)
	}
	if got := cf.n.Load(); got != 3 && got != 4 {
		t.Fatalf("%d fetches after a burst of 50 triggers, want 3 or 4", got)
	}
}

func TestTriggerNeverBlocks(t *testing.T) {
	r := newTestRepo(t, true)
	s, _ := newSource(t, r, nil)
	for range 1000 {
		s.Trigger() // nobody receives: must not block
	}
	if len(s.trigger) != 1 {
		t.Fatalf("%d pending triggers, want 1", len(s.trigger))
	}
}

func TestRunRetriesWithBackoff(t *testing.T) {
	r := newTestRepo(t, true)
	r.commit(fourApps())
	cfg := Config{URL: "file://" + r.dir + "-missing", DataDir: t.TempDir(), PollInterval: time.Minute,
		RetryMin: time.Second, RetryMax: 10 * time.Second}
	s, clk, _, _ := runningSource(t, cfg)
	var got []time.Duration
	for range 6 {
		d := clk.nextWait(t)
		got = append(got, d)
		clk.Advance(d)
	}
	want := []time.Duration{1, 2, 4, 8, 10, 10}
	for i := range want {
		if got[i] != want[i]*time.Second {
			t.Fatalf("backoff %v, want %v seconds", got, want)
		}
	}
	if st := s.Status(); st.Err == nil || !strings.Contains(st.Err.Error(), cfg.URL) || st.Failures < 6 {
		t.Fatalf("status %+v, want an error naming %s", st, cfg.URL)
	}
}

func sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func TestWebhookSignature(t *testing.T) {
	body := []byte(`{"ref":"refs/heads/main"}`)
	tests := []struct {
		name        string
		secret      string
		method      string
		sig         string
		body        []byte
		want        int
		wantTrigger bool
	}{
		{name: "good signature", secret: "s", method: "POST", sig: sign("s", body), want: http.StatusAccepted, wantTrigger: true},
		{name: "wrong secret", secret: "s", method: "POST", sig: sign("other", body), want: http.StatusUnauthorized},
		{name: "tampered body", secret: "s", method: "POST", sig: sign("s", body), body: []byte(`{"ref":"x"}`), want: http.StatusUnauthorized},
		{name: "missing signature", secret: "s", method: "POST", want: http.StatusUnauthorized},
		{name: "sha1 signature", secret: "s", method: "POST", sig: "sha1=" + strings.Repeat("0", 40), want: http.StatusUnauthorized},
		{name: "not hex", secret: "s", method: "POST", sig: "sha256=zz", want: http.StatusUnauthorized},
		{name: "GET", secret: "s", method: "GET", sig: sign("s", body), want: http.StatusMethodNotAllowed},
		{name: "no secret configured", method: "POST", sig: sign("", body), want: http.StatusNotFound},
		{name: "body too large", secret: "s", method: "POST", body: bytes.Repeat([]byte("x"), maxWebhookBody+1), want: http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newTestRepo(t, true)
			s, _ := newSource(t, r, func(c *Config) { c.WebhookSecret = tt.secret })
			b := body
			if tt.body != nil {
				b = tt.body
			}
			req := httptest.NewRequest(tt.method, WebhookPath, bytes.NewReader(b))
			if tt.sig != "" {
				req.Header.Set(SignatureHeader, tt.sig)
			}
			rec := httptest.NewRecorder()
			s.WebhookHandler().ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Errorf("status %d, want %d", rec.Code, tt.want)
			}
			if got := len(s.trigger) == 1; got != tt.wantTrigger {
				t.Errorf("triggered %v, want %v", got, tt.wantTrigger)
			}
		})
	}
}

func TestWebhookTriggersFetch(t *testing.T) {
	r := newTestRepo(t, true)
	r.commit(fourApps())
	s, clk, _, snaps := runningSource(t, Config{URL: "file://" + r.dir, DataDir: t.TempDir(), PollInterval: time.Hour, WebhookSecret: "hush"})
	clk.nextWait(t)
	srv := httptest.NewServer(s.WebhookHandler())
	defer srv.Close()
	second := r.commit(map[string]string{"apps/a.yaml": lrp("a", "a:2")})
	body := []byte(`{}`)
	req, err := http.NewRequest(http.MethodPost, srv.URL+WebhookPath, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(SignatureHeader, sign("hush", body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if snap := waitSnapshot(t, snaps, second); imageOf(snap, "LRP/a") != "a:2" {
		t.Fatalf("image %q after the webhook", imageOf(snap, "LRP/a"))
	}
}

// TestFsnotifyLatency commits to a local working repository and waits for the
// snapshot with polling effectively off: only the ref watcher can see it.
// The latency is logged (go test -v) for docs/performance.md, never asserted
// beyond a generous timeout.
func TestFsnotifyLatency(t *testing.T) {
	for _, bare := range []bool{false, true} {
		name := map[bool]string{false: "working repository", true: "bare repository"}[bare]
		t.Run(name, func(t *testing.T) {
			r := newTestRepo(t, bare)
			r.commit(fourApps())
			_, clk, _, snaps := runningSource(t, Config{URL: r.dir, DataDir: t.TempDir(), PollInterval: time.Hour})
			clk.nextWait(t)
			var lat []time.Duration
			for i := range 5 {
				start := time.Now()
				c := r.commit(map[string]string{"apps/a.yaml": lrp("a", "a:"+string(rune('2'+i)))})
				waitSnapshot(t, snaps, c)
				lat = append(lat, time.Since(start))
			}
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			t.Logf("commit to snapshot via fsnotify: min %v median %v max %v", lat[0], lat[len(lat)/2], lat[len(lat)-1])
		})
	}
}
