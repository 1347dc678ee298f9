package ctrdtest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	ctrd "github.com/cellsync/cellsync/cell/runtime/containerd"
)

// slots is how many test networks can exist on a machine at once.
const slots = 200

// Net is a bridge network reserved for one test on this machine: its own
// bridge name, subnet and host port range, so that tests of other
// processes (other sessions, CI) never share one. Reservations are file
// locks in the system's temporary directory, held until Release.
type Net struct {
	// Bridge is the runtime's bridge configuration.
	Bridge ctrd.BridgeConfig
	// FirstPort and LastPort bound the host ports the test's cell may use.
	FirstPort, LastPort int
	lock                *os.File
}

// ReserveNet takes a free slot: bridge cst<N>, subnet 10.213.<N>.0/24 and
// host ports 61000+20N to 61000+20N+19. The ports lie above Linux's
// ephemeral range (32768-60999): a host port mapping intercepts every
// local connection to its port, so in the ephemeral range it would catch
// connections meant for other processes' listeners on port 0. What a killed test run left in
// the slot (bridges cst<N> and cst<N>-*, their iptables rules) is deleted
// first.
func ReserveNet() (*Net, error) {
	dir := filepath.Join(os.TempDir(), "cellsync-test-nets")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	first := rand.IntN(slots)
	for i := range slots {
		slot := (first + i) % slots
		f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("slot-%d", slot)), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			return nil, err
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			continue
		}
		subnet := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 213, byte(slot), 0}), 24)
		name := fmt.Sprintf("cst%d", slot)
		cleanSlot(name)
		if inUse(subnet) {
			f.Close()
			continue
		}
		return &Net{
			Bridge:    ctrd.BridgeConfig{Name: name, Subnet: subnet},
			FirstPort: 61000 + 20*slot, LastPort: 61000 + 20*slot + 19,
			lock: f,
		}, nil
	}
	return nil, errors.New("no free test network slot")
}

// inUse reports whether an interface of this machine has an address in p.
func inUse(p netip.Prefix) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return true
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok && p.Contains(ip.Unmap()) {
				return true
			}
		}
	}
	return false
}

// Release stops the containers rt still has on the network (a test that
// detached its agent leaves them), removes the bridge, its iptables rules
// and address records through rt (nil when no runtime used the network),
// then frees the slot.
func (n *Net) Release(rt *ctrd.Runtime) error {
	defer n.lock.Close()
	if rt == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var errs []error
	pins, _ := os.ReadDir(filepath.Join(rt.Bridge().Dir, "netns"))
	for _, p := range pins {
		if !strings.HasSuffix(p.Name(), ".ports") {
			if err := rt.Stop(ctx, p.Name()); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := rt.RemoveBridge(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// cleanSlot deletes what a killed test run left for bridge name: the
// bridge and those split from it (name-1, name-2...), the fence chain, and
// the nat rules CNI's plugins made for networks cellsync-<name>[-*] with
// the chains they jump to.
func cleanSlot(name string) {
	ifs, _ := net.Interfaces()
	for _, ifc := range ifs {
		if ifc.Name == name || strings.HasPrefix(ifc.Name, name+"-") {
			_ = exec.Command("ip", "link", "delete", ifc.Name).Run()
		}
	}
	bridges := []string{name}
	if out, err := exec.Command("iptables", "-w", "-S").Output(); err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			if b, ok := strings.CutPrefix(line, "-N CELLSYNC-IN-"+name+"-"); ok {
				bridges = append(bridges, name+"-"+b)
			}
		}
	}
	for _, b := range bridges {
		chain := "CELLSYNC-IN-" + b
		for exec.Command("iptables", "-w", "-D", "INPUT", "-i", b, "-j", chain).Run() == nil {
		}
		_ = exec.Command("iptables", "-w", "-F", chain).Run()
		_ = exec.Command("iptables", "-w", "-X", chain).Run()
	}
	out, err := exec.Command("iptables", "-w", "-t", "nat", "-S").Output()
	if err != nil {
		return
	}
	var chains []string
	for _, line := range strings.Split(string(out), "\n") {
		if !strings.HasPrefix(line, "-A ") || !(strings.Contains(line, `name: \"cellsync-`+name+`\"`) || strings.Contains(line, `name: \"cellsync-`+name+`-`)) {
			continue
		}
		args, ok := splitRule(line[3:])
		if !ok {
			continue
		}
		_ = exec.Command("iptables", append([]string{"-w", "-t", "nat", "-D"}, args...)...).Run()
		for i, a := range args {
			if a == "-j" && i+1 < len(args) && strings.HasPrefix(args[i+1], "CNI-") && !strings.HasPrefix(args[i+1], "CNI-HOSTPORT-") {
				chains = append(chains, args[i+1])
			}
		}
	}
	for _, c := range chains {
		_ = exec.Command("iptables", "-w", "-t", "nat", "-F", c).Run()
		_ = exec.Command("iptables", "-w", "-t", "nat", "-X", c).Run()
	}
}

// splitRule splits an iptables -S rule into arguments, honouring the
// double quotes (with \" inside) of comments.
func splitRule(s string) ([]string, bool) {
	var out []string
	var cur strings.Builder
	inQuote, have := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && inQuote && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
		case c == '"':
			inQuote, have = !inQuote, true
		case c == ' ' && !inQuote:
			if have {
				out = append(out, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteByte(c)
			have = true
		}
	}
	if have {
		out = append(out, cur.String())
	}
	return out, !inQuote
}
