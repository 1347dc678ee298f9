package apply

import (
	"fmt"
	"github.com/cellsync/cellsync/internal/cputime"
	"testing"
	"time"

	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
	"sigs.k8s.io/structured-merge-diff/v6/merge"
	"sigs.k8s.io/structured-merge-diff/v6/typed"
)

// configTree is a Config-sized object: n data keys of about 20 bytes each
// (n=10: 200 bytes of data). variant changes the value of key0 only.
func configTree(n, variant int) map[string]any {
	data := make(map[string]any, n)
	for i := 0; i < n; i++ {
		data[fmt.Sprintf("key%d", i)] = fmt.Sprintf("value-%02d-%07d", i, 0)
	}
	data["key0"] = fmt.Sprintf("value-00-%07d", variant)
	return map[string]any{
		"apiVersion": "cellsync.io/v1",
		"kind":       "Config",
		"metadata":   map[string]any{"name": "agent-conf"},
		"data":       data,
	}
}

// lrpTree is an LRP with the shape of a small Pod spec; variant changes the
// image tag only.
func lrpTree(variant int) map[string]any {
	return map[string]any{
		"apiVersion": "cellsync.io/v1",
		"kind":       "LRP",
		"metadata":   map[string]any{"name": "web", "labels": map[string]any{"team": "payments", "tier": "frontend"}},
		"spec": map[string]any{
			"instances": int64(6),
			"selector":  `cell.zone in ["z1", "z2"] && cell.capacity.memoryMB >= 2048`,
			"image":     fmt.Sprintf("registry.example/web:1.%d", variant),
			"command":   []any{"/bin/web", "--port=8080", "--log=json"},
			"env":       map[string]any{"LOG_LEVEL": "info", "REGION": "eu-1", "MODE": "prod", "WORKERS": "8", "TZ": "UTC"},
			"resources": map[string]any{"memoryMB": int64(256), "diskMB": int64(512)},
			"spread":    "zone",
			"network":   "host",
			"healthCheck": map[string]any{"tcpPort": int64(8080), "intervalSeconds": int64(5),
				"timeoutSeconds": int64(2), "failureThreshold": int64(3)},
			"configs": []any{
				map[string]any{"name": "agent-conf", "mountPath": "/etc/agent"},
				map[string]any{"name": "tls", "mountPath": "/etc/tls", "env": true},
			},
		},
	}
}

// benchObject is one row of the grid: a base intent already applied by
// manager "set:base" (and optionally co-owned in part by "cli:override"),
// and a changed intent.
type benchObject struct {
	name     string
	kind     string
	base     map[string]any
	changed  map[string]any
	coOwner  map[string]any // applied by cli:override after base; nil for one manager
	expected map[string]any // value after applying changed
}

func benchObjects() []benchObject {
	two := map[string]any{"data": map[string]any{"key5": "value-05-0000000", "key6": "value-06-0000000"}}
	return []benchObject{
		{name: "config-10", kind: "Config", base: configTree(10, 0), changed: configTree(10, 1), expected: configTree(10, 1)},
		{name: "config-10-2mgr", kind: "Config", base: configTree(10, 0), changed: configTree(10, 1), coOwner: two, expected: configTree(10, 1)},
		{name: "config-100", kind: "Config", base: configTree(100, 0), changed: configTree(100, 1), expected: configTree(100, 1)},
		{name: "lrp", kind: "LRP", base: lrpTree(4), changed: lrpTree(5), expected: lrpTree(5)},
	}
}

// sameVersion is the converter structured-merge-diff needs; cellsync has
// one version per kind.
type sameVersion struct{}

func (sameVersion) Convert(o *typed.TypedValue, _ fieldpath.APIVersion) (*typed.TypedValue, error) {
	return o, nil
}
func (sameVersion) IsMissingVersionError(error) bool { return false }

// smdState is the same object held by Kubernetes' own implementation with a
// deduced schema (every map granular, every list atomic).
type smdState struct {
	updater          *merge.Updater
	live             *typed.TypedValue
	managed          fieldpath.ManagedFields
	base, changed    *typed.TypedValue
	changedRaw       map[string]any
	expectedAfterAdd map[string]any
}

