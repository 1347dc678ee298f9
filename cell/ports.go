package cell

import (
	"fmt"
	"strconv"
	"strings"
)

// Defaults and bounds of Config.PortRange.
const (
	DefaultFirstPort = 61000
	DefaultLastPort  = 61999
	// minHostPort keeps allocated ports off the well-known range.
	minHostPort = 1024
)

// PortRange is an inclusive range of host ports.
type PortRange struct {
	First, Last int
}

func (r PortRange) String() string { return fmt.Sprintf("%d-%d", r.First, r.Last) }

// ParsePortRange reads "first-last".
func ParsePortRange(s string) (PortRange, error) {
	a, b, ok := strings.Cut(s, "-")
	first, err1 := strconv.Atoi(strings.TrimSpace(a))
	last, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil {
		return PortRange{}, fmt.Errorf("port range %q: want first-last, e.g. %d-%d", s, DefaultFirstPort, DefaultLastPort)
	}
	r := PortRange{First: first, Last: last}
	return r, r.check()
}

func (r PortRange) check() error {
	if r.First < minHostPort || r.Last > 65535 || r.First > r.Last {
		return fmt.Errorf("port range %s: need %d <= first <= last <= 65535", r, minHostPort)
	}
	return nil
}

// portPool hands out host ports of one range to owners (instance IDs). It
// is pure bookkeeping, not safe for concurrent use; the agent guards it.
//
// A port is never held by two owners, and a released port is handed out
// again only after every other free port has been: the cursor moves on
// from the last port it gave, so a router that still has an old
// instance's address in its table does not reach a new instance there.
type portPool struct {
	r     PortRange
	owner map[int]string
	held  map[string][]int
	next  int
}

func newPortPool(r PortRange) *portPool {
	return &portPool{r: r, owner: map[int]string{}, held: map[string][]int{}, next: r.First}
}

// allocate gives owner n free ports, or none and an error when fewer are
// free.
func (p *portPool) allocate(owner string, n int) ([]int, error) {
	size := p.r.Last - p.r.First + 1
	if free := size - len(p.owner); n > free {
		return nil, fmt.Errorf("host ports: %d needed, %d of %s free", n, free, p.r)
	}
	out := make([]int, 0, n)
	for len(out) < n {
		port := p.next
		p.next++
		if p.next > p.r.Last {
			p.next = p.r.First
		}
		if _, used := p.owner[port]; used {
			continue
		}
		p.owner[port] = owner
		out = append(out, port)
	}
	p.held[owner] = append(p.held[owner], out...)
	return out, nil
}

// reserve gives owner exactly these ports (a container adopted with its
// mappings); it fails, reserving nothing, if one is outside the range or
// held by another owner.
func (p *portPool) reserve(owner string, ports []int) error {
	for _, port := range ports {
		if port < p.r.First || port > p.r.Last {
			return fmt.Errorf("host port %d is outside %s", port, p.r)
		}
		if o, used := p.owner[port]; used && o != owner {
			return fmt.Errorf("host port %d is held by %s", port, o)
		}
	}
	for _, port := range ports {
		if _, used := p.owner[port]; !used {
			p.owner[port] = owner
			p.held[owner] = append(p.held[owner], port)
		}
	}
	return nil
}

// release frees every port owner holds.
func (p *portPool) release(owner string) {
	for _, port := range p.held[owner] {
		delete(p.owner, port)
	}
	delete(p.held, owner)
}
