package routes

import (
	"maps"
	"slices"
	"strings"

	"github.com/cellsync/cellsync/model"
)

// Endpoint is one instance serving a host.
type Endpoint struct {
	// Addr is "ip:port": the cell's address and the instance's host port.
	Addr string
	// Instance names the instance: its actual-state key below the actual
	// prefix, "<cell>/LRP/<name>/<index>".
	Instance string
}

// Table maps hosts to the endpoints of their RUNNING, healthy instances.
// A Table is never changed once built: the Builder makes a new one for
// every change and the proxy swaps it in, so a request reads one
// consistent table without a lock.
type Table struct {
	hosts map[string][]Endpoint // endpoints sorted by Instance
}

// Lookup returns the endpoints of host, nil for an unknown host. The
// slice is shared: callers must not change it.
func (t *Table) Lookup(host string) []Endpoint {
	if t == nil {
		return nil
	}
	return t.hosts[host]
}

// Hosts returns the table's hosts, sorted.
func (t *Table) Hosts() []string {
	if t == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(t.hosts))
}

// Len is the number of hosts.
func (t *Table) Len() int {
	if t == nil {
		return 0
	}
	return len(t.hosts)
}

// entry is one (host, endpoint) an instance contributes.
type entry struct {
	host string
	ep   Endpoint
}

// entriesOf returns what one actual record puts in the table: an endpoint
// per route whose port is bound, if the instance is RUNNING, healthy (its
// last health check passed: HealthySince is set) and not draining.
func entriesOf(instance string, a model.Actual) []entry {
	if a.State != model.StateRunning || a.HealthySince.IsZero() || a.Draining || len(a.Routes) == 0 {
		return nil
	}
	var out []entry
	for _, r := range a.Routes {
		i := slices.IndexFunc(a.Ports, func(p model.PortBinding) bool { return p.Name == r.Port })
		if i < 0 || a.Ports[i].Host == "" {
			continue
		}
		out = append(out, entry{host: strings.ToLower(r.Host), ep: Endpoint{Addr: a.Ports[i].Host, Instance: instance}})
	}
	return out
}

// Builder derives Tables from actual state, one instance at a time. It is
// not safe for concurrent use: one watcher owns it.
type Builder struct {
	byInstance map[string][]entry
	byHost     map[string]map[string]Endpoint // host → instance → endpoint
	dirty      map[string]bool
	cur        *Table
}

// NewBuilder returns a Builder whose Table is empty.
func NewBuilder() *Builder {
	return &Builder{
		byInstance: map[string][]entry{},
		byHost:     map[string]map[string]Endpoint{},
		dirty:      map[string]bool{},
		cur:        &Table{hosts: map[string][]Endpoint{}},
	}
}

// Put records an instance's actual state (instance as in Endpoint).
func (b *Builder) Put(instance string, a model.Actual) {
	b.set(instance, entriesOf(instance, a))
}

// Delete forgets an instance.
func (b *Builder) Delete(instance string) { b.set(instance, nil) }

// Reset forgets every instance, before a full re-list.
func (b *Builder) Reset() {
	for instance := range b.byInstance {
		b.set(instance, nil)
	}
}

func (b *Builder) set(instance string, es []entry) {
	old := b.byInstance[instance]
	if slices.Equal(old, es) {
		return
	}
	for _, e := range old {
		delete(b.byHost[e.host], instance)
		b.dirty[e.host] = true
	}
	for _, e := range es {
		m := b.byHost[e.host]
		if m == nil {
			m = map[string]Endpoint{}
			b.byHost[e.host] = m
		}
		m[instance] = e.ep
		b.dirty[e.host] = true
	}
	if len(es) == 0 {
		delete(b.byInstance, instance)
	} else {
		b.byInstance[instance] = es
	}
}

// Table returns the current table: the previous one when nothing changed,
// otherwise a new one that shares the unchanged hosts' endpoint lists.
func (b *Builder) Table() *Table {
	if len(b.dirty) == 0 {
		return b.cur
	}
	hosts := maps.Clone(b.cur.hosts)
	for h := range b.dirty {
		m := b.byHost[h]
		if len(m) == 0 {
			delete(hosts, h)
			delete(b.byHost, h)
			continue
		}
		eps := slices.Collect(maps.Values(m))
		slices.SortFunc(eps, func(x, y Endpoint) int { return strings.Compare(x.Instance, y.Instance) })
		hosts[h] = eps
	}
	clear(b.dirty)
	b.cur = &Table{hosts: hosts}
	return b.cur
}
