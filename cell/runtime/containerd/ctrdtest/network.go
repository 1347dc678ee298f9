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
// host ports 40000+100N to 40000+100N+99. A bridge of that name left by a
// killed test run is deleted first.
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
		if _, err := net.InterfaceByName(name); err == nil {
			_ = exec.Command("ip", "link", "delete", name).Run()
		}
		if inUse(subnet) {
			f.Close()
			continue
		}
		return &Net{
			Bridge:    ctrd.BridgeConfig{Name: name, Subnet: subnet},
			FirstPort: 40000 + 100*slot, LastPort: 40000 + 100*slot + 99,
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

// Release removes the bridge, its iptables rules and address records
// through rt (nil when no runtime used the network), then frees the slot.
func (n *Net) Release(rt *ctrd.Runtime) error {
	var err error
	if rt != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err = rt.RemoveBridge(ctx)
		cancel()
	}
	n.lock.Close()
	return err
}
