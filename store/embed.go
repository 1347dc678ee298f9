package store

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// EmbedConfig configures an embedded etcd server.
type EmbedConfig struct {
	// Dir holds etcd's data; it is created if missing. Required.
	Dir string
	// ClientURL is where clients connect; default "http://127.0.0.1:0", a
	// free port chosen by the kernel.
	ClientURL string
	// StartTimeout bounds the wait for the server to be ready; default 30s.
	StartTimeout time.Duration
	// MaxTxnOps is the server's limit of operations per transaction;
	// default 1024 (etcd's own default is 128, which external clusters keep).
	MaxTxnOps uint
	// QuotaBackendBytes is the size at which the server raises its
	// NOSPACE alarm and refuses every write ("database space exceeded");
	// default 8 GiB, etcd's recommended maximum.
	QuotaBackendBytes int64
	// TLS, when set, serves clients over TLS with its Cert and Key and
	// requires a client certificate signed by its CA (mutual TLS).
	TLS TLSFiles
}

// Embedded is a single-member etcd server running in this process.
type Embedded struct {
	etcd      *embed.Etcd
	scheme    string
	maxTxnOps int
}

// StartEmbedded starts an etcd server in cfg.Dir and waits until it serves.
func StartEmbedded(ctx context.Context, cfg EmbedConfig) (*Embedded, error) {
	if cfg.Dir == "" {
		return nil, fmt.Errorf("embedded etcd: data dir is required")
	}
	if cfg.ClientURL == "" {
		cfg.ClientURL = "http://127.0.0.1:0"
		if cfg.TLS.Enabled() {
			cfg.ClientURL = "https://127.0.0.1:0"
		}
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = 30 * time.Second
	}
	if cfg.MaxTxnOps == 0 {
		cfg.MaxTxnOps = 1024
	}
	if cfg.QuotaBackendBytes == 0 {
		cfg.QuotaBackendBytes = 8 << 30
	}
	curl, err := url.Parse(cfg.ClientURL)
	if err != nil {
		return nil, fmt.Errorf("embedded etcd: client URL %q: %w", cfg.ClientURL, err)
	}
	// The single member never dials its peers, so its peer listener takes a
	// free port and advertises a placeholder.
	purl, _ := url.Parse("http://127.0.0.1:0")
	apurl, _ := url.Parse("http://127.0.0.1:2380")
	ec := embed.NewConfig()
	ec.Name = "cellsync"
	ec.Dir = cfg.Dir
	ec.ListenClientUrls = []url.URL{*curl}
	ec.AdvertiseClientUrls = []url.URL{*curl}
	if cfg.TLS.Enabled() {
		if curl.Scheme != "https" {
			return nil, fmt.Errorf("embedded etcd: TLS needs an https client URL, got %q", cfg.ClientURL)
		}
		ec.ClientTLSInfo = transport.TLSInfo{CertFile: cfg.TLS.Cert, KeyFile: cfg.TLS.Key, TrustedCAFile: cfg.TLS.CA, ClientCertAuth: true}
	}
	ec.ListenPeerUrls = []url.URL{*purl}
	ec.AdvertisePeerUrls = []url.URL{*apurl}
	ec.InitialCluster = ec.Name + "=" + apurl.String()
	// etcd logs through zap; its shutdown chatter ("server closed") is noise
	// to cellsync's users, and real failures surface as returned errors.
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	ec.MaxTxnOps = cfg.MaxTxnOps
	ec.MaxRequestBytes = 8 << 20
	ec.QuotaBackendBytes = cfg.QuotaBackendBytes
	// Keep the revision history bounded: watchers that fall behind an hour
	// reload instead of replaying.
	ec.AutoCompactionMode = "periodic"
	ec.AutoCompactionRetention = "1h"

	e, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, fmt.Errorf("start embedded etcd in %s: %w", cfg.Dir, err)
	}
	scheme := curl.Scheme
	timer := time.NewTimer(cfg.StartTimeout)
	defer timer.Stop()
	select {
	case <-e.Server.ReadyNotify():
		return &Embedded{etcd: e, scheme: scheme, maxTxnOps: int(cfg.MaxTxnOps)}, nil
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("embedded etcd in %s: %w", cfg.Dir, err)
	case <-timer.C:
		e.Close()
		return nil, fmt.Errorf("embedded etcd in %s: not ready after %s", cfg.Dir, cfg.StartTimeout)
	case <-ctx.Done():
		e.Close()
		return nil, fmt.Errorf("embedded etcd in %s: %w", cfg.Dir, ctx.Err())
	}
}

// Endpoints returns the URLs clients connect to, with the ports actually bound.
func (e *Embedded) Endpoints() []string {
	out := make([]string, 0, len(e.etcd.Clients))
	for _, l := range e.etcd.Clients {
		out = append(out, e.scheme+"://"+l.Addr().String())
	}
	return out
}

// MaxTxnOps is the server's limit of operations per transaction: what a
// client of this server should use as Config.MaxTxnOps.
func (e *Embedded) MaxTxnOps() int { return e.maxTxnOps }

// Close stops the server and waits for it to release its data dir. It is
// safe to call more than once.
func (e *Embedded) Close() { e.etcd.Close() }
