package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/cellsync/cellsync/apply"
	"github.com/cellsync/cellsync/metrics"
	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/store"
)

// Conflict is an object that several workloads put on one cell with
// different values for the same fields. The first workload in name order
// keeps the fields; the others' values are not applied (server-side apply
// without force), so the hub never flaps between them.
type Conflict struct {
	Cell     string   `json:"cell"`
	Object   string   `json:"object"`
	Manager  string   `json:"manager"`
	Fields   []string `json:"fields"`
	Owners   []string `json:"owners"`
	Workload string   `json:"workload"`
}

// applyCell brings one cell's stored assignments to its intents, writing
// only what changed. The write is handed to the group-commit writer and
// finished in writeDone; while it is in flight the cell is not assembled
// again (its cached revisions would be stale), only marked dirty.
func (h *Hub) applyCell(ctx context.Context, t *term, cell string) error {
	start := time.Now()
	h.mu.Lock()
	if !t.haveDesired {
		// Without a desired model every record would look unwanted: never
		// prune before the first model. setDesired queues every cell.
		h.mu.Unlock()
		return nil
	}
	if t.inflight[cell] {
		t.dirty[cell] = true
		h.mu.Unlock()
		return nil
	}
	ops, next := h.assemble(t, cell)
	commit := t.commit
	if len(ops) > 0 {
		t.inflight[cell] = true
	}
	h.mu.Unlock()
	if len(ops) == 0 {
		return nil
	}
	t.writer.Submit(ctx, ops, func(res store.WriteResult, err error) {
		h.writeDone(t, cell, commit, ops, next, res, err, start)
	})
	return nil
}

// writeDone records the outcome of one cell's write and queues the cell
// again when it changed meanwhile, lost a compare-and-swap, or failed.
func (h *Hub) writeDone(t *term, cell, commit string, ops []store.Op, next map[string]model.Assignment, res store.WriteResult, err error, start time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(t.inflight, cell)
	again := t.dirty[cell]
	delete(t.dirty, cell)
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			h.log.Warn("write assignments; retrying", "cell", cell, "ops", len(ops), "err", err)
			t.apply.AddAfter(cell, time.Second)
		}
		return
	}
	conflicts := map[string]store.KV{}
	for _, c := range res.Conflicts {
		conflicts[c.Op.Key] = c.Current
	}
	srcs := t.stored[cell]
	if srcs == nil {
		srcs = map[string]storedAssignment{}
		t.stored[cell] = srcs
	}
	var written, bytes int
	for i, op := range ops {
		_, src, ok := store.SplitCellKey(store.DesiredPrefix, op.Key)
		if !ok { // a merged body
			if res.Revisions[i] != 0 {
				t.specsStored[strings.TrimPrefix(op.Key, store.SpecsPrefix)] = true
			}
			continue
		}
		if cur, lost := conflicts[op.Key]; lost {
			// Someone else wrote it: adopt what is there and go again.
			var a model.Assignment
			if cur.ModRevision == 0 || store.Decode(cur, &a) != nil {
				delete(srcs, src)
			} else {
				srcs[src] = storedAssignment{a: a, rev: cur.ModRevision}
			}
			again = true
			continue
		}
		written++
		bytes += len(op.Key) + len(op.Value)
		if op.Delete {
			delete(srcs, src)
			continue
		}
		srcs[src] = storedAssignment{a: next[src], rev: res.Revisions[i]}
	}
	t.written[cell] = res.Revision
	t.writtenCommit[cell] = commit
	if m := h.deps.Metrics; m != nil {
		m.ApplyDuration.Observe(time.Since(start).Seconds())
		m.ObserveEtcd("txn", time.Since(start))
		m.ResourcesApplied.WithLabelValues(metrics.ApplyChanged).Add(float64(written))
		m.Wrote(written, bytes)
	}
	if len(res.Conflicts) > 0 {
		h.log.Info("assignments changed under the hub; reloaded", "cell", cell, "keys", len(res.Conflicts))
	}
	if again {
		t.apply.Add(cell)
	}
}

// assemble computes the writes that bring a cell's stored assignments to its
// intents: puts (compare-and-swap on the cached revision) for changed
// records, deletes for records no workload wants any more (never for Upsert
// sets), and bodies of merged objects. Callers hold h.mu.
func (h *Hub) assemble(t *term, cell string) ([]store.Op, map[string]model.Assignment) {
	want := make(map[string][]model.Item, len(t.intents[cell])+1)
	_, alive := t.cells[cell]
	if alive {
		for src, items := range t.intents[cell] {
			want[src] = items
			if w := t.workloads[src]; w != nil {
				for _, name := range w.configs {
					if cw := t.workloads[workloadID(model.KindConfig, name)]; cw != nil {
						want[cw.id] = cw.items
					}
				}
			}
		}
	}
	var ops []store.Op
	h.mergeShared(t, cell, want, &ops)

	stored := t.stored[cell]
	next := make(map[string]model.Assignment, len(want))
	for _, src := range slices.Sorted(maps.Keys(want)) {
		items := want[src]
		w := t.workloads[src]
		upsert := w != nil && w.kind == model.KindSelectorSyncSet && w.mode == model.ApplyUpsert
		st, had := stored[src]
		if upsert && had {
			items = union(items, st.a.Items)
		}
		if had && st.a.Upsert == upsert && itemsEqual(st.a.Items, items) {
			continue
		}
		a := model.Assignment{Source: src, Commit: t.commit, Upsert: upsert, Items: items}
		val, err := store.Encode(a)
		if err != nil {
			h.log.Error("encode assignment", "cell", cell, "source", src, "err", err)
			continue
		}
		key := store.DesiredKey(cell, src)
		if n := len(key) + len(val); n > h.deps.Store.MaxOpBytes() {
			// Written, it would fail the whole transaction it shares with
			// other cells: report it and leave the stored record alone.
			t.tooLarge[cell+" "+src] = fmt.Errorf("%s on cell %s: the assignment is %d bytes, over the %d-byte limit of one etcd request; split the workload", src, cell, n, h.deps.Store.MaxOpBytes())
			continue
		}
		delete(t.tooLarge, cell+" "+src)
		next[src] = a
		ops = append(ops, store.Op{Key: key, Value: val, IfModRevision: store.Revision(st.rev)})
	}
	for src, st := range stored {
		if _, ok := want[src]; ok || (st.a.Upsert && alive) {
			continue
		}
		ops = append(ops, store.Op{Key: store.DesiredKey(cell, src), Delete: true, IfModRevision: store.Revision(st.rev)})
	}
	return ops, next
}

