package model_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cellsync/cellsync/model"
)

const setHead = "apiVersion: cellsync.io/v1\nkind: SelectorSyncSet\nmetadata: {name: s}\nspec:\n  resources: [{kind: Config, metadata: {name: c}}]\n"

func TestParseRolloutFields(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"update with every field", lrpHead + "  update: {maxUnavailable: 1, maxSurge: 25%, minHealthySeconds: 5, progressDeadlineSeconds: 60, autoRevert: true, canary: 1, autoPromote: true}\n", nil},
		{"empty update takes the defaults", lrpHead + "  update: {}\n", nil},
		{"zero unavailable with surge", lrpHead + "  update: {maxUnavailable: 0, maxSurge: 1}\n", nil},
		{"percent as a count", lrpHead + "  update: {maxUnavailable: '25'}\n", []string{`6: spec.update.maxUnavailable: want a count (2) or a percentage (25%), got "25"`}},
		{"percent not a number", lrpHead + "  update: {maxSurge: 'a%'}\n", []string{`6: spec.update.maxSurge: want a count (2) or a percentage (25%), got "a%"`}},
		{"negative percent", lrpHead + "  update: {maxSurge: '-5%'}\n", []string{`6: spec.update.maxSurge: want a count`}},
		{"amount a list", lrpHead + "  update: {maxSurge: [1]}\n", []string{`6: spec.update.maxSurge: want a count (2) or a percentage (25%), got a list`}},
		{"amount a float", lrpHead + "  update: {maxSurge: 1.5}\n", []string{`6: spec.update.maxSurge: want a count (2) or a percentage (25%), got number 1.5`}},
		{"count overflow", lrpHead + "  update: {maxSurge: 99999999999}\n", []string{`6: spec.update.maxSurge: integer 99999999999 out of range`}},
		{"percent overflow", lrpHead + "  update: {maxSurge: '99999999999%'}\n", []string{`6: spec.update.maxSurge: percentage "99999999999%" out of range`}},
		{"percent over 100", lrpHead + "  update: {maxUnavailable: 101%}\n", []string{`6: spec.update.maxUnavailable: must be between 0% and 100%, got 101%`}},
		{"count over the maximum", lrpHead + "  update: {maxSurge: 10001}\n", []string{`6: spec.update.maxSurge: must be between 0 and 10000, got 10001`}},
		{"negative count", lrpHead + "  update: {maxUnavailable: -1}\n", []string{`6: spec.update.maxUnavailable: must be between 0 and 10000, got -1`}},
		{"both zero", lrpHead + "  update:\n    maxUnavailable: 0\n    maxSurge: 0%\n", []string{`8: spec.update.maxSurge: maxUnavailable and maxSurge cannot both be 0`}},
		{"min healthy over the maximum", lrpHead + "  update: {minHealthySeconds: 3601, progressDeadlineSeconds: 7200}\n", []string{`6: spec.update.minHealthySeconds: must be between 0 and 3600, got 3601`}},
		{"min healthy above the default deadline", lrpHead + "  update:\n    minHealthySeconds: 900\n", []string{`7: spec.update.minHealthySeconds: must be less than progressDeadlineSeconds (default 600), got 900`}},
		{"deadline not above min healthy", lrpHead + "  update:\n    minHealthySeconds: 30\n    progressDeadlineSeconds: 30\n", []string{`8: spec.update.progressDeadlineSeconds: must be more than minHealthySeconds (30), got 30`}},
		{"deadline zero", lrpHead + "  update: {progressDeadlineSeconds: 0}\n", []string{`6: spec.update.progressDeadlineSeconds: must be between 1 and 86400, got 0`}},
		{"deadline over the maximum", lrpHead + "  update: {progressDeadlineSeconds: 86401}\n", []string{`6: spec.update.progressDeadlineSeconds: must be between 1 and 86400, got 86401`}},
		{"negative canary", lrpHead + "  update: {canary: -1}\n", []string{`6: spec.update.canary: must be between 0 and 10000, got -1`}},
		{"canary over the maximum", lrpHead + "  update: {canary: 10001}\n", []string{`6: spec.update.canary: must be between 0 and 10000`}},
		{"auto promote without canary", lrpHead + "  update:\n    autoPromote: true\n", []string{`7: spec.update.autoPromote: promotes canaries, but canary is 0`}},
		{"unknown update field", lrpHead + "  update: {maxParallel: 1}\n", []string{`6: spec.update.maxParallel: unknown field`}},
		{"update inside a set", "apiVersion: cellsync.io/v1\nkind: SelectorSyncSet\nmetadata: {name: s}\nspec:\n  resources:\n  - kind: LRP\n    metadata: {name: a}\n    spec: {image: x, update: {canary: 1}}\n", []string{`8: spec.resources[0].spec.update: an LRP inside a SelectorSyncSet is rolled out by the set's spec.rollout`}},
		{"pause annotation", "apiVersion: cellsync.io/v1\nkind: LRP\nmetadata: {name: web, annotations: {cellsync.io/paused: 'true'}}\nspec: {image: x}\n", nil},
		{"pause annotation typo", "apiVersion: cellsync.io/v1\nkind: LRP\nmetadata:\n  name: web\n  annotations:\n    cellsync.io/paused: 'yes'\nspec: {image: x}\n", []string{`6: metadata.annotations.cellsync.io/paused: must be "true" or "false", got "yes"`}},
		{"set rollout", setHead + "  rollout:\n    maxUnavailable: 10%\n    autoRevert: true\n    partitions:\n    - {name: canary, selector: 'cell.labels[\"ring\"] == \"0\"'}\n    - {name: eu, selector: 'cell.zone.startsWith(\"eu\")'}\n", nil},
		{"set rollout count", setHead + "  rollout: {maxUnavailable: 3}\n", nil},
		{"set rollout zero cells", setHead + "  rollout:\n    maxUnavailable: 0\n", []string{`7: spec.rollout.maxUnavailable: must be between 1 and 100000, got 0`}},
		{"set rollout zero percent", setHead + "  rollout: {maxUnavailable: 0%}\n", []string{`6: spec.rollout.maxUnavailable: must be between 1% and 100%, got 0%`}},
		{"set rollout too many cells", setHead + "  rollout: {maxUnavailable: 100001}\n", []string{`spec.rollout.maxUnavailable: must be between 1 and 100000`}},
		{"partition without selector", setHead + "  rollout:\n    partitions:\n    - name: a\n", []string{`8: spec.rollout.partitions[0].selector: is required`}},
		{"partition bad name", setHead + "  rollout:\n    partitions:\n    - {name: A_1, selector: 'true'}\n", []string{`8: spec.rollout.partitions[0].name: "A_1" must be a DNS label`}},
		{"partition twice", setHead + "  rollout:\n    partitions:\n    - {name: a, selector: 'true'}\n    - {name: a, selector: 'false'}\n", []string{`9: spec.rollout.partitions[1].name: partition "a" is already defined in partitions[0]`}},
		{"too many partitions", setHead + "  rollout:\n    partitions: [" + repeatPartitions(17) + "]\n", []string{`7: spec.rollout.partitions: at most 16 partitions, got 17`}},
		{"set deadline not above min healthy", setHead + "  rollout: {minHealthySeconds: 60, progressDeadlineSeconds: 59}\n", []string{`6: spec.rollout.progressDeadlineSeconds: must be more than minHealthySeconds (60), got 59`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkParse(t, tt.name, tt.yaml, tt.want) })
	}
}

