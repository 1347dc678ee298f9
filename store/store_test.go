package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cellsync/cellsync/store"
	"github.com/cellsync/cellsync/store/storetest"
)

func TestWriteListWatchCAS(t *testing.T) {
	c, _ := storetest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	const n = 10000
	ops := make([]store.Op, n)
	for i := range ops {
		ops[i] = store.Op{Key: store.DesiredKey(fmt.Sprintf("c%03d", i%100), fmt.Sprintf("Config/k%05d", i)), Value: []byte(fmt.Sprintf(`{"i":%d}`, i))}
	}
	res, err := c.Write(ctx, ops)
	if err != nil {
		t.Fatal(err)
	}
	if res.Written != n || len(res.Conflicts) != 0 {
		t.Fatalf("written %d conflicts %d, want %d and 0", res.Written, len(res.Conflicts), n)
	}
	if want := (n + 1023) / 1024; res.Txns != want {
		t.Errorf("txns = %d, want %d (batches of 1024)", res.Txns, want)
	}

	kvs, rev, err := c.List(ctx, store.DesiredPrefix)
	if err != nil {
		t.Fatal(err)
	}
	if len(kvs) != n {
		t.Fatalf("listed %d keys, want %d", len(kvs), n)
	}
	got := map[string]string{}
	for _, kv := range kvs {
		got[kv.Key] = string(kv.Value)
	}
	for _, op := range ops {
		if got[op.Key] != string(op.Value) {
			t.Fatalf("%s = %q, want %q", op.Key, got[op.Key], op.Value)
		}
	}

	// GetMany reads across transaction boundaries and skips missing keys.
	keys := []string{"/absent"}
	for _, op := range ops[:2500] {
		keys = append(keys, op.Key)
	}
	many, err := c.GetMany(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	if len(many) != 2500 || string(many[ops[2499].Key].Value) != string(ops[2499].Value) {
		t.Fatalf("GetMany returned %d keys, want 2500", len(many))
	}

	// Watch from the listed revision sees exactly the later changes.
	events := make(chan store.Event, 10)
	wctx, wcancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		defer close(done)
		for b, err := range c.Watch(wctx, store.DesiredCellPrefix("c001"), rev) {
			if err != nil {
				done <- err
				return
			}
			for _, ev := range b.Events {
				events <- ev
			}
		}
	}()
	key := store.DesiredKey("c001", "Config/k00001")
	if _, err := c.Write(ctx, []store.Op{{Key: key, Value: []byte("v2")}, {Key: store.DesiredKey("c002", "x"), Value: []byte("other cell")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(ctx, []store.Op{{Key: key, Delete: true}}); err != nil {
		t.Fatal(err)
	}
	for i, want := range []struct {
		typ   store.EventType
		value string
	}{{store.Put, "v2"}, {store.Delete, ""}} {
		select {
		case ev := <-events:
			if ev.KV.Key != key || ev.Type != want.typ || string(ev.KV.Value) != want.value {
				t.Fatalf("event %d = %+v, want %v %q on %s", i, ev, want.typ, want.value, key)
			}
		case <-ctx.Done():
			t.Fatal("no watch event")
		}
	}
	wcancel()
	if err := <-done; err != nil {
		t.Fatalf("watch ended with %v", err)
	}

	// Compare-and-swap: a stale revision loses and reports the current one.
	cas := store.DesiredKey("c003", "Config/k00003")
	kv, ok, err := c.Get(ctx, cas)
	if err != nil || !ok {
		t.Fatalf("get %s: %v %v", cas, ok, err)
	}
	wrote, _, err := c.CompareAndSwap(ctx, cas, kv.ModRevision, []byte("first"))
	if err != nil || !wrote {
		t.Fatalf("first CAS: wrote=%v err=%v", wrote, err)
	}
	wrote, cur, err := c.CompareAndSwap(ctx, cas, kv.ModRevision, []byte("second"))
	if err != nil {
		t.Fatal(err)
	}
	if wrote || string(cur.Value) != "first" || cur.ModRevision <= kv.ModRevision {
		t.Fatalf("stale CAS: wrote=%v current=%+v, want a conflict showing %q", wrote, cur, "first")
	}
	// Create-only CAS on an existing key conflicts too.
	if wrote, _, _ := c.CompareAndSwap(ctx, cas, 0, []byte("x")); wrote {
		t.Fatal("create-only CAS overwrote an existing key")
	}

	// A batch mixing winners and a loser applies the winners.
	res, err = c.Write(ctx, []store.Op{
		{Key: "/t/a", Value: []byte("a")},
		{Key: cas, Value: []byte("loser"), IfModRevision: store.Revision(kv.ModRevision)},
		{Key: "/t/b", Value: []byte("b"), IfModRevision: store.Revision(0)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Written != 2 || len(res.Conflicts) != 1 || res.Conflicts[0].Op.Key != cas {
		t.Fatalf("mixed batch: %+v", res)
	}
	if r := res.Revisions; r[0] == 0 || r[1] != 0 || r[2] != r[0] {
		t.Errorf("revisions = %v, want [rev 0 rev]", r)
	}
	for _, k := range []string{"/t/a", "/t/b"} {
		if _, ok, _ := c.Get(ctx, k); !ok {
			t.Errorf("%s not written", k)
		}
	}
}

func TestWriteTooLarge(t *testing.T) {
	c, _ := storetest.New(t)
	big := make([]byte, store.DefaultMaxTxnBytes+1)
	_, err := c.Write(context.Background(), []store.Op{{Key: "/small", Value: []byte("x")}, {Key: "/big", Value: big}})
	if !errors.Is(err, store.ErrTooLarge) {
		t.Fatalf("write of a %d-byte value: %v, want ErrTooLarge", len(big), err)
	}
	if _, ok, _ := c.Get(context.Background(), "/small"); ok {
		t.Error("part of a rejected write was written")
	}
}

func TestWatchCompacted(t *testing.T) {
	c, _ := storetest.New(t)
	ctx := context.Background()
	var last int64
	for i := 0; i < 3; i++ {
		res, err := c.Write(ctx, []store.Op{{Key: "/k", Value: []byte{byte(i)}}})
		if err != nil {
			t.Fatal(err)
		}
		last = res.Revision
	}
	if _, err := c.Etcd().Compact(ctx, last); err != nil {
		t.Fatal(err)
	}
	for _, err := range c.Watch(ctx, "/k", 1) {
		if !errors.Is(err, store.ErrCompacted) {
			t.Fatalf("watch from a compacted revision: %v, want ErrCompacted", err)
		}
		return
	}
	t.Fatal("watch ended without an error")
}

func TestSplitCellKey(t *testing.T) {
	tests := []struct {
		name, key  string
		cell, rest string
		ok         bool
	}{
		{"desired", store.DesiredKey("c1", "LRP/web/0"), "c1", "LRP/web/0", true},
		{"other prefix", store.ActualKey("c1", "x"), "", "", false},
		{"no object", store.DesiredPrefix + "c1", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cell, rest, ok := store.SplitCellKey(store.DesiredPrefix, tt.key)
			if cell != tt.cell || rest != tt.rest || ok != tt.ok {
				t.Errorf("SplitCellKey(%q) = %q %q %v, want %q %q %v", tt.key, cell, rest, ok, tt.cell, tt.rest, tt.ok)
			}
		})
	}
}

// BenchmarkPut compares single puts with batched transactions against the same
// embedded etcd in one run; keys/s is the figure, batched/single the ratio.
func BenchmarkPut(b *testing.B) {
	c, _ := storetest.New(b)
	ctx := context.Background()
	value := make([]byte, 200)
	const keys = 2000
	rates := map[string]float64{}
	for _, mode := range []string{"single", "batched"} {
		b.Run(mode, func(b *testing.B) {
			b.ReportAllocs()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				ops := make([]store.Op, keys)
				for k := range ops {
					ops[k] = store.Op{Key: fmt.Sprintf("/bench/%s/%d/%d", mode, i, k), Value: value}
				}
				if mode == "batched" {
					if _, err := c.Write(ctx, ops); err != nil {
						b.Fatal(err)
					}
					continue
				}
				for _, op := range ops {
					if _, err := c.Etcd().Put(ctx, op.Key, string(op.Value)); err != nil {
						b.Fatal(err)
					}
				}
			}
			rate := float64(b.N*keys) / time.Since(start).Seconds()
			rates[mode] = rate
			b.ReportMetric(rate, "keys/s")
		})
	}
	if rates["single"] > 0 {
		b.Logf("batched/single = %.1fx", rates["batched"]/rates["single"])
	}
}

// TestFencedWrite: a fenced client writes while its fence key holds the
// fence's create revision; once the key is deleted (a lost election) or
// re-created, every write fails with ErrFenced and writes nothing, and a
// full transaction still fits: the fence takes one operation slot.
func TestFencedWrite(t *testing.T) {
	c, _ := storetest.New(t)
	ctx := context.Background()
	res, err := c.Write(ctx, []store.Op{{Key: "/lock", Value: []byte("me")}})
	if err != nil {
		t.Fatal(err)
	}
	fenced := c.WithFence(store.Fence{Key: "/lock", CreateRevision: res.Revision})
	if got := fenced.MaxTxnOps(); got != 1023 {
		t.Errorf("fenced MaxTxnOps = %d, want 1023 (1024 less the fence)", got)
	}
	ops := make([]store.Op, 2000)
	for i := range ops {
		ops[i] = store.Op{Key: fmt.Sprintf("/f/%04d", i), Value: []byte("v"), IfModRevision: store.Revision(0)}
	}
	wres, err := fenced.Write(ctx, ops)
	if err != nil || wres.Written != len(ops) || wres.Txns != 2 {
		t.Fatalf("fenced write while leading: %+v, %v; want %d written in 2 transactions", wres, err, len(ops))
	}
	// A lost CAS is still a conflict, not a lost fence.
	wres, err = fenced.Write(ctx, []store.Op{{Key: "/f/0000", Value: []byte("w"), IfModRevision: store.Revision(1)}, {Key: "/g", Value: []byte("g")}})
	if err != nil || len(wres.Conflicts) != 1 || wres.Written != 1 {
		t.Fatalf("CAS loss under a held fence: %+v, %v", wres, err)
	}

	for _, step := range []struct {
		name string
		op   store.Op
	}{
		{"fence key deleted", store.Op{Key: "/lock", Delete: true}},
		{"fence key created again", store.Op{Key: "/lock", Value: []byte("successor")}},
	} {
		if _, err := c.Write(ctx, []store.Op{step.op}); err != nil {
			t.Fatal(err)
		}
		_, err := fenced.Write(ctx, []store.Op{{Key: "/after", Value: []byte("x")}})
		if !errors.Is(err, store.ErrFenced) {
			t.Errorf("%s: write = %v, want ErrFenced", step.name, err)
		}
		if _, _, err := fenced.CompareAndSwap(ctx, "/after", 0, []byte("x")); !errors.Is(err, store.ErrFenced) {
			t.Errorf("%s: CompareAndSwap = %v, want ErrFenced", step.name, err)
		}
		if _, ok, _ := c.Get(ctx, "/after"); ok {
			t.Errorf("%s: a fenced write landed", step.name)
		}
	}
}

func TestTrim(t *testing.T) {
	c, _ := storetest.New(t)
	ctx := context.Background()
	var ops []store.Op
	for i := range 10 {
		ops = append(ops, store.Op{Key: fmt.Sprintf("/trim/%02d", i), Value: []byte("v")})
	}
	ops = append(ops, store.Op{Key: "/trimmed-not/x", Value: []byte("v")})
	if _, err := c.Write(ctx, ops); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ keep, wantLeft int }{{12, 10}, {4, 4}, {4, 4}, {0, 0}} {
		left, err := c.Trim(ctx, "/trim/", tt.keep)
		if err != nil || left != tt.wantLeft {
			t.Fatalf("Trim(keep %d) = %d, %v; want %d", tt.keep, left, err, tt.wantLeft)
		}
		kvs, _, _ := c.List(ctx, "/trim/")
		if len(kvs) != tt.wantLeft || tt.wantLeft > 0 && kvs[0].Key != fmt.Sprintf("/trim/%02d", 10-tt.wantLeft) {
			t.Fatalf("after Trim(keep %d): %d keys from %v", tt.keep, len(kvs), kvs)
		}
	}
	if kvs, _, _ := c.List(ctx, "/trimmed-not/"); len(kvs) != 1 {
		t.Fatal("Trim reached past its prefix")
	}
}
