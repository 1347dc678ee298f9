package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// MaxWorkers bounds each worker pool: beyond it goroutines only contend
// (Hive saw 100 goroutines stop helping on a 96-core machine).
const MaxWorkers = 1024

// FieldError is one invalid field. Validate returns them joined; Load and
// File.Locate add the file and line.
type FieldError struct {
	// File is the config file, if known.
	File string
	// Line is the line the field is set on, or 0 if it is not in the file.
	Line int
	// Field is the dotted YAML path, e.g. "workers.apply".
	Field string
	// Msg says what is wrong.
	Msg string
}

// Error renders "file:line: field: msg", leaving out what is unknown.
func (e *FieldError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString("config ")
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteString(":" + strconv.Itoa(e.Line))
		}
		b.WriteString(": ")
	}
	b.WriteString(e.Field)
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// Validate fills the defaults of empty string fields (git.branch, git.path,
// dataDir) and rejects values out of range and contradictory settings. It
// returns every problem found, as *FieldError values joined with
// errors.Join. Numbers and durations are not defaulted, since zero there is
// an explicit, invalid value: start from Default.
func (h *Hub) Validate() error {
	v := &validator{}
	if h.Git.Branch == "" {
		h.Git.Branch = "main"
	}
	if h.Git.Path == "" {
		h.Git.Path = "."
	}
	if h.DataDir == "" {
		h.DataDir = Default().DataDir
	}

	scheme := v.gitURL("git.url", h.Git.URL)
	if strings.HasPrefix(h.Git.Branch, "-") || strings.ContainsAny(h.Git.Branch, " ~^:?*[\\") {
		v.fail("git.branch", "%q is not a valid branch name", h.Git.Branch)
	}
	if p := path.Clean(h.Git.Path); path.IsAbs(p) || p == ".." || strings.HasPrefix(p, "../") {
		v.fail("git.path", "%q must be relative to the repository root and stay inside it", h.Git.Path)
	}
	v.positive("git.pollInterval", h.Git.PollInterval)
	if f := h.Git.MassDeleteFraction; !(f > 0 && f <= 1) {
		v.fail("git.massDeleteFraction", "must be in (0, 1], got %v", f)
	}
	if h.Git.WebhookSecretFile != "" && h.Listen.Webhook == "" {
		v.fail("git.webhookSecretFile", "is set but listen.webhook is empty: no webhook would be received")
	}
	a := h.Git.Auth
	if (a.UsernameFile == "") != (a.PasswordFile == "") {
		v.fail("git.auth", "usernameFile and passwordFile must be set together")
	}
	basic := a.UsernameFile != "" || a.PasswordFile != ""
	switch {
	case basic && a.SSHKeyFile != "":
		v.fail("git.auth", "set either usernameFile/passwordFile or sshKeyFile, not both")
	case basic && scheme != "" && scheme != "http" && scheme != "https":
		v.fail("git.auth", "usernameFile/passwordFile need an http or https git.url, got %s", scheme)
	case a.SSHKeyFile != "" && scheme != "" && scheme != "ssh":
		v.fail("git.auth.sshKeyFile", "needs an ssh:// or user@host:path git.url, got %s", scheme)
	}

	for i, ep := range h.Etcd.Endpoints {
		v.endpoint(fmt.Sprintf("etcd.endpoints[%d]", i), ep)
	}
	v.positive("etcd.dialTimeout", h.Etcd.DialTimeout)
	if n := h.Etcd.MaxTxnOps; n < 2 || n > MaxTxnOps {
		v.fail("etcd.maxTxnOps", "must be between 2 and %d, got %d", MaxTxnOps, n)
	}
	e := h.Etcd
	if (e.CAFile != "" || e.CertFile != "" || e.KeyFile != "") && (e.CAFile == "" || e.CertFile == "" || e.KeyFile == "") {
		v.fail("etcd", "mutual TLS needs caFile, certFile and keyFile together")
	}
	if e.ServerCertFile != "" || e.ServerKeyFile != "" {
		switch {
		case len(e.Endpoints) > 0:
			v.fail("etcd.serverCertFile", "configures the embedded etcd, which runs only without endpoints")
		case e.ServerCertFile == "" || e.ServerKeyFile == "":
			v.fail("etcd.serverCertFile", "needs serverKeyFile with it")
		case e.CAFile == "":
			v.fail("etcd.serverCertFile", "needs caFile, certFile and keyFile: the embedded etcd requires client certificates")
		}
	}
	if e.Listen != "" {
		if host, _, err := net.SplitHostPort(e.Listen); err == nil && host != "" && net.ParseIP(host) == nil {
			v.fail("etcd.listen", "%q: etcd listens on an IP address, not a host name", e.Listen)
		}
		v.listen("etcd.listen", e.Listen)
		if e.ServerCertFile == "" {
			v.fail("etcd.listen", "needs serverCertFile: without TLS the embedded etcd serves only a unix socket in dataDir")
		}
	}

	v.workers("workers.fanout", h.Workers.Fanout)
	v.workers("workers.apply", h.Workers.Apply)
	v.workers("workers.convergence", h.Workers.Convergence)

	v.positive("resyncInterval", h.ResyncInterval)

	v.listen("listen.metrics", h.Listen.Metrics)
	v.listen("listen.webhook", h.Listen.Webhook)
	if _, port, _ := net.SplitHostPort(h.Listen.Metrics); h.Listen.Metrics != "" && h.Listen.Metrics == h.Listen.Webhook && port != "0" {
		v.fail("listen.webhook", "uses the same address as listen.metrics (%s)", h.Listen.Metrics)
	}
	return errors.Join(v.errs...)
}

