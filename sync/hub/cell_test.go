package hub

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/store"
)

// The per-cell record is pure: these tests drive it with intents, stored
// records and write results, and need no etcd.

// cellHarness drives one cellState as the apply worker and the writer
// would, with a counter standing in for etcd's revision.
type cellHarness struct {
	t     *testing.T
	c     *cellState
	tally *tally
	m     *compiledModel
	maxOp int
	now   time.Time
	rev   int64
}

func newCellHarness(t *testing.T, ws ...*workload) *cellHarness {
	h := &cellHarness{t: t, tally: newTally(), maxOp: 1 << 20, now: time.Unix(1000, 0), rev: 100}
	h.c = newCellState("c1", h.tally)
	h.c.register(model.Cell{Name: "c1", Zone: "z1"})
	h.setModel("commit1", ws...)
	return h
}

func (h *cellHarness) setModel(commit string, ws ...*workload) {
	m := &compiledModel{commit: commit, workloads: map[string]*workload{}, bodies: map[string][]byte{}, errs: map[string]error{}}
	for _, w := range ws {
		m.workloads[w.id] = w
		m.ids = append(m.ids, w.id)
		for hash, b := range w.bodies {
			m.bodies[hash] = b
		}
	}
	slices.Sort(m.ids)
	m.shared = sharedObjects(m.workloads)
	h.m = m
}

func (h *cellHarness) plan() *cellWrite {
	h.t.Helper()
	bodies := newBodyCache()
	bodies.retain(h.m.bodies)
	w, wait, errs := h.c.plan(planInput{model: h.m, bodies: bodies, bodyStored: func(string) bool { return false },
		maxOp: h.maxOp, immediateRestarts: 3, now: h.now})
	if len(errs) > 0 {
		h.t.Fatalf("plan: %v", errs)
	}
	if wait > 0 {
		// Backing off: time passes in the harness.
		h.now = h.now.Add(wait)
		return h.plan()
	}
	return w
}

// land lands w in one transaction, except the ops whose keys are in lost,
// which lose their compare-and-swap to the given current value.
func (h *cellHarness) land(w *cellWrite, lost map[string]store.KV) (again bool, delay time.Duration, n int) {
	h.rev++
	res := store.WriteResult{Revisions: make([]int64, len(w.ops)), Revision: h.rev}
	for i, op := range w.ops {
		if cur, ok := lost[op.Key]; ok {
			cur.Key = op.Key
			res.Conflicts = append(res.Conflicts, store.Conflict{Op: op, Current: cur})
			continue
		}
		res.Revisions[i] = h.rev
	}
	return h.c.landed(w, res, 3, h.now)
}

// describe renders a write as "put src" / "del src" / "body", with the CAS
// revision of each record op.
func describe(w *cellWrite) []string {
	if w == nil {
		return nil
	}
	var out []string
	for i, op := range w.ops {
		switch {
		case w.srcs[i] == "":
			out = append(out, "body")
		case op.Delete:
			out = append(out, fmt.Sprintf("del %s@%d", w.srcs[i], *op.IfModRevision))
		default:
			out = append(out, fmt.Sprintf("put %s@%d", w.srcs[i], *op.IfModRevision))
		}
	}
	return out
}

func configItem(name, value string) (model.Item, []byte) {
	body, hash, err := model.EncodeObject(&model.Config{Header: model.Header{Kind: model.KindConfig, Metadata: model.Meta{Name: name}}, Data: map[string]string{"k": value}})
	if err != nil {
		panic(err)
	}
	return model.Item{Kind: model.KindConfig, Name: name, Spec: hash}, body
}

func setOf(name string, mode model.ApplyMode, configs ...string) *workload {
	w := &workload{id: workloadID(model.KindSelectorSyncSet, name), kind: model.KindSelectorSyncSet, name: name, mode: mode, bodies: map[string][]byte{}}
	for _, c := range configs {
		n, v, _ := strings.Cut(c, "=")
		it, body := configItem(n, v)
		w.items = append(w.items, it)
		w.bodies[it.Spec] = body
	}
	return w
}