// union returns items plus the stored items of objects items no longer has:
// an Upsert set never removes what it once delivered.
func union(items, stored []model.Item) []model.Item {
	have := make(map[string]bool, len(items))
	for _, it := range items {
		have[string(it.Kind)+"/"+it.Name] = true
	}
	var out []model.Item
	for _, it := range stored {
		if !have[string(it.Kind)+"/"+it.Name] {
			out = append(out, it)
		}
	}
	if len(out) == 0 {
		return items
	}
	return append(append([]model.Item(nil), items...), out...)
}

// mergeShared finds objects that several workloads put on the cell with
// different bodies and merges them with server-side apply, each workload a
// field manager in name order. Every workload's item then names the merged
// body, whose write is appended to ops. Conflicts are recorded for status.
func (h *Hub) mergeShared(t *term, cell string, want map[string][]model.Item, ops *[]store.Op) {
	type ref struct {
		src string
		i   int
	}
	delete(t.conflicts, cell)
	if len(t.shared) == 0 {
		return
	}
	var byObject map[string][]ref
	for src, items := range want {
		for i, it := range items {
			if it.Kind == model.KindTask || !t.shared[string(it.Kind)+"/"+it.Name] {
				continue
			}
			key := string(it.Kind) + "/" + it.Name
			if byObject == nil {
				byObject = map[string][]ref{}
			}
			byObject[key] = append(byObject[key], ref{src, i})
		}
	}
	for key, refs := range byObject {
		if len(refs) < 2 {
			continue
		}
		sort.Slice(refs, func(a, b int) bool { return refs[a].src < refs[b].src })
		same := true
		for _, r := range refs[1:] {
			same = same && want[r.src][r.i].Spec == want[refs[0].src][refs[0].i].Spec
		}
		if same {
			continue // co-owned with equal values: nothing to merge
		}
		var live *apply.Object
		for _, r := range refs {
			in, err := t.intent(want[r.src][r.i].Spec)
			if err != nil {
				h.log.Error("decode body for merge", "object", key, "source", r.src, "err", err)
				continue
			}
			res, err := apply.Apply(live, r.src, in, apply.Options{})
			var ce *apply.ConflictError
			switch {
			case errors.As(err, &ce):
				c := Conflict{Cell: cell, Object: key, Manager: r.src, Workload: r.src}
				for _, f := range ce.Conflicts {
					c.Fields = append(c.Fields, f.Path)
					c.Owners = append(c.Owners, f.Managers...)
				}
				t.conflicts[cell] = append(t.conflicts[cell], c)
			case err != nil:
				h.log.Error("merge", "object", key, "source", r.src, "err", err)
			default:
				live = res.Object
			}
		}
		if live == nil {
			continue
		}
		body, err := json.Marshal(live.Value)
		if err != nil {
			continue
		}
		hash := model.SpecHash(body)
		if !t.specsStored[hash] {
			// Marked stored once the write succeeds (applyCell).
			*ops = append(*ops, store.Op{Key: store.SpecKey(hash), Value: body})
			t.bodies[hash] = body
		}
		for _, r := range refs {
			items := append([]model.Item(nil), want[r.src]...)
			items[r.i].Spec = hash
			want[r.src] = items
		}
	}
	if h.deps.Metrics != nil {
		h.deps.Metrics.Conflicts.Set(float64(countConflicts(t)))
	}
}

func countConflicts(t *term) int {
	n := 0
	for _, cs := range t.conflicts {
		n += len(cs)
	}
	return n
}

// intent returns the apply intent of a body, decoded once per term.
func (t *term) intent(hash string) (*apply.Intent, error) {
	if in, ok := t.applyIntents[hash]; ok {
		return in, nil
	}
	body, ok := t.bodies[hash]
	if !ok {
		return nil, fmt.Errorf("body %s is not in the desired model", shortHash(hash))
	}
	o, err := model.DecodeObject(body)
	if err != nil {
		return nil, err
	}
	in, err := apply.FromObject(o)
	if err != nil {
		return nil, err
	}
	t.applyIntents[hash] = in
	return in, nil
}

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
