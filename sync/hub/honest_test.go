package hub_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cellsync/cellsync/metrics"
	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/store"
	"github.com/cellsync/cellsync/sync/hub"
)

// Tests of issue #14: a hub that never says "synced" when it is not.

// configSet is a Sync set carrying one Config whose k is value.
func configSet(name, selector, cfg, value string) string {
	return fmt.Sprintf("apiVersion: cellsync.io/v1\nkind: SelectorSyncSet\nmetadata: {name: %s}\nspec:\n  resourceApplyMode: Sync\n  selector: '%s'\n  resources:\n  - {kind: Config, metadata: {name: %s}, data: {k: %q}}", name, selector, cfg, value)
}

// withMetrics gives the hubs started next a fresh set of metrics.
func (f *fixture) withMetrics() {
	f.t.Helper()
	m, err := metrics.NewHub(prometheus.NewRegistry())
	if err != nil {
		f.t.Fatal(err)
	}
	f.metrics = m
}

// restartOn stops the fixture's hub and starts one on c.
func (f *fixture) restartOn(c *store.Client, cfg hub.Config) {
	f.t.Helper()
	f.stop()
	f.c = c
	f.startWith(cfg)
}

// TestBodyOfHTMLCharactersIsNotInflated: 200 KB of '<' is stored as 200 KB
// (encoding/json's HTML escaping made it 1.2 MB, over etcd's request limit,
// and no later commit ever applied).
func TestBodyOfHTMLCharactersIsNotInflated(t *testing.T) {
	f := newFixture(t)
	f.putCell("c1", "z1", nil)
	f.commit("1", configSet("html", "", "page", strings.Repeat("<", 200<<10))+"\n---\n"+set("other", "Sync", "", "a=1"))
	got := f.settled("1")
	if got["c1"]["SelectorSyncSet/html"] != "Config/page" || got["c1"]["SelectorSyncSet/other"] != "Config/a" {
		t.Fatalf("assignments = %v", got)
	}
	kv, _, _ := f.c.Get(f.ctx, store.DesiredKey("c1", "SelectorSyncSet/html"))
	var a model.Assignment
	if err := store.Decode(kv, &a); err != nil {
		t.Fatal(err)
	}
	body, _, _ := f.c.Get(f.ctx, store.SpecKey(a.Items[0].Spec))
	if n := len(body.Value); n > 210<<10 {
		t.Errorf("the body is %d bytes: escaped", n)
	}
}

// TestOversizedObjectIsReportedAndTheRestApplies: an object over the limit
// of one etcd request is reported with its file, line and the limit; every
// other workload of that commit and of later commits applies.
func TestOversizedObjectIsReportedAndTheRestApplies(t *testing.T) {
	f := newFixture(t)
	f.restartOn(f.smallStore(4000), hub.Config{})
	f.putCell("c1", "z1", nil)
	big := configSet("big", "", "huge", strings.Repeat("x", 5000))
	f.commit("1", set("fine", "Sync", "", "a=1")+"\n---\n"+big)
	st := f.waitSettled("1")
	if got := f.assignments(); got["c1"]["SelectorSyncSet/fine"] != "Config/a" || got["c1"]["SelectorSyncSet/big"] != "" {
		t.Fatalf("assignments = %v, want fine written and big not", got)
	}
	c := workload(st, "SelectorSyncSet/big").Condition
	if c.State != hub.Failed || c.Reason != hub.ReasonInvalid || c.File != "f1.yaml" || c.Line != 2 ||
		!strings.Contains(c.Message, "Config huge is 50") || !strings.Contains(c.Message, "over the 3917-byte limit") {
		t.Errorf("big's condition = %+v", c)
	}
	if errs := strings.Join(st.Errors, "\n"); !strings.Contains(errs, "f1.yaml:2: document 1: spec.resources[0]: Config huge is") {
		t.Errorf("errors = %q", errs)
	}
	if st.Condition.State != hub.Failed || st.Condition.Reason != hub.ReasonWorkloadsFailed {
		t.Errorf("hub condition = %+v, want failed", st.Condition)
	}
	f.commit("2", set("fine", "Sync", "", "a=1", "b=1")+"\n---\n"+big)
	f.waitSettled("2")
	if got := f.assignments(); got["c1"]["SelectorSyncSet/fine"] != "Config/a,Config/b" {
		t.Errorf("a later commit did not apply: %v", got)
	}
}

// smallStore connects to the fixture's etcd with a small request limit.
func (f *fixture) smallStore(maxBytes int) *store.Client {
	f.t.Helper()
	c, err := store.Connect(f.ctx, store.Config{Endpoints: f.c.Etcd().Endpoints(), MaxTxnOps: 1024, MaxTxnBytes: maxBytes})
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { c.Close() })
	return c
}

