package routes

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/cellsync/cellsync/model"
)

func running(addr string, routes ...string) model.Actual {
	a := model.Actual{State: model.StateRunning, HealthySince: time.Unix(1, 0), Ports: []model.PortBinding{{Name: "http", Host: addr, Container: "10.88.0.2:8080"}}}
	for _, h := range routes {
		a.Routes = append(a.Routes, model.Route{Host: h, Port: "http"})
	}
	return a
}

func TestBuilder(t *testing.T) {
	type op struct {
		del      bool
		instance string
		a        model.Actual
	}
	draining := running("h:1", "web.example")
	draining.Draining = true
	claimed := running("h:1", "web.example")
	claimed.State = model.StateClaimed
	crashed := running("h:1", "web.example")
	crashed.State = model.StateCrashed
	unbound := running("h:1", "web.example")
	unbound.Routes[0].Port = "admin"
	failing := running("h:1", "web.example")
	failing.HealthySince = time.Time{}
	tests := []struct {
		name string
		ops  []op
		want map[string][]string // host → instance=addr, in order
	}{
		{"running instances are routed", []op{
			{instance: "c2/LRP/web/1", a: running("h2:61001", "web.example")},
			{instance: "c1/LRP/web/0", a: running("h1:61000", "web.example")},
		}, map[string][]string{"web.example": {"c1/LRP/web/0=h1:61000", "c2/LRP/web/1=h2:61001"}}},
		{"not yet healthy, failing, crashed and draining instances are not", []op{
			{instance: "c1/LRP/web/0", a: claimed},
			{instance: "c1/LRP/web/1", a: crashed},
			{instance: "c1/LRP/web/2", a: draining},
			{instance: "c1/LRP/web/3", a: unbound},
			{instance: "c1/LRP/web/4", a: model.Actual{State: model.StateRunning}},
			{instance: "c1/LRP/web/5", a: failing},
		}, map[string][]string{}},
		{"an instance leaves when it drains and comes back when running", []op{
			{instance: "c1/LRP/web/0", a: running("h:1", "web.example")},
			{instance: "c1/LRP/web/1", a: running("h:2", "web.example")},
			{instance: "c1/LRP/web/0", a: draining},
		}, map[string][]string{"web.example": {"c1/LRP/web/1=h:2"}}},
		{"a deleted instance leaves, the host goes with its last one", []op{
			{instance: "c1/LRP/web/0", a: running("h:1", "web.example")},
			{instance: "c1/LRP/api/0", a: running("h:2", "api.example")},
			{del: true, instance: "c1/LRP/web/0"},
		}, map[string][]string{"api.example": {"c1/LRP/api/0=h:2"}}},
		{"several routes, hosts lower-cased", []op{
			{instance: "c1/LRP/web/0", a: running("h:1", "web.example", "WWW.Example")},
		}, map[string][]string{"web.example": {"c1/LRP/web/0=h:1"}, "www.example": {"c1/LRP/web/0=h:1"}}},
		{"a changed address replaces the old one", []op{
			{instance: "c1/LRP/web/0", a: running("h:1", "web.example")},
			{instance: "c1/LRP/web/0", a: running("h:9", "web.example")},
		}, map[string][]string{"web.example": {"c1/LRP/web/0=h:9"}}},
		{"a changed route moves the instance", []op{
			{instance: "c1/LRP/web/0", a: running("h:1", "old.example")},
			{instance: "c1/LRP/web/0", a: running("h:1", "new.example")},
		}, map[string][]string{"new.example": {"c1/LRP/web/0=h:1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewBuilder()
			for _, o := range tt.ops {
				if o.del {
					b.Delete(o.instance)
				} else {
					b.Put(o.instance, o.a)
				}
				b.Table() // every step publishes, as the watcher does
			}
			got := map[string][]string{}
			tab := b.Table()
			for _, h := range tab.Hosts() {
				for _, ep := range tab.Lookup(h) {
					got[h] = append(got[h], ep.Instance+"="+ep.Addr)
				}
			}
			if !maps.EqualFunc(got, tt.want, slices.Equal) {
				t.Fatalf("table = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTablesAreSwappedNotChanged(t *testing.T) {
	b := NewBuilder()
	b.Put("c1/LRP/web/0", running("h:1", "web.example"))
	b.Put("c1/LRP/api/0", running("h:2", "api.example"))
	t1 := b.Table()
	if b.Table() != t1 {
		t.Fatal("no change made a new table")
	}
	b.Put("c1/LRP/web/1", running("h:3", "web.example"))
	b.Delete("c1/LRP/api/0")
	t2 := b.Table()
	if t1 == t2 {
		t.Fatal("a change did not make a new table")
	}
	if got := len(t1.Lookup("web.example")); got != 1 || t1.Lookup("api.example") == nil {
		t.Fatalf("the old table changed: web %d endpoints, api %v", got, t1.Lookup("api.example"))
	}
	if len(t2.Lookup("web.example")) != 2 || t2.Lookup("api.example") != nil {
		t.Fatalf("new table: %v", t2.hosts)
	}
	b.Put("c1/LRP/other/0", running("h:4", "other.example"))
	t3 := b.Table()
	if &t3.Lookup("web.example")[0] != &t2.Lookup("web.example")[0] {
		t.Fatal("an unchanged host's endpoints were rebuilt")
	}
	b.Reset()
	if b.Table().Len() != 0 {
		t.Fatalf("after Reset: %v", b.Table().Hosts())
	}
}
