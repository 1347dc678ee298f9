package hubserver_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cellsync/cellsync/config"
	"github.com/cellsync/cellsync/metrics"
	"github.com/cellsync/cellsync/ops"
	"github.com/cellsync/cellsync/store/storetest"
	"github.com/cellsync/cellsync/sync/hub"
	"github.com/cellsync/cellsync/sync/hubserver"
)

// TestGitFailuresMakeTheHubNotSynced: whatever makes the Git fetch fail (a
// path that is not a repository, an unreachable remote, credentials the
// remote rejects), the hub is not synced and says why with the source's
// own error, and /status, the copy in etcd and the metrics agree (issue
// #14, item 2).
func TestGitFailuresMakeTheHubNotSynced(t *testing.T) {
	denied := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
	}))
	defer denied.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String() + "/workloads.git"
	ln.Close()
	secrets := t.TempDir()
	for name, v := range map[string]string{"user": "cellsync", "token": "wrong"} {
		if err := os.WriteFile(filepath.Join(secrets, name), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name, url string
		auth      bool
		want      string
	}{
		{name: "not a repository", url: t.TempDir(), want: "repository does not exist"},
		{name: "unreachable remote", url: dead, want: "connection refused"},
		{name: "bad credentials", url: denied.URL + "/workloads.git", auth: true, want: "authentication"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := exampleConfig(t, tt.url, func(c *config.Hub) {
				c.Listen.Metrics = "127.0.0.1:0"
				if tt.auth {
					c.Git.Auth = config.GitAuth{UsernameFile: filepath.Join(secrets, "user"), PasswordFile: filepath.Join(secrets, "token")}
				}
			})
			reg := metrics.NewRegistry()
			srv := runProcess(t, hubserver.Options{Config: cfg, Registry: reg})
			failing := func(st hub.Status) bool {
				return st.Leading && !st.Synced && st.Condition.State == hub.Failed && st.Condition.Reason == hub.ReasonSourceFailed &&
					strings.Contains(st.Condition.Message, tt.want)
			}
			deadline := time.Now().Add(20 * time.Second)
			for !failing(srv.Hub.Status()) {
				if time.Now().After(deadline) {
					t.Fatalf("status = %+v, want not synced, SourceFailed, %q", srv.Hub.Status().Condition, tt.want)
				}
				time.Sleep(20 * time.Millisecond)
			}
			resp, err := http.Get("http://" + srv.MetricsAddr() + "/status")
			if err != nil {
				t.Fatal(err)
			}
			var viaHTTP hub.Status
			err = json.NewDecoder(resp.Body).Decode(&viaHTTP)
			resp.Body.Close()
			if err != nil || !failing(viaHTTP) {
				t.Errorf("GET /status = %+v, %v", viaHTTP.Condition, err)
			}
			target := ops.Target{Etcd: srv.Endpoints(), From: "test"}
			deadline = time.Now().Add(20 * time.Second)
			for {
				copied, err := ops.FetchStatus(context.Background(), target)
				if err == nil && failing(copied) {
					if perr := ops.StatusProblem(copied); perr == nil || !strings.Contains(perr.Error(), "not synced: SourceFailed") {
						t.Errorf("StatusProblem = %v", perr)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the copy in etcd = %+v, %v", copied.Condition, err)
				}
				time.Sleep(50 * time.Millisecond)
			}
			if got := testutil.ToFloat64(srv.Metrics.Synced); got != 0 {
				t.Errorf("cellsync_sync_synced = %v", got)
			}
			if got := testutil.ToFloat64(srv.Metrics.Condition.WithLabelValues("failed", hub.ReasonSourceFailed)); got != 1 {
				t.Errorf("cellsync_sync_condition{failed,SourceFailed} = %v", got)
			}
		})
	}
}

// TestTransactionLimitFollowsTheServer: the hub packs as many operations
// per transaction as the etcd it uses allows: the embedded one it started
// (1,024), or an external one as configured (default 128) (issue #14,
// item 10).
func TestTransactionLimitFollowsTheServer(t *testing.T) {
	repoDir, _ := exampleRepo(t)
	_, external := storetest.New(t)
	tests := []struct {
		name  string
		tweak func(*config.Hub)
		want  int
	}{
		{name: "embedded", want: 1024},
		{name: "external, default", tweak: func(c *config.Hub) { c.Etcd.Endpoints = external.Endpoints() }, want: 128},
		{name: "external, configured", tweak: func(c *config.Hub) {
			c.Etcd.Endpoints = external.Endpoints()
			c.Etcd.MaxTxnOps = 512
		}, want: 512},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := hubserver.Start(context.Background(), hubserver.Options{Config: exampleConfig(t, repoDir, tt.tweak)})
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				_ = srv.Run(ctx) // closes what Start opened
			}()
			if got := srv.Store().MaxTxnOps(); got != tt.want {
				t.Errorf("MaxTxnOps = %d, want %d", got, tt.want)
			}
		})
	}
}
