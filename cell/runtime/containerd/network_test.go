package containerd_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cellsync/cellsync/cell"
	"github.com/cellsync/cellsync/model"
)

// Busybox's wget crashes with -T; the tests bound it with timeout.

// webCmd serves body on container port 8080 with busybox httpd.
func webCmd(body string) []string {
	return []string{"sh", "-c", fmt.Sprintf("mkdir -p /www && echo %s > /www/index.html && exec httpd -f -p 8080 -h /www", body)}
}

// get returns the body of GET url, or an error.
func get(url string) (string, error) {
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b)), err
}

func TestBridgeNetworkOnContainerd(t *testing.T) {
	rt, n := newNetRuntime(t)
	ctx := context.Background()
	start := func(id, body string, hostPort int) {
		t.Helper()
		err := rt.Start(ctx, cell.ContainerSpec{
			ID: id, Image: image, Command: webCmd(body), Network: model.NetworkBridge,
			Ports: []cell.PortMapping{{Name: "http", ContainerPort: 8080, HostPort: hostPort}},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = rt.Stop(context.Background(), id) })
	}
	// Both listen on container port 8080: each has its own namespace.
	start("br-a", "A", n.FirstPort)
	start("br-b", "B", n.FirstPort+1)

	addrA, errA := rt.Address(ctx, "br-a")
	addrB, errB := rt.Address(ctx, "br-b")
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	if addrA == addrB || !n.Bridge.Subnet.Contains(addrA) || !n.Bridge.Subnet.Contains(addrB) {
		t.Fatalf("addresses %s and %s: want two different ones in %s", addrA, addrB, n.Bridge.Subnet)
	}
	for url, want := range map[string]string{
		fmt.Sprintf("http://127.0.0.1:%d/", n.FirstPort):           "A",
		fmt.Sprintf("http://127.0.0.1:%d/", n.FirstPort+1):         "B",
		fmt.Sprintf("http://%s/", netip.AddrPortFrom(addrA, 8080)): "A",
	} {
		var got string
		eventually(t, "GET "+url, 30*time.Second, func() bool {
			got, _ = get(url)
			return got == want
		})
	}
	if err := rt.CheckHTTP(ctx, "br-a", 8080, "/index.html"); err != nil {
		t.Fatalf("http check: %v", err)
	}
	if err := rt.CheckHTTP(ctx, "br-a", 8080, "/nope"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("http check of a missing page = %v, want a 404 failure", err)
	}
	if err := rt.CheckPort(ctx, "br-b", 8080); err != nil {
		t.Fatalf("tcp check: %v", err)
	}
	if err := rt.CheckPort(ctx, "br-b", 8081); err == nil {
		t.Fatal("tcp check of a closed port passed")
	}

	t.Run("containers reach each other", func(t *testing.T) {
		code, err := rt.Exec(ctx, "br-a", []string{"busybox", "timeout", "5", "wget", "-q", "-O", "/dev/null", fmt.Sprintf("http://%s/", netip.AddrPortFrom(addrB, 8080))})
		if err != nil || code != 0 {
			t.Fatalf("wget from A to B: status %d, %v", code, err)
		}
	})
	t.Run("containers do not reach the host's services", func(t *testing.T) {
		// A service on every host address, loopback included: the bridge's
		// own address (the containers' gateway) is one of them.
		l, err := net.Listen("tcp4", "0.0.0.0:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "host secret") })}
		go srv.Serve(l)
		defer srv.Close()
		port := l.Addr().(*net.TCPAddr).Port
		gw := n.Bridge.Subnet.Addr().Next()
		if got, err := get(fmt.Sprintf("http://%s/", netip.AddrPortFrom(gw, uint16(port)))); err != nil || got != "host secret" {
			t.Fatalf("the host itself cannot reach its service on %s: %q %v", gw, got, err)
		}
		for _, target := range []string{netip.AddrPortFrom(gw, uint16(port)).String(), fmt.Sprintf("127.0.0.1:%d", port)} {
			code, err := rt.Exec(ctx, "br-a", []string{"busybox", "timeout", "2", "wget", "-q", "-O", "/dev/null", "http://" + target + "/"})
			if err != nil {
				t.Fatal(err)
			}
			if code == 0 {
				t.Fatalf("a bridge container reached the host's service at %s", target)
			}
		}
	})
	t.Run("stop removes the network", func(t *testing.T) {
		if err := rt.Stop(ctx, "br-a"); err != nil {
			t.Fatal(err)
		}
		if _, err := rt.Address(ctx, "br-a"); err == nil {
			t.Fatal("address of a stopped container")
		}
		if _, err := get(fmt.Sprintf("http://127.0.0.1:%d/", n.FirstPort)); err == nil {
			t.Fatal("the host port still answers after Stop")
		}
		ents, _ := filepath.Glob(filepath.Join(rt.Bridge().Dir, "netns", "br-*"))
		if strings.Join(ents, " ") != strings.Join([]string{filepath.Join(rt.Bridge().Dir, "netns", "br-b"), filepath.Join(rt.Bridge().Dir, "netns", "br-b.ports")}, " ") {
			t.Fatalf("pinned namespaces after stopping br-a: %v, want br-b's only", ents)
		}
		// portmap's rules for br-a are gone, br-b's are there.
		out, err := exec.Command("iptables", "-w", "-t", "nat", "-S", "CNI-HOSTPORT-DNAT").CombinedOutput()
		if err != nil {
			t.Fatalf("iptables: %v\n%s", err, out)
		}
		mark := func(id string) string { return fmt.Sprintf(`dnat name: \"cellsync-%s\" id: \"%s\"`, n.Bridge.Name, id) }
		if strings.Contains(string(out), mark("br-a")) || !strings.Contains(string(out), mark("br-b")) {
			t.Fatalf("port mappings after stopping br-a:\n%s", out)
		}
		if _, err := os.Stat(filepath.Join(rt.Bridge().Dir, "cni", "ipam", "cellsync-"+n.Bridge.Name, addrA.String())); !os.IsNotExist(err) {
			t.Fatalf("address %s still allocated: %v", addrA, err)
		}
	})
}