func repeatPartitions(n int) string {
	s := ""
	for i := range n {
		if i > 0 {
			s += ", "
		}
		s += "{name: p" + string(rune('a'+i)) + ", selector: 'true'}"
	}
	return s
}

func TestParseRolloutValues(t *testing.T) {
	objs, errs := model.ParseFile("f.yaml", []byte(lrpHead+"  update: {maxUnavailable: 2, maxSurge: 50%, canary: 1, autoPromote: true, minHealthySeconds: 0}\n"))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	u := objs[0].(*model.LRP).Spec.Update
	if *u.MaxUnavailable != (model.Amount{Value: 2}) || *u.MaxSurge != (model.Amount{Value: 50, Percent: true}) ||
		u.Canary != 1 || !u.AutoPromote || *u.MinHealthySeconds != 0 || u.ProgressDeadlineSeconds != nil {
		t.Errorf("update = %+v", u)
	}
	objs, errs = model.ParseFile("f.yaml", []byte(setHead+"  rollout:\n    maxUnavailable: 10%\n    partitions: [{name: a, selector: 'true'}]\n"))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	r := objs[0].(*model.SelectorSyncSet).Spec.Rollout
	if *r.MaxUnavailable != *model.Percent(10) || len(r.Partitions) != 1 || r.Partitions[0] != (model.Partition{Name: "a", Selector: "true"}) {
		t.Errorf("rollout = %+v", r)
	}
}

