package ops

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cellsync/cellsync/cell"
	"github.com/cellsync/cellsync/router"
)

// HostAddress returns the first IPv4 address of an up, non-loopback
// interface that is not a container bridge's, or 127.0.0.1 when there is
// none: the address a cell advertises for its host ports by default.
func HostAddress() string {
	ifs, err := net.Interfaces()
	if err != nil {
		return "127.0.0.1"
	}
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 || isBridge(ifc.Name) {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap().Is4() && ip.IsGlobalUnicast() {
					return ip.Unmap().String()
				}
			}
		}
	}
	return "127.0.0.1"
}

// isBridge reports a container bridge's name: cellsync's own, docker's
// and CNI's defaults, and veth ends.
func isBridge(name string) bool {
	for _, p := range []string{"cellsync", "cs-", "cst", "docker", "cni", "veth", "br-"} {
		if len(name) >= len(p) && name[:len(p)] == p {
			return true
		}
	}
	return false
}

// Defaults of LocalConfig's networking.
const (
	// DefaultBridgePrefix names the local cells' bridges: csup1, csup2...
	DefaultBridgePrefix = "csup"
	// DefaultLocalSubnet is split among the local cells' bridges.
	DefaultLocalSubnet = "10.89.0.0/16"
	// DefaultRouter is where `up` serves its router.
	DefaultRouter = ":8080"
)

// DefaultLocalPorts is split among the local cells.
var DefaultLocalPorts = cell.PortRange{First: 61000, Last: 61999}

// CellNet is one local cell's share of the machine's networking.
type CellNet struct {
	Bridge string
	Subnet netip.Prefix
	Ports  cell.PortRange
}

// SplitNetworks gives each of n cells on one machine its own bridge
// (prefix + number), an equal part of subnet and an equal part of ports.
// It is pure.
func SplitNetworks(prefix string, subnet netip.Prefix, ports cell.PortRange, n int) ([]CellNet, error) {
	if n < 1 {
		return nil, fmt.Errorf("split networks: %d cells", n)
	}
	if name := prefix + strconv.Itoa(n); len(name) > 15 {
		return nil, fmt.Errorf("bridge name %q is longer than 15 characters", name)
	}
	bits := subnet.Bits() + bitsFor(n)
	if !subnet.Addr().Is4() || bits > 29 {
		return nil, fmt.Errorf("subnet %s cannot hold %d bridges of at least /29", subnet, n)
	}
	per := (ports.Last - ports.First + 1) / n
	if per < 1 {
		return nil, fmt.Errorf("port range %s cannot give %d cells a port each", ports, n)
	}
	base := subnet.Masked().Addr().As4()
	start := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
	out := make([]CellNet, n)
	for i := range n {
		a := start + uint32(i)<<(32-bits)
		addr := netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)})
		first := ports.First + i*per
		out[i] = CellNet{
			Bridge: prefix + strconv.Itoa(i+1),
			Subnet: netip.PrefixFrom(addr, bits),
			Ports:  cell.PortRange{First: first, Last: first + per - 1},
		}
	}
	return out, nil
}

// bitsFor returns the bits needed to number n things.
func bitsFor(n int) int {
	b := 0
	for 1<<b < n {
		b++
	}
	return b
}

// startRouter listens for the local router and says where it is.
func (l *Local) startRouter(out io.Writer, reg prometheus.Registerer) error {
	addr, moved, err := freeAddr(l.cfg.Router)
	if err != nil {
		return err
	}
	if moved {
		fmt.Fprintf(out, "router: %s is taken; using %s instead\n", l.cfg.Router, addr)
	}
	if l.router, err = router.New(router.Config{}, router.Deps{Source: l.srv.Store(), Logger: l.log, Registerer: reg}); err != nil {
		return err
	}
	if l.routerLn, err = net.Listen("tcp", addr); err != nil {
		return fmt.Errorf("router: listen on %s: %w", addr, err)
	}
	l.closers = append(l.closers, func() { l.routerLn.Close() })
	return nil
}

// RouterURL is the router's base URL, on loopback.
func (l *Local) RouterURL() string {
	_, port, _ := net.SplitHostPort(l.routerLn.Addr().String())
	return "http://127.0.0.1:" + port
}

// removeBridges deletes the cells' bridges once their containers are gone.
func (l *Local) removeBridges() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, rt := range l.bridges {
		if err := rt.RemoveBridge(ctx); err != nil {
			l.log.Warn("remove bridge", "bridge", rt.Bridge().Name, "err", err)
		}
	}
}
