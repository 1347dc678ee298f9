package workqueue

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Default values used by New for zero Options fields.
const (
	// DefaultBaseDelay is the first retry delay of a failing key.
	DefaultBaseDelay = 5 * time.Millisecond
	// DefaultMaxDelay caps the per-key exponential retry delay.
	DefaultMaxDelay = 30 * time.Second
)

// ErrRunning is returned by Run when another Run of the same queue is active.
var ErrRunning = errors.New("workqueue: already running")

// ErrPermanent matches, with errors.Is, every error wrapped by Permanent.
var ErrPermanent = errors.New("permanent error")

// Clock is the source of time of a Queue; tests inject a fake one so that they
// never sleep to wait for a retry.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// AfterFunc calls f in its own goroutine once d has elapsed, unless the
	// returned Timer is stopped first.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending call made by Clock.AfterFunc.
type Timer interface {
	// Stop prevents the call if it has not started; it reports whether it
	// did so.
	Stop() bool
}

// Metrics receives a queue's events. Implementations must be safe for
// concurrent use and must not call back into the queue.
type Metrics interface {
	// Depth reports the number of keys waiting for a worker.
	Depth(n int)
	// Added counts one Add that queued a key (de-duplicated adds are not
	// counted).
	Added()
	// Retried counts one failed run whose key was scheduled again.
	Retried()
	// Done reports how long one run of the handler took.
	Done(d time.Duration)
}

// Options tunes a Queue. The zero value is valid.
type Options struct {
	// BaseDelay is the delay before the first retry of a failing key; it
	// doubles on every further failure. Default DefaultBaseDelay (5ms).
	BaseDelay time.Duration
	// MaxDelay caps the retry delay. Default DefaultMaxDelay (30s).
	MaxDelay time.Duration
	// MaxRetries, if positive, drops a key (and logs it) after that many
	// consecutive failed retries. Default 0: retry forever.
	MaxRetries int
	// Clock is the time source. Default: the real clock.
	Clock Clock
	// Metrics receives queue events. Default: none.
	Metrics Metrics
	// Logger logs dropped and permanently failed keys. Default: discard.
	Logger *slog.Logger
}

// Handler processes one key. It must return promptly once ctx is done.
// Returning an error retries the key with backoff, unless the error is
// wrapped with Permanent (not retried) or is a RequeueAfter (processed again
// after its delay, not counted as a failure).
type Handler func(ctx context.Context, key string) error

// Queue is a de-duplicating work queue with per-key retry backoff, processed
// by a resizable pool of workers. Build one with New.
type Queue struct {
	name string
	opts Options

	mu   sync.Mutex
	cond *sync.Cond

	ready      []string            // FIFO of keys waiting for a worker; ready[head:] is live
	head       int                 // index of the first live element of ready
	dirty      map[string]struct{} // keys to process: queued, or to re-queue after their run
	processing map[string]struct{} // keys a worker holds now
	failures   map[string]int      // consecutive failures per key

	waiting   waitHeap              // delayed additions, earliest first
	waitIndex map[string]*waitEntry // key → its entry in waiting
	timer     Timer                 // armed for waiting[0], only while running
	timerAt   time.Time             // when timer fires
	timerGen  uint64                // identifies the current timer; stale firings are ignored

	running  bool // Run is active
	stopping bool // Run's context ended; workers must exit
	target   int  // wanted number of workers
	workers  int  // live worker goroutines
	handle   Handler
	runCtx   context.Context
	wg       sync.WaitGroup
	idleWait chan struct{} // closed when the queue becomes idle; nil if nobody waits
}

