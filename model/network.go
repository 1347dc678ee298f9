package model

import (
	"fmt"
	"strings"
)

// Limits on networking fields. A route host is a DNS name (RFC 1123); the
// counts keep one LRP from asking a cell for unbounded host ports or the
// router for unbounded routes.
const (
	MaxPorts        = 16
	MaxRoutes       = 32
	maxPortNameLen  = 15 // as Kubernetes' named ports: fits an IANA service name
	maxRouteHostLen = 253
	maxCheckPathLen = 1024
)

// Port is a container port an LRP exposes, by name. In bridge networking
// the cell maps it to a host port it allocates from its port range.
type Port struct {
	// Name is a DNS label of at most 15 characters, unique in the LRP;
	// routes and health checks refer to it.
	Name string `json:"name"`
	// ContainerPort is the TCP port the process listens on, 1-65535.
	ContainerPort int `json:"containerPort"`
}

// Route sends the router's traffic for Host to an LRP's named port.
type Route struct {
	// Host is the HTTP Host the router matches, a DNS name without port,
	// e.g. web.apps.internal; unique across the repository.
	Host string `json:"host"`
	// Port names one of the LRP's ports.
	Port string `json:"port"`
}

// HTTPCheck is an HTTP health check: GET Path on Port of the container's
// address passes on a 2xx or 3xx answer.
type HTTPCheck struct {
	// Port is the container port, 1-65535.
	Port int `json:"port"`
	// Path is the request path; default "/". At most 1024 bytes.
	Path string `json:"path,omitempty"`
}

// CheckPath returns the path an HTTP check requests, default applied.
func (c *HTTPCheck) CheckPath() string {
	if c.Path == "" {
		return "/"
	}
	return c.Path
}

// PortBinding is where one named port of a running instance is reachable,
// as its cell reports it.
type PortBinding struct {
	Name string `json:"name"`
	// Host is "<cell address>:<host port>": reachable from other machines.
	Host string `json:"host"`
	// Container is "<container address>:<container port>": reachable from
	// the cell's own machine.
	Container string `json:"container"`
}

// NetworkMode returns the process's network, default applied.
func (p *Process) NetworkMode() string {
	if p.Network == "" {
		return NetworkBridge
	}
	return p.Network
}

// network validates an LRP's ports, routes and the network its health
// check needs.
func (v validator) network(s *LRPSpec, path string) {
	mode := s.NetworkMode()
	if len(s.Ports) > 0 && mode != NetworkBridge {
		v.fail(join(path, "ports"), "ports need network: bridge (network %s has no port mapping)", mode)
	}
	if len(s.Ports) > MaxPorts {
		v.fail(join(path, "ports"), "at most %d ports, got %d", MaxPorts, len(s.Ports))
	}
	names := map[string]bool{}
	numbers := map[int]bool{}
	for i, p := range s.Ports {
		pp := fmt.Sprintf("%s.ports[%d]", path, i)
		switch {
		case p.Name == "":
			v.fail(pp+".name", "is required")
		case len(p.Name) > maxPortNameLen || !dnsLabel.MatchString(p.Name):
			v.fail(pp+".name", "%q must be a DNS label of at most %d characters", p.Name, maxPortNameLen)
		case names[p.Name]:
			v.fail(pp+".name", "port %q is defined twice", p.Name)
		}
		names[p.Name] = true
		switch {
		case p.ContainerPort < 1 || p.ContainerPort > 65535:
			v.fail(pp+".containerPort", "must be between 1 and 65535, got %d", p.ContainerPort)
		case numbers[p.ContainerPort]:
			v.fail(pp+".containerPort", "port %d is listed twice", p.ContainerPort)
		}
		numbers[p.ContainerPort] = true
	}
	if len(s.Routes) > MaxRoutes {
		v.fail(join(path, "routes"), "at most %d routes, got %d", MaxRoutes, len(s.Routes))
	}
	hosts := map[string]bool{}
	for i, r := range s.Routes {
		rp := fmt.Sprintf("%s.routes[%d]", path, i)
		if err := checkRouteHost(r.Host); err != nil {
			v.fail(rp+".host", "%v", err)
		} else if hosts[r.Host] {
			v.fail(rp+".host", "route %q is listed twice", r.Host)
		}
		hosts[r.Host] = true
		if !names[r.Port] {
			v.fail(rp+".port", "%q is not one of the LRP's ports", r.Port)
		}
	}
	hc := s.HealthCheck
	if hc == nil {
		return
	}
	hp := join(path, "healthCheck")
	if (hc.TCPPort != 0 || hc.HTTP != nil) && mode == NetworkNone {
		v.fail(hp, "network none has no port the cell can reach; use an exec check")
	}
	if h := hc.HTTP; h != nil {
		if h.Port < 1 || h.Port > 65535 {
			v.fail(hp+".http.port", "must be between 1 and 65535, got %d", h.Port)
		}
		switch {
		case len(h.Path) > maxCheckPathLen:
			v.fail(hp+".http.path", "is longer than %d bytes", maxCheckPathLen)
		case h.Path != "" && (!strings.HasPrefix(h.Path, "/") || strings.ContainsAny(h.Path, " \t\r\n\x00")):
			v.fail(hp+".http.path", "must start with '/' and hold no spaces or control characters, got %q", h.Path)
		}
	}
}

// checkRouteHost accepts a lower-case DNS name without port or trailing dot.
func checkRouteHost(h string) error {
	switch {
	case h == "":
		return fmt.Errorf("is required")
	case len(h) > maxRouteHostLen:
		return fmt.Errorf("%q is longer than %d characters", h, maxRouteHostLen)
	case !dnsPrefix.MatchString(h):
		return fmt.Errorf("%q must be a lower-case DNS name (letters, digits, '-' and '.'), without port", h)
	}
	for _, label := range strings.Split(h, ".") {
		if len(label) > maxNameLen {
			return fmt.Errorf("%q has a label longer than %d characters", h, maxNameLen)
		}
	}
	return nil
}

// checkRoutes reports a route host claimed by two LRPs: the router would
// mix their instances.
func checkRoutes(objs []Object) []error {
	var errs []error
	owner := map[string]string{}
	claim := func(h *Header, l *LRP, path string) {
		for i, r := range l.Spec.Routes {
			if prev, ok := owner[r.Host]; ok && prev != l.Metadata.Name {
				errs = append(errs, &Error{File: h.Source.File, Doc: h.Source.Doc, Line: h.Source.Line,
					Field: fmt.Sprintf("%s.routes[%d].host", path, i), Msg: fmt.Sprintf("route %q is already served by LRP %q", r.Host, prev)})
				continue
			}
			owner[r.Host] = l.Metadata.Name
		}
	}
	for _, o := range objs {
		switch o := o.(type) {
		case *LRP:
			claim(&o.Header, o, "spec")
		case *SelectorSyncSet:
			for i, r := range o.Spec.Resources {
				if r.LRP != nil {
					claim(&o.Header, r.LRP, fmt.Sprintf("spec.resources[%d].spec", i))
				}
			}
		}
	}
	return errs
}