func lrpItem(name string, idx ...int32) model.Item {
	return model.Item{Kind: model.KindLRP, Name: name, Spec: "spec-" + name, Indexes: idx}
}

func TestCellPlan(t *testing.T) {
	sync := setOf("s", model.ApplySync, "a=1")
	upsert := setOf("u", model.ApplyUpsert, "x=1")
	tests := []struct {
		name string
		// stored records before the plan, by source; intents by source.
		stored     map[string]record
		intents    map[string][]model.Item
		unregister bool
		maxOp      int
		want       []string
		wantRefuse string
	}{
		{name: "new records are created", intents: map[string][]model.Item{sync.id: sync.items},
			want: []string{"put SelectorSyncSet/s@0"}},
		{name: "an unchanged record is not written", stored: map[string]record{sync.id: {a: model.Assignment{Source: sync.id, Commit: "old", Items: sync.items}, rev: 7}},
			intents: map[string][]model.Item{sync.id: sync.items}},
		{name: "a changed record is a compare-and-swap on its revision", stored: map[string]record{sync.id: {a: model.Assignment{Source: sync.id, Items: []model.Item{{Kind: model.KindConfig, Name: "a", Spec: "old"}}}, rev: 7}},
			intents: map[string][]model.Item{sync.id: sync.items}, want: []string{"put SelectorSyncSet/s@7"}},
		{name: "a Sync record nobody wants is deleted", stored: map[string]record{sync.id: {a: model.Assignment{Source: sync.id, Items: sync.items}, rev: 7}},
			want: []string{"del SelectorSyncSet/s@7"}},
		{name: "an Upsert record is kept while the cell lives", stored: map[string]record{upsert.id: {a: model.Assignment{Source: upsert.id, Upsert: true, Items: upsert.items}, rev: 8}}},
		{name: "an Upsert record goes with its cell", stored: map[string]record{upsert.id: {a: model.Assignment{Source: upsert.id, Upsert: true, Items: upsert.items}, rev: 8}},
			unregister: true, want: []string{"del SelectorSyncSet/u@8"}},
		{name: "an undecodable record is overwritten at its revision", stored: map[string]record{sync.id: {rev: 9, broken: true}},
			intents: map[string][]model.Item{sync.id: sync.items}, want: []string{"put SelectorSyncSet/s@9"}},
		{name: "an undecodable record nobody wants is deleted", stored: map[string]record{upsert.id: {rev: 9, broken: true}},
			want: []string{"del SelectorSyncSet/u@9"}},
		{name: "a record over the size limit is refused, the others written", maxOp: 300,
			intents: map[string][]model.Item{sync.id: sync.items, "LRP/big": {{Kind: model.KindLRP, Name: "big", Spec: strings.Repeat("x", 400)}}},
			want:    []string{"put SelectorSyncSet/s@0"}, wantRefuse: "LRP/big on cell c1: the assignment is"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newCellHarness(t, sync, upsert)
			if tt.maxOp > 0 {
				h.maxOp = tt.maxOp
			}
			for src, r := range tt.stored {
				h.c.loadRecord(src, r)
			}
			for src, items := range tt.intents {
				h.c.setIntent(src, items)
			}
			if tt.unregister {
				h.c.unregister()
			}
			w := h.plan()
			if got := describe(w); !slices.Equal(got, tt.want) {
				t.Errorf("plan = %v, want %v", got, tt.want)
			}
			_, _, refused, _ := h.c.status()
			if got := strings.Join(refused, "\n"); (tt.wantRefuse == "") != (got == "") || !strings.Contains(got, tt.wantRefuse) {
				t.Errorf("refused = %q, want %q", got, tt.wantRefuse)
			}
			if w != nil {
				h.land(w, nil)
			}
			ts := h.tally.snapshot()
			if tt.wantRefuse == "" && ts.totals.of(flagPending) != 0 {
				t.Errorf("%d sources still pending after the write landed", ts.totals.of(flagPending))
			}
			if tt.wantRefuse != "" && (ts.totals.of(flagPending) != 1 || ts.totals.of(flagRefused) != 1) {
				t.Errorf("refused record: tally %+v, want it pending and refused", ts.totals)
			}
		})
	}
}

