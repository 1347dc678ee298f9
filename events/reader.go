package events

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/store"
)

// Filter selects events. Zero fields select everything.
type Filter struct {
	// Since drops events older than it.
	Since time.Time
	// Cell keeps the events a cell wrote and the hub's events about it.
	Cell string
	// Workload keeps the events about one workload ("LRP/web"); an LRP's
	// name also matches the SelectorSyncSet resources of that name.
	Workload string
	// Limit keeps the newest Limit events of a listing; 0 keeps all.
	Limit int
}

// Match reports whether the filter keeps e (Limit aside).
func (f Filter) Match(e model.Event) bool {
	if !f.Since.IsZero() && e.Time.Before(f.Since) {
		return false
	}
	if f.Cell != "" && e.Cell != f.Cell {
		return false
	}
	if f.Workload != "" && e.Workload != f.Workload {
		return false
	}
	return true
}

// Decode reads an event from its key and value. Where it came from is
// taken from the key, never from the value: a cell's event always names
// that cell. ok is false for a key or value that is not an event.
func Decode(kv store.KV) (model.Event, bool) {
	src := store.EventWriter(kv.Key)
	if src == "" {
		return model.Event{}, false
	}
	var e model.Event
	if store.Decode(kv, &e) != nil {
		return model.Event{}, false
	}
	e.Source = src
	if cell, ok := strings.CutPrefix(src, "cell/"); ok {
		e.Cell = cell
	}
	return e, true
}

// Listing is what List read: the events and, per prefix read, the revision
// it was read at, from which Follow continues.
type Listing struct {
	Events []model.Event
	revs   map[string]int64
}

// prefixes returns the prefixes a filter needs: a cell's own and the hub's
// for a cell, else the whole log.
func (f Filter) prefixes() []string {
	if f.Cell != "" {
		return []string{store.CellEventsPrefix(f.Cell), store.HubEventsPrefix}
	}
	return []string{store.EventsPrefix}
}

// List reads the events f selects, oldest first.
func List(ctx context.Context, st *store.Client, f Filter) (Listing, error) {
	l := Listing{revs: map[string]int64{}}
	for _, p := range f.prefixes() {
		kvs, rev, err := st.List(ctx, p)
		if err != nil {
			return Listing{}, fmt.Errorf("read events: %w", err)
		}
		l.revs[p] = rev
		for _, kv := range kvs {
			if e, ok := Decode(kv); ok && f.Match(e) {
				l.Events = append(l.Events, e)
			}
		}
	}
	sort.SliceStable(l.Events, func(i, j int) bool { return l.Events[i].Time.Before(l.Events[j].Time) })
	if f.Limit > 0 && len(l.Events) > f.Limit {
		l.Events = l.Events[len(l.Events)-f.Limit:]
	}
	return l, nil
}

// Follow passes every event f selects that is written after the listing,
// in the order etcd stores them, until ctx ends (nil) or the watch fails.
func Follow(ctx context.Context, st *store.Client, f Filter, after Listing, emit func(model.Event) error) error {
	from := int64(0)
	for _, rev := range after.revs {
		if from == 0 || rev < from {
			from = rev
		}
	}
	for b, err := range st.Watch(ctx, store.EventsPrefix, from) {
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("follow events: %w", err)
		}
		for _, ev := range b.Events {
			if ev.Type != store.Put || !after.covers(ev.KV) {
				continue
			}
			if e, ok := Decode(ev.KV); ok && f.Match(e) {
				if err := emit(e); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// covers reports whether a watched key is one Follow passes on: under a
// prefix the listing read, and written after that read.
func (l Listing) covers(kv store.KV) bool {
	for p, rev := range l.revs {
		if strings.HasPrefix(kv.Key, p) {
			return kv.ModRevision > rev
		}
	}
	return false
}
