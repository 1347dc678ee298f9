package events

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/cellsync/cellsync/internal/httpserve"
	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/store"
)

// Path is where the hub serves the event log.
const Path = "/events"

// MaxSince bounds how far back a duration in ParseSince may reach.
const MaxSince = 366 * 24 * time.Hour

// ParseSince reads a --since or ?since= value: a duration back from now
// ("10m", "2h") or an RFC 3339 time. Empty is the zero time.
func ParseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 || d > MaxSince {
			return time.Time{}, fmt.Errorf("since %q: must be between 0 and %s", s, MaxSince)
		}
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("since %q: want a duration such as 10m or an RFC 3339 time", s)
	}
	return t, nil
}

// QueryFilter reads a Filter from a request's query: since, cell,
// workload, limit (at most MaxCapacity).
func QueryFilter(r *http.Request, now time.Time) (Filter, error) {
	q := r.URL.Query()
	since, err := ParseSince(q.Get("since"), now)
	if err != nil {
		return Filter{}, err
	}
	f := Filter{Since: since, Cell: q.Get("cell"), Workload: q.Get("workload")}
	if s := q.Get("limit"); s != "" {
		if f.Limit, err = strconv.Atoi(s); err != nil || f.Limit < 0 || f.Limit > MaxCapacity {
			return Filter{}, fmt.Errorf("limit %q: must be between 0 and %d", s, MaxCapacity)
		}
	}
	return f, nil
}

// Handler serves the event log (GET Path): the selected events as a JSON
// array, or with ?follow=true as Server-Sent Events, one "data:" JSON
// event per message, first the listing and then new events as they are
// written, until the client goes.
func Handler(st *store.Client) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := QueryFilter(r, time.Now())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		l, err := List(r.Context(), st, f)
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		if follow, _ := strconv.ParseBool(r.URL.Query().Get("follow")); !follow {
			w.Header().Set("Content-Type", "application/json")
			if l.Events == nil {
				l.Events = []model.Event{}
			}
			_ = json.NewEncoder(w).Encode(l.Events)
			return
		}
		flusher, ok := w.(http.Flusher)
		if !ok {
			http.Error(w, "streaming unsupported", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		extend := httpserve.Stream(w, r)
		send := func(e model.Event) error {
			b, err := json.Marshal(e)
			if err != nil {
				return err
			}
			extend()
			if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
				return err
			}
			flusher.Flush()
			return nil
		}
		for _, e := range l.Events {
			if send(e) != nil {
				return
			}
		}
		extend()
		flusher.Flush()
		_ = Follow(r.Context(), st, f, l, send)
	})
}
