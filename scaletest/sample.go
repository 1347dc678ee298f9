package scaletest

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cellsync/cellsync/store"
)

// Sample is one observation of the running test, taken every
// Options.SampleInterval.
type Sample struct {
	// T is the time since the run started, in seconds.
	T float64 `json:"t"`
	// Phase is the phase running when the sample was taken.
	Phase string `json:"phase"`
	// Fanout, Apply and Convergence are the hub's work-queue depths.
	Fanout      float64 `json:"fanout"`
	Apply       float64 `json:"apply"`
	Convergence float64 `json:"convergence"`
	// InstancesPerSec is the rate of per-cell keys the hub wrote to etcd.
	InstancesPerSec float64 `json:"instancesPerSec"`
	// EtcdWritesPerSec is the rate of etcd revisions: every writer's
	// transactions (hub and cells).
	EtcdWritesPerSec float64 `json:"etcdWritesPerSec"`
	// RSSMB and HeapMB are the process's resident set and Go heap, in MiB;
	// the process holds the hub, every cell agent and the embedded etcd.
	// CellsApplied counts the cells that had applied the hub's last write
	// to them, as of the latest status the run polled.
	CellsApplied int     `json:"cellsApplied"`
	RSSMB        float64 `json:"rssMB"`
	HeapMB       float64 `json:"heapMB"`
	Goroutines   int     `json:"goroutines"`
}

// gatherer is what the sampler reads metrics from: the current hub's
// registry.
type gatherer interface {
	Gather() ([]*dto.MetricFamily, error)
}

// sampler observes the run every interval until stopped.
type sampler struct {
	start    time.Time
	every    time.Duration
	etcd     *clientv3.Client
	progress io.Writer

	mu      sync.Mutex
	reg     gatherer
	phase   string
	note    string
	applied int
	samples []Sample
	// last counter values, for rates.
	lastT             time.Time
	lastWrites, lastR float64
}

func newSampler(start time.Time, every time.Duration, etcd *clientv3.Client, progress io.Writer) *sampler {
	return &sampler{start: start, every: every, etcd: etcd, progress: progress, phase: "setup"}
}

// setRegistry points the sampler at a new hub's registry (after a restart).
func (s *sampler) setRegistry(reg *prometheus.Registry) {
	s.mu.Lock()
	s.reg = reg
	s.mu.Unlock()
}

func (s *sampler) setPhase(p string) {
	s.mu.Lock()
	s.phase = p
	s.note = ""
	s.mu.Unlock()
}

// setNote sets the progress line's trailing text and the count of cells
// applied.
func (s *sampler) setNote(n string, applied int) {
	s.mu.Lock()
	s.note, s.applied = n, applied
	s.mu.Unlock()
}

func (s *sampler) run(ctx context.Context) {
	tick := time.NewTicker(s.every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			if s.progress != nil {
				fmt.Fprintln(s.progress)
			}
			return
		case <-tick.C:
		}
		s.sample(ctx)
	}
}

