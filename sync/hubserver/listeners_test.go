package hubserver_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/cellsync/cellsync/certs"
	"github.com/cellsync/cellsync/config"
	"github.com/cellsync/cellsync/internal/netprobe"
	"github.com/cellsync/cellsync/store"
	"github.com/cellsync/cellsync/sync/hubserver"
)

// TestHubListenersRefuseUnauthenticated starts hub processes with every
// listener on and probes each TCP listener they open, as a local process or
// a container with host networking would: a raft message to /raft and a
// plain etcd request, without credentials. All are refused (issue 15.1).
// Without TLS the embedded etcd opens no TCP port at all; with TLS only its
// client port, which requires a certificate from the CA.
func TestHubListenersRefuseUnauthenticated(t *testing.T) {
	repoDir, _ := exampleRepo(t)
	secret := webhookSecretFile(t)
	listeners := func(c *config.Hub, secretFile string) {
		c.Git.WebhookSecretFile = secretFile
		c.Listen = config.Listen{Metrics: "127.0.0.1:0", Webhook: "127.0.0.1:0"}
	}
	files, err := certs.Generate(t.TempDir(), certs.Options{Clients: []string{store.HubUser}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		tls      bool
		noSecret bool
	}{
		{name: "development: no certificates"},
		{name: "mutual TLS, etcd on every interface", tls: true},
		{name: "no webhook secret: no webhook listener", noSecret: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := exampleConfig(t, repoDir, func(c *config.Hub) {
				if tt.noSecret {
					listeners(c, "")
				} else {
					listeners(c, secret)
				}
				if tt.tls {
					hub := files.Clients[store.HubUser]
					c.Etcd.CAFile, c.Etcd.CertFile, c.Etcd.KeyFile = files.CA, hub.Cert, hub.Key
					c.Etcd.ServerCertFile, c.Etcd.ServerKeyFile = files.Server.Cert, files.Server.Key
					c.Etcd.Listen = ":0"
				}
			})
			var srv *hubserver.Server
			opened, err := netprobe.OpenedBy(func() { srv = runProcess(t, hubserver.Options{Config: cfg}) })
			if err != nil {
				t.Fatal(err)
			}
			want := []string{srv.MetricsAddr()}
			if tt.noSecret != (srv.WebhookAddr() == "") {
				t.Errorf("webhook listener %q with secret %v", srv.WebhookAddr(), !tt.noSecret)
			}
			if !tt.noSecret {
				want = append(want, srv.WebhookAddr())
			}
			eps := srv.Endpoints()
			switch {
			case !tt.tls && (len(eps) != 1 || !strings.HasPrefix(eps[0], "unix://"+cfg.DataDir)):
				t.Errorf("embedded etcd endpoints %v, want its unix socket in the data dir", eps)
			case tt.tls:
				// etcd.listen ":0": every interface, IPv4 or dual-stack.
				port := eps[0][strings.LastIndex(eps[0], ":"):]
				for _, wildcard := range []string{"0.0.0.0" + port, "[::]" + port} {
					if slices.Contains(opened, wildcard) {
						want = append(want, wildcard)
					}
				}
				if !strings.HasPrefix(eps[0], "https://") {
					t.Errorf("embedded etcd endpoints %v, want https", eps)
				}
			}
			slices.Sort(want)
			if !slices.Equal(opened, want) {
				t.Errorf("TCP listeners opened %v, want %v", opened, want)
			}
			if err := netprobe.Refused(context.Background(), opened); err != nil {
				t.Error(err)
			}
		})
	}
}
