package ops

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cellsync/cellsync/events"
	"github.com/cellsync/cellsync/model"
)

// WatchEvents passes the events f selects to emit, oldest first, and with
// follow the new ones as they are written, until ctx ends. It reads etcd
// when the target knows it, else the hub's GET /events.
func WatchEvents(ctx context.Context, t Target, f events.Filter, follow bool, emit func(model.Event) error) error {
	if len(t.Etcd) > 0 {
		c, err := connect(ctx, t)
		if err != nil {
			return err
		}
		defer c.Close()
		l, err := events.List(ctx, c, f)
		if err != nil {
			return err
		}
		for _, e := range l.Events {
			if err := emit(e); err != nil {
				return err
			}
		}
		if !follow {
			return nil
		}
		return events.Follow(ctx, c, f, l, emit)
	}
	if t.Hub == "" {
		return fmt.Errorf("%w: no hub URL and no etcd endpoints: pass --hub or --etcd-endpoints", ErrNoHub)
	}
	return hubEvents(ctx, t.Hub, f, follow, emit)
}

// hubEvents reads the hub's event log over HTTP: a JSON array, or with
// follow Server-Sent Events.
func hubEvents(ctx context.Context, base string, f events.Filter, follow bool, emit func(model.Event) error) error {
	q := url.Values{}
	if !f.Since.IsZero() {
		q.Set("since", f.Since.UTC().Format(time.RFC3339Nano))
	}
	if f.Cell != "" {
		q.Set("cell", f.Cell)
	}
	if f.Workload != "" {
		q.Set("workload", f.Workload)
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	if follow {
		q.Set("follow", "true")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+events.Path+"?"+q.Encode(), nil)
	if err != nil {
		return fmt.Errorf("hub URL %q: %w", base, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%w at %s: %v", ErrNoHub, base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("GET %s%s: %s: %s", base, events.Path, resp.Status, strings.TrimSpace(string(b)))
	}
	if !follow {
		var evs []model.Event
		if err := json.NewDecoder(resp.Body).Decode(&evs); err != nil {
			return fmt.Errorf("GET %s%s: %w", base, events.Path, err)
		}
		for _, e := range evs {
			if err := emit(e); err != nil {
				return err
			}
		}
		return nil
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var e model.Event
		if err := json.Unmarshal([]byte(data), &e); err != nil {
			return fmt.Errorf("GET %s%s: %w", base, events.Path, err)
		}
		if err := emit(e); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	return sc.Err()
}

// EventLine renders one event for `cellsync events`:
// "15:04:05.000  cell/c1  InstanceCrashed  LRP/web/0  message".
func EventLine(e model.Event) string {
	what := e.Instance
	if what == "" {
		what = e.Workload
	}
	if what == "" && e.Commit != "" {
		what = "commit " + shortHash(e.Commit)
	}
	mark := " "
	if e.Severity == model.SeverityWarning {
		mark = "!"
	}
	return fmt.Sprintf("%s %s %-14s %-18s %-20s %s", e.Time.Local().Format("2006-01-02 15:04:05.000"), mark, e.Source, e.Type, dash(what), e.Message)
}
