package gitsource

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/cellsync/cellsync/loader"
)

// Defaults applied to zero Config fields.
const (
	// DefaultBranch is the branch followed when Config.Branch is empty.
	DefaultBranch = "main"
	// DefaultPollInterval is the time between fetches without a trigger.
	DefaultPollInterval = 30 * time.Second
	// DefaultRetryMin is the first wait after a failed fetch.
	DefaultRetryMin = time.Second
	// DefaultRetryMax is the longest wait between retries.
	DefaultRetryMax = 2 * time.Minute
	// DefaultMassDeleteFraction is the largest fraction of workloads one
	// commit may delete without confirmation.
	DefaultMassDeleteFraction = 0.5
)

// AllowMassDeleteAnnotation, set to "true" on any top-level object of a
// commit, confirms that commit's mass deletion (see Config.MassDeleteFraction).
// Remove it again afterwards: while present it disables the guard.
const AllowMassDeleteAnnotation = "cellsync.io/allow-mass-delete"

// Config says which repository, branch and path hold the workloads and how
// often to look at them.
type Config struct {
	// URL is the repository: "file:///srv/workloads", a local path
	// ("/srv/workloads", "./workloads"), "https://host/org/repo.git" or
	// "ssh://git@host/org/repo.git". Credentials never go in the URL; they
	// are read from the files named in Auth.
	URL string
	// Branch is the branch to follow; default "main".
	Branch string
	// Path is the slash-separated directory inside the repository that holds
	// the workloads; "" or "." is the root. Nothing outside it is read.
	Path string
	// PollInterval is how often the remote is fetched without a trigger;
	// default 30s.
	PollInterval time.Duration
	// RetryMin and RetryMax bound the exponential backoff after a failed
	// fetch; defaults 1s and 2m (RetryMax is capped at PollInterval).
	RetryMin, RetryMax time.Duration
	// DisableWatch turns off the fsnotify watcher a local repository's refs
	// get by default, for file systems without change notification (NFS).
	DisableWatch bool
	// Auth holds the credentials of https:// and ssh:// remotes.
	Auth Auth
	// DataDir is the directory of the local mirror (a bare repository in
	// DataDir/mirror.git). Required.
	DataDir string
	// MassDeleteFraction is the largest fraction of all workloads one commit
	// may delete without confirmation; default 0.5. 1 disables the guard.
	MassDeleteFraction float64
	// WebhookSecret is the shared secret of the webhook's HMAC-SHA256
	// signature. Empty disables the webhook (every request is refused).
	WebhookSecret string
	// MaxFileSize is the largest workload file read, in bytes; default and
	// maximum loader.MaxFileSize (256 KiB).
	MaxFileSize int64
}

// Auth names the files credentials are read from, at every fetch, so that a
// rotated token takes effect without a restart. Secrets are never logged and
// never appear in errors.
type Auth struct {
	// Username is the HTTP basic user (any non-empty value for a token) or
	// the SSH user (default "git").
	Username string
	// PasswordFile holds the HTTP password or token.
	PasswordFile string
	// SSHKeyFile holds a PEM private key for ssh:// remotes.
	SSHKeyFile string
	// SSHKeyPassphraseFile holds the key's passphrase, if it has one.
	SSHKeyPassphraseFile string
	// KnownHostsFile is the known_hosts file that checks the server's key;
	// default: go-git's (SSH_KNOWN_HOSTS, ~/.ssh/known_hosts).
	KnownHostsFile string
}

// remoteKind says how a URL is fetched.
type remoteKind int

const (
	remoteLocal   remoteKind = iota // a repository on this machine: read directly
	remoteNetwork                   // https:// or ssh://: go-git's fetch
)

// validate fills defaults and rejects contradictions. It returns the
// local repository directory for local URLs.
func (c *Config) validate() (remoteKind, string, error) {
	if c.Branch == "" {
		c.Branch = DefaultBranch
	}
	if c.PollInterval <= 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.RetryMin <= 0 {
		c.RetryMin = DefaultRetryMin
	}
	if c.RetryMax <= 0 {
		c.RetryMax = DefaultRetryMax
	}
	c.RetryMax = min(c.RetryMax, c.PollInterval)
	c.RetryMin = min(c.RetryMin, c.RetryMax)
	if c.MassDeleteFraction <= 0 {
		c.MassDeleteFraction = DefaultMassDeleteFraction
	}
	if c.MassDeleteFraction > 1 {
		return 0, "", fmt.Errorf("git config: massDeleteFraction %v is over 1", c.MassDeleteFraction)
	}
	if c.MaxFileSize <= 0 {
		c.MaxFileSize = loader.MaxFileSize
	}
	if err := (loader.Options{MaxFileSize: c.MaxFileSize}).Validate(); err != nil {
		return 0, "", fmt.Errorf("git config: %w", err)
	}
	p := path.Clean("/" + strings.TrimSpace(c.Path))
	c.Path = strings.TrimPrefix(p, "/")
	if c.DataDir == "" {
		return 0, "", errors.New("git config: dataDir is required")
	}
	if c.URL == "" {
		return 0, "", errors.New("git config: url is required")
	}
	if strings.Contains(c.Branch, "..") || strings.HasPrefix(c.Branch, "refs/") || strings.ContainsAny(c.Branch, " ~^:?*[\\") {
		return 0, "", fmt.Errorf("git config: branch %q is not a valid branch name", c.Branch)
	}
	u, err := url.Parse(c.URL)
	if err != nil || u.Scheme == "" || len(u.Scheme) == 1 { // "C:\repo" parses with scheme "c"
		abs, aerr := filepath.Abs(c.URL)
		if aerr != nil {
			return 0, "", fmt.Errorf("git config: url %q: %w", c.URL, aerr)
		}
		return remoteLocal, abs, nil
	}
	if _, hasPassword := u.User.Password(); hasPassword {
		return 0, "", fmt.Errorf("git config: url %s carries a password; put it in auth.passwordFile", u.Redacted())
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return 0, "", fmt.Errorf("git config: url %s: a file URL names no host", c.URL)
		}
		return remoteLocal, filepath.FromSlash(u.Path), nil
	case "https", "http", "ssh":
		return remoteNetwork, "", nil
	}
	return 0, "", fmt.Errorf("git config: url %s: scheme %q not supported (file, https, ssh or a local path)", u.Redacted(), u.Scheme)
}

// readSecret reads a credential file, trimming the trailing newline editors
// add. The error names the file, never its content.
func readSecret(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("read credential file: %w", err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}
