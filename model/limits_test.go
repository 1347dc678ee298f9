package model_test

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/cellsync/cellsync/internal/cputime"
	"github.com/cellsync/cellsync/loader"
	"github.com/cellsync/cellsync/model"
)

// maxParseBytes is the memory any file within loader.MaxFileSize may cost
// to parse (issue 15: ≤ 64 MB). Allocation is counted, not peak heap, so
// the bound is conservative and does not depend on when the GC runs.
const maxParseBytes = 64 << 20

// aliasBomb is a set whose resources repeat one LRP by alias, the LRP
// carrying a command list of listLen items: uses × listLen nodes from a file
// of about 2 × (listLen + 4 × uses) bytes.
func aliasBomb(listLen, uses int) string {
	var b strings.Builder
	b.WriteString("apiVersion: cellsync.io/v1\nkind: SelectorSyncSet\nmetadata: {name: s}\nspec:\n  resources:\n")
	b.WriteString("  - &r {kind: LRP, metadata: {name: a}, spec: {image: x, command: [")
	b.WriteString(strings.TrimSuffix(strings.Repeat("a,", listLen), ","))
	b.WriteString("]}}\n")
	b.WriteString(strings.Repeat("  - *r\n", uses))
	return b.String()
}

// fill repeats unit between head and tail up to loader.MaxFileSize bytes.
func fill(head, unit, tail string) string {
	n := (loader.MaxFileSize - len(head) - len(tail)) / len(unit)
	return head + strings.Repeat(unit, n) + tail
}

var (
	overNodes = fmt.Sprintf("the file decodes to more than %d YAML nodes", model.MaxNodes)
	overText  = fmt.Sprintf("the file decodes to more than %d bytes of text", model.MaxText)
)

// hostileFile is a file built to cost the parser as much as possible;
// wantBudget is the budget error it must meet, if any.
type hostileFile struct {
	name, data, wantBudget string
}

// hostileFiles are the costliest shapes found for the parser, each at most
// as large as the loader reads.
var hostileFiles = []hostileFile{
	{"alias bomb 9 KB", aliasBomb(1000, 1000), overNodes},
	{"alias bomb at the size limit", aliasBomb(8000, (loader.MaxFileSize-len(aliasBomb(8000, 0)))/7), overNodes},
	{"aliased long text", "apiVersion: cellsync.io/v1\nkind: Config\nmetadata: {name: c, annotations: {a: &t " + strings.Repeat("x", 100_000) + "}}\ndata:\n" +
		aliasedKeys(20), overText},
	{"aliased env maps", "apiVersion: cellsync.io/v1\nkind: SelectorSyncSet\nmetadata: {name: s}\nspec:\n  resources:\n" +
		"  - {kind: LRP, metadata: {name: a}, spec: {image: x, env: &e {" + envKeys(3000) + "}}}\n" +
		strings.Repeat("  - {kind: LRP, metadata: {name: a}, spec: {image: x, env: *e}}\n", 200), overNodes},
	{"one long list", fill("apiVersion: cellsync.io/v1\nkind: LRP\nmetadata: {name: s}\nspec: {image: x, command: [", "a,", "a]}\n"), ""},
	{"an error per item", fill("apiVersion: cellsync.io/v1\nkind: LRP\nmetadata: {name: s}\nspec:\n  image: x\n  command: [", "[],", "a]\n"), ""},
	{"an error per key", fill("apiVersion: cellsync.io/v1\nkind: LRP\nmetadata: {name: s}\nspec:\n  image: x\n  env: {", "1: ,", "}\n"), ""},
	{"a long unknown field", fill("apiVersion: cellsync.io/v1\nkind: LRP\nmetadata: {name: s}\nspec:\n  image: x\n  bad: [", "a,", "a]\n"), ""},
	{"one long string", fill("apiVersion: cellsync.io/v1\nkind: Config\nmetadata: {name: s}\ndata: {a: ", "x", "}\n"), ""},
	{"deep nesting", fill("apiVersion: cellsync.io/v1\nkind: Config\nmetadata: {name: s}\ndata: ", "[", ""), ""},
	{"documents", fill("", "---\n{kind: Config, metadata: {name: c}}\n", ""), ""},
}

