package router_test

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cellsync/cellsync/store/storetest"
)

var throughput = flag.Bool("throughput", false, "run TestThroughputAgainstNginx (about a minute; needs nginx and wrk)")

// TestThroughputAgainstNginx compares the router (the cellsync binary, in
// its own process) with Debian's nginx proxying the same three backends
// (an nginx of their own), under the same load generator (wrk), rounds
// interleaved; direct-to-backend is the ceiling. A second anchor is Go's
// net/http serving a constant answer with no proxying at all: the most
// any net/http-based proxy can do on this machine. It only measures and
// logs; the figures go to docs/performance.md.
//
//	go test ./router -run TestThroughputAgainstNginx -throughput -v
func TestThroughputAgainstNginx(t *testing.T) {
	if !*throughput {
		t.Skip("pass -throughput to run")
	}
	for _, bin := range []string{"nginx", "wrk"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s is not installed (apt-get install -y nginx wrk)", bin)
		}
	}
	dir := t.TempDir()
	ports := freePorts(t, 6)
	backends := ports[:3]
	nginxPort, routerPort, goPort := ports[3], ports[4], ports[5]

	// Three backends, one nginx process of their own, each answering its
	// letter.
	var servers strings.Builder
	for i, p := range backends {
		fmt.Fprintf(&servers, "server { listen 127.0.0.1:%d; keepalive_requests 100000; location / { return 200 \"%c\\n\"; } }\n", p, 'a'+i)
	}
	startNginx(t, dir, "backends", 1, servers.String())
	var upstream strings.Builder
	for _, p := range backends {
		fmt.Fprintf(&upstream, "server 127.0.0.1:%d;\n", p)
	}
	startNginx(t, dir, "proxy", 2, fmt.Sprintf(`upstream app { %s keepalive 256; }
server { listen 127.0.0.1:%d; keepalive_requests 100000;
  location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $host; } }
`, upstream.String(), nginxPort))

	st, srv := storetest.New(t)
	f := &fixture{t: t, st: st}
	for i, p := range backends {
		f.instance("c1", "bench", int32(i), "bench.example", fmt.Sprintf("127.0.0.1:%d", p))
	}
	bin := filepath.Join(dir, "cellsync")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/cellsync").CombinedOutput(); err != nil {
		t.Fatalf("build cellsync: %v\n%s", err, out)
	}
	router := exec.Command(bin, "router", "--listen", fmt.Sprintf("127.0.0.1:%d", routerPort), "--metrics", "",
		"--etcd-endpoints", strings.Join(srv.Endpoints(), ","), "--log-level", "warn")
	router.Stderr = os.Stderr
	if err := router.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { router.Process.Kill(); router.Wait() })

	// The net/http anchor, in a process of its own.
	goDir := filepath.Join(dir, "gohttp")
	os.MkdirAll(goDir, 0o755)
	os.WriteFile(filepath.Join(goDir, "go.mod"), []byte("module gohttp\ngo 1.24\n"), 0o644)
	os.WriteFile(filepath.Join(goDir, "main.go"), []byte(`package main

import (
	"io"
	"net/http"
	"os"
)

func main() {
	http.ListenAndServe(os.Args[1], http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "a\n") }))
}
`), 0o644)
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "gohttp-bin"), ".")
	build.Dir = goDir
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the net/http anchor: %v\n%s", err, out)
	}
	gohttp := exec.Command(filepath.Join(dir, "gohttp-bin"), fmt.Sprintf("127.0.0.1:%d", goPort))
	if err := gohttp.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gohttp.Process.Kill(); gohttp.Wait() })

	targets := []struct{ name, url string }{
		{"direct (one backend)", fmt.Sprintf("http://127.0.0.1:%d/", backends[0])},
		{"Go net/http, no proxy", fmt.Sprintf("http://127.0.0.1:%d/", goPort)},
		{"nginx", fmt.Sprintf("http://127.0.0.1:%d/", nginxPort)},
		{"cellsync router", fmt.Sprintf("http://127.0.0.1:%d/", routerPort)},
	}
	for _, tg := range targets {
		waitOK(t, tg.url)
	}
	const rounds = 3
	rps := map[string][]float64{}
	p99 := map[string][]float64{}
	for round := range rounds {
		for _, tg := range targets {
			r, l := wrk(t, tg.url)
			t.Logf("round %d %-22s %8.0f req/s  p99 %6.2f ms", round+1, tg.name, r, l)
			rps[tg.name] = append(rps[tg.name], r)
			p99[tg.name] = append(p99[tg.name], l)
		}
	}
	load, _ := os.ReadFile("/proc/loadavg")
	t.Logf("medians of %d rounds (wrk -t2 -c64 -d5s), load average %s", rounds, strings.TrimSpace(string(load)))
	for _, tg := range targets {
		t.Logf("%-22s %8.0f req/s  p99 %6.2f ms", tg.name, median(rps[tg.name]), median(p99[tg.name]))
	}
	t.Logf("router / nginx = %.2f; router / net/http without proxying = %.2f",
		median(rps["cellsync router"])/median(rps["nginx"]), median(rps["cellsync router"])/median(rps["Go net/http, no proxy"]))
}

func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ls []net.Listener
	var out []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return out
}

// startNginx runs an nginx in the foreground with workers processes and
// the given http block body, until the test ends.
func startNginx(t *testing.T, dir, name string, workers int, httpBody string) {
	t.Helper()
	prefix := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Join(prefix, "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`daemon off; master_process on; worker_processes %d; pid %s/nginx.pid; error_log %s/logs/error.log warn;
events { worker_connections 4096; }
http { access_log off; client_body_temp_path %s; proxy_temp_path %s; fastcgi_temp_path %s; uwsgi_temp_path %s; scgi_temp_path %s;
%s }
`, workers, prefix, prefix, prefix, prefix, prefix, prefix, prefix, httpBody)
	path := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("nginx", "-p", prefix, "-c", path)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() })
}

func waitOK(t *testing.T, url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		req.Host = "bench.example"
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s never answered 200: %v", url, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

var (
	wrkRPS     = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkP99     = regexp.MustCompile(`\s99%\s+([0-9.]+)(us|ms|s)`)
	wrkNon2xx  = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	wrkSockErr = regexp.MustCompile(`Socket errors: (.*)`)
)

// wrk loads url for 5 s and returns requests/s and the p99 latency in ms;
// it fails the test on any error response.
func wrk(t *testing.T, url string) (rps, p99ms float64) {
	t.Helper()
	out, err := exec.Command("wrk", "-t2", "-c64", "-d5s", "--latency", "-H", "Host: bench.example", url).CombinedOutput()
	if err != nil {
		t.Fatalf("wrk: %v\n%s", err, out)
	}
	s := string(out)
	if m := wrkNon2xx.FindStringSubmatch(s); m != nil {
		t.Fatalf("%s: %s error responses\n%s", url, m[1], s)
	}
	if m := wrkSockErr.FindStringSubmatch(s); m != nil {
		t.Logf("%s: socket errors: %s", url, m[1])
	}
	m := wrkRPS.FindStringSubmatch(s)
	l := wrkP99.FindStringSubmatch(s)
	if m == nil || l == nil {
		t.Fatalf("cannot read wrk's output:\n%s", s)
	}
	rps, _ = strconv.ParseFloat(m[1], 64)
	p99ms, _ = strconv.ParseFloat(l[1], 64)
	switch l[2] {
	case "us":
		p99ms /= 1000
	case "s":
		p99ms *= 1000
	}
	return rps, p99ms
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
