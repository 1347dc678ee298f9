package events_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cellsync/cellsync/events"
	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/store"
	"github.com/cellsync/cellsync/store/storetest"
)

// run starts a writer and stops it when the test ends.
func run(t *testing.T, st *store.Client, prefix string, capacity int) *events.Writer {
	t.Helper()
	w, err := events.New(events.Config{Prefix: prefix, Capacity: capacity, FlushInterval: time.Millisecond}, events.Deps{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return w
}

// waitFor polls the log until cond holds for what f lists.
func waitFor(t *testing.T, st *store.Client, f events.Filter, what string, cond func([]model.Event) bool) []model.Event {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		l, err := events.List(context.Background(), st, f)
		if err != nil {
			t.Fatal(err)
		}
		if cond(l.Events) {
			return l.Events
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; have %d events", what, len(l.Events))
		}
		<-tick.C
	}
}

func count(t *testing.T, st *store.Client, prefix string) int {
	t.Helper()
	kvs, _, err := st.List(context.Background(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	return len(kvs)
}

func TestWriterKeepsItsPrefixBounded(t *testing.T) {
	st, _ := storetest.New(t)
	const capacity = 50
	prefix := store.CellEventsPrefix("c1")
	w := run(t, st, prefix, capacity)
	for i := range 20 * capacity {
		w.Emit(model.Event{Type: model.EventInstanceStarted, Message: fmt.Sprint(i)})
		if i%97 == 0 {
			// Let some flushes happen in between, as in real life.
			waitFor(t, st, events.Filter{Cell: "c1"}, "event "+fmt.Sprint(i), func(evs []model.Event) bool {
				return len(evs) > 0 && evs[len(evs)-1].Message == fmt.Sprint(i)
			})
			if n := count(t, st, prefix); n > capacity+capacity/10 {
				t.Fatalf("%d events in the prefix after %d emitted; capacity %d", n, i+1, capacity)
			}
		}
	}
	last := fmt.Sprint(20*capacity - 1)
	evs := waitFor(t, st, events.Filter{Cell: "c1"}, "the last event", func(evs []model.Event) bool {
		return len(evs) > 0 && evs[len(evs)-1].Message == last
	})
	if n := count(t, st, prefix); n > capacity+capacity/10 || n < capacity {
		t.Fatalf("%d events in the prefix; capacity %d", n, capacity)
	}
	// What is kept is the newest, in order.
	for i := 1; i < len(evs); i++ {
		if evs[i].Time.Before(evs[i-1].Time) {
			t.Fatalf("events out of order: %v then %v", evs[i-1].Time, evs[i].Time)
		}
	}
}

func TestDecodeTrustsTheKeyNotTheValue(t *testing.T) {
	v, _ := store.Encode(model.Event{Type: model.EventCellLost, Cell: "victim", Source: "hub", Message: "forged"})
	e, ok := events.Decode(store.KV{Key: store.CellEventsPrefix("mallory") + "1", Value: v})
	if !ok || e.Cell != "mallory" || e.Source != "cell/mallory" {
		t.Fatalf("decoded %+v, want cell and source of the key's writer", e)
	}
	if _, ok := events.Decode(store.KV{Key: store.ActualKey("c1", "x"), Value: v}); ok {
		t.Fatal("decoded a key outside the event log")
	}
}

func TestListFiltersAndFollow(t *testing.T) {
	st, _ := storetest.New(t)
	hubW := run(t, st, store.HubEventsPrefix, 0)
	c1 := run(t, st, store.CellEventsPrefix("c1"), 0)
	c2 := run(t, st, store.CellEventsPrefix("c2"), 0)
	base := time.Now().Add(-time.Hour).UTC()
	hubW.Emit(model.Event{Time: base, Type: model.EventCommitSeen, Commit: "abc", Message: "commit abc"})
	hubW.Emit(model.Event{Time: base.Add(1 * time.Second), Type: model.EventCellLost, Cell: "c2", Message: "c2 lost"})
	c1.Emit(model.Event{Time: base.Add(2 * time.Second), Type: model.EventInstanceStarted, Workload: "LRP/web", Instance: "LRP/web/0", Message: "web 0 started"})
	c2.Emit(model.Event{Time: base.Add(3 * time.Second), Type: model.EventInstanceCrashed, Workload: "LRP/web", Instance: "LRP/web/1", Message: "web 1 crashed"})
	c2.Emit(model.Event{Time: base.Add(4 * time.Second), Type: model.EventTaskCompleted, Workload: "Task/migrate", Message: "migrate done"})
	waitFor(t, st, events.Filter{}, "five events", func(evs []model.Event) bool { return len(evs) == 5 })

	messages := func(evs []model.Event) []string {
		out := make([]string, len(evs))
		for i, e := range evs {
			out[i] = e.Message
		}
		return out
	}
	tests := []struct {
		name string
		f    events.Filter
		want []string
	}{
		{"all, oldest first", events.Filter{}, []string{"commit abc", "c2 lost", "web 0 started", "web 1 crashed", "migrate done"}},
		{"one cell, with the hub's events about it", events.Filter{Cell: "c2"}, []string{"c2 lost", "web 1 crashed", "migrate done"}},
		{"one workload", events.Filter{Workload: "LRP/web"}, []string{"web 0 started", "web 1 crashed"}},
		{"since", events.Filter{Since: base.Add(3 * time.Second)}, []string{"web 1 crashed", "migrate done"}},
		{"limit keeps the newest", events.Filter{Limit: 2}, []string{"web 1 crashed", "migrate done"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := events.List(context.Background(), st, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if got := messages(l.Events); !slices.Equal(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}

	t.Run("follow passes only new, matching events", func(t *testing.T) {
		f := events.Filter{Cell: "c1"}
		l, err := events.List(context.Background(), st, f)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		got := make(chan string, 10)
		done := make(chan error, 1)
		go func() {
			done <- events.Follow(ctx, st, f, l, func(e model.Event) error { got <- e.Message; return nil })
		}()
		c2.Emit(model.Event{Type: model.EventInstanceStarted, Message: "not for c1"})
		hubW.Emit(model.Event{Type: model.EventCellLost, Cell: "c1", Message: "c1 lost"})
		c1.Emit(model.Event{Type: model.EventCellJoined, Message: "c1 back"})
		// The two writers are independent: either may land first.
		var msgs []string
		for len(msgs) < 2 {
			select {
			case m := <-got:
				msgs = append(msgs, m)
			case <-time.After(10 * time.Second):
				t.Fatalf("timed out; followed %q", msgs)
			}
		}
		slices.Sort(msgs)
		if !slices.Equal(msgs, []string{"c1 back", "c1 lost"}) {
			t.Fatalf("followed %q", msgs)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-got:
			t.Fatalf("followed an extra event %q", m)
		default:
		}
	})
}

func TestHandler(t *testing.T) {
	st, _ := storetest.New(t)
	w := run(t, st, store.HubEventsPrefix, 0)
	w.Emit(model.Event{Type: model.EventCommitSeen, Commit: "abc", Message: "first"})
	waitFor(t, st, events.Filter{}, "one event", func(evs []model.Event) bool { return len(evs) == 1 })
	srv := httptest.NewServer(events.Handler(st))
	defer srv.Close()

	resp, err := http.Get(srv.URL + events.Path + "?since=1h&workload=")
	if err != nil {
		t.Fatal(err)
	}
	var evs []model.Event
	err = json.NewDecoder(resp.Body).Decode(&evs)
	resp.Body.Close()
	if err != nil || len(evs) != 1 || evs[0].Message != "first" || evs[0].Source != "hub" {
		t.Fatalf("GET = %+v, %v", evs, err)
	}
	if resp, err := http.Get(srv.URL + events.Path + "?since=yesterday"); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad since: %v %v", resp.Status, err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+events.Path+"?follow=true", nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	lines := bufio.NewScanner(resp.Body)
	next := func() model.Event {
		t.Helper()
		for lines.Scan() {
			if data, ok := strings.CutPrefix(lines.Text(), "data: "); ok {
				var e model.Event
				if err := json.Unmarshal([]byte(data), &e); err != nil {
					t.Fatal(err)
				}
				return e
			}
		}
		t.Fatalf("stream ended: %v", lines.Err())
		return model.Event{}
	}
	if e := next(); e.Message != "first" {
		t.Fatalf("first streamed event %+v", e)
	}
	w.Emit(model.Event{Type: model.EventCommitApplied, Message: "second"})
	if e := next(); e.Message != "second" {
		t.Fatalf("followed event %+v", e)
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	tests := []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{"", time.Time{}, false},
		{"10m", now.Add(-10 * time.Minute), false},
		{"2026-01-01T00:00:00Z", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), false},
		{"-5m", time.Time{}, true},
		{"9000h", time.Time{}, true},
		{"yesterday", time.Time{}, true},
	}
	for _, tt := range tests {
		got, err := events.ParseSince(tt.in, now)
		if (err != nil) != tt.wantErr || !got.Equal(tt.want) {
			t.Errorf("ParseSince(%q) = %v, %v", tt.in, got, err)
		}
	}
}

func FuzzParseSince(f *testing.F) {
	f.Add("10m")
	f.Add("2026-01-01T00:00:00.5+02:00")
	f.Add("1e9h")
	now := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := events.ParseSince(s, now)
		if err != nil {
			return
		}
		if _, derr := time.ParseDuration(s); derr == nil && (got.After(now) || now.Sub(got) > events.MaxSince) {
			t.Fatalf("ParseSince(%q) = %v: outside [now-MaxSince, now]", s, got)
		}
	})
}