// aliasedKeys returns n entries of a block mapping, each an alias of t.
func aliasedKeys(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "  k%d: *t\n", i)
	}
	return b.String()
}

// TestParseBounds parses each hostile file: it costs at most maxParseBytes,
// an alias bomb is an error at a line of the file, and no file reports more
// than model.MaxErrors problems (plus the one saying how many were left out).
func TestParseBounds(t *testing.T) {
	for _, tt := range hostileFiles {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.data) > loader.MaxFileSize {
				t.Fatalf("test file is %d bytes, over the loader's %d", len(tt.data), loader.MaxFileSize)
			}
			var errs []error
			alloc := allocated(func() { _, errs = model.ParseFile("f.yaml", []byte(tt.data)) })
			if alloc > maxParseBytes {
				t.Errorf("parsing allocated %d MB, over %d MB", alloc>>20, maxParseBytes>>20)
			}
			if len(errs) > model.MaxErrors+1 {
				t.Errorf("%d errors, over %d", len(errs), model.MaxErrors+1)
			}
			var budget *model.Error
			for _, err := range errs {
				var me *model.Error
				if errors.As(err, &me) && (strings.HasPrefix(me.Msg, overNodes) || strings.HasPrefix(me.Msg, overText)) {
					budget = me
				}
			}
			switch {
			case tt.wantBudget != "" && (budget == nil || !strings.HasPrefix(budget.Msg, tt.wantBudget)):
				t.Errorf("no error %q; got %d errors: %v", tt.wantBudget, len(errs), head(errs))
			case tt.wantBudget != "" && (budget.File != "f.yaml" || budget.Line == 0):
				t.Errorf("budget error %q lacks file and line", budget)
			case tt.wantBudget == "" && budget != nil:
				t.Errorf("a file without aliases hit a budget: %v", budget)
			}
		})
	}
}

// TestParseErrorCap lists the first MaxErrors problems of a file and says how
// many more there are.
func TestParseErrorCap(t *testing.T) {
	src := "apiVersion: cellsync.io/v1\nkind: LRP\nmetadata: {name: s}\nspec:\n  image: x\n  command:\n" + strings.Repeat("  - [a]\n", 250)
	objs, errs := model.ParseFile("f.yaml", []byte(src))
	if len(objs) != 0 {
		t.Errorf("a document with problems yielded %d objects", len(objs))
	}
	if len(errs) != model.MaxErrors+1 {
		t.Fatalf("got %d errors, want %d", len(errs), model.MaxErrors+1)
	}
	if first := errs[0].Error(); !strings.HasPrefix(first, "f.yaml:7: document 1: spec.command[0]: must be a string") {
		t.Errorf("first error = %q", first)
	}
	if last := errs[model.MaxErrors].Error(); last != fmt.Sprintf("f.yaml: 150 more problems not listed (at most %d are)", model.MaxErrors) {
		t.Errorf("last error = %q", last)
	}
}

// TestAliasesWithinBudget: ordinary use of anchors and aliases still works.
func TestAliasesWithinBudget(t *testing.T) {
	src := "apiVersion: cellsync.io/v1\nkind: SelectorSyncSet\nmetadata: {name: s}\nspec:\n  resources:\n" +
		"  - {kind: LRP, metadata: {name: a}, spec: {image: x, env: &env {A: b}}}\n" +
		"  - {kind: LRP, metadata: {name: b}, spec: {image: x, env: *env}}\n"
	objs, errs := model.ParseFile("f.yaml", []byte(src))
	if len(errs) > 0 || len(objs) != 1 {
		t.Fatalf("objs %d, errs %v", len(objs), errs)
	}
	if got := objs[0].(*model.SelectorSyncSet).Spec.Resources[1].LRP.Spec.Env["A"]; got != "b" {
		t.Errorf("aliased env A = %q, want b", got)
	}
}