// TestCellRecordsCarryTheRestartPolicy: every record with an LRP tells the
// cell how many crashes it restarts itself (issue #14, item 9).
func TestCellRecordsCarryTheRestartPolicy(t *testing.T) {
	set := setOf("s", model.ApplySync, "a=1")
	h := newCellHarness(t, set)
	h.c.setIntent("LRP/web", []model.Item{lrpItem("web", 0)})
	h.c.setIntent(set.id, set.items)
	w := h.plan()
	if got := w.next["LRP/web"].ImmediateRestarts; got != 3 {
		t.Errorf("LRP record's ImmediateRestarts = %d, want the hub's 3", got)
	}
	if got := w.next[set.id].ImmediateRestarts; got != 0 {
		t.Errorf("a record without LRP carries ImmediateRestarts %d", got)
	}
}

// TestCellWriteLifecycle follows one cell through writes that land, lose
// and fail. A write whose every compare-and-swap lost is not applied: the
// cell's commit stays where it was (issue #14, item 8).
func TestCellWriteLifecycle(t *testing.T) {
	set := setOf("s", model.ApplySync, "a=1")
	h := newCellHarness(t, set)
	h.c.setIntent(set.id, set.items)
	w := h.plan()
	h.land(w, nil)
	h.c.setReport(h.rev)
	if st, _, _, _ := h.c.status(); !st.Applied || st.Commit != "commit1" {
		t.Fatalf("after the first write and a report: %+v, want applied at commit1", st)
	}

	// Commit 2 changes the set; the write is in flight when the intent
	// changes again: the cell is planned again once it lands.
	set2 := setOf("s", model.ApplySync, "a=2")
	h.setModel("commit2", set2)
	h.c.setIntent(set.id, set2.items)
	w = h.plan()
	if h.plan() != nil {
		t.Fatal("planned a second write while one is in flight")
	}
	if again, _, _ := h.land(w, nil); !again {
		t.Error("a cell that changed during its write is not planned again")
	}
	h.c.setReport(h.rev)
	if w = h.plan(); w != nil {
		t.Fatalf("nothing changed since, but planned %v", describe(w))
	}

	// Commit 3: every compare-and-swap of the write loses.
	set3 := setOf("s", model.ApplySync, "a=3")
	h.setModel("commit3", set3)
	h.c.setIntent(set.id, set3.items)
	w = h.plan()
	key := store.DesiredKey("c1", set.id)
	foreign, _ := model.Marshal(model.Assignment{Source: set.id, Commit: "someone", Items: set.items})
	again, _, lost := h.land(w, map[string]store.KV{key: {Value: foreign, ModRevision: 555}})
	if !again || lost != 1 {
		t.Errorf("lost write: again %v, lost %d", again, lost)
	}
	h.c.setReport(h.rev)
	if st, _, _, _ := h.c.status(); st.Applied || st.Commit != "commit2" {
		t.Errorf("after a write that lost every compare-and-swap: %+v, want not applied, still at commit2", st)
	}
	if got := describe(h.plan()); !slices.Equal(got, []string{"put SelectorSyncSet/s@555"}) {
		t.Errorf("after the loss, plan = %v, want a put at the adopted revision 555", got)
	}
}

