package scaletest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/store"
)

// maxProblems bounds the problems a failed check lists.
const maxProblems = 5

// settleTimeout bounds how long a check waits for the phase's end state.
const settleTimeout = 30 * time.Second

// check verifies the end state of a phase: the hub has the head commit with
// no errors and every live cell applied; in etcd every live cell holds
// exactly one assignment per set with exactly that set's Configs, every LRP
// index is assigned to exactly one live cell, no dead cell holds anything,
// and every body an item names is stored.
func (r *runner) check(_ *Phase, _ int64) error {
	var problems []string
	fail := func(format string, args ...any) {
		problems = append(problems, fmt.Sprintf(format, args...))
	}
	live := r.fleet.live()
	// The end state must converge, not hold at one sampled instant: a cell
	// whose lease lapsed under load re-registers and is re-applied.
	st := r.srv.Hub.Status()
	for deadline := time.Now().Add(settleTimeout); !r.applied(st) && time.Now().Before(deadline); {
		select {
		case <-r.ctx.Done():
			return r.ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		st = r.srv.Hub.Status()
	}
	if !r.applied(st) {
		fail("hub not settled: commit %.8s (head %.8s), synced %v, %d cells of %d", st.Commit, r.repo.head, st.Synced, len(st.Cells), len(live))
	}
	if len(st.Errors) > 0 {
		fail("hub errors: %s", strings.Join(st.Errors, "; "))
	}
	kvs, _, err := r.st.List(r.ctx, store.DesiredPrefix)
	if err != nil {
		return err
	}
	found, specs := compare(r.wl, live, kvs)
	problems = append(problems, found...)
	for _, h := range specs {
		if _, ok, err := r.st.Get(r.ctx, store.SpecKey(h)); err != nil {
			return err
		} else if !ok {
			fail("body %s is named but not stored", h)
		}
	}
	if len(problems) == 0 {
		return nil
	}
	n := len(problems)
	if n > maxProblems {
		problems = append(problems[:maxProblems], fmt.Sprintf("and %d more", n-maxProblems))
	}
	return fmt.Errorf("correctness check: %s", strings.Join(problems, "; "))
}

// compare checks the desired keys in kvs against the workload for the live
// cells; it returns the problems found and the body hashes the items name.
func compare(wl *workload, live map[string]bool, kvs []store.KV) (problems []string, specs []string) {
	fail := func(format string, args ...any) {
		problems = append(problems, fmt.Sprintf(format, args...))
	}
	type key struct{ cell, source string }
	got := make(map[key][]string, len(kvs))
	named := map[string]bool{}
	lrpIndexes := map[string][]int32{}
	for _, kv := range kvs {
		cell, source, ok := store.SplitCellKey(store.DesiredPrefix, kv.Key)
		if !ok {
			fail("unexpected desired key %s", kv.Key)
			continue
		}
		if !live[cell] {
			fail("dead cell %s still holds %s", cell, source)
			continue
		}
		var a model.Assignment
		if err := store.Decode(kv, &a); err != nil {
			fail("decode %s: %v", kv.Key, err)
			continue
		}
		var names []string
		for _, it := range a.Items {
			names = append(names, string(it.Kind)+"/"+it.Name)
			named[it.Spec] = true
			if it.Kind == model.KindLRP {
				lrpIndexes[it.Name] = append(lrpIndexes[it.Name], it.Indexes...)
			}
		}
		slices.Sort(names)
		got[key{cell, source}] = names
	}
	for _, cell := range slices.Sorted(maps.Keys(live)) {
		for s, n := range wl.resources {
			want := make([]string, 0, n)
			for res := range n {
				want = append(want, configItem(s, res))
			}
			slices.Sort(want)
			if g, ok := got[key{cell, setSource(s)}]; !ok {
				fail("cell %s lacks %s", cell, setSource(s))
			} else if !slices.Equal(g, want) {
				fail("cell %s has %s with %d items %v, want %d", cell, setSource(s), len(g), short(g), len(want))
			}
			delete(got, key{cell, setSource(s)})
		}
	}
	for l := range wl.lrps {
		idx := lrpIndexes[lrpName(l)]
		slices.Sort(idx)
		want := make([]int32, wl.instances)
		for i := range want {
			want[i] = int32(i)
		}
		if !slices.Equal(idx, want) {
			fail("%s has indexes %v on live cells, want 0..%d once each", lrpSource(l), short(idx), wl.instances-1)
		}
		delete(lrpIndexes, lrpName(l))
	}
	for name := range lrpIndexes {
		fail("unexpected LRP %s", name)
	}
	for k := range got {
		if !strings.HasPrefix(k.source, "LRP/") {
			fail("cell %s holds unexpected %s", k.cell, k.source)
		}
	}
	return problems, slices.Sorted(maps.Keys(named))
}

// short returns at most the first 12 elements of v, for messages.
func short[T any](v []T) []T {
	if len(v) > 12 {
		return v[:12]
	}
	return v
}

// desiredWrittenSince counts the desired keys with a mod revision after rev.
func (r *runner) desiredWrittenSince(rev int64) (int, error) {
	kvs, _, err := r.st.List(r.ctx, store.DesiredPrefix)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, kv := range kvs {
		if kv.ModRevision > rev {
			n++
		}
	}
	return n, nil
}

// baselinePrefix holds the raw put loop's keys, deleted afterwards.
const baselinePrefix = "/cellsync-scaletest/baseline/"

// baselineValue is the size of one raw put, close to an assignment of ten
// Configs.
const baselineValue = 900

// baseline measures the store's write limit: one loop writing keys keys
// with store.Client.Write, batch operations per transaction.
func baseline(ctx context.Context, st *store.Client, keys, batch int) (Baseline, error) {
	value := []byte(strings.Repeat("v", baselineValue))
	ops := make([]store.Op, keys)
	for i := range ops {
		ops[i] = store.Op{Key: fmt.Sprintf("%scell-%05d/set-%03d", baselinePrefix, i/60, i%60), Value: value}
	}
	b := Baseline{Keys: keys, ValueBytes: baselineValue, Batch: batch}
	start := time.Now()
	for i := 0; i < len(ops); i += batch {
		res, err := st.Write(ctx, ops[i:min(i+batch, len(ops))])
		if err != nil {
			return b, fmt.Errorf("baseline put loop: %w", err)
		}
		b.Transactions += res.Txns
	}
	b.Seconds = time.Since(start).Seconds()
	b.KeysPerSec = float64(keys) / b.Seconds
	if _, err := st.Etcd().Delete(ctx, baselinePrefix, clientv3.WithPrefix()); err != nil {
		return b, fmt.Errorf("delete baseline keys: %w", err)
	}
	return b, nil
}
