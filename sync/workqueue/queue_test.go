package workqueue

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// eventually polls cond until it holds or a generous deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

// start runs q in the background and stops it (checking Run's result) when
// the test ends. It returns the stop function for tests that stop earlier.
func start(t *testing.T, q *Queue, workers int, h Handler) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx, workers, h) }()
	eventually(t, "workers started", func() bool { return q.Workers() == workers })
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run returned %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func waitIdle(t *testing.T, q *Queue) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := q.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
}

// counter counts handler calls per key.
type counter struct {
	mu    sync.Mutex
	calls map[string]int
	order []string
}

func (c *counter) handle(_ context.Context, key string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.calls == nil {
		c.calls = make(map[string]int)
	}
	c.calls[key]++
	c.order = append(c.order, key)
	return nil
}

func (c *counter) get(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[key]
}

func TestDedup(t *testing.T) {
	tests := []struct {
		name      string
		adds      []string
		wantLen   int
		wantOrder []string
	}{
		{name: "one key many times", adds: []string{"a", "a", "a"}, wantLen: 1, wantOrder: []string{"a"}},
		{name: "distinct keys keep FIFO order", adds: []string{"b", "a", "c"}, wantLen: 3, wantOrder: []string{"b", "a", "c"}},
		{name: "interleaved burst", adds: []string{"a", "b", "a", "b", "c", "a"}, wantLen: 3, wantOrder: []string{"a", "b", "c"}},
		{name: "nothing", adds: nil, wantLen: 0, wantOrder: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &recMetrics{}
			q := New("test", Options{Metrics: m})
			for _, k := range tt.adds {
				q.Add(k)
			}
			if got := q.Len(); got != tt.wantLen {
				t.Fatalf("Len = %d, want %d", got, tt.wantLen)
			}
			if got := int(m.added.Load()); got != tt.wantLen {
				t.Errorf("metrics Added = %d, want %d", got, tt.wantLen)
			}
			var c counter
			start(t, q, 1, c.handle)
			waitIdle(t, q)
			if fmt.Sprint(c.order) != fmt.Sprint(tt.wantOrder) {
				t.Errorf("processed %v, want %v", c.order, tt.wantOrder)
			}
			if got := m.depth.Load(); got != 0 {
				t.Errorf("metrics Depth = %d after idle, want 0", got)
			}
		})
	}
}

func TestDirtyKeyProcessedAgainAfterCurrentRun(t *testing.T) {
	q := New("test", Options{})
	entered := make(chan struct{})
	release := make(chan struct{})
	var calls atomic.Int32
	start(t, q, 4, func(_ context.Context, key string) error {
		if calls.Add(1) == 1 {
			close(entered)
			<-release
		}
		return nil
	})
	q.Add("a")
	<-entered
	q.Add("a")
	q.Add("a")
	if got := q.Len(); got != 0 {
		t.Errorf("Len while the key is in flight = %d, want 0 (held back, not queued)", got)
	}
	if got := q.InFlight(); got != 1 {
		t.Errorf("InFlight = %d, want 1", got)
	}
	close(release)
	waitIdle(t, q)
	if got := calls.Load(); got != 2 {
		t.Errorf("handler calls = %d, want 2 (one run, then one for the burst)", got)
	}
}

func TestNoConcurrentRunsOfOneKey(t *testing.T) {
	q := New("test", Options{})
	var mu sync.Mutex
	active := map[string]int{}
	var overlaps, runs atomic.Int32
	start(t, q, 8, func(_ context.Context, key string) error {
		mu.Lock()
		active[key]++
		if active[key] > 1 {
			overlaps.Add(1)
		}
		mu.Unlock()
		runtime.Gosched()
		mu.Lock()
		active[key]--
		mu.Unlock()
		runs.Add(1)
		return nil
	})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				q.Add(fmt.Sprintf("k%d", (i+g)%5))
			}
		}()
	}
	wg.Wait()
	waitIdle(t, q)
	if n := overlaps.Load(); n != 0 {
		t.Errorf("%d overlapping runs of one key", n)
	}
	if runs.Load() < 5 {
		t.Errorf("runs = %d, want at least one per key", runs.Load())
	}
}