// TestCellLostRoundsAreBounded: a key whose compare-and-swap keeps losing
// (an undecodable value rewritten by someone else) is repaired at the
// revision it holds, and after three losses in a row the cell backs off and
// counts as waiting in a retry (issue #14, item 4).
func TestCellLostRoundsAreBounded(t *testing.T) {
	set := setOf("s", model.ApplySync, "a=1")
	h := newCellHarness(t, set)
	h.c.setIntent(set.id, set.items)
	key := store.DesiredKey("c1", set.id)
	var delays []time.Duration
	for round := 1; round <= 5; round++ {
		w := h.plan()
		if w == nil {
			t.Fatalf("round %d: nothing planned", round)
		}
		if round > 1 {
			if got := *w.ops[0].IfModRevision; got != int64(1000+round-1) {
				t.Errorf("round %d: CAS at %d, want the garbage's revision %d", round, got, 1000+round-1)
			}
		}
		_, d, _ := h.land(w, map[string]store.KV{key: {Value: []byte("{garbage"), ModRevision: int64(1000 + round)}})
		delays = append(delays, d)
	}
	want := []time.Duration{0, 0, 100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond}
	if !slices.Equal(delays, want) {
		t.Errorf("delays = %v, want %v", delays, want)
	}
	if ts := h.tally.snapshot(); ts.retrying != 1 {
		t.Errorf("retrying = %d, want the cell counted as waiting in a retry", ts.retrying)
	}
	// The next round wins: the retry ends.
	w := h.plan()
	h.land(w, nil)
	if ts := h.tally.snapshot(); ts.retrying != 0 || ts.totals.of(flagPending) != 0 {
		t.Errorf("after a win: %+v", ts)
	}
}

// TestCellFailedWriteBacksOff: a write etcd refused is retried with a
// doubling delay and keeps its sources pending.
func TestCellFailedWriteBacksOff(t *testing.T) {
	set := setOf("s", model.ApplySync, "a=1")
	h := newCellHarness(t, set)
	h.c.setIntent(set.id, set.items)
	var delays []time.Duration
	for range 4 {
		if h.plan() == nil {
			t.Fatal("nothing planned")
		}
		delays = append(delays, h.c.failed(errors.New("etcdserver: mvcc: database space exceeded"), h.now))
	}
	if want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}; !slices.Equal(delays, want) {
		t.Errorf("delays = %v, want %v", delays, want)
	}
	ts := h.tally.snapshot()
	if ts.retrying != 1 || ts.writes != 0 || ts.totals.of(flagPending) != 1 {
		t.Errorf("tally %+v: want one cell retrying, nothing in flight, its source pending", ts)
	}
	_, _, _, retry := h.c.status()
	if retry == nil || !strings.Contains(retry.Error(), "database space exceeded") {
		t.Errorf("retry error = %v", retry)
	}
}

// TestCellMergedBodyOverTheLimit: two sets carry the same Config with
// different values; each body fits, the merge does not. Only that object
// on this cell is refused: its items keep the last good merge, and the
// sets' other items are written (issue #14, item 1).
func TestCellMergedBodyOverTheLimit(t *testing.T) {
	big := strings.Repeat("v", 150)
	a := setOf("a", model.ApplySync, "shared=x"+big, "own-a=1")
	b := setOf("b", model.ApplySync, "shared=y"+big, "own-b=1")
	// Different values for the same field conflict; give b another key.
	sharedB, bodyB := configItemData("shared", map[string]string{"other": big})
	b.items[0], b.bodies = sharedB, map[string][]byte{sharedB.Spec: bodyB, b.items[1].Spec: b.bodies[b.items[1].Spec]}
	h := newCellHarness(t, a, b)
	h.c.setIntent(a.id, a.items)
	h.c.setIntent(b.id, b.items)
	// Limit: a record fits, each Config fits, the merge does not.
	h.maxOp = len(bodyB) + 60 + (store.DefaultMaxTxnBytes - store.DefaultMaxBodyBytes)
	w := h.plan()
	got := describe(w)
	if !slices.Equal(got, []string{"put SelectorSyncSet/a@0", "put SelectorSyncSet/b@0"}) {
		t.Fatalf("plan = %v, want both records and no merged body", got)
	}
	for _, src := range []string{a.id, b.id} {
		for _, it := range w.next[src].Items {
			if it.Name == "shared" {
				t.Errorf("%s still names the over-limit object: %+v", src, it)
			}
		}
		if len(w.next[src].Items) != 1 {
			t.Errorf("%s lost its own items: %+v", src, w.next[src].Items)
		}
	}
	_, _, refused, _ := h.c.status()
	if len(refused) != 2 || !strings.Contains(refused[0], "Config/shared on cell c1: the body merged from 2 workloads is") {
		t.Errorf("refused = %q", refused)
	}
	h.land(w, nil)
	if ts := h.tally.snapshot(); ts.totals.of(flagRefused) != 2 {
		t.Errorf("refused flags = %d, want both sources", ts.totals.of(flagRefused))
	}
}

