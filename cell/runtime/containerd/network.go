package containerd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	containerd "github.com/containerd/containerd"
	gocni "github.com/containerd/go-cni"
	"golang.org/x/sys/unix"

	"github.com/cellsync/cellsync/cell"
	"github.com/cellsync/cellsync/model"
)

// Defaults of BridgeConfig.
const (
	// DefaultBridge is the Linux bridge cellsync's containers attach to.
	DefaultBridge = "cellsync0"
	// DefaultSubnet is the bridge's IPv4 subnet; the bridge takes its
	// first address, containers the rest.
	DefaultSubnet = "10.88.0.0/16"
)

// DefaultPluginDirs are where the CNI plugins are looked for: Debian's
// containernetworking-plugins, then the upstream location.
var DefaultPluginDirs = []string{"/usr/lib/cni", "/opt/cni/bin"}

// labelAddress records a bridge container's own IP address.
const labelAddress = "cellsync.io/address"

// BridgeConfig is the cell's bridge network, used by containers with
// network bridge. Each cell on a machine needs its own bridge name and
// subnet.
type BridgeConfig struct {
	// Name is the bridge interface, at most 15 characters; default
	// cellsync0.
	Name string
	// Subnet is the bridge's IPv4 subnet; default 10.88.0.0/16.
	Subnet netip.Prefix
	// PluginDirs are searched for the bridge, host-local, portmap and
	// loopback plugins; default DefaultPluginDirs.
	PluginDirs []string
	// Dir holds the pinned network namespaces (netns/), their port
	// mappings and the address records (cni/); required to start a bridge
	// container, and the same across agent restarts.
	Dir string
}

func (b *BridgeConfig) validate() error {
	if b.Name == "" {
		b.Name = DefaultBridge
	}
	if len(b.Name) > 15 || strings.ContainsAny(b.Name, "/ \t\n:") {
		return fmt.Errorf("bridge name %q: at most 15 characters, no '/', ':' or spaces", b.Name)
	}
	if !b.Subnet.IsValid() {
		b.Subnet = netip.MustParsePrefix(DefaultSubnet)
	}
	if !b.Subnet.Addr().Is4() || b.Subnet.Bits() > 29 {
		return fmt.Errorf("bridge subnet %s: need an IPv4 subnet of at least /29", b.Subnet)
	}
	b.Subnet = b.Subnet.Masked()
	if len(b.PluginDirs) == 0 {
		b.PluginDirs = DefaultPluginDirs
	}
	return nil
}

// network is the bridge network of one Runtime: the CNI configuration,
// loaded on first use, and the pinned network namespaces of its
// containers under <Dir>/netns.
type network struct {
	cfg   BridgeConfig
	dir   string // cfg.Dir
	mu    sync.Mutex
	cni   gocni.CNI // nil until the first bridge container
	check *http.Client
}

// cniCalls serializes every go-cni call in the process, across runtimes
// (`cellsync up` runs one per cell). The plugins serialize anyway
// (host-local's lock file, iptables' lock), and go-cni's race builds swap
// its RWMutex for go-deadlock's, which sees every goroutine as one and
// exits the process when two go-cni locks are held at once.
var cniCalls sync.Mutex

