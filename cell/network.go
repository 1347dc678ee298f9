package cell

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/cellsync/cellsync/model"
)

// LabelPorts records a container's host port mappings,
// "name:containerPort:hostPort,...", so that a restarted agent reserves
// the same host ports for the containers it adopts.
const LabelPorts = "cellsync.io/ports"

func portsLabel(ports []PortMapping) string {
	parts := make([]string, len(ports))
	for i, p := range ports {
		parts[i] = fmt.Sprintf("%s:%d:%d", p.Name, p.ContainerPort, p.HostPort)
	}
	return strings.Join(parts, ",")
}

// parsePortsLabel reads LabelPorts back and checks it against the LRP's
// ports: an adopted container must map exactly the ports the spec names.
func parsePortsLabel(s string, want []model.Port) ([]PortMapping, error) {
	var out []PortMapping
	if s != "" {
		for _, part := range strings.Split(s, ",") {
			f := strings.Split(part, ":")
			if len(f) != 3 {
				return nil, fmt.Errorf("label %s: bad mapping %q", LabelPorts, part)
			}
			cp, err1 := strconv.Atoi(f[1])
			hp, err2 := strconv.Atoi(f[2])
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("label %s: bad mapping %q", LabelPorts, part)
			}
			out = append(out, PortMapping{Name: f[0], ContainerPort: cp, HostPort: hp})
		}
	}
	if len(out) != len(want) {
		return nil, fmt.Errorf("label %s maps %d ports, the spec has %d", LabelPorts, len(out), len(want))
	}
	for i, p := range want {
		if out[i].Name != p.Name || out[i].ContainerPort != p.ContainerPort {
			return nil, fmt.Errorf("label %s: mapping %d is %s:%d, the spec says %s:%d", LabelPorts, i, out[i].Name, out[i].ContainerPort, p.Name, p.ContainerPort)
		}
	}
	return out, nil
}

func hostPorts(ports []PortMapping) []int {
	out := make([]int, len(ports))
	for i, p := range ports {
		out[i] = p.HostPort
	}
	return out
}

// allocatePorts gives a runner new host ports for its LRP's ports at
// every start. A restarted instance does not keep its old ports: the
// kernel's connection tracking may still hold recent connections to them
// translated to the old container's address, where a new connection that
// reuses such an entry would hang instead of reaching the new container;
// and a router's kept-alive connections to the old port would too.
func (a *Agent) allocatePorts(r *runner, ports []model.Port) error {
	a.releasePorts(r)
	r.ports = nil
	if len(ports) == 0 {
		return nil
	}
	a.portMu.Lock()
	hp, err := a.ports.allocate(r.id, len(ports))
	a.portMu.Unlock()
	if err != nil {
		return err
	}
	r.ports = make([]PortMapping, len(ports))
	for i, p := range ports {
		r.ports[i] = PortMapping{Name: p.Name, ContainerPort: p.ContainerPort, HostPort: hp[i]}
	}
	return nil
}

// adoptPorts reserves the host ports an adopted container maps; false
// means the container cannot be adopted and is replaced.
func (a *Agent) adoptPorts(r *runner, c *Container, ports []model.Port) bool {
	if len(ports) == 0 {
		return true
	}
	pm, err := parsePortsLabel(c.Labels[LabelPorts], ports)
	if err == nil {
		a.portMu.Lock()
		err = a.ports.reserve(r.id, hostPorts(pm))
		a.portMu.Unlock()
	}
	if err != nil {
		a.log.Warn("replace adopted container", "cell", a.cfg.Name, "instance", r.id, "container", c.ID, "err", err)
		return false
	}
	r.ports = pm
	return true
}

func (a *Agent) releasePorts(r *runner) {
	a.portMu.Lock()
	a.ports.release(r.id)
	a.portMu.Unlock()
}

// bindings says where a started instance's ports are reachable: the
// cell's address with the host port, and the container's own address.
func (a *Agent) bindings(ctx context.Context, r *runner) ([]model.PortBinding, error) {
	if len(r.ports) == 0 {
		return nil, nil
	}
	addr, err := a.rt.Address(ctx, r.cid)
	if err != nil {
		return nil, err
	}
	out := make([]model.PortBinding, len(r.ports))
	for i, p := range r.ports {
		out[i] = model.PortBinding{
			Name:      p.Name,
			Host:      net.JoinHostPort(a.cfg.Address, strconv.Itoa(p.HostPort)),
			Container: netip.AddrPortFrom(addr, uint16(p.ContainerPort)).String(),
		}
	}
	return out, nil
}

// healthCheckOf is the LRP's health check; an LRP with routes and none
// gets a TCP check of its first route's port, as Diego checks every
// routed app's port, so that the router never sees an instance before it
// listens.
func healthCheckOf(s *model.LRPSpec) *model.HealthCheck {
	if s.HealthCheck != nil || len(s.Routes) == 0 {
		return s.HealthCheck
	}
	i := slices.IndexFunc(s.Ports, func(p model.Port) bool { return p.Name == s.Routes[0].Port })
	if i < 0 {
		return nil
	}
	return &model.HealthCheck{TCPPort: s.Ports[i].ContainerPort, IntervalSeconds: 1}
}

// reportCrash reports a crashed instance; one that was routed is reported
// before its container and network are removed, and the agent waits (at
// most StopTimeout) until routers can see it: a connection made to its
// host port while the network goes away could otherwise hang instead of
// being refused.
func (a *Agent) reportCrash(r *runner, act model.Actual) {
	prev, _ := a.rep.get(r.id)
	seq := a.rep.set(r.id, act)
	if prev.State != model.StateRunning || len(prev.Routes) == 0 || prev.Draining {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.StopTimeout)
	defer cancel()
	if err := a.rep.waitWritten(ctx, seq); err != nil {
		a.log.Warn("crash report not written before removing the container", "cell", a.cfg.Name, "instance", r.id, "err", err)
	}
}

// drain takes a routed, RUNNING instance out of the routers before its
// container is stopped: it reports the instance Draining, waits until
// that is written to etcd (where the routers watch), then waits
// DrainPeriod for requests in flight to finish.
func (a *Agent) drain(r *runner) {
	act, ok := a.rep.get(r.id)
	if !ok || act.State != model.StateRunning || len(act.Routes) == 0 || a.cfg.DrainPeriod <= 0 {
		return
	}
	act.Draining = true
	seq := a.rep.set(r.id, act)
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.StopTimeout)
	defer cancel()
	if err := a.rep.waitWritten(ctx, seq); err != nil {
		a.log.Warn("drain: de-registration not written; stopping after the drain period anyway", "cell", a.cfg.Name, "instance", r.id, "err", err)
	}
	a.log.Info("draining instance", "cell", a.cfg.Name, "instance", r.id, "period", a.cfg.DrainPeriod)
	_ = sleep(context.Background(), a.clock, a.cfg.DrainPeriod)
}
