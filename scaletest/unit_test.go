package scaletest

import (
	"bytes"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/store"
)

func TestWorkloadFilesParse(t *testing.T) {
	w := newWorkload(3, 4, 2, 7)
	w.resources[1]++
	tests := []struct {
		name    string
		file    string
		body    string
		kind    model.Kind
		wantLen int
	}{
		{name: "set", file: setFile(0), body: w.setYAML(0), kind: model.KindSelectorSyncSet, wantLen: 4},
		{name: "grown set", file: setFile(1), body: w.setYAML(1), kind: model.KindSelectorSyncSet, wantLen: 5},
		{name: "lrp", file: lrpFile(1), body: w.lrpYAML(1), kind: model.KindLRP, wantLen: 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, errs := model.ParseFile(tt.file, []byte(tt.body))
			if len(errs) > 0 || len(objs) != 1 {
				t.Fatalf("ParseFile = %d objects, errors %v", len(objs), errs)
			}
			switch o := objs[0].(type) {
			case *model.SelectorSyncSet:
				if tt.kind != model.KindSelectorSyncSet || len(o.Spec.Resources) != tt.wantLen {
					t.Errorf("set with %d resources, want %s with %d", len(o.Spec.Resources), tt.kind, tt.wantLen)
				}
			case *model.LRP:
				if tt.kind != model.KindLRP || o.Spec.Instances == nil || int(*o.Spec.Instances) != tt.wantLen {
					t.Errorf("LRP with %v instances, want %s with %d", o.Spec.Instances, tt.kind, tt.wantLen)
				}
			default:
				t.Errorf("parsed %T, want %s", o, tt.kind)
			}
		})
	}
}

// assignment encodes one desired key for compare.
func assignment(t *testing.T, cell, source string, items ...model.Item) store.KV {
	t.Helper()
	v, err := store.Encode(model.Assignment{Source: source, Items: items})
	if err != nil {
		t.Fatal(err)
	}
	return store.KV{Key: store.DesiredKey(cell, source), Value: v}
}

func TestCompare(t *testing.T) {
	w := newWorkload(1, 2, 1, 2)
	cfg := func(r int) model.Item {
		return model.Item{Kind: model.KindConfig, Name: configName(0, r), Spec: "h" + configName(0, r)}
	}
	lrp := func(idx ...int32) model.Item {
		return model.Item{Kind: model.KindLRP, Name: lrpName(0), Spec: "hlrp", Indexes: idx}
	}
	live := map[string]bool{"a": true, "b": true}
	good := func(t *testing.T) []store.KV {
		return []store.KV{
			assignment(t, "a", setSource(0), cfg(1), cfg(0)),
			assignment(t, "b", setSource(0), cfg(0), cfg(1)),
			assignment(t, "a", lrpSource(0), lrp(0)),
			assignment(t, "b", lrpSource(0), lrp(1)),
		}
	}
	tests := []struct {
		name string
		edit func(t *testing.T, kvs []store.KV) []store.KV
		want string // substring of the first problem; "" for none
	}{
		{name: "exact", edit: func(_ *testing.T, kvs []store.KV) []store.KV { return kvs }},
		{name: "missing set", edit: func(_ *testing.T, kvs []store.KV) []store.KV { return kvs[1:] }, want: "cell a lacks SelectorSyncSet/set-000"},
		{name: "missing config", edit: func(t *testing.T, kvs []store.KV) []store.KV {
			kvs[0] = assignment(t, "a", setSource(0), cfg(0))
			return kvs
		}, want: "with 1 items"},
		{name: "LRP index twice", edit: func(t *testing.T, kvs []store.KV) []store.KV {
			kvs[3] = assignment(t, "b", lrpSource(0), lrp(0))
			return kvs
		}, want: "indexes [0 0]"},
		{name: "dead cell keeps work", edit: func(t *testing.T, kvs []store.KV) []store.KV {
			return append(kvs, assignment(t, "c", setSource(0), cfg(0), cfg(1)))
		}, want: "dead cell c"},
		{name: "unexpected source", edit: func(t *testing.T, kvs []store.KV) []store.KV {
			return append(kvs, assignment(t, "a", "SelectorSyncSet/other", cfg(0)))
		}, want: "unexpected SelectorSyncSet/other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			problems, specs := compare(w, live, tt.edit(t, good(t)))
			if tt.want == "" {
				if len(problems) > 0 {
					t.Fatalf("problems %v, want none", problems)
				}
				if len(specs) != 3 {
					t.Errorf("specs %v, want 3 hashes", specs)
				}
				return
			}
			if len(problems) == 0 || !strings.Contains(problems[0], tt.want) {
				t.Errorf("problems %v, want first to contain %q", problems, tt.want)
			}
		})
	}
}

