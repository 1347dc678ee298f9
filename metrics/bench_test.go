package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// BenchmarkQueueAdapter measures what the work queue's metrics cost per
// item (Added, two Depth updates and Done, as the queue calls them),
// against a baseline of the same calls on a no-op implementation.
func BenchmarkQueueAdapter(b *testing.B) {
	h, err := NewHub(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	type queueMetrics interface {
		Depth(int)
		Added()
		Retried()
		Done(time.Duration)
	}
	run := func(b *testing.B, m queueMetrics) float64 {
		b.ReportAllocs()
		start := time.Now()
		for i := range b.N {
			m.Added()
			m.Depth(i & 1023)
			m.Depth(i & 511)
			m.Done(150 * time.Microsecond)
		}
		return float64(time.Since(start).Nanoseconds()) / float64(b.N)
	}
	var base float64
	b.Run("impl=nop", func(b *testing.B) {
		base = run(b, nopQueue{})
	})
	b.Run("impl=prometheus", func(b *testing.B) {
		q := h.Queue("bench")
		ns := run(b, q)
		if got := testutil.ToFloat64(h.QueueAdds.WithLabelValues("bench")); got < float64(b.N) {
			b.Fatalf("adds = %v, want at least %d", got, b.N)
		}
		b.ReportMetric(ns, "ns/item")
		if base > 0 {
			b.ReportMetric(ns/base, "x_nop")
		}
	})
}

type nopQueue struct{}

func (nopQueue) Depth(int)          {}
func (nopQueue) Added()             {}
func (nopQueue) Retried()           {}
func (nopQueue) Done(time.Duration) {}