func newSMD(b *testing.B, o benchObject) *smdState {
	b.Helper()
	p := typed.DeducedParseableType
	s := &smdState{updater: (&merge.UpdaterBuilder{Converter: sameVersion{}, ReturnInputOnNoop: true}).BuildUpdater(), changedRaw: o.changed}
	empty, err := p.FromUnstructured(map[string]any{})
	if err != nil {
		b.Fatal(err)
	}
	if s.base, err = p.FromUnstructured(o.base); err != nil {
		b.Fatal(err)
	}
	if s.changed, err = p.FromUnstructured(o.changed); err != nil {
		b.Fatal(err)
	}
	live, managed, err := s.updater.Apply(empty, s.base, "v1", fieldpath.ManagedFields{}, "set:base", false)
	if err != nil {
		b.Fatal(err)
	}
	if o.coOwner != nil {
		co, err := p.FromUnstructured(o.coOwner)
		if err != nil {
			b.Fatal(err)
		}
		if live, managed, err = s.updater.Apply(live, co, "v1", managed, "cli:override", false); err != nil {
			b.Fatal(err)
		}
	}
	s.live, s.managed = live, managed
	// Check the result before timing it.
	got, _, err := s.updater.Apply(s.live, s.changed, "v1", s.managed, "set:base", false)
	if err != nil {
		b.Fatal(err)
	}
	want, err := normalize(o.expected, "")
	if err != nil {
		b.Fatal(err)
	}
	gotTree, err := normalize(got.AsValue().Unstructured(), "")
	if err != nil {
		b.Fatal(err)
	}
	if !equal(gotTree, want) {
		b.Fatalf("structured-merge-diff result %s, want %s", render(gotTree), render(want))
	}
	return s
}

func (s *smdState) apply(b *testing.B, parse bool) {
	changed := s.changed
	if parse {
		var err error
		if changed, err = typed.DeducedParseableType.FromUnstructured(s.changedRaw); err != nil {
			b.Fatal(err)
		}
	}
	if _, _, err := s.updater.Apply(s.live, changed, "v1", s.managed, "set:base", false); err != nil {
		b.Fatal(err)
	}
}

