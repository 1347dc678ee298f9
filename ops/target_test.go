package ops

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestResolve(t *testing.T) {
	dir := t.TempDir()
	upDir := filepath.Join(dir, "up")
	if err := os.MkdirAll(upDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WriteUpFile(upDir, Target{Hub: "http://127.0.0.1:4242", Etcd: []string{"http://127.0.0.1:2379"}}); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "hub.yaml")
	if err := os.WriteFile(cfg, []byte("git: {url: file:///srv/w}\netcd: {endpoints: [http://10.0.0.5:2379]}\nlisten: {metrics: \":9191\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	tests := []struct {
		name    string
		in      Lookup
		want    Target
		wantErr bool
	}{
		{name: "flags win", in: Lookup{Hub: "10.0.0.1:9090", Getenv: env(map[string]string{EnvHub: "http://other:1"})},
			want: Target{Hub: "http://10.0.0.1:9090"}},
		{name: "etcd flag only", in: Lookup{Etcd: []string{"http://e:2379"}}, want: Target{Etcd: []string{"http://e:2379"}}},
		{name: "environment", in: Lookup{Getenv: env(map[string]string{EnvEtcd: "http://a:2379, http://b:2379", EnvHub: ":9090"})},
			want: Target{Hub: "http://localhost:9090", Etcd: []string{"http://a:2379", "http://b:2379"}}},
		{name: "config file from env", in: Lookup{Getenv: env(map[string]string{EnvConfig: cfg})},
			want: Target{Hub: "http://localhost:9191", Etcd: []string{"http://10.0.0.5:2379"}}},
		{name: "missing config file", in: Lookup{ConfigPath: filepath.Join(dir, "nope.yaml")}, wantErr: true},
		{name: "up file", in: Lookup{DataDir: upDir}, want: Target{Hub: "http://127.0.0.1:4242", Etcd: []string{"http://127.0.0.1:2379"}}},
		{name: "default", in: Lookup{DataDir: filepath.Join(dir, "empty")}, want: Target{Hub: DefaultHub}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Resolve(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if got.From == "" {
				t.Error("From is empty")
			}
			got.From = ""
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestHubURL(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"port only", ":9090", "http://localhost:9090"},
		{"any address", "0.0.0.0:9090", "http://localhost:9090"},
		{"host and port", "10.0.0.1:9090", "http://10.0.0.1:9090"},
		{"url with slash", "https://hub.example/", "https://hub.example"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := hubURL(tt.in); got != tt.want {
				t.Errorf("hubURL(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
