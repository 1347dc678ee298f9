package model_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cellsync/cellsync/model"
)

func TestNetworkFields(t *testing.T) {
	tests := []struct {
		name string
		spec string // lines appended to lrpHead
		want []string
	}{
		{"ports and routes", "  ports: [{name: http, containerPort: 8080}]\n  routes: [{host: web.apps.internal, port: http}]\n", nil},
		{"http check", "  healthCheck: {http: {port: 8080, path: /healthz}}\n", nil},
		{"http check default path", "  healthCheck: {http: {port: 8080}}\n", nil},
		{"explicit bridge", "  network: bridge\n  ports: [{name: http, containerPort: 80}]\n", nil},
		{"ports need bridge", "  network: host\n  ports: [{name: http, containerPort: 80}]\n", []string{"7: spec.ports: ports need network: bridge"}},
		{"port name required", "  ports: [{containerPort: 80}]\n", []string{"6: spec.ports[0].name: is required"}},
		{"port name too long", "  ports: [{name: abcdefghijklmnop, containerPort: 80}]\n", []string{"spec.ports[0].name: \"abcdefghijklmnop\" must be a DNS label of at most 15"}},
		{"port name twice", "  ports: [{name: a, containerPort: 80}, {name: a, containerPort: 81}]\n", []string{`spec.ports[1].name: port "a" is defined twice`}},
		{"container port twice", "  ports: [{name: a, containerPort: 80}, {name: b, containerPort: 80}]\n", []string{"spec.ports[1].containerPort: port 80 is listed twice"}},
		{"container port range", "  ports: [{name: a, containerPort: 0}]\n", []string{"spec.ports[0].containerPort: must be between 1 and 65535, got 0"}},
		{"too many ports", "  ports: [" + ports(model.MaxPorts+1) + "]\n", []string{fmt.Sprintf("spec.ports: at most %d ports", model.MaxPorts)}},
		{"route names unknown port", "  ports: [{name: http, containerPort: 80}]\n  routes: [{host: a.b, port: web}]\n", []string{`spec.routes[0].port: "web" is not one of the LRP's ports`}},
		{"route host with port", "  ports: [{name: http, containerPort: 80}]\n  routes: [{host: 'a.b:80', port: http}]\n", []string{`spec.routes[0].host: "a.b:80" must be a lower-case DNS name`}},
		{"route host upper case", "  ports: [{name: http, containerPort: 80}]\n  routes: [{host: Web.example, port: http}]\n", []string{"spec.routes[0].host"}},
		{"route host twice", "  ports: [{name: http, containerPort: 80}]\n  routes: [{host: a.b, port: http}, {host: a.b, port: http}]\n", []string{`spec.routes[1].host: route "a.b" is listed twice`}},
		{"route host too long", "  ports: [{name: http, containerPort: 80}]\n  routes: [{host: " + strings.Repeat("a.", 127) + "a, port: http}]\n", []string{"spec.routes[0].host", "longer than 253"}},
		{"too many routes", "  ports: [{name: http, containerPort: 80}]\n  routes: [" + routes(model.MaxRoutes+1) + "]\n", []string{fmt.Sprintf("spec.routes: at most %d routes", model.MaxRoutes)}},
		{"two probes", "  healthCheck: {tcpPort: 80, http: {port: 80}}\n", []string{"spec.healthCheck: set exactly one of exec, tcpPort and http"}},
		{"http check port", "  healthCheck: {http: {port: 70000}}\n", []string{"spec.healthCheck.http.port: must be between 1 and 65535"}},
		{"http check path", "  healthCheck: {http: {port: 80, path: healthz}}\n", []string{"spec.healthCheck.http.path: must start with '/'"}},
		{"http check path too long", "  healthCheck: {http: {port: 80, path: /" + strings.Repeat("a", 1024) + "}}\n", []string{"spec.healthCheck.http.path: is longer than 1024 bytes"}},
		{"port check needs a network", "  network: none\n  healthCheck: {tcpPort: 80}\n", []string{"spec.healthCheck: network none has no port the cell can reach"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, errs := model.ParseFile("f.yaml", []byte(lrpHead+tt.spec))
			var got []string
			for _, err := range errs {
				var me *model.Error
				if !errors.As(err, &me) {
					t.Fatalf("error %v is not a *model.Error", err)
				}
				got = append(got, fmt.Sprintf("%d: %s: %s", me.Line, me.Field, me.Msg))
			}
			all := strings.Join(got, "\n")
			if len(tt.want) == 0 {
				if len(errs) > 0 || len(objs) != 1 {
					t.Fatalf("want one valid object, got errors:\n%s", all)
				}
				return
			}
			for _, w := range tt.want {
				if !strings.Contains(all, w) {
					t.Errorf("errors lack %q; got:\n%s", w, all)
				}
			}
		})
	}
}

func ports(n int) string {
	var s []string
	for i := range n {
		s = append(s, fmt.Sprintf("{name: p%d, containerPort: %d}", i, 1000+i))
	}
	return strings.Join(s, ", ")
}

func routes(n int) string {
	var s []string
	for i := range n {
		s = append(s, fmt.Sprintf("{host: h%d.example, port: http}", i))
	}
	return strings.Join(s, ", ")
}

func TestNetworkDefault(t *testing.T) {
	objs, errs := model.ParseFile("f.yaml", []byte(lrpHead))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if got := objs[0].(*model.LRP).Spec.NetworkMode(); got != model.NetworkBridge {
		t.Fatalf("default network = %q, want %q", got, model.NetworkBridge)
	}
}

func TestRouteHostOwnedOnce(t *testing.T) {
	doc := func(name string) string {
		return "apiVersion: cellsync.io/v1\nkind: LRP\nmetadata: {name: " + name + "}\nspec:\n  image: busybox:1\n" +
			"  ports: [{name: http, containerPort: 80}]\n  routes: [{host: shop.example, port: http}]\n"
	}
	a, errs := model.ParseFile("a.yaml", []byte(doc("a")))
	b, errs2 := model.ParseFile("b.yaml", []byte(doc("b")))
	if len(errs)+len(errs2) > 0 {
		t.Fatal(errs, errs2)
	}
	got := model.Check(append(a, b...))
	if len(got) != 1 || !strings.Contains(got[0].Error(), `route "shop.example" is already served by LRP "a"`) || !strings.Contains(got[0].Error(), "b.yaml") {
		t.Fatalf("Check = %v, want one error on b.yaml naming LRP a", got)
	}
}
