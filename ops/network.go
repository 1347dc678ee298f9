package ops

import (
	"net"
	"net/netip"
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