func (s *sampler) sample(ctx context.Context) {
	now := time.Now()
	s.mu.Lock()
	reg, phase, note, applied := s.reg, s.phase, s.note, s.applied
	s.mu.Unlock()
	smp := Sample{T: now.Sub(s.start).Seconds(), Phase: phase, Goroutines: runtime.NumGoroutine(), RSSMB: rssMB(), CellsApplied: applied}
	smp.HeapMB = heapMB()
	var writes float64
	if reg != nil {
		if mfs, err := reg.Gather(); err == nil {
			q := byLabel(mfs, "cellsync_workqueue_depth", "controller")
			smp.Fanout, smp.Apply, smp.Convergence = q["fanout"], q["apply"], q["convergence"]
			writes = sumFamily(mfs, "cellsync_etcd_writes_total")
		}
	}
	rev := 0.0
	cctx, cancel := context.WithTimeout(ctx, time.Second)
	if resp, err := s.etcd.Get(cctx, store.LeaderKey, clientv3.WithCountOnly()); err == nil {
		rev = float64(resp.Header.Revision)
	}
	cancel()
	s.mu.Lock()
	if !s.lastT.IsZero() {
		dt := now.Sub(s.lastT).Seconds()
		// A restarted hub starts its counters from zero.
		dw := writes - s.lastWrites
		if dw < 0 {
			dw = writes
		}
		smp.InstancesPerSec = dw / dt
		if rev > 0 && s.lastR > 0 {
			smp.EtcdWritesPerSec = (rev - s.lastR) / dt
		}
	}
	s.lastT, s.lastWrites = now, writes
	if rev > 0 {
		s.lastR = rev
	}
	s.samples = append(s.samples, smp)
	s.mu.Unlock()
	if s.progress != nil {
		fmt.Fprintf(s.progress, "\r\033[K%6.1fs %-10s queue fanout=%-4.0f apply=%-5.0f  %7.0f keys/s  etcd %6.0f rev/s  rss %4.0f MB heap %4.0f MB  %s",
			smp.T, phase, smp.Fanout, smp.Apply, smp.InstancesPerSec, smp.EtcdWritesPerSec, smp.RSSMB, smp.HeapMB, note)
	}
}

// samplesOf returns the samples of one phase.
func (s *sampler) samplesOf(phase string) []Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Sample
	for _, x := range s.samples {
		if x.Phase == phase {
			out = append(out, x)
		}
	}
	return out
}

func (s *sampler) all() []Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Sample(nil), s.samples...)
}

// byLabel sums a family's gauge or counter values by one label.
func byLabel(mfs []*dto.MetricFamily, name, label string) map[string]float64 {
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label {
					out[lp.GetValue()] += value(m)
				}
			}
		}
	}
	return out
}

// sumFamily sums every series of a gauge or counter family.
func sumFamily(mfs []*dto.MetricFamily, name string) float64 {
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				total += value(m)
			}
		}
	}
	return total
}

func value(m *dto.Metric) float64 {
	switch {
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	}
	return 0
}

// Histogram is a cumulative Prometheus histogram, or the difference of two.
type Histogram struct {
	Count uint64  `json:"count"`
	Sum   float64 `json:"sumSeconds"`
	// Buckets maps an upper bound in seconds to the cumulative count.
	Buckets map[string]uint64 `json:"buckets,omitempty"`
}

// Mean is the average observation in seconds, 0 without observations.
func (h Histogram) Mean() float64 {
	if h.Count == 0 {
		return 0
	}
	return h.Sum / float64(h.Count)
}

// histogram reads a histogram family (all series summed).
func histogram(mfs []*dto.MetricFamily, name string) Histogram {
	h := Histogram{Buckets: map[string]uint64{}}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			hg := m.GetHistogram()
			if hg == nil {
				continue
			}
			h.Count += hg.GetSampleCount()
			h.Sum += hg.GetSampleSum()
			for _, b := range hg.GetBucket() {
				h.Buckets[strconv.FormatFloat(b.GetUpperBound(), 'g', 4, 64)] += b.GetCumulativeCount()
			}
		}
	}
	return h
}

// minus returns h - before, or h when the counters were reset in between.
func (h Histogram) minus(before Histogram) Histogram {
	if before.Count > h.Count {
		return h
	}
	out := Histogram{Count: h.Count - before.Count, Sum: h.Sum - before.Sum, Buckets: map[string]uint64{}}
	for k, v := range h.Buckets {
		out.Buckets[k] = v - min(v, before.Buckets[k])
	}
	return out
}

// heapMB returns the Go heap in use, in MiB.
func heapMB() float64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapAlloc) / (1 << 20)
}

// rssMB reads the process's resident set size in MiB from /proc, 0 where
// /proc is missing.
func rssMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			if err != nil {
				return 0
			}
			return kb / 1024
		}
	}
	return 0
}

// loadAvg reads the 1-minute load average, "" where /proc is missing.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
