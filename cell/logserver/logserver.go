package logserver

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cellsync/cellsync/cell/logs"
	"github.com/cellsync/cellsync/internal/httpserve"
	"github.com/cellsync/cellsync/store"
)

// Path prefixes the log endpoint: GET Path + <instance ID>, e.g.
// /logs/LRP/web/0.
const Path = "/logs/"

// MaxTail bounds the ?tail= a request may ask for.
const MaxTail = 1_000_000

// DefaultPoll is how often a follow looks for new output.
const DefaultPoll = 100 * time.Millisecond

// Readers are the certificate identities that may read logs over mutual
// TLS: the hub and the operator's root identity. A cell's identity is not
// one, so no cell reads another cell's logs.
var Readers = []string{store.RootUser, store.HubUser}

// Line is one line of output as the server sends it: one JSON object per
// line of the response.
type Line struct {
	Time time.Time `json:"t"`
	// Stream is "stdout" or "stderr".
	Stream string `json:"s"`
	Text   string `json:"l"`
}

// Config describes a cell's log server.
type Config struct {
	// Root is the cell's log root (the agent's StateDir/logs). Required.
	Root string
	// Listen is the address to listen on. Without TLS it must be a
	// loopback address.
	Listen string
	// TLS, when set, are the cell's certificate files: the server speaks
	// mutual TLS with the CA's clients and serves only Readers.
	TLS store.TLSFiles
	// URL is the address the cell publishes; default derived from the
	// listener: its scheme, host (the machine's host name when it listens
	// on every address) and port.
	URL string
	// Poll is how often a follow looks for new output; default DefaultPoll.
	Poll time.Duration
}

// Server is a started log server; Run serves it.
type Server struct {
	cfg Config
	ln  net.Listener
	url string
}

// Start checks cfg and binds the listener.
func Start(cfg Config) (*Server, error) {
	if cfg.Root == "" {
		return nil, fmt.Errorf("log server: no log root")
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	host, _, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("log server: listen address %q: %w", cfg.Listen, err)
	}
	if !cfg.TLS.Enabled() && !loopback(host) {
		return nil, fmt.Errorf("log server: listen address %q: without certificates the log server listens on loopback only (127.0.0.1 or ::1); pass the cell's certificates to serve others", cfg.Listen)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("log server: %w", err)
	}
	scheme := "http"
	if cfg.TLS.Enabled() {
		tc, err := cfg.TLS.ServerConfig()
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("log server: %w", err)
		}
		ln, scheme = tls.NewListener(ln, tc), "https"
	}
	s := &Server{cfg: cfg, ln: ln, url: cfg.URL}
	if s.url == "" {
		s.url = derivedURL(scheme, ln.Addr().(*net.TCPAddr))
	}
	return s, nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// derivedURL is the URL of a listener: the machine's host name stands for
// an unspecified address.
func derivedURL(scheme string, a *net.TCPAddr) string {
	host := a.IP.String()
	if a.IP.IsUnspecified() {
		if h, err := os.Hostname(); err == nil {
			host = h
		}
	}
	return (&url.URL{Scheme: scheme, Host: net.JoinHostPort(host, strconv.Itoa(a.Port))}).String()
}

// URL is the address to publish in the cell's registration.
func (s *Server) URL() string { return s.url }

// Run serves until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	mux := http.NewServeMux()
	mux.Handle("GET "+Path, Handler(s.cfg.Root, s.cfg.TLS.Enabled(), s.cfg.Poll))
	return httpserve.Serve(ctx, s.ln, mux, httpserve.Limits{})
}

// Close releases the listener of a server that is not run.
func (s *Server) Close() error { return s.ln.Close() }

// Handler serves the logs under root: GET Path<instance> with query
// previous=true, since=<RFC 3339>, tail=<n> (at most MaxTail; all lines
// by default) and follow=true, as one JSON Line per line. With mutual TLS
// only Readers are served; without, only loopback clients.
func Handler(root string, mutualTLS bool, poll time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := authorize(r, mutualTLS); err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		dir, err := logs.InstanceDir(root, strings.TrimPrefix(r.URL.Path, Path))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		opts, follow, err := query(r.URL.Query())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := logs.Check(dir, opts.Previous); err != nil {
			status := http.StatusInternalServerError
			if errors.Is(err, logs.ErrNotFound) || errors.Is(err, logs.ErrNoPrevious) {
				status = http.StatusNotFound
			}
			http.Error(w, err.Error(), status)
			return
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		enc := json.NewEncoder(w)
		flusher, _ := w.(http.Flusher)
		emit := func(l logs.Line) error {
			return enc.Encode(Line{Time: l.Time, Stream: l.Stream.String(), Text: l.Text})
		}
		if !follow {
			lines, err := logs.Read(dir, opts)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			for _, l := range lines {
				if emit(l) != nil {
					return
				}
			}
			return
		}
		extend := httpserve.Stream(w, r)
		emitNow := func(l logs.Line) error {
			extend()
			return emit(l)
		}
		flush := func() {
			if flusher != nil {
				extend()
				flusher.Flush()
			}
		}
		flush() // the headers: the client knows the stream is open
		_ = logs.Follow(r.Context(), dir, opts, poll, emitNow, flush)
	})
}

// authorize admits Readers over mutual TLS, or loopback clients without.
func authorize(r *http.Request, mutualTLS bool) error {
	if !mutualTLS {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil || !loopback(host) {
			return fmt.Errorf("logs are served to loopback clients only")
		}
		return nil
	}
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return fmt.Errorf("a client certificate is required")
	}
	cn := r.TLS.PeerCertificates[0].Subject.CommonName
	if !slices.Contains(Readers, cn) {
		return fmt.Errorf("identity %q may not read logs (only %s may)", cn, strings.Join(Readers, " and "))
	}
	return nil
}

// query reads a request's options.
func query(q url.Values) (logs.Options, bool, error) {
	opts := logs.Options{Tail: -1}
	var err error
	if s := q.Get("previous"); s != "" {
		if opts.Previous, err = strconv.ParseBool(s); err != nil {
			return opts, false, fmt.Errorf("previous %q: want true or false", s)
		}
	}
	if s := q.Get("since"); s != "" {
		if opts.Since, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return opts, false, fmt.Errorf("since %q: want an RFC 3339 time", s)
		}
	}
	if s := q.Get("tail"); s != "" {
		if opts.Tail, err = strconv.Atoi(s); err != nil || opts.Tail < -1 || opts.Tail > MaxTail {
			return opts, false, fmt.Errorf("tail %q: want -1 (all) to %d", s, MaxTail)
		}
	}
	follow := false
	if s := q.Get("follow"); s != "" {
		if follow, err = strconv.ParseBool(s); err != nil {
			return opts, false, fmt.Errorf("follow %q: want true or false", s)
		}
	}
	return opts, follow, nil
}
