package gitsource

import (
	"context"
	"fmt"
	"github.com/cellsync/cellsync/internal/cputime"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/prometheus/client_golang/prometheus"
)

// benchRepo builds a repository of n workload files in directories of 100:
// n-n/100 LRPs, each referencing one of n/100 Configs, so that model.Check
// has real work.
func benchRepo(b *testing.B, n int) *testRepo {
	b.Helper()
	r := newTestRepo(b, true)
	files := make(map[string]string, n)
	configs := n / 100
	for i := range configs {
		files[fmt.Sprintf("conf/c%04d.yaml", i)] = configDoc(fmt.Sprintf("c%04d", i))
	}
	for i := range n - configs {
		files[fmt.Sprintf("apps/d%03d/w%05d.yaml", i/100, i)] = lrpUsing(fmt.Sprintf("w%05d", i), fmt.Sprintf("c%04d", i%configs))
	}
	r.commit(files)
	return r
}

// reload forgets everything and loads head in full: the baseline an
// incremental update is compared with.
func reload(b *testing.B, s *Source, head plumbing.Hash) *Snapshot {
	b.Helper()
	s.desired = newDesired(s.desired.opts, s.desired.fraction)
	s.head, s.tree = plumbing.ZeroHash, nil
	if err := s.mirror.Storer.RemoveReference(cleanRef); err != nil { // no restore: a plain full load
		b.Fatal(err)
	}
	snap, err := s.process(context.Background(), head)
	if err != nil || snap == nil {
		b.Fatalf("full load: %v", err)
	}
	return snap
}

func BenchmarkGitSource(b *testing.B) {
	for _, n := range []int{1000, 5000} {
		b.Run(fmt.Sprintf("files=%d", n), func(b *testing.B) { benchGitSource(b, n) })
	}
}

func benchGitSource(b *testing.B, n int) {
	r := benchRepo(b, n)
	s, err := New(Config{URL: "file://" + r.dir, DataDir: b.TempDir(), DisableWatch: true},
		Deps{Registerer: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	first, err := s.Sync(context.Background())
	if err != nil || len(first.Objects) != n || len(first.FileErrors) != 0 {
		b.Fatalf("initial sync: %v, %d objects, errors %v", err, len(first.Objects), first.FileErrors)
	}
	head := r.head
	changed := "apps/d000/w00000.yaml"

	b.Run("first-clone", func(b *testing.B) {
		b.ReportAllocs()
		start := time.Now()
		for b.Loop() {
			c, err := New(Config{URL: "file://" + r.dir, DataDir: b.TempDir(), DisableWatch: true},
				Deps{Registerer: prometheus.NewRegistry()})
			if err != nil {
				b.Fatal(err)
			}
			if snap, err := c.Sync(context.Background()); err != nil || len(snap.Objects) != n {
				b.Fatalf("first clone: %v", err)
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/time.Since(start).Seconds(), "files/s")
	})

	b.Run("full-load", func(b *testing.B) {
		b.ReportAllocs()
		start, cpu := time.Now(), cputime.Used()
		for b.Loop() {
			reload(b, s, head)
		}
		b.ReportMetric(float64(n)*float64(b.N)/time.Since(start).Seconds(), "files/s")
		if used := cputime.Used() - cpu; used > 0 {
			b.ReportMetric(float64(n)*float64(b.N)/used.Seconds(), "files/cpu-s")
		}
	})

	// Two commits that differ in one file; the update goes back and forth.
	reload(b, s, head)
	one := r.commit(map[string]string{changed: lrpUsing("w00000", "c0001")})
	two := r.commit(map[string]string{changed: lrpUsing("w00000", "c0002")})
	if _, err := s.Sync(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Run("one-file-change", func(b *testing.B) {
		// Correctness first: the incremental result equals a full load.
		full := reload(b, s, two)
		reload(b, s, one)
		incr, err := s.process(context.Background(), two)
		if err != nil || incr.Parsed != 1 || len(incr.Objects) != len(full.Objects) || len(incr.FileErrors) != 0 {
			b.Fatalf("incremental: %v, parsed %d, %d objects (full load: %d), errors %v", err, incr.Parsed, len(incr.Objects), len(full.Objects), incr.FileErrors)
		}
		for k, o := range full.Objects {
			if Key(incr.Objects[k]) != Key(o) || incr.Objects[k].Head().Source != o.Head().Source {
				b.Fatalf("incremental %s differs from the full load", k)
			}
		}
		// Baseline in the same run: the full reload of the same commit.
		baseline := time.Duration(1<<63 - 1)
		for range 3 {
			start := time.Now()
			reload(b, s, two)
			baseline = min(baseline, time.Since(start))
		}
		b.ReportAllocs()
		heads := [2]plumbing.Hash{one, two}
		var parse time.Duration
		i := 0
		start, cpu := time.Now(), cputime.Used()
		for b.Loop() {
			snap, err := s.process(context.Background(), heads[i%2])
			if err != nil || snap.Parsed != 1 {
				b.Fatalf("update: %v", err)
			}
			parse += snap.ParseDuration
			i++
		}
		perOp := time.Since(start) / time.Duration(b.N)
		b.ReportMetric(float64(((cputime.Used()-cpu)/time.Duration(b.N)).Microseconds())/1000, "cpu-ms/update")
		b.ReportMetric(float64(perOp.Microseconds())/1000, "ms/update")
		b.ReportMetric(float64(baseline.Microseconds())/1000, "full-reload-ms")
		b.ReportMetric(float64(baseline)/float64(perOp), "x-faster-than-reload")
		b.ReportMetric(float64((parse/time.Duration(b.N)).Microseconds())/1000, "parse-ms")
	})

	b.Run("commit-to-snapshot", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			b.StopTimer()
			c := r.commit(map[string]string{changed: lrpUsing("w00000", fmt.Sprintf("c%04d", i%10))})
			i++
			b.StartTimer()
			snap, err := s.Sync(context.Background())
			if err != nil || snap == nil || snap.Commit != c.String() {
				b.Fatalf("sync: %v", err)
			}
		}
	})
}