func TestRetryBackoff(t *testing.T) {
	clk := newFakeClock()
	m := &recMetrics{}
	q := New("test", Options{Clock: clk, Metrics: m, BaseDelay: 5 * time.Millisecond, MaxDelay: 20 * time.Millisecond})
	var calls atomic.Int32
	failUntil := int32(4)
	start(t, q, 2, func(_ context.Context, key string) error {
		if calls.Add(1) <= failUntil {
			return errors.New("boom")
		}
		return nil
	})
	q.Add("a")
	// Delays: 5ms, 10ms, 20ms, 20ms (capped).
	for i, delay := range []time.Duration{5, 10, 20, 20} {
		delay *= time.Millisecond
		eventually(t, fmt.Sprintf("failure %d scheduled", i+1), func() bool {
			return q.Failures("a") == i+1 && q.Delayed() == 1 && q.InFlight() == 0
		})
		clk.Step(delay - time.Millisecond)
		if got := calls.Load(); got != int32(i+1) {
			t.Fatalf("retry %d ran before its %v delay: %d calls", i+1, delay, got)
		}
		clk.Step(time.Millisecond)
		eventually(t, fmt.Sprintf("retry %d", i+1), func() bool { return calls.Load() == int32(i+2) })
	}
	waitIdle(t, q)
	if got := q.Failures("a"); got != 0 {
		t.Errorf("Failures after success = %d, want 0 (forgotten)", got)
	}
	if got := m.retried.Load(); got != 4 {
		t.Errorf("metrics Retried = %d, want 4", got)
	}
}

func TestBackoff(t *testing.T) {
	q := New("test", Options{BaseDelay: 5 * time.Millisecond, MaxDelay: 30 * time.Second})
	tests := []struct {
		name     string
		failures int
		want     time.Duration
	}{
		{name: "first retry", failures: 0, want: 5 * time.Millisecond},
		{name: "second", failures: 1, want: 10 * time.Millisecond},
		{name: "tenth", failures: 9, want: 5 * time.Millisecond << 9},
		{name: "capped", failures: 13, want: 30 * time.Second},
		{name: "no overflow", failures: 10000, want: 30 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := q.backoff(tt.failures); got != tt.want {
				t.Errorf("backoff(%d) = %v, want %v", tt.failures, got, tt.want)
			}
		})
	}
}

func TestPermanentErrorIsNotRetried(t *testing.T) {
	base := errors.New("bad spec")
	tests := []struct {
		name      string
		err       error
		wantRetry bool
	}{
		{name: "permanent", err: Permanent(base), wantRetry: false},
		{name: "wrapped permanent", err: fmt.Errorf("reconcile x: %w", Permanent(base)), wantRetry: false},
		{name: "plain error", err: base, wantRetry: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			q := New("test", Options{Clock: clk})
			var calls atomic.Int32
			start(t, q, 1, func(context.Context, string) error {
				calls.Add(1)
				return tt.err
			})
			q.Add("a")
			eventually(t, "first run done", func() bool { return calls.Load() == 1 && q.InFlight() == 0 })
			if got := q.Delayed() == 1; got != tt.wantRetry {
				t.Errorf("retry scheduled = %v, want %v", got, tt.wantRetry)
			}
			if !tt.wantRetry && q.Failures("a") != 0 {
				t.Errorf("Failures = %d, want 0", q.Failures("a"))
			}
		})
	}
	if p := Permanent(base); !errors.Is(p, ErrPermanent) || !errors.Is(p, base) || p.Error() != base.Error() {
		t.Errorf("Permanent(%v) = %v: must match ErrPermanent and the cause, and keep its message", base, p)
	}
	if Permanent(nil) != nil {
		t.Error("Permanent(nil) != nil")
	}
}