func TestAmount(t *testing.T) {
	tests := []struct {
		a         model.Amount
		total     int
		down, up  int
		json, str string
	}{
		{model.Amount{Value: 3}, 10, 3, 3, `3`, "3"},
		{model.Amount{Value: 25, Percent: true}, 6, 1, 2, `"25%"`, "25%"},
		{model.Amount{Value: 25, Percent: true}, 4, 1, 1, `"25%"`, "25%"},
		{model.Amount{Value: 25, Percent: true}, 3, 0, 1, `"25%"`, "25%"},
		{model.Amount{Value: 100, Percent: true}, 10000, 10000, 10000, `"100%"`, "100%"},
		{model.Amount{Value: 0, Percent: true}, 7, 0, 0, `"0%"`, "0%"},
	}
	for _, tt := range tests {
		if got := tt.a.Of(tt.total, false); got != tt.down {
			t.Errorf("%s of %d rounded down = %d, want %d", tt.a, tt.total, got, tt.down)
		}
		if got := tt.a.Of(tt.total, true); got != tt.up {
			t.Errorf("%s of %d rounded up = %d, want %d", tt.a, tt.total, got, tt.up)
		}
		b, err := json.Marshal(tt.a)
		if err != nil || string(b) != tt.json {
			t.Errorf("json of %s = %s, %v; want %s", tt.a, b, err, tt.json)
		}
		var back model.Amount
		if err := json.Unmarshal(b, &back); err != nil || back != tt.a {
			t.Errorf("json round trip of %s = %+v, %v", tt.a, back, err)
		}
		if tt.a.String() != tt.str {
			t.Errorf("String = %q, want %q", tt.a.String(), tt.str)
		}
	}
	for _, bad := range []string{`"25"`, `"%"`, `true`, `1.5`, `"x%"`} {
		var a model.Amount
		if err := json.Unmarshal([]byte(bad), &a); err == nil {
			t.Errorf("%s decoded as %+v", bad, a)
		}
	}
}

// TestEncodeObjectLeavesOutRolloutFields: tuning a rollout or pausing it
// changes no body, so it is never a new version and restarts nothing.
func TestEncodeObjectLeavesOutRolloutFields(t *testing.T) {
	hash := func(src string) string {
		t.Helper()
		objs, errs := model.ParseFile("f.yaml", []byte(src))
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		_, h, err := model.EncodeObject(objs[0])
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	const head = "apiVersion: cellsync.io/v1\nkind: LRP\n"
	plain := hash(head + "metadata: {name: web, annotations: {team: a}}\nspec: {image: busybox}\n")
	same := map[string]string{
		"update":           head + "metadata: {name: web, annotations: {team: a}}\nspec: {image: busybox, update: {maxUnavailable: 1, canary: 2}}\n",
		"pause annotation": head + "metadata: {name: web, annotations: {team: a, cellsync.io/paused: 'true'}}\nspec: {image: busybox}\n",
	}
	for name, src := range same {
		if got := hash(src); got != plain {
			t.Errorf("%s changes the body", name)
		}
	}
	if hash(head+"metadata: {name: web, annotations: {team: a}}\nspec: {image: busybox, command: [sh]}\n") == plain {
		t.Error("a command change leaves the body alone")
	}
	// Encoding never changes the object it is given.
	objs, _ := model.ParseFile("f.yaml", []byte(same["pause annotation"]))
	if _, _, err := model.EncodeObject(objs[0]); err != nil || !model.Paused(objs[0]) {
		t.Errorf("EncodeObject changed its input: %v", err)
	}
	objs, _ = model.ParseFile("f.yaml", []byte("apiVersion: cellsync.io/v1\nkind: Config\nmetadata: {name: c, annotations: {cellsync.io/paused: 'true'}}\n"))
	body, _, _ := model.EncodeObject(objs[0])
	if strings.Contains(string(body), "paused") {
		t.Errorf("body keeps the pause annotation: %s", body)
	}
}

func TestPaused(t *testing.T) {
	lrp := &model.LRP{}
	if model.Paused(lrp) {
		t.Error("an LRP without annotations is paused")
	}
	lrp.Metadata.Annotations = map[string]string{model.AnnotationPaused: "false"}
	if model.Paused(lrp) {
		t.Error(`paused: "false" pauses`)
	}
	lrp.Metadata.Annotations[model.AnnotationPaused] = "true"
	if !model.Paused(lrp) {
		t.Error(`paused: "true" does not pause`)
	}
}
