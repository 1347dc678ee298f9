package rollout

import (
	"testing"

	"github.com/cellsync/cellsync/model"
)

func TestSetVersion(t *testing.T) {
	conf := model.Item{Kind: model.KindConfig, Name: "c", Spec: "c1"}
	web := model.Item{Kind: model.KindLRP, Name: "web", Spec: "w1", Indexes: []int32{0, 1}}
	base := SetVersion([]model.Item{conf, web})
	if got := SetVersion([]model.Item{web, conf}); got != base {
		t.Error("item order changes the version")
	}
	scaled := web
	scaled.Indexes = []int32{0, 1, 2}
	if SetVersion([]model.Item{conf, scaled}) != base {
		t.Error("scaling an LRP of the set changes the version")
	}
	changed := map[string][]model.Item{
		"body":          {conf, {Kind: model.KindLRP, Name: "web", Spec: "w2"}},
		"Config":        {{Kind: model.KindConfig, Name: "c", Spec: "c2"}, web},
		"pinned Config": {conf, {Kind: model.KindLRP, Name: "web", Spec: "w1", Configs: []model.MountedConfig{{Name: "c", Spec: "c1"}}}},
		"item removed":  {web},
		"name shifted":  {{Kind: model.KindConfig, Name: "c" + "c1", Spec: ""}, web},
	}
	for name, items := range changed {
		if SetVersion(items) == base {
			t.Errorf("%s leaves the version alone", name)
		}
	}
}