// TestMergedBodyOverTheLimitRefusesOnlyThatObject: two sets carry one
// Config with different fields, each body fits and the merge does not.
// Only that object on the cell holding both is refused; the sets' other
// objects on that cell, and the cell that holds one set, are written.
func TestMergedBodyOverTheLimitRefusesOnlyThatObject(t *testing.T) {
	f := newFixture(t)
	f.restartOn(f.smallStore(1500), hub.Config{})
	f.putCell("c1", "z1", nil)
	f.putCell("c2", "z2", nil)
	pad := strings.Repeat("p", 700)
	yaml := fmt.Sprintf(`apiVersion: cellsync.io/v1
kind: SelectorSyncSet
metadata: {name: a}
spec:
  resourceApplyMode: Sync
  resources:
  - {kind: Config, metadata: {name: shared}, data: {one: %q}}
  - {kind: Config, metadata: {name: own-a}, data: {k: v}}
---
apiVersion: cellsync.io/v1
kind: SelectorSyncSet
metadata: {name: b}
spec:
  resourceApplyMode: Sync
  selector: 'cell.zone == "z1"'
  resources:
  - {kind: Config, metadata: {name: shared}, data: {two: %q}}
  - {kind: Config, metadata: {name: own-b}, data: {k: v}}`, pad, pad)
	f.commit("1", yaml)
	st := f.waitSettled("1")
	got := f.assignments()
	want := map[string]map[string]string{
		"c1": {"SelectorSyncSet/a": "Config/own-a", "SelectorSyncSet/b": "Config/own-b"},
		"c2": {"SelectorSyncSet/a": "Config/own-a,Config/shared"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("assignments = %v\nwant %v", got, want)
	}
	if st.Synced || st.Condition.Reason != hub.ReasonTooLarge {
		t.Errorf("status = synced %v %+v, want not synced, TooLarge", st.Synced, st.Condition)
	}
	if errs := strings.Join(st.Errors, "\n"); !strings.Contains(errs, "Config/shared on cell c1: the body merged from 2 workloads is") {
		t.Errorf("errors = %q", errs)
	}
}

// TestEtcdRefusingWritesIsNotSynced: an etcd over its space quota refuses
// every write; the hub says so (not synced, WriteFailed, etcd's own
// words) in its status and its metrics.
func TestEtcdRefusingWritesIsNotSynced(t *testing.T) {
	f := newFixture(t)
	srv, err := store.StartEmbedded(f.ctx, store.EmbedConfig{Dir: t.TempDir(), QuotaBackendBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	c, err := store.Connect(f.ctx, store.Config{Endpoints: srv.Endpoints(), MaxTxnOps: srv.MaxTxnOps()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	f.withMetrics()
	f.restartOn(c, hub.Config{StatusInterval: 50 * time.Millisecond})
	f.putCell("c1", "z1", nil)
	// Fill etcd until it raises its NOSPACE alarm.
	for i := 0; ; i++ {
		_, err := c.Write(f.ctx, []store.Op{{Key: fmt.Sprintf("/junk/%d", i), Value: make([]byte, 200<<10)}})
		if err != nil && strings.Contains(err.Error(), "database space exceeded") {
			break
		}
		if i > 200 {
			t.Fatalf("etcd took 40 MB over a 1 MB quota: %v", err)
		}
	}
	f.commit("1", set("s", "Sync", "", "a=1"))
	var st hub.Status
	f.eventually("the hub reports that etcd refuses writes", func() (bool, string) {
		st = f.hub.Status()
		return st.Condition.Reason == hub.ReasonWriteFailed, fmt.Sprintf("%+v", st.Condition)
	})
	if st.Synced || st.Condition.State != hub.Failed || !strings.Contains(st.Condition.Message, "database space exceeded") {
		t.Errorf("status = synced %v, %+v", st.Synced, st.Condition)
	}
	f.eventually("the metrics agree", func() (bool, string) {
		synced := testutil.ToFloat64(f.metrics.Synced)
		cond := testutil.ToFloat64(f.metrics.Condition.WithLabelValues("failed", hub.ReasonWriteFailed))
		return synced == 0 && cond == 1, fmt.Sprintf("synced %v, condition %v", synced, cond)
	})
}

// TestUndecodableRecordIsRepaired: garbage under desired/ (left before the
// hub started, or written while it runs) is overwritten by compare-and-swap
// at its revision, found by the periodic resync, not fought forever.
func TestUndecodableRecordIsRepaired(t *testing.T) {
	f := newFixture(t)
	f.withMetrics()
	key := store.DesiredKey("c1", "SelectorSyncSet/s")
	if _, err := f.c.Write(f.ctx, []store.Op{{Key: key, Value: []byte("{not json")}}); err != nil {
		t.Fatal(err)
	}
	f.stop()
	f.startWith(hub.Config{ResyncInterval: 200 * time.Millisecond})
	f.putCell("c1", "z1", nil)
	f.commit("1", set("s", "Sync", "", "a=1"))
	if got := f.settled("1"); got["c1"]["SelectorSyncSet/s"] != "Config/a" {
		t.Fatalf("assignments = %v", got)
	}
	if lost := testutil.ToFloat64(f.metrics.LostCAS); lost > 1 {
		t.Errorf("%v compare-and-swaps lost repairing a record the hub loaded", lost)
	}
	// Garbage written behind the hub's back is found by the resync.
	if _, err := f.c.Write(f.ctx, []store.Op{{Key: key, Value: []byte("garbage")}}); err != nil {
		t.Fatal(err)
	}
	f.eventually("the resync repairs the record", func() (bool, string) {
		kv, _, _ := f.c.Get(f.ctx, key)
		var a model.Assignment
		return store.Decode(kv, &a) == nil && len(a.Items) == 1, string(kv.Value)
	})
}

// TestLostRoundsAreBoundedAndCounted: while something keeps rewriting a
// record with garbage, the hub backs off instead of losing thousands of
// compare-and-swaps a second, counts what it lost, and says it is not
// synced; once the writer stops, the record is repaired.
func TestLostRoundsAreBoundedAndCounted(t *testing.T) {
	f := newFixture(t)
	f.withMetrics()
	f.stop()
	f.startWith(hub.Config{ResyncInterval: 100 * time.Millisecond})
	f.putCell("c1", "z1", nil)
	f.commit("1", set("s", "Sync", "", "a=1"))
	f.settled("1")
	key := store.DesiredKey("c1", "SelectorSyncSet/s")
	ctx, cancel := context.WithCancel(f.ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the fighter
		defer wg.Done()
		for ctx.Err() == nil {
			_, _ = f.c.Write(ctx, []store.Op{{Key: key, Value: []byte("garbage")}})
		}
	}()
	f.eventually("the hub backs off", func() (bool, string) {
		st := f.hub.Status()
		return st.Queues.Retrying == 1 && !st.Synced && st.Condition.Reason == hub.ReasonWriteFailed, fmt.Sprintf("%+v %+v", st.Queues, st.Condition)
	})
	before := testutil.ToFloat64(f.metrics.LostCAS)
	<-time.After(2 * time.Second)
	during := testutil.ToFloat64(f.metrics.LostCAS) - before
	cancel()
	wg.Wait()
	// Backing off from 100 ms doubling, two seconds hold at most a handful
	// of rounds; the hub does not get faster on a slower machine.
	if during < 1 || during > 10 {
		t.Errorf("%v compare-and-swaps lost in 2 s of fighting, want a few (counted, bounded)", during)
	}
	f.eventually("the record is repaired once the writer stops", func() (bool, string) {
		kv, _, _ := f.c.Get(f.ctx, key)
		var a model.Assignment
		st := f.hub.Status()
		return store.Decode(kv, &a) == nil && st.Synced, string(kv.Value)
	})
}

// TestAnyRegistrationChangeReevaluates: a cell upgraded in place (same key,
// new version or runtime) gains and loses the sets whose selectors read
// those fields.
func TestAnyRegistrationChangeReevaluates(t *testing.T) {
	f := newFixture(t)
	put := func(version, runtime string) {
		t.Helper()
		c := model.Cell{Name: "c1", Zone: "z1", Version: version, Runtime: runtime, Capacity: model.Capacity{MemoryMB: 4096, DiskMB: 8192, Containers: 50}}
		f.cells["c1"] = c
		val, _ := store.Encode(c)
		if _, err := f.c.Write(f.ctx, []store.Op{{Key: store.CellKey("c1"), Value: val}}); err != nil {
			t.Fatal(err)
		}
	}
	put("1.0", "sim")
	f.commit("1", set("v2", "Sync", `cell.version == "2.0"`, "a=1")+"\n---\n"+set("sim", "Sync", `cell.runtime == "sim"`, "b=1"))
	if got := f.settled("1"); got["c1"]["SelectorSyncSet/v2"] != "" || got["c1"]["SelectorSyncSet/sim"] != "Config/b" {
		t.Fatalf("before the upgrade: %v", got)
	}
	put("2.0", "containerd")
	f.eventually("the upgraded cell gains v2 and loses sim", func() (bool, string) {
		got := f.assignments()
		return got["c1"]["SelectorSyncSet/v2"] == "Config/a" && got["c1"]["SelectorSyncSet/sim"] == "", fmt.Sprint(got)
	})
}

// TestCellPosingAsAnotherIsIgnored: a registration or an actual record
// whose content names another cell or instance than its key is ignored,
// logged, counted and reported; the hub trusts the key (issue #15, item 2).
func TestCellPosingAsAnotherIsIgnored(t *testing.T) {
	f := newFixture(t)
	f.withMetrics()
	f.stop()
	f.start()
	f.putCell("c1", "z1", nil)
	f.putCell("c2", "z1", nil)
	f.commit("1", "apiVersion: cellsync.io/v1\nkind: LRP\nmetadata: {name: web}\nspec: {image: busybox, instances: 2, resources: {memoryMB: 64, diskMB: 64}}")
	before := f.settled("1")
	// c1, writing only its own keys, claims to be c2 and evacuating, and
	// reports an instance of another LRP under its own instance key.
	evil, _ := store.Encode(model.Cell{Name: "c2", Zone: "z1", State: model.CellEvacuating, Capacity: model.Capacity{MemoryMB: 4096, DiskMB: 8192, Containers: 50}})
	act, _ := store.Encode(model.Actual{Name: "other", Index: 7, State: model.StateCrashed, CrashCount: 9})
	if _, err := f.c.Write(f.ctx, []store.Op{
		{Key: store.CellKey("c1"), Value: evil},
		{Key: store.ActualKey("c1", model.InstanceID(model.KindLRP, "web", 0)), Value: act},
	}); err != nil {
		t.Fatal(err)
	}
	var st hub.Status
	f.eventually("both records reported", func() (bool, string) {
		st = f.hub.Status()
		errs := strings.Join(st.Errors, "\n")
		return strings.Contains(errs, `cells/c1 holds the registration of cell "c2", not "c1"`) &&
			strings.Contains(errs, `actual/c1/LRP/web/0 holds the state of instance "LRP/other/7", not "LRP/web/0"`), errs
	})
	if st.Condition.Reason != hub.ReasonRecordIgnored {
		t.Errorf("hub condition = %+v, want RecordIgnored", st.Condition)
	}
	if n := testutil.ToFloat64(f.metrics.IgnoredRecords.WithLabelValues("cells")) + testutil.ToFloat64(f.metrics.IgnoredRecords.WithLabelValues("actual")); n != 2 {
		t.Errorf("ignored records counted %v times, want 2", n)
	}
	for _, c := range st.Cells {
		if c.Name == "c2" && c.State == model.CellEvacuating {
			t.Error("c2 evacuating on c1's word")
		}
	}
	if after := f.assignments(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("assignments moved on a forged record:\n%v\n%v", before, after)
	}
}

// TestSelectorEvaluationErrorsAreReported: a selector that fails on some
// cells (a missing label) is reported with the evaluation error and the
// file and line, not as "no cell matches" (issue #15, item 9).
func TestSelectorEvaluationErrorsAreReported(t *testing.T) {
	f := newFixture(t)
	f.putCell("c1", "z1", map[string]string{"env": "prod"})
	f.putCell("c2", "z1", nil)
	f.commit("1", "apiVersion: cellsync.io/v1\nkind: LRP\nmetadata: {name: web}\nspec: {image: busybox, instances: 1, selector: 'cell.labels[\"tier\"] == \"web\"'}")
	st := f.waitSettled("1")
	w := workload(st, "LRP/web")
	if w.Condition.State != hub.Failed || w.Condition.Reason != hub.ReasonSelectorError || w.Condition.File != "f0.yaml" || w.Condition.Line != 2 ||
		!strings.Contains(w.Condition.Message, "failed to evaluate on 2 cells") || !strings.Contains(w.Condition.Message, "no such key: tier") {
		t.Errorf("web's condition = %+v", w.Condition)
	}
	if errs := strings.Join(st.Errors, "\n"); !strings.Contains(errs, "f0.yaml:2: LRP/web: the selector failed to evaluate on 2 cells") {
		t.Errorf("errors = %q", errs)
	}
	// Fixed: the error goes.
	f.commit("2", "apiVersion: cellsync.io/v1\nkind: LRP\nmetadata: {name: web}\nspec: {image: busybox, instances: 1, selector: 'cell.label(\"tier\", \"web\") == \"web\"'}")
	st = f.waitSettled("2")
	if w := workload(st, "LRP/web"); w.Condition.Reason == hub.ReasonSelectorError || w.UnplacedCount != 0 {
		t.Errorf("after the fix: %+v", w)
	}
}

// TestWorkloadConditions follows workloads through progressing, ready and
// failed as records are written, cells report and instances run or crash.
func TestWorkloadConditions(t *testing.T) {
	f := newFixture(t)
	f.putCell("c1", "z1", nil)
	f.commit("1", set("s", "Sync", "", "a=1")+"\n---\napiVersion: cellsync.io/v1\nkind: LRP\nmetadata: {name: web}\nspec: {image: busybox, instances: 1}")
	st := f.waitSettled("1")
	reasons := func(st hub.Status) string {
		return workload(st, "SelectorSyncSet/s").Condition.Reason + " " + workload(st, "LRP/web").Condition.Reason
	}
	if got := reasons(st); got != "WaitingForCells WaitingForCells" {
		t.Errorf("before the cell reports: %q", got)
	}
	kv, _, _ := f.c.Get(f.ctx, store.DesiredKey("c1", "LRP/web"))
	rep, _ := store.Encode(model.CellReport{AppliedRevision: kv.ModRevision + 1})
	running, _ := store.Encode(model.Actual{Name: "web", Index: 0, State: model.StateRunning})
	if _, err := f.c.Write(f.ctx, []store.Op{{Key: store.ActualKey("c1", model.ReportID), Value: rep}}); err != nil {
		t.Fatal(err)
	}
	f.eventually("set ready, LRP starting", func() (bool, string) {
		got := reasons(f.hub.Status())
		return got == "Ready Starting", got
	})
	if _, err := f.c.Write(f.ctx, []store.Op{{Key: store.ActualKey("c1", "LRP/web/0"), Value: running}}); err != nil {
		t.Fatal(err)
	}
	f.eventually("both ready", func() (bool, string) {
		st := f.hub.Status()
		return reasons(st) == "Ready Ready" && st.Condition.State == hub.Ready, reasons(st) + fmt.Sprintf(" %+v", st.Condition)
	})
	crashed, _ := store.Encode(model.Actual{Name: "web", Index: 0, State: model.StateCrashed, CrashCount: 1})
	if _, err := f.c.Write(f.ctx, []store.Op{{Key: store.ActualKey("c1", "LRP/web/0"), Value: crashed}}); err != nil {
		t.Fatal(err)
	}
	f.eventually("web failed: crashed", func() (bool, string) {
		c := workload(f.hub.Status(), "LRP/web").Condition
		return c.State == hub.Failed && c.Reason == hub.ReasonCrashed && c.Message == "1 of 1 instances crashed", fmt.Sprintf("%+v", c)
	})
	// The JSON names the condition fields as documented.
	b, _ := json.Marshal(workload(f.hub.Status(), "LRP/web"))
	if !strings.Contains(string(b), `"condition":{"state":"failed","reason":"Crashed","message":"1 of 1 instances crashed","file":"f1.yaml","line":2}`) {
		t.Errorf("JSON: %s", b)
	}
}

// TestStatusIsBounded: 400 LRPs of 10,000 instances that no cell can hold
// are aggregated per workload: /status stays small, and so does the heap
// (measured with the embedded etcd in the process, so an upper bound).
func TestStatusIsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("places 4,000,000 instances")
	}
	f := newFixture(t)
	for i := range 3 {
		f.putCell(fmt.Sprintf("c%d", i), "z1", nil)
	}
	var docs []string
	for i := range 400 {
		docs = append(docs, fmt.Sprintf("apiVersion: cellsync.io/v1\nkind: LRP\nmetadata: {name: big-%03d}\nspec: {image: busybox, instances: 10000, resources: {memoryMB: 999999, diskMB: 10}}", i))
	}
	f.commit("1", strings.Join(docs, "\n---\n"))
	// 4,000,000 placement attempts: seconds, a minute under the race
	// detector on a loaded machine.
	st := f.waitSettledWithin(2*time.Minute, "1")
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 1<<20 {
		t.Errorf("status is %d bytes, want under 1 MB", len(b))
	}
	w := workload(st, "LRP/big-000")
	if w.UnplacedCount != 10000 || len(w.Unplaced) != 1 || !strings.Contains(w.Unplaced[0], "LRP big-000: 10000 instances: needs 999999 MB") {
		t.Errorf("big-000 = %+v", w)
	}
	heap := liveHeap()
	if heap > 512<<20 {
		t.Errorf("live heap %d MB, want under 512 MB", heap>>20)
	}
	t.Logf("status of 400 unplaceable LRPs × 10,000 instances: %d bytes; live heap %d MB", len(b), heap>>20)
}
