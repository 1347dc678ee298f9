package ops

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/cellsync/cellsync/config"
	"github.com/cellsync/cellsync/store"
)

// Environment variables Resolve reads.
const (
	// EnvHub is the hub's status URL, e.g. http://10.0.0.5:9090.
	EnvHub = "CELLSYNC_HUB"
	// EnvEtcd is a comma-separated list of etcd endpoints.
	EnvEtcd = "CELLSYNC_ETCD_ENDPOINTS"
	// EnvConfig is the path of a hub config file.
	EnvConfig = "CELLSYNC_CONFIG"
)

// DefaultHub is the hub URL tried when nothing names one.
const DefaultHub = "http://localhost:9090"

// UpFileName is the file in its data dir where `cellsync up` records its
// endpoints, so that `cellsync status` run next to it finds them.
const UpFileName = "endpoints.json"

// Target is where the operator's commands find a running installation.
type Target struct {
	// Hub is the base URL of the hub's HTTP endpoints (/status); empty when
	// only etcd is known.
	Hub string `json:"hub,omitempty"`
	// Etcd are the etcd endpoints; empty when only the hub is known.
	Etcd []string `json:"etcd,omitempty"`
	// From says where the target came from ("--hub", "CELLSYNC_HUB",
	// "config hub.yaml", ...), for error messages.
	From string `json:"-"`
	// TLS is the operator's identity for mutual TLS with etcd and with the
	// cells' log servers (the "root" certificate of `cellsync certs`);
	// empty for plain connections.
	TLS store.TLSFiles `json:"-"`
}

// Lookup holds what Resolve consults, first match wins: the flags, the
// environment, a config file, the endpoints file of `cellsync up`.
type Lookup struct {
	// Hub and Etcd are the --hub and --etcd-endpoints flags.
	Hub  string
	Etcd []string
	// ConfigPath is the --config flag; when empty, EnvConfig is read.
	ConfigPath string
	// DataDir is where `cellsync up` ran; default config.Default().DataDir.
	DataDir string
	// Getenv reads the environment; nil reads nothing.
	Getenv func(string) string
	// TLS is the --etcd-ca/--etcd-cert/--etcd-key flags: set on the target.
	TLS store.TLSFiles
}

// Resolve returns the first target the lookup names: flags, then the
// environment, then the config file, then the data dir's UpFileName, then
// DefaultHub.
func Resolve(l Lookup) (Target, error) {
	t, err := resolve(l)
	t.TLS = l.TLS
	return t, err
}

func resolve(l Lookup) (Target, error) {
	getenv := l.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	if l.Hub != "" || len(l.Etcd) > 0 {
		return Target{Hub: hubURL(l.Hub), Etcd: l.Etcd, From: "flags"}, nil
	}
	if h, e := getenv(EnvHub), getenv(EnvEtcd); h != "" || e != "" {
		return Target{Hub: hubURL(h), Etcd: splitList(e), From: "environment (" + EnvHub + ", " + EnvEtcd + ")"}, nil
	}
	path := l.ConfigPath
	if path == "" {
		path = getenv(EnvConfig)
	}
	if path != "" {
		f, err := config.Read(path)
		if err != nil {
			return Target{}, err
		}
		t := Target{Etcd: f.Etcd.Endpoints, From: "config " + path}
		if f.Listen.Metrics != "" {
			t.Hub = hubURL(f.Listen.Metrics)
		}
		if len(t.Etcd) == 0 && f.DataDir != "" {
			// An embedded etcd: only `up`'s file knows its port.
			if up, ok, err := ReadUpFile(f.DataDir); err != nil {
				return Target{}, err
			} else if ok {
				t.Etcd = up.Etcd
			}
		}
		return t, nil
	}
	dir := l.DataDir
	if dir == "" {
		dir = config.Default().DataDir
	}
	up, ok, err := ReadUpFile(dir)
	if err != nil {
		return Target{}, err
	}
	if ok {
		up.From = filepath.Join(dir, UpFileName) + " (written by cellsync up)"
		return up, nil
	}
	return Target{Hub: DefaultHub, From: "default"}, nil
}

// WriteUpFile records t in dir for Resolve.
func WriteUpFile(dir string, t Target) error {
	b, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return fmt.Errorf("encode endpoints: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, UpFileName), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("record endpoints: %w", err)
	}
	return nil
}

// RemoveUpFile removes the endpoints file when `cellsync up` stops.
func RemoveUpFile(dir string) {
	_ = os.Remove(filepath.Join(dir, UpFileName))
}

// ReadUpFile reads the endpoints file in dir; ok is false when there is none.
func ReadUpFile(dir string) (t Target, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, UpFileName))
	if errors.Is(err, fs.ErrNotExist) {
		return Target{}, false, nil
	}
	if err != nil {
		return Target{}, false, fmt.Errorf("read endpoints: %w", err)
	}
	if err := json.Unmarshal(b, &t); err != nil {
		return Target{}, false, fmt.Errorf("read %s: %w", filepath.Join(dir, UpFileName), err)
	}
	return t, true, nil
}

// hubURL turns "host:port", ":port" or a URL into a base URL.
func hubURL(s string) string {
	s = strings.TrimRight(strings.TrimSpace(s), "/")
	if s == "" || strings.Contains(s, "://") {
		return s
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "http://" + s
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
