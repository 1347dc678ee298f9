package router

import (
	"context"
	"errors"
	"iter"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/router/routes"
	"github.com/cellsync/cellsync/store"
)

// Routes holds the current Table. Readers Load it without a lock; Watch
// swaps in a new one on every change.
type Routes struct {
	cur     atomic.Pointer[routes.Table]
	mu      sync.Mutex
	changed chan struct{}
}

// NewRoutes returns Routes holding an empty Table.
func NewRoutes() *Routes {
	r := &Routes{changed: make(chan struct{})}
	r.cur.Store(routes.NewBuilder().Table())
	return r
}

// Load returns the current Table. Safe for concurrent use.
func (r *Routes) Load() *routes.Table { return r.cur.Load() }

// Changed returns a channel closed at the next swap.
func (r *Routes) Changed() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.changed
}

func (r *Routes) swap(t *routes.Table) {
	if r.cur.Swap(t) == t {
		return
	}
	r.mu.Lock()
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

// Source is what the watcher reads: the store's List and Watch.
type Source interface {
	List(ctx context.Context, prefix string) ([]store.KV, int64, error)
	Watch(ctx context.Context, prefix string, afterRev int64) iter.Seq2[store.Batch, error]
}

// watch keeps cur equal to the table derived from the actual state
// under store.ActualPrefix: List, then Watch from that revision, and List
// again after a compaction or a broken watch. It returns when ctx ends.
func watch(ctx context.Context, src Source, cur *Routes, log *slog.Logger, retry time.Duration, updated func()) {
	b := routes.NewBuilder()
	for {
		kvs, rev, err := src.List(ctx, store.ActualPrefix)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Warn("list actual state", "err", err)
			if wait(ctx, retry) != nil {
				return
			}
			continue
		}
		b.Reset()
		for _, kv := range kvs {
			apply(b, log, store.Event{Type: store.Put, KV: kv})
		}
		cur.swap(b.Table())
		updated()
		for batch, err := range src.Watch(ctx, store.ActualPrefix, rev) {
			if err != nil {
				if !errors.Is(err, store.ErrCompacted) && ctx.Err() == nil {
					log.Warn("watch actual state", "err", err)
				}
				break
			}
			for _, ev := range batch.Events {
				apply(b, log, ev)
			}
			cur.swap(b.Table())
			updated()
		}
		if wait(ctx, retry) != nil {
			return
		}
	}
}

// apply feeds one actual-state event to the builder; keys other than LRP
// instances (cell reports) are skipped.
func apply(b *routes.Builder, log *slog.Logger, ev store.Event) {
	cell, id, ok := store.SplitCellKey(store.ActualPrefix, ev.KV.Key)
	if !ok || !strings.HasPrefix(id, string(model.KindLRP)+"/") {
		return
	}
	instance := cell + "/" + id
	if ev.Type == store.Delete {
		b.Delete(instance)
		return
	}
	var a model.Actual
	if err := store.Decode(ev.KV, &a); err != nil {
		log.Warn("ignore actual state", "key", ev.KV.Key, "err", err)
		b.Delete(instance)
		return
	}
	b.Put(instance, a)
}

func wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