// New returns an idle queue named name (used in logs). Zero Options fields
// take their defaults.
func New(name string, opts Options) *Queue {
	if opts.BaseDelay <= 0 {
		opts.BaseDelay = DefaultBaseDelay
	}
	if opts.MaxDelay <= 0 {
		opts.MaxDelay = DefaultMaxDelay
	}
	if opts.MaxDelay < opts.BaseDelay {
		opts.MaxDelay = opts.BaseDelay
	}
	if opts.Clock == nil {
		opts.Clock = realClock{}
	}
	if opts.Metrics == nil {
		opts.Metrics = nopMetrics{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	q := &Queue{
		name:       name,
		opts:       opts,
		dirty:      make(map[string]struct{}),
		processing: make(map[string]struct{}),
		failures:   make(map[string]int),
		waitIndex:  make(map[string]*waitEntry),
	}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// Name returns the queue's name.
func (q *Queue) Name() string { return q.name }

// Add queues key for processing. A key already queued is not queued twice; a
// key being processed is queued again once its current run finishes.
func (q *Queue) Add(key string) {
	q.mu.Lock()
	q.addLocked(key)
	q.mu.Unlock()
}

// AddAfter queues key once d has elapsed (at once if d <= 0). If key already
// waits for a later time, the earlier time wins. Delayed keys are released
// only while Run is active.
func (q *Queue) AddAfter(key string, d time.Duration) {
	if d <= 0 {
		q.Add(key)
		return
	}
	q.mu.Lock()
	q.addAfterLocked(key, q.opts.Clock.Now().Add(d))
	q.mu.Unlock()
}

// Len returns the number of keys waiting for a worker, not counting keys in
// flight or delayed.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.ready) - q.head
}

// InFlight returns the number of keys being processed now.
func (q *Queue) InFlight() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.processing)
}

// Delayed returns the number of keys waiting for their AddAfter or retry
// delay to elapse.
func (q *Queue) Delayed() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.waiting)
}

// Workers returns the number of live worker goroutines. After a shrink it
// reaches the new size once the surplus workers finish their current item.
func (q *Queue) Workers() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.workers
}

// Failures returns the number of consecutive failed runs of key (0 after a
// success or for an unknown key).
func (q *Queue) Failures(key string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.failures[key]
}

// Forget clears key's failure count, so its next failure retries after
// BaseDelay. It does not remove a queued or delayed key.
func (q *Queue) Forget(key string) {
	q.mu.Lock()
	delete(q.failures, key)
	q.mu.Unlock()
}

// Run processes keys with workers goroutines calling handle until ctx ends.
// It then waits for every worker to return from its current item, stops the
// delay timer and returns nil; keys still queued or delayed are kept for a
// later Run. It returns ErrRunning if another Run is active, and an error if
// workers < 1 or handle is nil.
func (q *Queue) Run(ctx context.Context, workers int, handle Handler) error {
	if workers < 1 {
		return fmt.Errorf("workqueue %s: run with %d workers: need at least 1", q.name, workers)
	}
	if handle == nil {
		return fmt.Errorf("workqueue %s: run with a nil handler", q.name)
	}
	q.mu.Lock()
	if q.running {
		q.mu.Unlock()
		return fmt.Errorf("workqueue %s: %w", q.name, ErrRunning)
	}
	q.running, q.stopping = true, false
	q.handle, q.runCtx = handle, ctx
	q.target = workers
	q.spawnLocked()
	q.armLocked()
	q.mu.Unlock()

	<-ctx.Done()

	q.mu.Lock()
	q.stopping = true
	q.cond.Broadcast()
	q.mu.Unlock()
	// No worker is started once stopping is set, so Wait cannot race an Add.
	q.wg.Wait()

	q.mu.Lock()
	q.running, q.stopping = false, false
	q.handle, q.runCtx = nil, nil
	q.stopTimerLocked()
	q.mu.Unlock()
	return nil
}

// Resize sets the number of workers while Run is active: growing starts
// workers at once; shrinking lets surplus workers exit after their current
// item. n < 0 is treated as 0, which pauses processing. Outside Run it has no
// effect: Run's workers argument sets the size.
func (q *Queue) Resize(n int) {
	if n < 0 {
		n = 0
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.running || q.stopping {
		return
	}
	q.target = n
	if q.workers < q.target {
		q.spawnLocked()
		return
	}
	// Wake idle workers so that the surplus sees the new target and exits.
	q.cond.Broadcast()
}

// WaitIdle blocks until no key is queued, delayed or in flight, or ctx ends
// (returning its error). A key that keeps failing keeps the queue busy.
func (q *Queue) WaitIdle(ctx context.Context) error {
	q.mu.Lock()
	if q.idleLocked() {
		q.mu.Unlock()
		return nil
	}
	if q.idleWait == nil {
		q.idleWait = make(chan struct{})
	}
	ch := q.idleWait
	q.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("workqueue %s: wait idle: %w", q.name, ctx.Err())
	}
}