type validator struct{ errs []error }

func (v *validator) fail(field, format string, args ...any) {
	v.errs = append(v.errs, &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) positive(field string, d time.Duration) {
	if d <= 0 {
		v.fail(field, "must be a positive duration such as 30s, got %v", d)
	}
}

func (v *validator) workers(field string, n int) {
	if n < 1 || n > MaxWorkers {
		v.fail(field, "must be between 1 and %d, got %d", MaxWorkers, n)
	}
}

// scpLike matches user@host:path, Git's short form of an SSH URL.
var scpLike = regexp.MustCompile(`^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:.+$`)

// gitURL checks a repository URL and returns its scheme ("ssh" for the
// scp-like form), or "" if it is invalid.
func (v *validator) gitURL(field, raw string) string {
	if raw == "" {
		v.fail(field, "is required (e.g. file:///srv/workloads or https://git.example/org/workloads.git)")
		return ""
	}
	if !strings.Contains(raw, "://") && scpLike.MatchString(raw) {
		return "ssh"
	}
	if !strings.Contains(raw, "://") {
		return "file" // a local path, as the Git source accepts
	}
	u, err := url.Parse(raw)
	if err != nil {
		v.fail(field, "cannot parse %q: %v", raw, errors.Unwrap(err))
		return ""
	}
	switch u.Scheme {
	case "file":
		if u.Path == "" {
			v.fail(field, "file URL %q has no path", raw)
			return ""
		}
	case "http", "https", "ssh", "git":
		if u.Host == "" {
			v.fail(field, "%s URL %q has no host", u.Scheme, raw)
			return ""
		}
	default:
		v.fail(field, "scheme of %q must be file, http, https, ssh or git (or use user@host:path or a local path)", raw)
		return ""
	}
	return u.Scheme
}

func (v *validator) endpoint(field, raw string) {
	hostport := raw
	if strings.Contains(raw, "://") {
		u, err := url.Parse(raw)
		if err == nil && (u.Scheme == "unix" || u.Scheme == "unixs") && u.Host == "" && path.IsAbs(u.Path) {
			return
		}
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.fail(field, "%q must be http://host:port, https://host:port, host:port or unix:///path", raw)
			return
		}
		hostport = u.Host
	}
	if _, port, err := net.SplitHostPort(hostport); err != nil || !validPort(port) {
		v.fail(field, "%q must name a host and a port", raw)
	}
}

func (v *validator) listen(field, addr string) {
	if addr == "" {
		return // disabled
	}
	if _, port, err := net.SplitHostPort(addr); err != nil || !validPort(port) {
		v.fail(field, "%q must be host:port or :port", addr)
	}
}

func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 0 && n <= 65535
}
