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

// hostileFiles are the costliest shapes found for the parser, each as large
// as the loader reads; wantBudget marks those that must hit model.MaxNodes.
var hostileFiles = []struct {
	name       string
	data       string
	wantBudget bool
}{
	{"alias bomb 9 KB", aliasBomb(1000, 1000), true},
	{"alias bomb at the size limit", aliasBomb(8000, (loader.MaxFileSize-len(aliasBomb(8000, 0)))/7), true},
	{"aliased env maps", "apiVersion: cellsync.io/v1\nkind: SelectorSyncSet\nmetadata: {name: s}\nspec:\n  resources:\n" +
		"  - {kind: LRP, metadata: {name: a}, spec: {image: x, env: &e {" + envKeys(3000) + "}}}\n" +
		strings.Repeat("  - {kind: LRP, metadata: {name: a}, spec: {image: x, env: *e}}\n", 200), true},
	{"one long list", fill("apiVersion: cellsync.io/v1\nkind: LRP\nmetadata: {name: s}\nspec: {image: x, command: [", "a,", "a]}\n"), false},
	{"an error per item", fill("apiVersion: cellsync.io/v1\nkind: LRP\nmetadata: {name: s}\nspec:\n  image: x\n  command: [", "[],", "a]\n"), false},
	{"an error per key", fill("apiVersion: cellsync.io/v1\nkind: LRP\nmetadata: {name: s}\nspec:\n  image: x\n  env: {", "1: ,", "}\n"), false},
	{"a long unknown field", fill("apiVersion: cellsync.io/v1\nkind: LRP\nmetadata: {name: s}\nspec:\n  image: x\n  bad: [", "a,", "a]\n"), false},
	{"deep nesting", fill("apiVersion: cellsync.io/v1\nkind: Config\nmetadata: {name: s}\ndata: ", "[", ""), false},
	{"documents", fill("", "---\n{kind: Config, metadata: {name: c}}\n", ""), false},
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
				if errors.As(err, &me) && strings.Contains(me.Msg, fmt.Sprintf("more than %d YAML nodes", model.MaxNodes)) {
					budget = me
				}
			}
			switch {
			case tt.wantBudget && budget == nil:
				t.Errorf("no node-budget error; got %d errors: %v", len(errs), head(errs))
			case tt.wantBudget && (budget.File != "f.yaml" || budget.Line == 0):
				t.Errorf("budget error %q lacks file and line", budget)
			case !tt.wantBudget && budget != nil:
				t.Errorf("a file without aliases hit the node budget: %v", budget)
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
	files := append([]struct {
		name       string
		data       string
		wantBudget bool
	}{{"baseline: ordinary workloads", realisticFile(), false}}, hostileFiles...)
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
