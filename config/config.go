package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"time"

	yaml "sigs.k8s.io/yaml/goyaml.v3"
)

// Hub is the hub's configuration: Default, overlaid by the config file, then
// by command-line flags, then checked by Validate.
type Hub struct {
	// Git is the repository the workloads are read from.
	Git Git `yaml:"git"`
	// Etcd is the etcd cluster the hub stores state in.
	Etcd Etcd `yaml:"etcd"`
	// DataDir is the directory of the embedded etcd (used when
	// Etcd.Endpoints is empty) and of the Git checkout. A path. Default
	// "./cellsync-data".
	DataDir string `yaml:"dataDir"`
	// Workers sizes the worker pool of each controller; changing it in the
	// file resizes the pools without a restart.
	Workers Workers `yaml:"workers"`
	// ResyncInterval is how often the hub re-reconciles everything even
	// without events, catching anything a watch missed. A Go duration.
	// Default 10m.
	ResyncInterval time.Duration `yaml:"resyncInterval"`
	// Listen holds the hub's HTTP listen addresses.
	Listen Listen `yaml:"listen"`
}

// Git says where and how the hub reads workloads.
type Git struct {
	// URL is the repository: file://, http(s)://, ssh:// or git:// URL, or
	// scp-like user@host:path. Required; no default.
	URL string `yaml:"url"`
	// Branch is the branch to follow. Default "main".
	Branch string `yaml:"branch"`
	// Path is the directory inside the repository that holds the
	// workloads, relative to its root. Default ".".
	Path string `yaml:"path"`
	// PollInterval is how often the hub fetches the branch when no webhook
	// arrives. A Go duration. Default 30s.
	PollInterval time.Duration `yaml:"pollInterval"`
	// WebhookSecretFile is a file holding the shared secret that webhook
	// calls are signed with; requires Listen.Webhook. A path. Default ""
	// (webhooks unsigned, only if Listen.Webhook is set).
	WebhookSecretFile string `yaml:"webhookSecretFile"`
	// Auth holds the credentials to fetch with. Default: none.
	Auth GitAuth `yaml:"auth"`
	// MassDeleteFraction guards against a bad commit: if a commit would
	// delete more than this fraction of the workloads, the hub refuses it
	// and keeps the last good model. A fraction in (0, 1]; 1 disables the
	// guard. Default 0.5.
	MassDeleteFraction float64 `yaml:"massDeleteFraction"`
}

// GitAuth names files holding Git credentials, so that secrets never sit in
// the config file. Use either a username and password (http/https) or an SSH
// key (ssh or scp-like URLs).
type GitAuth struct {
	// UsernameFile holds the HTTP basic-auth user name. A path. Default "".
	UsernameFile string `yaml:"usernameFile"`
	// PasswordFile holds the HTTP basic-auth password or token. A path.
	// Default "".
	PasswordFile string `yaml:"passwordFile"`
	// SSHKeyFile holds a private SSH key. A path. Default "".
	SSHKeyFile string `yaml:"sshKeyFile"`
}

// Etcd says which etcd the hub uses.
type Etcd struct {
	// Endpoints are the etcd client URLs (http://host:port, https://...,
	// host:port or unix:///path). Default empty: the hub starts an embedded
	// etcd in DataDir. Without serverCertFile that etcd serves only a unix
	// socket, DataDir/etcd/client.sock, to processes of the hub's user on
	// this machine (development); with it, mutual TLS on Listen.
	Endpoints []string `yaml:"endpoints"`
	// DialTimeout bounds connecting to etcd. A Go duration. Default 5s.
	DialTimeout time.Duration `yaml:"dialTimeout"`
	// MaxTxnOps is how many operations the hub packs into one transaction
	// of an external etcd: at most the cluster's --max-txn-ops. Default
	// 128, etcd's own default; at most 10,000. Without endpoints the
	// embedded etcd's limit (1,024) is used and this field is ignored.
	MaxTxnOps int `yaml:"maxTxnOps"`
	// CAFile, CertFile and KeyFile, when set, make the hub talk to etcd with
	// mutual TLS (PEM files; `cellsync certs` makes a development set).
	// Default empty: plain text.
	CAFile   string `yaml:"caFile"`
	CertFile string `yaml:"certFile"`
	KeyFile  string `yaml:"keyFile"`
	// ServerCertFile and ServerKeyFile make the embedded etcd serve TLS and
	// require client certificates signed by CAFile. Only without endpoints.
	ServerCertFile string `yaml:"serverCertFile"`
	ServerKeyFile  string `yaml:"serverKeyFile"`
	// Listen is where the embedded etcd serves its clients with TLS:
	// host:port, e.g. ":2379" for cells on other machines. Only with
	// serverCertFile. Default "": 127.0.0.1 on a free port.
	Listen string `yaml:"listen"`
}