func TestHistogramMinus(t *testing.T) {
	before := Histogram{Count: 2, Sum: 1, Buckets: map[string]uint64{"0.1": 1, "1": 2}}
	after := Histogram{Count: 5, Sum: 4, Buckets: map[string]uint64{"0.1": 3, "1": 5}}
	tests := []struct {
		name          string
		h, before     Histogram
		wantCount     uint64
		wantSum, mean float64
	}{
		{name: "difference", h: after, before: before, wantCount: 3, wantSum: 3, mean: 1},
		{name: "counters reset", h: before, before: after, wantCount: 2, wantSum: 1, mean: 0.5},
		{name: "empty", h: Histogram{}, before: Histogram{}, wantCount: 0, wantSum: 0, mean: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.h.minus(tt.before)
			if got.Count != tt.wantCount || got.Sum != tt.wantSum || got.Mean() != tt.mean {
				t.Errorf("minus = %+v (mean %g), want count %d sum %g mean %g", got, got.Mean(), tt.wantCount, tt.wantSum, tt.mean)
			}
		})
	}
}

func TestOptionsDefaults(t *testing.T) {
	tests := []struct {
		name    string
		o       Options
		wantErr bool
	}{
		{name: "defaults", o: Options{}},
		{name: "no LRPs", o: Options{LRPs: -1}},
		{name: "short lease", o: Options{LeaseTTL: time.Second}, wantErr: true},
		{name: "fractional lease", o: Options{LeaseTTL: 2500 * time.Millisecond}, wantErr: true},
		{name: "kill everything", o: Options{KillFraction: 1}, wantErr: true},
		{name: "negative cells", o: Options{Cells: -3}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.o.defaults()
			if (err != nil) != tt.wantErr {
				t.Fatalf("defaults() = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && (tt.o.Cells != 1000 || tt.o.Sets != 60 || tt.o.ResizeTo.Apply != 2*tt.o.Workers.Apply) {
				t.Errorf("defaults = %+v", tt.o)
			}
		})
	}
}

func TestChartPanels(t *testing.T) {
	r := &Report{Phases: []*Phase{
		{Name: "commit", Title: "commit <sets>", Start: 0, Seconds: 2},
		{Name: "kill", Title: "kill", Start: 2, Seconds: 1, Error: "boom"},
	}}
	for i := range 8 {
		r.Samples = append(r.Samples, Sample{T: float64(i) * 0.25, Phase: "commit", Apply: float64(i), InstancesPerSec: 100})
	}
	b, err := r.Chart()
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	scale := float64(chartDPI) / 72
	px := func(pt float64) int { return int(pt * scale) }
	if h, want := img.Bounds().Dy(), px(legendHeight+2*(headingHeight+panelHeight)); h < want-2 || h > want+2 {
		t.Errorf("chart is %d pixels high, want %d: a legend and one row per phase", h, want)
	}
	// The apply queue's color is drawn in the commit row, which has its
	// samples, and not in the kill row, which has none.
	apply := phaseSeries[1].color
	has := func(top, bottom int) bool {
		for y := top; y < bottom; y++ {
			for x := 0; x < img.Bounds().Dx(); x++ {
				r, g, b, _ := img.At(x, y).RGBA()
				if uint8(r>>8) == apply.R && uint8(g>>8) == apply.G && uint8(b>>8) == apply.B {
					return true
				}
			}
		}
		return false
	}
	row := func(i int) (int, int) {
		top := legendHeight + float64(i)*(headingHeight+panelHeight) + headingHeight
		return px(top), px(top + panelHeight)
	}
	if !has(row(0)) {
		t.Error("the commit row does not draw the apply queue")
	}
	if has(row(1)) {
		t.Error("the kill row draws an apply queue it has no samples for")
	}
}