func TestRequeueAfter(t *testing.T) {
	clk := newFakeClock()
	m := &recMetrics{}
	q := New("test", Options{Clock: clk, Metrics: m})
	var calls atomic.Int32
	start(t, q, 1, func(_ context.Context, key string) error {
		switch calls.Add(1) {
		case 1:
			return RequeueAfter(time.Minute)
		case 2:
			return fmt.Errorf("wait for cell: %w", RequeueAfter(0))
		}
		return nil
	})
	q.Add("a")
	eventually(t, "requeue scheduled", func() bool { return calls.Load() == 1 && q.Delayed() == 1 && q.InFlight() == 0 })
	if q.Failures("a") != 0 || m.retried.Load() != 0 {
		t.Errorf("a requeue counted as a failure: Failures=%d Retried=%d", q.Failures("a"), m.retried.Load())
	}
	clk.Step(time.Minute - time.Nanosecond)
	if calls.Load() != 1 {
		t.Fatal("requeued before its delay")
	}
	clk.Step(time.Nanosecond)
	// The second run asks for an immediate requeue: a third run follows.
	waitIdle(t, q)
	if got := calls.Load(); got != 3 {
		t.Errorf("calls = %d, want 3", got)
	}
	var re *RequeueError
	if err := RequeueAfter(time.Second); !errors.As(err, &re) || re.After != time.Second || err.Error() != "requeue after 1s" {
		t.Errorf("RequeueAfter(1s) = %v", err)
	}
}

func TestMaxRetriesDropsKey(t *testing.T) {
	clk := newFakeClock()
	q := New("test", Options{Clock: clk, MaxRetries: 2})
	var calls atomic.Int32
	start(t, q, 1, func(context.Context, string) error {
		calls.Add(1)
		return errors.New("boom")
	})
	q.Add("a")
	for i := 1; i <= 2; i++ {
		eventually(t, "retry scheduled", func() bool { return calls.Load() == int32(i) && q.Delayed() == 1 && q.InFlight() == 0 })
		clk.Step(time.Minute)
	}
	waitIdle(t, q)
	if got := calls.Load(); got != 3 {
		t.Errorf("calls = %d, want 3 (first run and 2 retries)", got)
	}
}

func TestAddAfter(t *testing.T) {
	clk := newFakeClock()
	q := New("test", Options{Clock: clk})
	var c counter
	start(t, q, 1, c.handle)
	q.AddAfter("a", time.Second)
	q.AddAfter("a", 2*time.Second) // later: the earlier time wins
	q.AddAfter("b", 3*time.Second)
	if got := q.Delayed(); got != 2 {
		t.Fatalf("Delayed = %d, want 2", got)
	}
	clk.Step(999 * time.Millisecond)
	if q.Len() != 0 || c.get("a") != 0 {
		t.Fatal("a released before its delay")
	}
	clk.Step(time.Millisecond)
	eventually(t, "a processed", func() bool { return c.get("a") == 1 })
	clk.Step(2 * time.Second)
	waitIdle(t, q)
	if c.get("a") != 1 || c.get("b") != 1 {
		t.Errorf("calls a=%d b=%d, want 1 each", c.get("a"), c.get("b"))
	}
}

