package workqueue

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkThroughput measures Add plus processing of distinct keys with a
// trivial handler, for several pool sizes, against a baseline of the same
// keys sent through a buffered channel to the same number of goroutines (no
// de-duplication, no retry). It reports items/s and the ratio to the
// baseline.
func BenchmarkThroughput(b *testing.B) {
	for _, workers := range []int{1, 8, 32} {
		b.Run("workers="+strconv.Itoa(workers), func(b *testing.B) {
			keys := make([]string, b.N)
			for i := range keys {
				keys[i] = "cell-" + strconv.Itoa(i)
			}
			base := channelThroughput(keys, workers)

			q := New("bench", Options{})
			var processed atomic.Int64
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				done <- q.Run(ctx, workers, func(context.Context, string) error {
					processed.Add(1)
					return nil
				})
			}()
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for _, k := range keys {
				q.Add(k)
			}
			if err := q.WaitIdle(context.Background()); err != nil {
				b.Fatal(err)
			}
			elapsed := time.Since(start)
			b.StopTimer()
			cancel()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			if got := processed.Load(); got != int64(b.N) {
				b.Fatalf("processed %d keys, want %d", got, b.N)
			}
			rate := float64(b.N) / elapsed.Seconds()
			b.ReportMetric(rate, "items/s")
			b.ReportMetric(rate/base, "x_channel")
		})
	}
}

// channelThroughput is the baseline: items/s through a buffered channel.
func channelThroughput(keys []string, workers int) float64 {
	ch := make(chan string, 1024)
	var processed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range ch {
				processed.Add(1)
			}
		}()
	}
	for _, k := range keys {
		ch <- k
	}
	close(ch)
	wg.Wait()
	return float64(len(keys)) / time.Since(start).Seconds()
}