// envKeys returns n distinct entries of a flow mapping.
func envKeys(n int) string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("K%d: v", i)
	}
	return strings.Join(keys, ", ")
}

// allocated returns the bytes f allocates.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func head(errs []error) []error {
	if len(errs) > 3 {
		return errs[:3]
	}
	return errs
}

// realisticFile is the baseline of BenchmarkParseHostile: ordinary LRPs and
// Configs up to loader.MaxFileSize.
func realisticFile() string {
	var b strings.Builder
	for i := 0; ; i++ {
		doc := fmt.Sprintf(`---
apiVersion: cellsync.io/v1
kind: LRP
metadata: {name: web-%d, labels: {team: storefront}}
spec:
  instances: 4
  selector: 'cell.zone in ["z1", "z2"]'
  image: cellsync.local/busybox:1
  command: ["/bin/busybox", "httpd", "-f", "-p", "8080"]
  env: {LOG_LEVEL: info}
  resources: {memoryMB: 64, diskMB: 128}
  configs: [{name: web-settings-%d, mountPath: /etc/web}]
---
apiVersion: cellsync.io/v1
kind: Config
metadata: {name: web-settings-%d}
data: {index.html: "<h1>served by cellsync</h1>", mode: production}
`, i, i, i)
		if b.Len()+len(doc) > loader.MaxFileSize || i >= model.MaxDocuments/2 {
			return b.String()
		}
		b.WriteString(doc)
	}
}

