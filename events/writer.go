package events

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jonboulle/clockwork"

	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/store"
)

// Defaults and bounds of Config.
const (
	// DefaultCapacity is how many events a writer's prefix keeps.
	DefaultCapacity = 500
	// MaxCapacity bounds Capacity.
	MaxCapacity = 100_000
	// DefaultFlushInterval is how long events are collected before one write.
	DefaultFlushInterval = 500 * time.Millisecond
	// maxPending bounds the events waiting for a write; when etcd is slow
	// or down the oldest are dropped (and counted) rather than the caller
	// blocked or memory grown.
	maxPending = 1000
)

// Config describes one writer.
type Config struct {
	// Prefix is the writer's own etcd prefix: store.HubEventsPrefix or
	// store.CellEventsPrefix(cell). Required.
	Prefix string
	// Capacity is how many events the prefix keeps; older ones are
	// deleted. Default DefaultCapacity, at most MaxCapacity.
	Capacity int
	// FlushInterval is how long events are collected into one write;
	// default DefaultFlushInterval.
	FlushInterval time.Duration
}

// Deps are a writer's collaborators.
type Deps struct {
	// Store is the etcd client. Required.
	Store *store.Client
	// Clock stamps events and drives the flush timer; default real.
	Clock clockwork.Clock
	// Logger receives write failures; default discards.
	Logger *slog.Logger
}

// Writer appends events to one prefix of the event log and keeps it at
// Capacity. Emit is safe for concurrent use and never blocks; Run writes.
type Writer struct {
	cfg   Config
	st    *store.Client
	clock clockwork.Clock
	log   *slog.Logger
	// tag tells this process's keys from those of another process writing
	// the same prefix (a standby hub), should two share a nanosecond.
	tag uint32

	mu      sync.Mutex
	pending []model.Event
	dropped int
	notify  chan struct{}

	// Owned by Run: the last key's sequence number, and how many events
	// the prefix holds (as of the last trim, plus those written since; -1
	// before the first).
	seq    uint64
	stored int
}

// New checks cfg and returns a writer; call Run to write.
func New(cfg Config, deps Deps) (*Writer, error) {
	if cfg.Prefix == "" {
		return nil, fmt.Errorf("event log: no prefix")
	}
	if cfg.Capacity == 0 {
		cfg.Capacity = DefaultCapacity
	}
	if cfg.Capacity < 1 || cfg.Capacity > MaxCapacity {
		return nil, fmt.Errorf("event log: capacity %d: must be between 1 and %d", cfg.Capacity, MaxCapacity)
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = DefaultFlushInterval
	}
	if deps.Store == nil {
		return nil, fmt.Errorf("event log: no store")
	}
	if deps.Clock == nil {
		deps.Clock = clockwork.NewRealClock()
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return &Writer{cfg: cfg, st: deps.Store, clock: deps.Clock, log: deps.Logger, tag: binary.BigEndian.Uint32(b[:]),
		notify: make(chan struct{}, 1), stored: -1}, nil
}

// Emit queues an event. A zero Time is now and a zero Severity is info; a
// message over model.MaxEventMessage bytes is cut. A nil Writer drops it,
// so callers need not check whether events are on.
func (w *Writer) Emit(e model.Event) {
	if w == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = w.clock.Now()
	}
	e.Time = e.Time.UTC()
	if e.Severity == "" {
		e.Severity = model.SeverityInfo
	}
	e.Message = truncate(e.Message, model.MaxEventMessage)
	e.Source = ""
	w.mu.Lock()
	if len(w.pending) >= maxPending {
		w.pending = w.pending[1:]
		w.dropped++
	}
	w.pending = append(w.pending, e)
	w.mu.Unlock()
	select {
	case w.notify <- struct{}{}:
	default:
	}
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Run writes queued events, one write per FlushInterval at most, and trims
// the prefix to Capacity, until ctx ends; then it writes what is queued,
// for at most a few seconds. It returns nil.
func (w *Writer) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			defer cancel()
			_ = w.flush(fctx)
			return nil
		case <-w.notify:
		}
		t := w.clock.NewTimer(w.cfg.FlushInterval)
		select {
		case <-ctx.Done():
		case <-t.Chan():
		}
		t.Stop()
		if err := w.flush(ctx); err != nil && ctx.Err() == nil {
			w.log.Warn("write events", "prefix", w.cfg.Prefix, "err", err)
			select { // try again after the next interval
			case w.notify <- struct{}{}:
			default:
			}
		}
	}
}

// flush writes the queued events in one Write. Before a write that would
// take the prefix past Capacity and a tenth, it trims the prefix so that
// it holds Capacity once the write lands: the prefix never holds more than
// Capacity + Capacity/10 events (with one writer per prefix), and trimming
// costs a count and a range delete per tenth of Capacity written.
func (w *Writer) flush(ctx context.Context) error {
	w.mu.Lock()
	evs, dropped := w.pending, w.dropped
	w.pending, w.dropped = nil, 0
	w.mu.Unlock()
	if dropped > 0 {
		evs = append(evs, model.Event{Time: w.clock.Now().UTC(), Type: model.EventError, Severity: model.SeverityWarning,
			Message: fmt.Sprintf("%d events were dropped while etcd was unreachable", dropped)})
	}
	if len(evs) == 0 {
		return nil
	}
	if n := len(evs) - w.cfg.Capacity; n > 0 {
		evs = evs[n:] // the older ones would be trimmed at once
	}
	if w.stored < 0 || w.stored+len(evs) > w.cfg.Capacity+w.cfg.Capacity/10 {
		left, err := w.st.Trim(ctx, w.cfg.Prefix, w.cfg.Capacity-len(evs))
		if err != nil {
			w.requeue(evs)
			return err
		}
		w.stored = left
	}
	ops := make([]store.Op, 0, len(evs))
	for _, e := range evs {
		v, err := store.Encode(e)
		if err != nil {
			return fmt.Errorf("encode event: %w", err)
		}
		w.seq++
		ops = append(ops, store.Op{Key: w.cfg.Prefix + fmt.Sprintf("%019d-%08x-%d", e.Time.UnixNano(), w.tag, w.seq), Value: v})
	}
	if _, err := w.st.Write(ctx, ops); err != nil {
		w.requeue(evs)
		return err
	}
	w.stored += len(evs)
	return nil
}

// requeue puts events that could not be written back in front of newer
// ones, within maxPending.
func (w *Writer) requeue(evs []model.Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	all := append(evs, w.pending...)
	if n := len(all) - maxPending; n > 0 {
		all = all[n:]
		w.dropped += n
	}
	w.pending = all
}
