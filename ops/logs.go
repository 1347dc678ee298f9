package ops

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/cellsync/cellsync/cell/logserver"
	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/store"
)

// DefaultMaxStreams bounds the instances `cellsync logs -f` follows at
// once; MaxStreams is the most --max-streams accepts.
const (
	DefaultMaxStreams = 50
	MaxStreams        = 1000
)

// fetchers is how many cells a one-shot read asks at once.
const fetchers = 8

// LogsRequest is what `cellsync logs` asks for.
type LogsRequest struct {
	// Workload is "LRP/<name>" (also an LRP of a SelectorSyncSet) or
	// "Task/<name>".
	Workload string
	// Index keeps one LRP instance; negative keeps all.
	Index int
	// Cell keeps the instances on one cell; empty keeps all.
	Cell string
	// Follow streams new output until ctx ends.
	Follow bool
	// Tail keeps each instance's last Tail lines; negative keeps all.
	Tail int
	// Since drops older lines; zero keeps all.
	Since time.Time
	// Previous reads the run before the last restart.
	Previous bool
	// Timestamps prefixes each line with the time it was read.
	Timestamps bool
	// MaxStreams bounds the instances followed at once; default
	// DefaultMaxStreams, at most MaxStreams.
	MaxStreams int
}

// LogSource is one instance whose output is read.
type LogSource struct {
	Cell     string
	Instance string
	// URL is the cell's log server; empty when the cell publishes none.
	URL string
}

// label is the "[cell/index]" prefix of a source's lines.
func (s LogSource) label() string {
	last := s.Instance[strings.LastIndexByte(s.Instance, '/')+1:]
	return "[" + s.Cell + "/" + last + "]"
}

// parseWorkload splits "Kind/name" for logs: LRPs and Tasks only.
func parseWorkload(w string) (model.Kind, string, error) {
	kind, name, ok := strings.Cut(w, "/")
	if !ok || name == "" || strings.Contains(name, "/") || model.Kind(kind) != model.KindLRP && model.Kind(kind) != model.KindTask {
		return "", "", fmt.Errorf("workload %q: want LRP/<name> or Task/<name> (for a SelectorSyncSet, name its LRP)", w)
	}
	return model.Kind(kind), name, nil
}

// SelectSources picks the instances a request names: an LRP's instances
// from the cells' actual state (any state, so a crashed one's output can be
// read), a Task's from its record. cells maps a cell's name to its
// registration. It is pure, for tests.
func SelectSources(req LogsRequest, cells map[string]model.Cell, actual []store.KV, task *model.TaskRecord) ([]LogSource, error) {
	kind, name, err := parseWorkload(req.Workload)
	if err != nil {
		return nil, err
	}
	var out []LogSource
	add := func(cell, id string) {
		if req.Cell != "" && cell != req.Cell {
			return
		}
		out = append(out, LogSource{Cell: cell, Instance: id, URL: cells[cell].LogsURL})
	}
	switch kind {
	case model.KindTask:
		if task != nil && task.Cell != "" {
			add(task.Cell, model.InstanceID(model.KindTask, name, 0))
		}
	case model.KindLRP:
		prefix := model.InstanceID(model.KindLRP, name, 0)
		prefix = prefix[:len(prefix)-1]
		for _, kv := range actual {
			cell, id, ok := store.SplitCellKey(store.ActualPrefix, kv.Key)
			idx, found := strings.CutPrefix(id, prefix)
			if !ok || !found {
				continue
			}
			n, err := strconv.Atoi(idx)
			if err != nil || req.Index >= 0 && n != req.Index {
				continue
			}
			add(cell, id)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s has no instance%s on any cell", req.Workload, sourceFilter(req))
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Cell != out[j].Cell {
			return out[i].Cell < out[j].Cell
		}
		return instanceLess(out[i].Instance, out[j].Instance)
	})
	return out, nil
}

func sourceFilter(req LogsRequest) string {
	var f []string
	if req.Index >= 0 {
		f = append(f, fmt.Sprintf("index %d", req.Index))
	}
	if req.Cell != "" {
		f = append(f, "cell "+req.Cell)
	}
	if len(f) == 0 {
		return ""
	}
	return " with " + strings.Join(f, " and ")
}

// instanceLess orders instance IDs by index, numerically.
func instanceLess(a, b string) bool {
	ia, _ := strconv.Atoi(a[strings.LastIndexByte(a, '/')+1:])
	ib, _ := strconv.Atoi(b[strings.LastIndexByte(b, '/')+1:])
	if ia != ib {
		return ia < ib
	}
	return a < b
}

// FindLogSources reads from etcd what SelectSources needs.
func FindLogSources(ctx context.Context, t Target, req LogsRequest) ([]LogSource, error) {
	if len(t.Etcd) == 0 {
		return nil, fmt.Errorf("logs need the etcd endpoints to find the cells: pass --etcd-endpoints, or run next to `cellsync up`")
	}
	c, err := connect(ctx, t)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	kind, name, err := parseWorkload(req.Workload)
	if err != nil {
		return nil, err
	}
	cells, err := listCells(ctx, c)
	if err != nil {
		return nil, err
	}
	var actual []store.KV
	var task *model.TaskRecord
	if kind == model.KindTask {
		rec, _, ok, err := store.GetJSON[model.TaskRecord](ctx, c, store.TaskKey(name))
		if err != nil {
			return nil, fmt.Errorf("read task %s: %w", name, err)
		}
		if ok {
			task = &rec
		}
	} else if actual, _, err = c.List(ctx, store.ActualPrefix); err != nil {
		return nil, fmt.Errorf("list actual state: %w", err)
	}
	return SelectSources(req, cells, actual, task)
}