func newNetwork(cfg BridgeConfig) *network {
	return &network{
		cfg: cfg, dir: cfg.Dir,
		// Health checks open a fresh connection every time: a kept-alive
		// one would pass after the server stopped accepting.
		check: &http.Client{
			Transport:     &http.Transport{DisableKeepAlives: true, Proxy: nil},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

func (n *network) name() string { return "cellsync-" + n.cfg.Name }

// chain is the iptables chain that keeps the bridge's containers from the
// host's own services; at most 28 characters (12 + 15).
func (n *network) chain() string { return "CELLSYNC-IN-" + n.cfg.Name }

func (n *network) nsPath(id string) string { return filepath.Join(n.dir, "netns", id) }

// conflist is the CNI network: a bridge with host-local addresses and
// masquerading for outbound traffic, and portmap for host ports.
func (n *network) conflist() ([]byte, error) {
	type obj = map[string]any
	conf := obj{
		"cniVersion": "1.0.0",
		"name":       n.name(),
		"plugins": []obj{
			{
				"type": "bridge", "bridge": n.cfg.Name,
				"isGateway": true, "ipMasq": true, "hairpinMode": true,
				"ipam": obj{
					"type":    "host-local",
					"ranges":  [][]obj{{{"subnet": n.cfg.Subnet.String()}}},
					"routes":  []obj{{"dst": "0.0.0.0/0"}},
					"dataDir": filepath.Join(n.dir, "cni", "ipam"),
				},
			},
			{"type": "portmap", "capabilities": obj{"portMappings": true}, "snat": true},
		},
	}
	return json.Marshal(conf)
}

// load builds the CNI configuration and fences the bridge off from the
// host, once; a failure is retried on the next bridge container.
func (n *network) load(ctx context.Context) (gocni.CNI, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cni != nil {
		return n.cni, nil
	}
	if n.dir == "" {
		return nil, fmt.Errorf("bridge network %s: no directory for its state (BridgeConfig.Dir)", n.cfg.Name)
	}
	for _, plugin := range []string{"bridge", "host-local", "portmap", "loopback"} {
		if !n.hasPlugin(plugin) {
			return nil, fmt.Errorf("CNI plugin %s not found in %s (apt-get install -y containernetworking-plugins)", plugin, strings.Join(n.cfg.PluginDirs, ", "))
		}
	}
	list, err := n.conflist()
	if err != nil {
		return nil, fmt.Errorf("CNI config: %w", err)
	}
	c, err := gocni.New(gocni.WithPluginDir(n.cfg.PluginDirs), gocni.WithMinNetworkCount(2), gocni.WithInterfacePrefix("eth"))
	if err != nil {
		return nil, fmt.Errorf("CNI: %w", err)
	}
	cniCalls.Lock()
	err = c.Load(gocni.WithLoNetwork, gocni.WithConfListBytes(list))
	cniCalls.Unlock()
	if err != nil {
		return nil, fmt.Errorf("CNI config: %w", err)
	}
	if err := n.fence(ctx); err != nil {
		return nil, err
	}
	n.cni = c
	return c, nil
}

func (n *network) hasPlugin(name string) bool {
	for _, d := range n.cfg.PluginDirs {
		if fi, err := os.Stat(filepath.Join(d, name)); err == nil && !fi.IsDir() {
			return true
		}
	}
	return false
}

// fence makes the host's own addresses unreachable from the bridge:
// packets that enter the host from it are dropped unless they answer a
// connection the host opened (health checks, the router). portmap sets
// route_localnet on the bridge so that 127.0.0.1:<host port> reaches
// containers; without this chain a container could also reach the host's
// loopback services (etcd on the hub's machine) through it. Traffic to
// other containers and to host ports is forwarded, not delivered to the
// host, and is not affected.
func (n *network) fence(ctx context.Context) error {
	chain := n.chain()
	for _, ipt := range []string{"iptables", "ip6tables"} {
		if _, err := exec.LookPath(ipt); err != nil {
			if ipt == "ip6tables" {
				continue // the bridge has no IPv6 addresses to fence
			}
			return fmt.Errorf("fence bridge %s: %s not found (apt-get install -y iptables)", n.cfg.Name, ipt)
		}
		_ = run(ctx, ipt, "-w", "-N", chain) // exists already after a restart
		steps := [][]string{
			{"-w", "-F", chain},
			{"-w", "-A", chain, "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "RETURN"},
			{"-w", "-A", chain, "-j", "DROP"},
		}
		for _, s := range steps {
			if err := run(ctx, ipt, s...); err != nil {
				return fmt.Errorf("fence bridge %s: %w", n.cfg.Name, err)
			}
		}
		jump := []string{"INPUT", "-i", n.cfg.Name, "-j", chain}
		if run(ctx, ipt, append([]string{"-w", "-C"}, jump...)...) != nil {
			if err := run(ctx, ipt, append([]string{"-w", "-I"}, jump...)...); err != nil {
				return fmt.Errorf("fence bridge %s: %w", n.cfg.Name, err)
			}
		}
	}
	return nil
}

func run(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// attach pins a created task's network namespace, sets the bridge up in
// it with the spec's port mappings and records the container's address
// as a label. On error nothing is left behind.
func (n *network) attach(ctx context.Context, c containerd.Container, pid uint32, spec cell.ContainerSpec) (err error) {
	cni, err := n.load(ctx)
	if err != nil {
		return err
	}
	path := n.nsPath(spec.ID)
	// The port mappings are kept beside the pin: portmap removes only the
	// mappings its DEL is given.
	ports := portMappings(spec.Ports)
	b, err := json.Marshal(ports)
	if err != nil {
		return fmt.Errorf("network of %s: %w", spec.ID, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("network of %s: %w", spec.ID, err)
	}
	if err := os.WriteFile(path+".ports", b, 0o600); err != nil {
		return fmt.Errorf("network of %s: %w", spec.ID, err)
	}
	if err := pin(pid, path); err != nil {
		os.Remove(path + ".ports")
		return fmt.Errorf("network of %s: %w", spec.ID, err)
	}
	defer func() {
		if err != nil {
			_ = n.detach(context.WithoutCancel(ctx), spec.ID)
		}
	}()
	cniCalls.Lock()
	res, err := cni.Setup(ctx, spec.ID, path, gocni.WithCapabilityPortMap(ports))
	cniCalls.Unlock()
	if err != nil {
		return fmt.Errorf("network of %s: %w", spec.ID, err)
	}
	addr, ok := containerAddr(res)
	if !ok {
		return fmt.Errorf("network of %s: CNI gave the container no IPv4 address", spec.ID)
	}
	if _, err := c.SetLabels(ctx, map[string]string{labelAddress: addr.String()}); err != nil {
		return fmt.Errorf("network of %s: %w", spec.ID, err)
	}
	return nil
}

func portMappings(ports []cell.PortMapping) []gocni.PortMapping {
	out := make([]gocni.PortMapping, 0, len(ports))
	for _, p := range ports {
		out = append(out, gocni.PortMapping{HostPort: int32(p.HostPort), ContainerPort: int32(p.ContainerPort), Protocol: "tcp"})
	}
	return out
}

func containerAddr(res *gocni.Result) (netip.Addr, bool) {
	for name, iface := range res.Interfaces {
		if !strings.HasPrefix(name, "eth") {
			continue
		}
		for _, ipc := range iface.IPConfigs {
			if a, ok := netip.AddrFromSlice(ipc.IP); ok && a.Unmap().Is4() {
				return a.Unmap(), true
			}
		}
	}
	return netip.Addr{}, false
}

// detach tears a container's network down (address, veth, port mappings)
// and unpins its namespace. It is idempotent: a container that never had
// a bridge network has no pinned namespace and nothing happens.
func (n *network) detach(ctx context.Context, id string) error {
	path := n.nsPath(id)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	cni, err := n.load(ctx)
	if err != nil {
		return err
	}
	var ports []gocni.PortMapping
	if b, err := os.ReadFile(path + ".ports"); err == nil {
		if err := json.Unmarshal(b, &ports); err != nil {
			return fmt.Errorf("remove network of %s: port mappings: %w", id, err)
		}
	}
	cniCalls.Lock()
	err = cni.Remove(ctx, id, path, gocni.WithCapabilityPortMap(ports))
	cniCalls.Unlock()
	if err != nil {
		return fmt.Errorf("remove network of %s: %w", id, err)
	}
	if err := unpin(path); err != nil {
		return fmt.Errorf("remove network of %s: %w", id, err)
	}
	if err := os.Remove(path + ".ports"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove network of %s: %w", id, err)
	}
	return nil
}

// pin bind-mounts a process's network namespace on path, so that it
// outlives the process: teardown after a crash then runs in the right
// namespace, never in whatever a reused pid would name.
func pin(pid uint32, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("pin netns: %w", err)
	}
	_ = unpin(path) // a pin left by an interrupted start
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o600)
	if err != nil {
		return fmt.Errorf("pin netns: %w", err)
	}
	f.Close()
	src := fmt.Sprintf("/proc/%d/ns/net", pid)
	if err := unix.Mount(src, path, "none", unix.MS_BIND, ""); err != nil {
		os.Remove(path)
		return fmt.Errorf("pin netns %s on %s: %w", src, path, err)
	}
	return nil
}

func unpin(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unpin netns %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("unpin netns %s: %w", path, err)
	}
	return nil
}

// Address returns the IP address of a container's own network namespace
// (network bridge), or 127.0.0.1 for a container on the host network.
func (r *Runtime) Address(ctx context.Context, id string) (netip.Addr, error) {
	labels, err := r.labels(ctx, id)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("address of %s: %w", id, err)
	}
	return addressOf(id, labels)
}

func addressOf(id string, labels map[string]string) (netip.Addr, error) {
	switch labels[labelNetwork] {
	case model.NetworkHost:
		return netip.AddrFrom4([4]byte{127, 0, 0, 1}), nil
	case model.NetworkNone:
		return netip.Addr{}, fmt.Errorf("address of %s: container has network none", id)
	}
	a, err := netip.ParseAddr(labels[labelAddress])
	if err != nil {
		return netip.Addr{}, fmt.Errorf("address of %s: no address recorded: %w", id, err)
	}
	return a, nil
}

func (r *Runtime) labels(ctx context.Context, id string) (map[string]string, error) {
	c, err := r.client.LoadContainer(r.ns(ctx), id)
	if err != nil {
		return nil, err
	}
	return c.Labels(r.ns(ctx))
}

// CheckPort implements cell.Runtime: it connects to port on the
// container's address.
func (r *Runtime) CheckPort(ctx context.Context, id string, port int) error {
	addr, err := r.Address(ctx, id)
	if err != nil {
		return fmt.Errorf("check port %d of %s: %w", port, id, err)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", netip.AddrPortFrom(addr, uint16(port)).String())
	if err != nil {
		return fmt.Errorf("check port %d of %s: %w", port, id, err)
	}
	return conn.Close()
}

// CheckHTTP implements cell.Runtime: GET path on port of the container's
// address must answer 2xx or 3xx.
func (r *Runtime) CheckHTTP(ctx context.Context, id string, port int, path string) error {
	addr, err := r.Address(ctx, id)
	if err != nil {
		return fmt.Errorf("http check of %s: %w", id, err)
	}
	url := "http://" + netip.AddrPortFrom(addr, uint16(port)).String() + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("http check of %s: %w", id, err)
	}
	req.Header.Set("User-Agent", "cellsync-healthcheck")
	resp, err := r.net.check.Do(req)
	if err != nil {
		return fmt.Errorf("http check of %s: %w", id, err)
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 399 {
		return fmt.Errorf("http check of %s: GET %s answered %s", id, url, resp.Status)
	}
	return nil
}

// RemoveBridge deletes the bridge interface, its iptables fence and its
// address records: for tests and for taking a cell off a machine. Stop
// every bridge container first.
func (r *Runtime) RemoveBridge(ctx context.Context) error {
	n := r.net
	var errs []error
	for _, ipt := range []string{"iptables", "ip6tables"} {
		if _, err := exec.LookPath(ipt); err != nil {
			continue
		}
		for run(ctx, ipt, "-w", "-D", "INPUT", "-i", n.cfg.Name, "-j", n.chain()) == nil {
		}
		_ = run(ctx, ipt, "-w", "-F", n.chain())
		_ = run(ctx, ipt, "-w", "-X", n.chain())
	}
	if _, err := net.InterfaceByName(n.cfg.Name); err == nil {
		if err := run(ctx, "ip", "link", "delete", n.cfg.Name); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(filepath.Join(n.dir, "cni")); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Bridge returns the bridge configuration in use, defaults applied.
func (r *Runtime) Bridge() BridgeConfig { return r.cfg.Bridge }