// Listen holds listen addresses, host:port as for net.Listen; an empty
// address disables that listener.
type Listen struct {
	// Metrics serves /metrics and /status. Default "127.0.0.1:9090":
	// this machine only; set ":9090" (or an interface's address) to let
	// other machines read them.
	Metrics string `yaml:"metrics"`
	// Webhook receives Git push webhooks, signed (Git.WebhookSecretFile);
	// it is opened only with a secret. Default ":9091": every interface,
	// as the Git server calls it from elsewhere.
	Webhook string `yaml:"webhook"`
}

// MaxTxnOps is the largest Etcd.MaxTxnOps accepted.
const MaxTxnOps = 10000

// Default returns the default configuration. Its Git.URL is empty, so it
// does not validate until one is set.
func Default() Hub {
	return Hub{
		Git: Git{
			Branch:             "main",
			Path:               ".",
			PollInterval:       30 * time.Second,
			MassDeleteFraction: 0.5,
		},
		Etcd:           Etcd{DialTimeout: 5 * time.Second, MaxTxnOps: 128},
		DataDir:        "./cellsync-data",
		Workers:        DefaultWorkers(),
		ResyncInterval: 10 * time.Minute,
		Listen:         Listen{Metrics: "127.0.0.1:9090", Webhook: ":9091"},
	}
}

// Load reads the config file at path over Default and validates the result.
// Errors name the file, the line where known, and the field; validation
// errors are *FieldError values, joined (use errors.As).
func Load(path string) (Hub, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Hub{}, fmt.Errorf("read config: %w", err)
	}
	return load(path, data)
}

// Read reads the config file at path over Default without validating, for a
// caller that overlays flags before calling Validate itself.
func Read(path string) (File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return File{}, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data)
}

// File is a configuration read from a file, remembering where each field was
// set so that Validate's errors can be given a line by Locate.
type File struct {
	// Hub is the configuration read, not yet validated.
	Hub
	lines map[string]int // yaml field path → line
}

// Locate adds the file name and line of each field to the *FieldError values
// in err (as returned by Validate), for fields set in the file.
func (f File) Locate(err error, path string) error { return locate(err, path, f.lines) }

// Parse decodes data, the content of the config file named name, over
// Default. Unknown fields, wrong types and several YAML documents are errors
// naming the line.
func Parse(name string, data []byte) (File, error) {
	h := Default()
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return File{}, fmt.Errorf("config %s: %s", name, yamlMessage(err))
	}
	if len(root.Content) == 0 {
		return File{Hub: h, lines: map[string]int{}}, nil // empty file: defaults
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&h); err != nil {
		return File{}, fmt.Errorf("config %s: %s", name, yamlMessage(err))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return File{}, fmt.Errorf("config %s: more than one YAML document", name)
	}
	lines := make(map[string]int)
	collectLines(&root, "", lines)
	return File{Hub: h, lines: lines}, nil
}

// yamlMessage flattens a YAML error into one line per problem.
func yamlMessage(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return strings.Join(te.Errors, "; ")
	}
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

// collectLines records the line of every mapping key under its dotted path.
func collectLines(n *yaml.Node, prefix string, lines map[string]int) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			collectLines(c, prefix, lines)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := n.Content[i].Value
			if prefix != "" {
				p = prefix + "." + p
			}
			lines[p] = n.Content[i].Line
			collectLines(n.Content[i+1], p, lines)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", prefix, i)
			lines[p] = c.Line
			collectLines(c, p, lines)
		}
	}
}

// locate fills File and Line of the *FieldError values in err.
func locate(err error, file string, lines map[string]int) error {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	out := make([]error, 0, len(errs))
	for _, e := range errs {
		var fe *FieldError
		if errors.As(e, &fe) {
			c := *fe
			c.File = file
			c.Line = lines[fe.Field]
			e = &c
		}
		out = append(out, e)
	}
	return errors.Join(out...)
}

// Changed returns the dotted YAML paths (e.g. "workers.apply") of the fields
// that differ between old and new, in declaration order; the hub logs them
// and applies those it can apply live.
func Changed(old, new Hub) []string {
	var out []string
	diff(reflect.ValueOf(old), reflect.ValueOf(new), "", &out)
	return out
}

func diff(a, b reflect.Value, prefix string, out *[]string) {
	t := a.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == "" || tag == "-" {
			continue
		}
		p := tag
		if prefix != "" {
			p = prefix + "." + tag
		}
		av, bv := a.Field(i), b.Field(i)
		if f.Type.Kind() == reflect.Struct {
			diff(av, bv, p, out)
			continue
		}
		if !reflect.DeepEqual(av.Interface(), bv.Interface()) {
			*out = append(*out, p)
		}
	}
}