// BenchmarkParseHostile parses each hostile file and, as the baseline, a
// file of ordinary workloads, reporting CPU time per parse (the bound is
// 1 s) next to -benchmem's bytes (the bound is 64 MB).
func BenchmarkParseHostile(b *testing.B) {
	files := append([]hostileFile{{"baseline: ordinary workloads", realisticFile(), ""}}, hostileFiles...)
	for _, f := range files {
		b.Run(strings.ReplaceAll(f.name, " ", "_"), func(b *testing.B) {
			data := []byte(f.data)
			b.SetBytes(int64(len(data)))
			cpu := cputime.Used()
			for b.Loop() {
				model.ParseFile("f.yaml", data)
			}
			b.ReportMetric(float64(cputime.Used()-cpu)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
		})
	}
}

// maximaTests are TestParseFileErrors cases: one value over each maximum of
// limits.go, reported at its line.
func maximaTests() []struct {
	name string
	yaml string
	want []string
} {
	list := func(n int, item string) string {
		return "[" + strings.TrimSuffix(strings.Repeat(item+", ", n), ", ") + "]"
	}
	mapOf := func(n int, format string) string {
		entries := make([]string, n)
		for i := range entries {
			entries[i] = fmt.Sprintf(format, i)
		}
		return "{" + strings.Join(entries, ", ") + "}"
	}
	config := "apiVersion: cellsync.io/v1\nkind: Config\nmetadata: {name: c}\n"
	set := "apiVersion: cellsync.io/v1\nkind: SelectorSyncSet\nmetadata: {name: s}\nspec:\n  resources:\n"
	return []struct {
		name string
		yaml string
		want []string
	}{
		{"instances over the maximum", lrpHead + "  instances: 10001\n", []string{"6: spec.instances: must be between 0 and 10000, got 10001"}},
		{"memory over the maximum", lrpHead + "  resources: {memoryMB: 1048577, diskMB: 1}\n", []string{"6: spec.resources.memoryMB: must be between 1 and 1048576, got 1048577"}},
		{"disk over the maximum", lrpHead + "  resources: {memoryMB: 1, diskMB: 16777217}\n", []string{"6: spec.resources.diskMB: must be between 1 and 16777216, got 16777217"}},
		{"interval that would overflow time.Duration", lrpHead + "  healthCheck:\n    tcpPort: 80\n    intervalSeconds: 9223372037\n",
			[]string{"8: spec.healthCheck.intervalSeconds: must be between 0 (the default) and 3600, got 9223372037"}},
		{"timeout over the maximum", lrpHead + "  healthCheck: {tcpPort: 80, timeoutSeconds: 3601}\n", []string{"6: spec.healthCheck.timeoutSeconds: must be between 0 (the default) and 3600, got 3601"}},
		{"negative timeout", lrpHead + "  healthCheck: {tcpPort: 80, timeoutSeconds: -1}\n", []string{"6: spec.healthCheck.timeoutSeconds: must be between 0 (the default) and 3600, got -1"}},
		{"failure threshold over the maximum", lrpHead + "  healthCheck: {tcpPort: 80, failureThreshold: 101}\n", []string{"6: spec.healthCheck.failureThreshold: must be between 0 (the default) and 100, got 101"}},
		{"too many arguments", lrpHead + "  command: " + list(1001, "a") + "\n", []string{"6: spec.command: has 1001 arguments of 1001 bytes, more than 1000 or 131072"}},
		{"arguments too long", lrpHead + "  command: [sh, -c, " + strings.Repeat("x", 128<<10) + "]\n", []string{"6: spec.command: has 3 arguments of 131076 bytes, more than 1000 or 131072"}},
		{"health check exec too long", lrpHead + "  healthCheck:\n    exec: " + list(1001, "a") + "\n", []string{"7: spec.healthCheck.exec: has 1001 arguments"}},
		{"too many environment variables", lrpHead + "  env: " + mapOf(1001, "V%d: x") + "\n", []string{"6: spec.env: has 1001 variables"}},
		{"environment too large", lrpHead + "  env: {A: " + strings.Repeat("x", 128<<10) + "}\n", []string{"6: spec.env: has 1 variables of 131073 bytes, more than 1000 or 131072"}},
		{"too many Configs referenced", lrpHead + "  configs: " + mapList(101) + "\n", []string{"6: spec.configs: has 101 Configs, more than 100"}},
		{"mount path too long", lrpHead + "  configs: [{name: c, mountPath: /" + strings.Repeat("x", 4096) + "}]\n", []string{"6: spec.configs[0].mountPath: is 4097 bytes, more than 4096"}},
		{"image too long", "apiVersion: cellsync.io/v1\nkind: Task\nmetadata: {name: t}\nspec:\n  image: " + strings.Repeat("a", 1025) + "\n", []string{"5: spec.image: is 1025 bytes, more than 1024"}},
		{"too many Config keys", config + "data: " + mapOf(1001, "k%d: v") + "\n", []string{"4: data: has 1001 keys, more than 1000"}},
		{"too many labels", "apiVersion: cellsync.io/v1\nkind: Config\nmetadata:\n  name: c\n  labels: " + mapOf(65, "k%d: v") + "\n", []string{"5: metadata.labels: has 65 labels, more than 64"}},
		{"too many annotations", "apiVersion: cellsync.io/v1\nkind: Config\nmetadata:\n  name: c\n  annotations: " + mapOf(65, "k%d: v") + "\n", []string{"5: metadata.annotations: has 65 annotations, more than 64"}},
		{"annotation too long", "apiVersion: cellsync.io/v1\nkind: Config\nmetadata:\n  name: c\n  annotations: {a: " + strings.Repeat("x", 4097) + "}\n", []string{"5: metadata.annotations.a: is 4097 bytes, more than 4096"}},
		{"too many resources in a set", set + strings.Repeat("  - {kind: Config, metadata: {name: c}}\n", 1) + setConfigs(1000), []string{"5: spec.resources: has 1001 resources, more than 1000"}},
	}
}

// mapList returns a flow list of n Config references.
func mapList(n int) string {
	refs := make([]string, n)
	for i := range refs {
		refs[i] = fmt.Sprintf("{name: c%d, env: true}", i)
	}
	return "[" + strings.Join(refs, ", ") + "]"
}

// setConfigs returns n resources of a set, Configs with distinct names.
func setConfigs(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "  - {kind: Config, metadata: {name: c%d}}\n", i)
	}
	return b.String()
}
