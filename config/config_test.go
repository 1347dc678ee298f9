package config

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	yaml "sigs.k8s.io/yaml/goyaml.v3"
)

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "hub.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// valid returns Default with a repository URL: the smallest valid config.
func valid() Hub {
	h := Default()
	h.Git.URL = "file:///srv/workloads"
	return h
}

func TestLoadCompleteFile(t *testing.T) {
	got, err := Load("testdata/hub.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := Hub{
		Git: Git{
			URL:               "https://git.example/platform/workloads.git",
			Branch:            "release",
			Path:              "clusters/prod",
			PollInterval:      time.Minute,
			WebhookSecretFile: "/etc/cellsync/webhook-secret",
			Auth: GitAuth{
				UsernameFile: "/etc/cellsync/git-user",
				PasswordFile: "/etc/cellsync/git-token",
			},
			MassDeleteFraction: 0.25,
		},
		Etcd:           Etcd{Endpoints: []string{"http://10.0.0.1:2379", "10.0.0.2:2379"}, DialTimeout: 3 * time.Second, MaxTxnOps: 256},
		DataDir:        "/var/lib/cellsync",
		Workers:        Workers{Fanout: 16, Apply: 64, Convergence: 4},
		ResyncInterval: 15 * time.Minute,
		Listen:         Listen{Metrics: "127.0.0.1:9100", Webhook: ":8443"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load =\n%+v\nwant\n%+v", got, want)
	}
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		want    func(*Hub) // applied to valid() to get the expected config
		wantErr []string   // substrings of the error, all required
	}{
		{
			name: "only the url: defaults for the rest",
			file: "git: {url: file:///srv/workloads}\n",
			want: func(*Hub) {},
		},
		{
			name: "partial workers keep the other defaults",
			file: "git: {url: file:///srv/workloads}\nworkers: {apply: 100}\n",
			want: func(h *Hub) { h.Workers.Apply = 100 },
		},
		{
			name: "empty strings take defaults",
			file: "git: {url: file:///srv/workloads, branch: \"\", path: \"\"}\ndataDir: \"\"\n",
			want: func(*Hub) {},
		},
		{
			name: "scp-like url with ssh key",
			file: "git: {url: 'git@git.example:org/w.git', auth: {sshKeyFile: /k}}\n",
			want: func(h *Hub) { h.Git.URL = "git@git.example:org/w.git"; h.Git.Auth.SSHKeyFile = "/k" },
		},
		{
			name: "listeners disabled",
			file: "git: {url: file:///srv/workloads}\nlisten: {metrics: \"\", webhook: \"\"}\n",
			want: func(h *Hub) { h.Listen = Listen{} },
		},
		{
			name:    "unknown field names its line",
			file:    "git: {url: file:///srv/workloads}\nworkers:\n  fanout: 8\n  aply: 3\n",
			wantErr: []string{"hub.yaml", "line 4", "aply"},
		},
		{
			name:    "integer duration rejected",
			file:    "git: {url: file:///srv/workloads}\nresyncInterval: 600\n",
			wantErr: []string{"line 2", "time.Duration"},
		},
		{
			name:    "bad duration string",
			file:    "git: {url: file:///srv/workloads}\nresyncInterval: ten minutes\n",
			wantErr: []string{"line 2"},
		},
		{
			name:    "syntax error",
			file:    "git: {url: [\n",
			wantErr: []string{"hub.yaml"},
		},
		{
			name:    "two documents",
			file:    "git: {url: file:///a}\n---\ngit: {url: file:///b}\n",
			wantErr: []string{"more than one YAML document"},
		},
		{
			name:    "validation error names file, line and field",
			file:    "git: {url: file:///srv/workloads}\n\nworkers:\n  apply: 0\n",
			wantErr: []string{"hub.yaml:4: workers.apply: must be between 1 and 1024, got 0"},
		},
		{
			name:    "missing url has no line",
			file:    "dataDir: /d\n",
			wantErr: []string{"hub.yaml: git.url: is required"},
		},
		{
			name:    "every problem reported",
			file:    "git: {url: file:///srv/workloads, pollInterval: 0s}\nworkers: {fanout: 2000, convergence: -1}\n",
			wantErr: []string{"git.pollInterval", "workers.fanout", "workers.convergence"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Load(writeFile(t, tt.file))
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("Load succeeded with %+v, want an error containing %q", got, tt.wantErr)
				}
				for _, s := range tt.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not contain %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := valid()
			tt.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Load =\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load of a missing file = %v, want os.ErrNotExist", err)
	}
}

func TestLoadEmptyFileNeedsURL(t *testing.T) {
	_, err := Load(writeFile(t, "# nothing\n"))
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "git.url" {
		t.Errorf("Load of an empty file = %v, want a FieldError for git.url", err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name      string
		edit      func(*Hub)
		wantField string // "" means valid
	}{
		{name: "default with url", edit: func(*Hub) {}},
		{name: "http url", edit: func(h *Hub) { h.Git.URL = "https://git.example/x.git" }},
		{name: "ssh url", edit: func(h *Hub) { h.Git.URL = "ssh://git@git.example/x.git" }},
		{name: "no url", edit: func(h *Hub) { h.Git.URL = "" }, wantField: "git.url"},
		{name: "unknown scheme", edit: func(h *Hub) { h.Git.URL = "ftp://x/y" }, wantField: "git.url"},
		{name: "unparseable url", edit: func(h *Hub) { h.Git.URL = "http://[::1" }, wantField: "git.url"},
		{name: "http url without host", edit: func(h *Hub) { h.Git.URL = "https:///x" }, wantField: "git.url"},
		{name: "bad branch", edit: func(h *Hub) { h.Git.Branch = "-rf" }, wantField: "git.branch"},
		{name: "absolute path", edit: func(h *Hub) { h.Git.Path = "/etc" }, wantField: "git.path"},
		{name: "escaping path", edit: func(h *Hub) { h.Git.Path = "a/../../b" }, wantField: "git.path"},
		{name: "zero poll", edit: func(h *Hub) { h.Git.PollInterval = 0 }, wantField: "git.pollInterval"},
		{name: "fraction zero", edit: func(h *Hub) { h.Git.MassDeleteFraction = 0 }, wantField: "git.massDeleteFraction"},
		{name: "fraction one", edit: func(h *Hub) { h.Git.MassDeleteFraction = 1 }},
		{name: "fraction above one", edit: func(h *Hub) { h.Git.MassDeleteFraction = 1.5 }, wantField: "git.massDeleteFraction"},
		{name: "webhook secret without webhook", edit: func(h *Hub) { h.Git.WebhookSecretFile = "/s"; h.Listen.Webhook = "" }, wantField: "git.webhookSecretFile"},
		{name: "username without password", edit: func(h *Hub) { h.Git.URL = "https://g/x"; h.Git.Auth.UsernameFile = "/u" }, wantField: "git.auth"},
		{name: "basic auth over file url", edit: func(h *Hub) { h.Git.Auth = GitAuth{UsernameFile: "/u", PasswordFile: "/p"} }, wantField: "git.auth"},
		{name: "basic and ssh", edit: func(h *Hub) {
			h.Git.URL = "https://g/x"
			h.Git.Auth = GitAuth{UsernameFile: "/u", PasswordFile: "/p", SSHKeyFile: "/k"}
		}, wantField: "git.auth"},
		{name: "ssh key over https", edit: func(h *Hub) { h.Git.URL = "https://g/x"; h.Git.Auth.SSHKeyFile = "/k" }, wantField: "git.auth.sshKeyFile"},
		{name: "etcd endpoints", edit: func(h *Hub) { h.Etcd.Endpoints = []string{"https://e:2379", "e2:2379", "[::1]:2379"} }},
		{name: "etcd endpoint without port", edit: func(h *Hub) { h.Etcd.Endpoints = []string{"ok:1", "e"} }, wantField: "etcd.endpoints[1]"},
		{name: "etcd endpoint bad scheme", edit: func(h *Hub) { h.Etcd.Endpoints = []string{"unix://e:1"} }, wantField: "etcd.endpoints[0]"},
		{name: "etcd unix socket", edit: func(h *Hub) { h.Etcd.Endpoints = []string{"unix:///var/lib/cellsync/etcd/client.sock"} }},
		{name: "etcd relative unix socket", edit: func(h *Hub) { h.Etcd.Endpoints = []string{"unix://etcd.sock"} }, wantField: "etcd.endpoints[0]"},
		{name: "embedded etcd listening with TLS", edit: func(h *Hub) {
			h.Etcd = Etcd{DialTimeout: time.Second, MaxTxnOps: 128, CAFile: "/ca", CertFile: "/c", KeyFile: "/k", ServerCertFile: "/s", ServerKeyFile: "/sk", Listen: ":2379"}
		}},
		{name: "embedded etcd listening on a host name", edit: func(h *Hub) {
			h.Etcd = Etcd{DialTimeout: time.Second, MaxTxnOps: 128, CAFile: "/ca", CertFile: "/c", KeyFile: "/k", ServerCertFile: "/s", ServerKeyFile: "/sk", Listen: "hub.example:2379"}
		}, wantField: "etcd.listen"},
		{name: "embedded etcd listening without TLS", edit: func(h *Hub) { h.Etcd.Listen = ":2379" }, wantField: "etcd.listen"},
		{name: "embedded etcd bad listen", edit: func(h *Hub) {
			h.Etcd = Etcd{DialTimeout: time.Second, MaxTxnOps: 128, CAFile: "/ca", CertFile: "/c", KeyFile: "/k", ServerCertFile: "/s", ServerKeyFile: "/sk", Listen: "2379"}
		}, wantField: "etcd.listen"},
		{name: "zero dial timeout", edit: func(h *Hub) { h.Etcd.DialTimeout = 0 }, wantField: "etcd.dialTimeout"},
		{name: "workers at max", edit: func(h *Hub) { h.Workers.Apply = MaxWorkers }},
		{name: "workers above max", edit: func(h *Hub) { h.Workers.Apply = MaxWorkers + 1 }, wantField: "workers.apply"},
		{name: "zero fanout", edit: func(h *Hub) { h.Workers.Fanout = 0 }, wantField: "workers.fanout"},
		{name: "negative resync", edit: func(h *Hub) { h.ResyncInterval = -time.Second }, wantField: "resyncInterval"},
		{name: "transaction too small", edit: func(h *Hub) { h.Etcd.MaxTxnOps = 1 }, wantField: "etcd.maxTxnOps"},
		{name: "transaction too large", edit: func(h *Hub) { h.Etcd.MaxTxnOps = 10001 }, wantField: "etcd.maxTxnOps"},
		{name: "bad listen", edit: func(h *Hub) { h.Listen.Metrics = "9090" }, wantField: "listen.metrics"},
		{name: "bad port", edit: func(h *Hub) { h.Listen.Webhook = ":99999" }, wantField: "listen.webhook"},
		{name: "same listen twice", edit: func(h *Hub) { h.Listen.Webhook = h.Listen.Metrics }, wantField: "listen.webhook"},
		{name: "free ports on one host", edit: func(h *Hub) { h.Listen = Listen{Metrics: "127.0.0.1:0", Webhook: "127.0.0.1:0"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := valid()
			tt.edit(&h)
			err := h.Validate()
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Validate = %v, want a *FieldError for %s", err, tt.wantField)
			}
			if fe.Field != tt.wantField {
				t.Errorf("Validate flagged %s (%v), want %s", fe.Field, err, tt.wantField)
			}
			if !strings.Contains(err.Error(), tt.wantField+": ") {
				t.Errorf("message %q does not name the field", err)
			}
		})
	}
}

func TestValidateFillsEmptyStrings(t *testing.T) {
	h := valid()
	h.Git.Branch, h.Git.Path, h.DataDir = "", "", ""
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	if h.Git.Branch != "main" || h.Git.Path != "." || h.DataDir != "./cellsync-data" {
		t.Errorf("defaults not filled: branch=%q path=%q dataDir=%q", h.Git.Branch, h.Git.Path, h.DataDir)
	}
}

func TestReadThenLocate(t *testing.T) {
	// The flags flow: Read, overlay, Validate, Locate.
	f, err := Read(writeFile(t, "git:\n  url: file:///w\nworkers:\n  fanout: 4\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Locate(nil, "hub.yaml"); err != nil {
		t.Errorf("Locate(nil) = %v, want nil", err)
	}
	f.Workers.Fanout = 0 // a bad flag
	err = f.Locate(f.Validate(), "hub.yaml")
	if err == nil || !strings.Contains(err.Error(), "config hub.yaml:4: workers.fanout") {
		t.Errorf("error = %v, want it located at hub.yaml:4", err)
	}
}

func TestParseWorkers(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Workers
		wantErr bool
	}{
		{name: "two pools", in: "fanout=8,apply=32", want: Workers{Fanout: 8, Apply: 32, Convergence: 2}},
		{name: "spaces and order", in: " convergence = 5 , fanout=1", want: Workers{Fanout: 1, Apply: 32, Convergence: 5}},
		{name: "empty keeps defaults", in: "", want: DefaultWorkers()},
		{name: "unknown pool", in: "fanin=3", wantErr: true},
		{name: "not a number", in: "apply=many", wantErr: true},
		{name: "zero", in: "apply=0", wantErr: true},
		{name: "too many", in: "apply=1025", wantErr: true},
		{name: "no equals", in: "apply", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseWorkers(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseWorkers(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if !tt.wantErr && got != tt.want {
				t.Errorf("ParseWorkers(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
	// As a flag value: String round-trips and a bad Set leaves it unchanged.
	w := Workers{Fanout: 3, Apply: 4, Convergence: 5}
	var back Workers
	if err := back.Set(w.String()); err != nil || back != w {
		t.Errorf("Set(String()) = %+v, %v; want %+v", back, err, w)
	}
	if err := w.Set("fanout=9,bogus=1"); err == nil || w.Fanout != 3 {
		t.Errorf("bad Set: err=%v fanout=%d, want an error and no change", err, w.Fanout)
	}
}

func TestChanged(t *testing.T) {
	a := valid()
	tests := []struct {
		name string
		edit func(*Hub)
		want []string
	}{
		{name: "same", edit: func(*Hub) {}, want: nil},
		{name: "workers", edit: func(h *Hub) { h.Workers.Apply = 1; h.Workers.Convergence = 9 }, want: []string{"workers.apply", "workers.convergence"}},
		{name: "nested and slice", edit: func(h *Hub) { h.Git.Auth.SSHKeyFile = "/k"; h.Etcd.Endpoints = []string{"e:1"} }, want: []string{"git.auth.sshKeyFile", "etcd.endpoints"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := valid()
			tt.edit(&b)
			if got := Changed(a, b); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Changed = %v, want %v", got, tt.want)
			}
		})
	}
}

// FuzzParse checks that Parse and Validate never panic, and that a valid
// config survives a marshal/parse round trip.
func FuzzParse(f *testing.F) {
	seed, err := os.ReadFile("testdata/hub.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte("git: {url: file:///w}\nworkers: {apply: 3}\n"))
	f.Add([]byte("workers: [1, 2]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse("fuzz.yaml", data)
		if err != nil {
			return
		}
		h := file.Hub
		if err := h.Validate(); err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Validate error %v has no FieldError", err)
			}
			return
		}
		out, err := yaml.Marshal(h)
		if err != nil {
			t.Fatalf("marshal a valid config: %v", err)
		}
		again, err := Parse("again.yaml", out)
		if err != nil {
			t.Fatalf("re-parse of\n%s: %v", out, err)
		}
		if err := again.Validate(); err != nil {
			t.Fatalf("re-validate of\n%s: %v", out, err)
		}
		if c := Changed(h, again.Hub); len(c) != 0 && !(len(c) == 1 && c[0] == "etcd.endpoints" && len(h.Etcd.Endpoints) == 0) {
			t.Fatalf("round trip changed %v:\n%s", c, out)
		}
	})
}

// TestStatusAndMetricsLoopbackByDefault: /status and /metrics are served to
// this machine only unless the file says otherwise (issue 15.8).
func TestStatusAndMetricsLoopbackByDefault(t *testing.T) {
	host, _, err := net.SplitHostPort(Default().Listen.Metrics)
	if err != nil {
		t.Fatal(err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		t.Errorf("default listen.metrics %q is not a loopback address", Default().Listen.Metrics)
	}
}
