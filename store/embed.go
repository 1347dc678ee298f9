package store

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// EmbedConfig configures an embedded etcd server.
type EmbedConfig struct {
	// Dir holds etcd's data; it is created if missing, and made 0700. Required.
	Dir string
	// ClientURL is where clients connect. Default with TLS
	// "https://127.0.0.1:0", a free port chosen by the kernel; default
	// without TLS a unix socket in Dir (see SocketName). Without TLS the
	// server authenticates no one, so an http URL must be a loopback
	// address: development and tests only.
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

// SocketName is the unix socket, in EmbedConfig.Dir, that an embedded etcd
// without TLS serves its clients on. Dir is 0700, so only processes of the
// same user (or root) on this machine can connect; nothing listens on TCP.
// A Dir whose path is too long for a socket puts it in a new private
// directory under os.TempDir instead; Endpoints says where.
const SocketName = "client.sock"

// maxSocketPath is the longest unix socket path every Unix accepts
// (sockaddr_un's sun_path is 104 bytes on the BSDs, 108 on Linux).
const maxSocketPath = 103

// Embedded is a single-member etcd server running in this process. It opens
// no peer listener: a single member has no peer to talk to, and raft's peer
// API authenticates no one unless given peer certificates, so not listening
// is the only safe peer listener.
type Embedded struct {
	etcd      *embed.Etcd
	scheme    string
	tempDir   string // the socket's private directory, when Dir's path is too long
	maxTxnOps int
}

// StartEmbedded starts an etcd server in cfg.Dir and waits until it serves.
func StartEmbedded(ctx context.Context, cfg EmbedConfig) (_ *Embedded, err error) {
	if cfg.Dir == "" {
		return nil, fmt.Errorf("embedded etcd: data dir is required")
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
	// etcd makes its data dir 0700 itself, but only after it listens, and
	// the client socket lives in it.
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("embedded etcd: %w", err)
	}
	if err := os.Chmod(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("embedded etcd: %w", err)
	}
	e := &Embedded{}
	defer func() {
		if err != nil && e.tempDir != "" {
			os.RemoveAll(e.tempDir)
		}
	}()
	if cfg.ClientURL == "" {
		if cfg.ClientURL, err = e.defaultClientURL(cfg); err != nil {
			return nil, err
		}
	}
	curl, err := url.Parse(cfg.ClientURL)
	if err != nil {
		return nil, fmt.Errorf("embedded etcd: client URL %q: %w", cfg.ClientURL, err)
	}
	if err := checkClientURL(curl, cfg.TLS.Enabled()); err != nil {
		return nil, fmt.Errorf("embedded etcd: client URL %q: %w", cfg.ClientURL, err)
	}
	// No peer listener; the member's advertised peer URL is a placeholder
	// that nothing ever dials.
	apurl, _ := url.Parse("http://127.0.0.1:2380")
	ec := embed.NewConfig()
	ec.Name = "cellsync"
	ec.Dir = cfg.Dir
	ec.ListenClientUrls = []url.URL{*curl}
	ec.AdvertiseClientUrls = []url.URL{*curl}
	if cfg.TLS.Enabled() {
		ec.ClientTLSInfo = transport.TLSInfo{CertFile: cfg.TLS.Cert, KeyFile: cfg.TLS.Key, TrustedCAFile: cfg.TLS.CA, ClientCertAuth: true}
	}
	ec.ListenPeerUrls = nil
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

	if e.etcd, err = embed.StartEtcd(ec); err != nil {
		return nil, fmt.Errorf("start embedded etcd in %s: %w", cfg.Dir, err)
	}
	e.scheme, e.maxTxnOps = curl.Scheme, int(cfg.MaxTxnOps)
	timer := time.NewTimer(cfg.StartTimeout)
	defer timer.Stop()
	select {
	case <-e.etcd.Server.ReadyNotify():
		if curl.Scheme != "unix" {
			return e, nil
		}
		// Its directory already keeps others out; the socket's own mode
		// says so too.
		if err = os.Chmod(curl.Host+curl.Path, 0o600); err == nil {
			return e, nil
		}
		err = fmt.Errorf("embedded etcd: %w", err)
	case err = <-e.etcd.Err():
		err = fmt.Errorf("embedded etcd in %s: %w", cfg.Dir, err)
	case <-timer.C:
		err = fmt.Errorf("embedded etcd in %s: not ready after %s", cfg.Dir, cfg.StartTimeout)
	case <-ctx.Done():
		err = fmt.Errorf("embedded etcd in %s: %w", cfg.Dir, ctx.Err())
	}
	e.etcd.Close()
	return nil, err
}

// defaultClientURL is a free loopback port with TLS, else the unix socket.
func (e *Embedded) defaultClientURL(cfg EmbedConfig) (string, error) {
	if cfg.TLS.Enabled() {
		return "https://127.0.0.1:0", nil
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return "", fmt.Errorf("embedded etcd: %w", err)
	}
	if len(filepath.Join(dir, SocketName)) > maxSocketPath {
		if e.tempDir, err = os.MkdirTemp("", "cellsync-etcd-"); err != nil { // 0700
			return "", fmt.Errorf("embedded etcd: directory for the client socket: %w", err)
		}
		dir = e.tempDir
	}
	return "unix://" + filepath.Join(dir, SocketName), nil
}

// checkClientURL refuses a client URL that would serve etcd, with no
// authentication, beyond this machine.
func checkClientURL(u *url.URL, tls bool) error {
	switch {
	case tls && u.Scheme != "https":
		return fmt.Errorf("TLS needs an https URL")
	case tls:
		return nil
	case u.Scheme == "unix":
		return nil
	case u.Scheme != "http":
		return fmt.Errorf("without TLS, use a unix:// or http:// URL")
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("without TLS the embedded etcd authenticates no client, so it serves only a loopback address or a unix socket: configure TLS to serve %s", host)
	}
	return nil
}

// Endpoints returns the URLs this machine's clients connect to, with the
// ports actually bound (a listener on every interface is reached through
// 127.0.0.1); a unix socket is "unix://" and its absolute path.
func (e *Embedded) Endpoints() []string {
	out := make([]string, 0, len(e.etcd.Clients))
	for _, l := range e.etcd.Clients {
		addr := l.Addr().String()
		if a, ok := l.Addr().(*net.TCPAddr); ok && a.IP.IsUnspecified() {
			addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(a.Port))
		}
		out = append(out, e.scheme+"://"+addr)
	}
	return out
}

// MaxTxnOps is the server's limit of operations per transaction: what a
// client of this server should use as Config.MaxTxnOps.
func (e *Embedded) MaxTxnOps() int { return e.maxTxnOps }

// Close stops the server and waits for it to release its data dir. It is
// safe to call more than once.
func (e *Embedded) Close() {
	e.etcd.Close()
	if e.tempDir != "" {
		os.RemoveAll(e.tempDir)
	}
}