func (q *Queue) idleLocked() bool {
	return len(q.ready) == q.head && len(q.processing) == 0 && len(q.waiting) == 0
}

// notifyIdleLocked wakes WaitIdle callers if the queue is idle.
func (q *Queue) notifyIdleLocked() {
	if q.idleWait != nil && q.idleLocked() {
		close(q.idleWait)
		q.idleWait = nil
	}
}

func (q *Queue) addLocked(key string) {
	if _, ok := q.dirty[key]; ok {
		return
	}
	q.dirty[key] = struct{}{}
	q.opts.Metrics.Added()
	if _, ok := q.processing[key]; ok {
		return // re-queued when its current run finishes
	}
	q.pushLocked(key)
}

func (q *Queue) pushLocked(key string) {
	q.ready = append(q.ready, key)
	q.opts.Metrics.Depth(len(q.ready) - q.head)
	q.cond.Signal()
}

// popLocked takes the first ready key; the caller checked there is one.
func (q *Queue) popLocked() string {
	key := q.ready[q.head]
	q.ready[q.head] = ""
	q.head++
	switch {
	case q.head == len(q.ready):
		q.ready, q.head = q.ready[:0], 0
	case q.head > 1024 && q.head*2 > len(q.ready):
		// Reclaim the consumed prefix so a long-lived backlog does not pin memory.
		n := copy(q.ready, q.ready[q.head:])
		clear(q.ready[n:])
		q.ready, q.head = q.ready[:n], 0
	}
	q.opts.Metrics.Depth(len(q.ready) - q.head)
	return key
}

func (q *Queue) spawnLocked() {
	for q.workers < q.target {
		q.workers++
		q.wg.Add(1)
		go q.work(q.runCtx, q.handle)
	}
}

// work is one worker: it takes keys until the queue stops or shrinks below it.
func (q *Queue) work(ctx context.Context, handle Handler) {
	defer q.wg.Done()
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		for len(q.ready) == q.head && !q.stopping && q.workers <= q.target {
			q.cond.Wait()
		}
		if q.stopping || q.workers > q.target {
			q.workers--
			return
		}
		key := q.popLocked()
		delete(q.dirty, key)
		q.processing[key] = struct{}{}
		q.mu.Unlock()

		start := q.opts.Clock.Now()
		err := handle(ctx, key)
		q.opts.Metrics.Done(q.opts.Clock.Now().Sub(start))

		q.mu.Lock()
		delete(q.processing, key)
		q.finishLocked(ctx, key, err)
		if _, ok := q.dirty[key]; ok {
			q.pushLocked(key)
		}
		q.notifyIdleLocked()
	}
}

// finishLocked applies the retry policy to the outcome of one run of key.
func (q *Queue) finishLocked(ctx context.Context, key string, err error) {
	var requeue *RequeueError
	switch {
	case err == nil:
		delete(q.failures, key)
	case errors.As(err, &requeue):
		// Not a failure: the handler asked to look again later.
		delete(q.failures, key)
		if requeue.After <= 0 {
			q.dirty[key] = struct{}{} // queued again below, after this run
			return
		}
		q.addAfterLocked(key, q.opts.Clock.Now().Add(requeue.After))
	case errors.Is(err, ErrPermanent):
		delete(q.failures, key)
		q.opts.Logger.Warn("work item failed permanently", "queue", q.name, "key", key, "err", err)
	case ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)):
		// The run was cut short by shutdown: mark the key dirty so that it is
		// queued again for the next Run, without counting a failure.
		q.dirty[key] = struct{}{}
	default:
		n := q.failures[key]
		if q.opts.MaxRetries > 0 && n >= q.opts.MaxRetries {
			delete(q.failures, key)
			q.opts.Logger.Warn("work item dropped after retries", "queue", q.name, "key", key, "retries", n, "err", err)
			return
		}
		q.failures[key] = n + 1
		q.opts.Metrics.Retried()
		q.addAfterLocked(key, q.opts.Clock.Now().Add(q.backoff(n)))
	}
}