func configItemData(name string, data map[string]string) (model.Item, []byte) {
	body, hash, err := model.EncodeObject(&model.Config{Header: model.Header{Kind: model.KindConfig, Metadata: model.Meta{Name: name}}, Data: data})
	if err != nil {
		panic(err)
	}
	return model.Item{Kind: model.KindConfig, Name: name, Spec: hash}, body
}

// TestCellRestarts: a crash that is the hub's to restart re-puts the
// record carrying the instance once due, and only while it is still
// crashed with the same count.
func TestCellRestarts(t *testing.T) {
	policy := RestartPolicy{Backoff: time.Minute}.withDefaults()
	tests := []struct {
		name    string
		crashes int
		after   time.Duration
		change  func(c *cellState)
		want    []string
	}{
		{name: "the cell's own restart", crashes: 3, after: time.Hour},
		{name: "not due yet", crashes: 4, after: 30 * time.Second},
		{name: "due", crashes: 4, after: time.Minute, want: []string{"put LRP/web@101"}},
		{name: "running again", crashes: 4, after: time.Minute, change: func(c *cellState) {
			c.setActual("LRP/web/0", model.Actual{Name: "web", Index: 0, State: model.StateRunning}, policy, time.Unix(1000, 0))
		}},
		{name: "instance gone", crashes: 4, after: time.Minute, change: func(c *cellState) { c.dropActual("LRP/web/0") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newCellHarness(t)
			h.c.setIntent("LRP/web", []model.Item{lrpItem("web", 0)})
			h.land(h.plan(), nil)
			_, scheduled := h.c.setActual("LRP/web/0", model.Actual{Name: "web", Index: 0, State: model.StateCrashed, CrashCount: tt.crashes}, policy, h.now)
			if scheduled != (tt.crashes > 3) {
				t.Errorf("scheduled = %v", scheduled)
			}
			if tt.change != nil {
				tt.change(h.c)
			}
			h.now = h.now.Add(tt.after)
			w := h.plan()
			if got := describe(w); !slices.Equal(got, tt.want) {
				t.Fatalf("plan = %v, want %v", got, tt.want)
			}
			if w != nil {
				h.land(w, nil)
				if w := h.plan(); w != nil {
					t.Errorf("restarted twice: %v", describe(w))
				}
			}
		})
	}
}

// TestCellForget: a cell that is gone is forgotten once its records are
// deleted and its reports are gone, and leaves nothing in the tally.
func TestCellForget(t *testing.T) {
	set := setOf("s", model.ApplySync, "a=1")
	h := newCellHarness(t, set)
	h.c.setIntent(set.id, set.items)
	h.land(h.plan(), nil)
	h.c.setActual("LRP/web/0", model.Actual{Name: "web", Index: 0, State: model.StateRunning}, RestartPolicy{}.withDefaults(), h.now)
	h.c.unregister()
	h.c.setIntent(set.id, nil)
	if h.c.forgettable() {
		t.Fatal("forgettable while its record is stored")
	}
	h.land(h.plan(), nil)
	if h.c.forgettable() {
		t.Fatal("forgettable while its instance report is there")
	}
	h.c.dropActual("LRP/web/0")
	if !h.c.forgettable() {
		t.Fatal("not forgettable once nothing is left")
	}
	h.c.release()
	if ts := h.tally.snapshot(); len(ts.bySrc) != 0 || len(ts.lrps) != 0 || ts.writes != 0 || ts.retrying != 0 {
		t.Errorf("tally after forgetting: %+v", ts)
	}
}