func (s *smdState) noop(b *testing.B) {
	if _, _, err := s.updater.Apply(s.live, s.base, "v1", s.managed, "set:base", false); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkApply times, for each object of the grid, a no-op apply, an
// apply of one changed value (with the intent compiled once, as the hub
// does for a resource shared by many cells, and compiled on every apply),
// and the same with sigs.k8s.io/structured-merge-diff measured in the same
// run. Our cases report x-vs-smd: how many times faster than the matching
// structured-merge-diff case.
//
//	go test -run '^$' -bench BenchmarkApply -benchmem ./apply/
func BenchmarkApply(b *testing.B) {
	for _, o := range benchObjects() {
		schema := DefaultSchema(o.kind)
		base := mustCompile(b, o.kind, "x", o.base, schema)
		changed := mustCompile(b, o.kind, "x", o.changed, schema)
		res, err := Apply(nil, "set:base", base, Options{})
		if err != nil {
			b.Fatal(err)
		}
		live := res.Object
		if o.coOwner != nil {
			co := mustCompile(b, o.kind, "x", o.coOwner, schema)
			if res, err = Apply(live, "cli:override", co, Options{}); err != nil {
				b.Fatal(err)
			}
			live = res.Object
		}
		// Check the results before timing them.
		if r, err := Apply(live, "set:base", base, Options{}); err != nil || r.Changed || r.Object != live {
			b.Fatalf("%s: re-apply is not a no-op: %v", o.name, err)
		}
		if r, err := Apply(live, "set:base", changed, Options{}); err != nil || !r.Changed || !equal(r.Object.Value, changed.Tree()) {
			b.Fatalf("%s: changed apply: %v", o.name, err)
		}
		smd := newSMD(b, o)

		// The ratio against structured-merge-diff is measured in this run by
		// interleaving short bursts of ours and theirs, so that the load of a
		// shared machine weighs on both alike. It is measured once per case.
		ratios := map[string][2]float64{}
		ratio := func(b *testing.B, name string, ours, ref func()) {
			b.StopTimer()
			r, ok := ratios[name]
			if !ok {
				o, t := interleave(ours, ref)
				r = [2]float64{o, t}
				ratios[name] = r
			}
			b.ReportMetric(r[1]/r[0], "x-vs-smd")
			b.ReportMetric(r[1]/1e3, "smd-cpu-µs/op")
		}
		noop := func() {
			if r, err := Apply(live, "set:base", base, Options{}); err != nil || r.Changed {
				b.Fatal("not a no-op")
			}
		}
		change := func() {
			if r, err := Apply(live, "set:base", changed, Options{}); err != nil || !r.Changed {
				b.Fatal("not changed")
			}
		}
		compileChange := func() {
			in, err := Compile(o.kind, "x", o.changed, schema)
			if err != nil {
				b.Fatal(err)
			}
			if r, err := Apply(live, "set:base", in, Options{}); err != nil || !r.Changed {
				b.Fatal("not changed")
			}
		}
		smdNoop := func() { smd.noop(b) }
		smdChanged := func() { smd.apply(b, false) }
		smdParseChanged := func() { smd.apply(b, true) }
		loop := func(f func()) func(b *testing.B) {
			return func(b *testing.B) {
				b.ReportAllocs()
				start := cputime.Used()
				for i := 0; i < b.N; i++ {
					f()
				}
				b.ReportMetric(float64(cputime.Used()-start)/float64(b.N), "cpu-ns/op")
			}
		}

		b.Run(o.name+"/noop", func(b *testing.B) {
			loop(noop)(b)
			ratio(b, "noop", noop, smdNoop)
		})
		b.Run(o.name+"/noop-hashtree", loop(func() {
			if !live.Current("set:base", HashTree(o.base, schema)) {
				b.Fatal("not current")
			}
		}))
		b.Run(o.name+"/changed", func(b *testing.B) {
			loop(change)(b)
			ratio(b, "changed", change, smdChanged)
		})
		b.Run(o.name+"/compile+changed", func(b *testing.B) {
			loop(compileChange)(b)
			ratio(b, "compile+changed", compileChange, smdParseChanged)
		})
		b.Run(o.name+"/smd-noop", loop(smdNoop))
		b.Run(o.name+"/smd-changed", loop(smdChanged))
		b.Run(o.name+"/smd-parse+changed", loop(smdParseChanged))
	}
}

// BenchmarkDiff times the readable diff of a changed object.
func BenchmarkDiff(b *testing.B) {
	for _, o := range benchObjects() {
		schema := DefaultSchema(o.kind)
		before := &Object{Kind: o.kind, Name: "x", Value: mustCompile(b, o.kind, "x", o.base, schema).Tree()}
		after := &Object{Kind: o.kind, Name: "x", Value: mustCompile(b, o.kind, "x", o.changed, schema).Tree()}
		if d := Diff(before, after, schema); len(d) != 1 {
			b.Fatalf("%s: diff %v, want one change", o.name, d)
		}
		b.Run(o.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				Diff(before, after, schema)
			}
		})
	}
}

// interleave returns the CPU time per call of ours and of ref, measured in
// ten alternating bursts of about 10 ms of CPU each.
func interleave(ours, ref func()) (oursNs, refNs float64) {
	ours()
	ref()
	burst := func(f func()) (time.Duration, int) {
		n, start := 0, cputime.Used()
		for {
			for i := 0; i < 16; i++ {
				f()
			}
			n += 16
			if d := cputime.Used() - start; d >= 10*time.Millisecond {
				return d, n
			}
		}
	}
	var to, tr time.Duration
	var no, nr int
	for round := 0; round < 10; round++ {
		d, n := burst(ours)
		to, no = to+d, no+n
		d, n = burst(ref)
		tr, nr = tr+d, nr+n
	}
	return float64(to) / float64(no), float64(tr) / float64(nr)
}