// backoff returns the delay before retry number n+1 (n failures so far).
func (q *Queue) backoff(n int) time.Duration {
	d := q.opts.BaseDelay
	for range n {
		if d >= q.opts.MaxDelay/2 {
			return q.opts.MaxDelay
		}
		d *= 2
	}
	return min(d, q.opts.MaxDelay)
}

func (q *Queue) addAfterLocked(key string, at time.Time) {
	if e, ok := q.waitIndex[key]; ok {
		if at.Before(e.at) {
			e.at = at
			heap.Fix(&q.waiting, e.index)
			q.armLocked()
		}
		return
	}
	e := &waitEntry{key: key, at: at}
	heap.Push(&q.waiting, e)
	q.waitIndex[key] = e
	q.armLocked()
}

// armLocked makes the timer fire at the earliest delayed key, while running.
func (q *Queue) armLocked() {
	if !q.running || q.stopping || len(q.waiting) == 0 {
		return
	}
	at := q.waiting[0].at
	if q.timer != nil && !at.Before(q.timerAt) {
		return // the current timer fires first; it re-arms for the rest
	}
	q.stopTimerLocked()
	q.timerGen++
	gen := q.timerGen
	q.timerAt = at
	q.timer = q.opts.Clock.AfterFunc(at.Sub(q.opts.Clock.Now()), func() { q.fire(gen) })
}

func (q *Queue) stopTimerLocked() {
	if q.timer != nil {
		q.timer.Stop()
		q.timer = nil
		q.timerGen++ // a firing already under way becomes stale
	}
}

// fire releases the delayed keys that are due and re-arms the timer.
func (q *Queue) fire(gen uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if gen != q.timerGen || !q.running {
		return
	}
	q.timer = nil
	now := q.opts.Clock.Now()
	for len(q.waiting) > 0 && !q.waiting[0].at.After(now) {
		e := heap.Pop(&q.waiting).(*waitEntry)
		delete(q.waitIndex, e.key)
		q.addLocked(e.key)
	}
	q.armLocked()
}

// Permanent wraps err so that the queue does not retry the key. The result
// matches ErrPermanent and err with errors.Is. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err: err}
}

type permanentError struct{ err error }

// RequeueAfter returns an error that asks the queue to process the key again
// after d, without counting a failure (for a reconcile that waits on
// something, such as a backoff it computed itself). It is matched with
// errors.As into *RequeueError.
func RequeueAfter(d time.Duration) error { return &RequeueError{After: d} }

// RequeueError asks for the key to be processed again after a delay; see
// RequeueAfter.
type RequeueError struct {
	// After is the delay before the key is queued again.
	After time.Duration
}

// Error describes the request.
func (e *RequeueError) Error() string { return fmt.Sprintf("requeue after %v", e.After) }

func (e permanentError) Error() string        { return e.err.Error() }
func (e permanentError) Unwrap() error        { return e.err }
func (e permanentError) Is(target error) bool { return target == ErrPermanent }

// waitEntry is one delayed key.
type waitEntry struct {
	key   string
	at    time.Time
	index int
}

// waitHeap orders delayed keys by due time.
type waitHeap []*waitEntry

func (h waitHeap) Len() int           { return len(h) }
func (h waitHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h waitHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *waitHeap) Push(x any) {
	e := x.(*waitEntry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *waitHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
func (realClock) AfterFunc(d time.Duration, f func()) Timer {
	return time.AfterFunc(d, f)
}

type nopMetrics struct{}

func (nopMetrics) Depth(int)          {}
func (nopMetrics) Added()             {}
func (nopMetrics) Retried()           {}
func (nopMetrics) Done(time.Duration) {}