// listCells reads the cells' registrations, by name.
func listCells(ctx context.Context, c *store.Client) (map[string]model.Cell, error) {
	kvs, _, err := c.List(ctx, store.CellsPrefix)
	if err != nil {
		return nil, fmt.Errorf("list cells: %w", err)
	}
	cells := make(map[string]model.Cell, len(kvs))
	for _, kv := range kvs {
		var rec model.Cell
		if store.Decode(kv, &rec) == nil {
			cells[strings.TrimPrefix(kv.Key, store.CellsPrefix)] = rec
		}
	}
	return cells, nil
}

// logClient returns the HTTP client for the cells' log servers: mutual TLS
// with the target's identity when it has one.
func logClient(t Target) (*http.Client, error) {
	tr := &http.Transport{DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext, TLSHandshakeTimeout: 5 * time.Second,
		ResponseHeaderTimeout: 10 * time.Second}
	if t.TLS.Enabled() {
		tc, err := t.TLS.ClientConfig()
		if err != nil {
			return nil, err
		}
		tr.TLSClientConfig = tc
	}
	return &http.Client{Transport: tr}, nil
}

// logLine is one fetched line with where it came from.
type logLine struct {
	src  int
	line logserver.Line
}

// StreamLogs writes the requested output of sources to out: each
// instance's lines in order, several instances interleaved by time with a
// "[cell/index]" prefix. Problems with one source are written to errOut and
// do not stop the others; the error says how many sources failed.
func StreamLogs(ctx context.Context, t Target, req LogsRequest, sources []LogSource, out, errOut io.Writer) error {
	client, err := logClient(t)
	if err != nil {
		return err
	}
	if req.MaxStreams == 0 {
		req.MaxStreams = DefaultMaxStreams
	}
	if req.MaxStreams < 1 || req.MaxStreams > MaxStreams {
		return fmt.Errorf("--max-streams %d: must be between 1 and %d", req.MaxStreams, MaxStreams)
	}
	if req.Follow && len(sources) > req.MaxStreams {
		return fmt.Errorf("%s has %d instances, more than --max-streams %d to follow at once: narrow it with --cell or --index, or raise --max-streams", req.Workload, len(sources), req.MaxStreams)
	}
	prefix := len(sources) > 1
	write := func(l logLine) {
		var b strings.Builder
		if prefix {
			b.WriteString(sources[l.src].label())
			b.WriteByte(' ')
		}
		if req.Timestamps {
			b.WriteString(l.line.Time.UTC().Format(time.RFC3339Nano))
			b.WriteByte(' ')
		}
		b.WriteString(l.line.Text)
		b.WriteByte('\n')
		_, _ = io.WriteString(out, b.String())
	}
	failed := 0
	report := func(src int, err error) {
		failed++
		fmt.Fprintf(errOut, "%s %s: %v\n", sources[src].label(), sources[src].Instance, err)
	}

	if !req.Follow {
		lines := make([][]logLine, len(sources))
		errs := make([]error, len(sources))
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(fetchers)
		for i := range sources {
			g.Go(func() error {
				errs[i] = fetch(gctx, client, req, sources[i], func(l logserver.Line) error {
					lines[i] = append(lines[i], logLine{src: i, line: l})
					return nil
				})
				return nil
			})
		}
		_ = g.Wait()
		var all []logLine
		for i := range sources {
			if errs[i] != nil {
				report(i, errs[i])
			}
			all = append(all, lines[i]...)
		}
		sort.SliceStable(all, func(i, j int) bool { return all[i].line.Time.Before(all[j].line.Time) })
		for _, l := range all {
			write(l)
		}
	} else {
		ch := make(chan logLine)
		errc := make(chan struct {
			src int
			err error
		})
		for i := range sources {
			go func() {
				err := fetch(ctx, client, req, sources[i], func(l logserver.Line) error {
					select {
					case ch <- logLine{src: i, line: l}:
						return nil
					case <-ctx.Done():
						return ctx.Err()
					}
				})
				errc <- struct {
					src int
					err error
				}{i, err}
			}()
		}
		for running := len(sources); running > 0; {
			select {
			case l := <-ch:
				write(l)
			case e := <-errc:
				running--
				if e.err != nil && ctx.Err() == nil {
					report(e.src, e.err)
				}
			}
		}
	}
	if failed > 0 {
		return fmt.Errorf("could not read the logs of %d of %d instances", failed, len(sources))
	}
	return nil
}

// fetch reads one source's lines from its cell.
func fetch(ctx context.Context, c *http.Client, req LogsRequest, src LogSource, emit func(logserver.Line) error) error {
	if src.URL == "" {
		return fmt.Errorf("cell %s publishes no log server (is it running? an agent without --state-dir keeps no output)", src.Cell)
	}
	q := url.Values{"tail": {strconv.Itoa(req.Tail)}}
	if !req.Since.IsZero() {
		q.Set("since", req.Since.UTC().Format(time.RFC3339Nano))
	}
	if req.Previous {
		q.Set("previous", "true")
	}
	if req.Follow {
		q.Set("follow", "true")
	}
	u := strings.TrimRight(src.URL, "/") + logserver.Path + src.Instance + "?" + q.Encode()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("log server of %s: %w", src.Cell, err)
	}
	resp, err := c.Do(hreq)
	if err != nil {
		return fmt.Errorf("log server of %s: %w", src.Cell, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("log server of %s: %s: %s", src.Cell, resp.Status, strings.TrimSpace(string(b)))
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var l logserver.Line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return fmt.Errorf("log server of %s: %w", src.Cell, err)
		}
		if err := emit(l); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, context.Canceled) && ctx.Err() == nil {
		return fmt.Errorf("log server of %s: %w", src.Cell, err)
	}
	return nil
}