func TestResize(t *testing.T) {
	q := New("test", Options{})
	var active, peak atomic.Int32
	gate := make(chan struct{})
	start(t, q, 2, func(ctx context.Context, key string) error {
		n := active.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		defer active.Add(-1)
		select {
		case <-gate:
		case <-ctx.Done():
		}
		return nil
	})
	for i := range 20 {
		q.Add(fmt.Sprint("k", i))
	}
	eventually(t, "2 busy workers", func() bool { return active.Load() == 2 })

	q.Resize(6)
	eventually(t, "6 busy workers after growing", func() bool { return active.Load() == 6 && q.Workers() == 6 })

	q.Resize(1)
	if got := q.Workers(); got != 6 {
		t.Errorf("Workers right after shrinking = %d, want 6 (busy workers finish their item)", got)
	}
	peak.Store(0)
	// Release items one at a time: surplus workers exit as they finish.
	eventually(t, "pool shrunk to 1", func() bool {
		select {
		case gate <- struct{}{}:
		default:
		}
		return q.Workers() == 1
	})
	peak.Store(active.Load())
	close(gate)
	waitIdle(t, q)
	if p := peak.Load(); p > 1 {
		t.Errorf("peak concurrency after shrinking to 1 = %d", p)
	}

	// Shrinking to 0 pauses; growing resumes.
	q.Resize(0)
	eventually(t, "no workers", func() bool { return q.Workers() == 0 })
	q.Add("late")
	if got := q.Len(); got != 1 {
		t.Fatalf("Len while paused = %d, want 1", got)
	}
	q.Resize(3)
	waitIdle(t, q)
	if got := q.Workers(); got != 3 {
		t.Errorf("Workers = %d, want 3", got)
	}
}

func TestShutdown(t *testing.T) {
	baseline := runtime.NumGoroutine()
	clk := newFakeClock()
	q := New("test", Options{Clock: clk})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var calls atomic.Int32
	go func() {
		done <- q.Run(ctx, 8, func(ctx context.Context, key string) error {
			calls.Add(1)
			if key == "block" {
				<-ctx.Done()
				return ctx.Err()
			}
			return nil
		})
	}()
	q.AddAfter("later", time.Hour)
	q.Add("block")
	for i := range 100 {
		q.Add(fmt.Sprint(i))
	}
	eventually(t, "all but the blocking key processed", func() bool { return calls.Load() == 101 })
	if clk.Pending() != 1 {
		t.Errorf("armed timers = %d, want 1", clk.Pending())
	}
	if err := q.Run(ctx, 1, func(context.Context, string) error { return nil }); !errors.Is(err, ErrRunning) {
		t.Errorf("second Run = %v, want ErrRunning", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	if got := q.Workers(); got != 0 {
		t.Errorf("Workers after Run = %d", got)
	}
	if got := clk.Pending(); got != 0 {
		t.Errorf("armed timers after Run = %d, want 0", got)
	}
	// The delayed key is kept; the cancelled run is queued again, uncounted.
	if q.Delayed() != 1 || q.Len() != 1 || q.Failures("block") != 0 {
		t.Errorf("after Run: Delayed=%d Len=%d Failures(block)=%d, want 1, 1, 0", q.Delayed(), q.Len(), q.Failures("block"))
	}
	q.Resize(4) // no effect outside Run
	if q.Workers() != 0 {
		t.Error("Resize outside Run started workers")
	}
	eventually(t, "goroutines back to baseline", func() bool { return runtime.NumGoroutine() <= baseline })
}

func TestRunRejectsBadArguments(t *testing.T) {
	q := New("test", Options{})
	tests := []struct {
		name    string
		workers int
		h       Handler
	}{
		{name: "zero workers", workers: 0, h: func(context.Context, string) error { return nil }},
		{name: "nil handler", workers: 1, h: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := q.Run(context.Background(), tt.workers, tt.h); err == nil {
				t.Error("Run succeeded, want an error")
			}
		})
	}
}

func TestWaitIdleHonoursContext(t *testing.T) {
	q := New("test", Options{})
	q.Add("a") // never processed: no Run
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := q.WaitIdle(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitIdle = %v, want context.Canceled", err)
	}
}

// recMetrics records Metrics calls.
type recMetrics struct {
	depth   atomic.Int64
	added   atomic.Int64
	retried atomic.Int64
	done    atomic.Int64
}

func (m *recMetrics) Depth(n int)          { m.depth.Store(int64(n)) }
func (m *recMetrics) Added()               { m.added.Add(1) }
func (m *recMetrics) Retried()             { m.retried.Add(1) }
func (m *recMetrics) Done(_ time.Duration) { m.done.Add(1) }
