package model_test

import (
	"testing"

	"github.com/cellsync/cellsync/model"
)

func TestInstanceVersion(t *testing.T) {
	a := []model.MountedConfig{{Name: "a", Spec: "1"}}
	ab := []model.MountedConfig{{Name: "a", Spec: "1"}, {Name: "b", Spec: "2"}}
	ba := []model.MountedConfig{{Name: "b", Spec: "2"}, {Name: "a", Spec: "1"}}
	if got := model.InstanceVersion("body", nil); got != "body" {
		t.Errorf("version without Configs = %q, want the body hash", got)
	}
	// The formula is part of the contract with running containers: a cell
	// agent adopts a container only if its version label matches, so a
	// changed formula would restart every instance that mounts a Config.
	// sha256("body" 0 "a" 0 "1" 0 "b" 0 "2"), what agents before versions
	// were in model wrote on their containers.
	if got, want := model.InstanceVersion("body", ab), "06543983edae6376b82572731efd23534ee3f363f814ad72e702e8c38d52ee99"; got != want {
		t.Errorf("InstanceVersion(body, a=1 b=2) = %s, want %s", got, want)
	}
	distinct := map[string]string{
		"no config":       model.InstanceVersion("body", nil),
		"a":               model.InstanceVersion("body", a),
		"a b":             model.InstanceVersion("body", ab),
		"b a":             model.InstanceVersion("body", ba),
		"a missing":       model.InstanceVersion("body", []model.MountedConfig{{Name: "a"}}),
		"other body":      model.InstanceVersion("body2", a),
		"a changed":       model.InstanceVersion("body", []model.MountedConfig{{Name: "a", Spec: "3"}}),
		"name/spec shift": model.InstanceVersion("body", []model.MountedConfig{{Name: "a1", Spec: ""}}),
	}
	seen := map[string]string{}
	for name, v := range distinct {
		if prev, dup := seen[v]; dup {
			t.Errorf("%s and %s have the same version", name, prev)
		}
		seen[v] = name
	}
}
