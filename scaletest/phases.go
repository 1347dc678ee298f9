package scaletest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cellsync/cellsync/config"
	"github.com/cellsync/cellsync/store"
	"github.com/cellsync/cellsync/sync/hub"
)

// errAbort stops the run after a phase whose wait failed: later phases
// would measure a hub that never settled.
var errAbort = errors.New("later phases skipped")

// counters are the hub metrics a phase reports as differences.
type counters struct {
	apply     Histogram
	resources float64
}

func (r *runner) counters() counters {
	mfs, err := r.hubReg.Gather()
	if err != nil {
		return counters{}
	}
	return counters{
		apply:     histogram(mfs, "cellsync_apply_duration_seconds"),
		resources: sumFamily(mfs, "cellsync_apply_resources_applied_total"),
	}
}

// phase runs one phase: body measures and waits, then the correctness check
// runs. It returns false when the run must stop.
func (r *runner) phase(name, title string, body func(p *Phase, rev int64) error) bool {
	p := &Phase{Name: name, Title: title, Start: time.Since(r.start).Seconds()}
	r.rep.Phases = append(r.rep.Phases, p)
	r.smp.setPhase(name)
	reg, before := r.hubReg, r.counters()
	stopProfile, err := r.profile(name)
	if err != nil {
		p.Error = err.Error()
		return true
	}
	defer stopProfile()
	rev, err := r.revision()
	if err == nil {
		err = body(p, rev)
	}
	if err == nil {
		err = r.check(p, rev)
	}
	p.Seconds = time.Since(r.start).Seconds() - p.Start
	after := r.counters()
	if r.hubReg != reg {
		// A restarted hub has a new registry, counting from zero.
		before = counters{}
	}
	p.Apply = after.apply.minus(before.apply)
	p.PeakRSSMB, p.PeakHeapMB = rssMB(), heapMB()
	for _, s := range r.smp.samplesOf(name) {
		p.PeakRSSMB = max(p.PeakRSSMB, s.RSSMB)
		p.PeakHeapMB = max(p.PeakHeapMB, s.HeapMB)
	}
	// The hub observes one apply duration per cell write: merging the
	// cell's changed instances in memory and landing them in etcd.
	if p.Apply.Count > 0 {
		p.add(Figure{Name: "apply+write time per cell write (mean)", Value: p.Apply.Mean() * 1e3, Unit: "ms", Hive: hivePerRes})
		p.add(Figure{Name: "cell writes / per-cell keys they carried", Value: float64(p.Apply.Count), Unit: fmt.Sprintf("/ %.0f", after.resources-before.resources)})
	}
	p.add(Figure{Key: "rss", Name: "peak process RSS", Value: math.Round(p.PeakRSSMB), Unit: "MB", Hive: hiveMemory})
	if err != nil {
		p.Error = err.Error()
		return !errors.Is(err, errAbort)
	}
	return true
}

// profile starts a CPU profile of one phase when Options.ProfileDir is set;
// the returned function stops it and writes a heap profile.
func (r *runner) profile(phase string) (func(), error) {
	if r.o.ProfileDir == "" {
		return func() {}, nil
	}
	if err := os.MkdirAll(r.o.ProfileDir, 0o755); err != nil {
		return nil, fmt.Errorf("create profile dir: %w", err)
	}
	f, err := os.Create(filepath.Join(r.o.ProfileDir, "cpu-"+phase+".pprof"))
	if err != nil {
		return nil, fmt.Errorf("create CPU profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("start CPU profile of %s: %w", phase, err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
		r.heapProfile(phase)
	}, nil
}

// heapProfile writes the live heap at the end of a phase, heap-<phase>.pprof.
func (r *runner) heapProfile(phase string) {
	f, err := os.Create(filepath.Join(r.o.ProfileDir, "heap-"+phase+".pprof"))
	if err != nil {
		r.o.Logger.Warn("create heap profile", "err", err)
		return
	}
	defer f.Close()
	runtime.GC()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		r.o.Logger.Warn("write heap profile", "phase", phase, "err", err)
	}
}

// abort marks a wait failure as ending the run.
func abort(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w; %w", err, errAbort)
}

func (r *runner) phases() {
	o := r.o
	steps := []struct {
		name, title string
		body        func(p *Phase, rev int64) error
	}{
		{"adopt", fmt.Sprintf("adopt %d cells", o.Cells), r.adopt},
		{"commit", fmt.Sprintf("commit %d sets × %d Configs and %d LRPs", o.Sets, o.Resources, o.LRPs), r.commitSets},
		{"add-res", "add one resource to one set", func(p *Phase, rev int64) error { return r.addResource(p, rev, 0, hiveAddRes) }},
		{"add-set", "add one new set", r.addSet},
		{"restart", "restart the hub on the same etcd", r.restart},
		{"resize", "resize workers " + o.Workers.String() + " → " + o.ResizeTo.String() + ", add one resource", r.resize},
		{"kill", fmt.Sprintf("kill %.0f%% of the cells without evacuation", o.KillFraction*100), r.kill},
	}
	for _, s := range steps {
		if !r.phase(s.name, s.title, s.body) {
			return
		}
	}
}

// adopt starts the cells and waits until the hub knows all of them.
func (r *runner) adopt(p *Phase, _ int64) error {
	start := time.Now()
	var err error
	if r.fleet, err = startFleet(r.ctx, r.o.Cells, r.o.LeaseTTL, r.clients, r.o.Logger); err != nil {
		return abort(err)
	}
	_, took, err := r.waitFor("adoption", start, func(st hub.Status) bool {
		return len(st.Cells) == r.o.Cells && r.fleet.registered() == r.o.Cells
	})
	if err != nil {
		return abort(err)
	}
	p.add(Figure{Key: "registered", Name: "all cells registered", Value: took.Seconds(), Unit: "s", Hive: hiveAdoption})
	p.add(Figure{Name: "adoption rate", Value: float64(r.o.Cells) / took.Seconds(), Unit: "cells/s"})
	_, _, err = r.waitFor("empty fleet settled", start, r.applied)
	return abort(err)
}

// commitSets commits every set and LRP and measures the rollout.
func (r *runner) commitSets(p *Phase, rev int64) error {
	r.wl = newWorkload(r.o.Sets, r.o.Resources, r.o.LRPs, r.o.Instances)
	if err := r.repo.writeAll(r.wl); err != nil {
		return abort(err)
	}
	fault := r.faultDuringCommit(rev)
	start := time.Now()
	if err := r.repo.commit("scaletest: sets and LRPs"); err != nil {
		return abort(err)
	}
	if err := r.seen(p, start); err != nil {
		return err
	}
	_, stored, err := r.waitFor("sets stored", start, r.stored)
	if err != nil {
		return abort(err)
	}
	if err := fault(p); err != nil {
		return abort(err)
	}
	_, applied, err := r.waitFor("sets applied", start, r.applied)
	if err != nil {
		return abort(err)
	}
	instances := float64(r.o.Cells * r.o.Sets)
	keys, err := r.desiredWrittenSince(rev)
	if err != nil {
		return err
	}
	p.add(atMost("stored", fmt.Sprintf("%.0f per-cell instances stored", instances), stored.Seconds(), "s", r.targets.stored, hiveSetsAll))
	p.add(atMost("applied", "every cell applied", applied.Seconds(), "s", r.targets.applied, ""))
	p.add(Figure{Name: "instances stored per second", Value: instances / stored.Seconds(), Unit: "/s", Hive: hiveRate})
	rate := float64(keys) / stored.Seconds()
	p.add(Figure{Name: "desired keys written", Value: float64(keys), Unit: "keys"})
	p.add(Figure{Name: "hub etcd write rate", Value: rate, Unit: "keys/s"})
	if b := r.rep.Baseline.KeysPerSec; b > 0 {
		p.add(Figure{Name: "ratio to raw batched put loop", Value: rate / b, Unit: "×"})
	}
	return nil
}

// faultDuringCommit starts Options.KillDuringCommit, if set, to run as
// soon as the first per-cell key after rev is stored; the returned function
// waits for it and records how far the commit had come.
func (r *runner) faultDuringCommit(rev int64) func(*Phase) error {
	if r.o.KillDuringCommit == nil {
		return func(*Phase) error { return nil }
	}
	type result struct {
		stored int
		err    error
	}
	ctx, cancel := context.WithCancel(r.ctx)
	done := make(chan result, 1)
	go func() {
		w := r.st.Etcd().Watch(ctx, store.DesiredPrefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1), clientv3.WithKeysOnly())
		for resp := range w {
			if err := resp.Err(); err != nil {
				done <- result{err: fmt.Errorf("watch for the first write: %w", err)}
				return
			}
			if len(resp.Events) == 0 {
				continue
			}
			if err := r.o.KillDuringCommit(); err != nil {
				done <- result{err: err}
				return
			}
			// How many keys had landed when the fault was injected.
			n, err := r.st.Etcd().Get(r.ctx, store.DesiredPrefix, clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision),
				clientv3.WithMinModRev(rev+1), clientv3.WithKeysOnly())
			if err != nil {
				done <- result{err: fmt.Errorf("count stored keys: %w", err)}
				return
			}
			done <- result{stored: len(n.Kvs)}
			return
		}
		done <- result{err: fmt.Errorf("watch for the first write: %w", ctx.Err())}
	}()
	return func(p *Phase) error {
		defer cancel()
		select {
		case res := <-done:
			if res.err != nil {
				return fmt.Errorf("fault during commit: %w", res.err)
			}
			p.add(Figure{Name: "fault injected with per-cell keys stored", Value: float64(res.stored), Unit: "keys"})
			return nil
		case <-r.ctx.Done():
			return r.ctx.Err()
		}
	}
}

// seen waits until the hub has compiled the head commit and reports how
// long that took: the Git source's detection plus the hub's compile, the
// part of a rollout before any fan-out.
func (r *runner) seen(p *Phase, start time.Time) error {
	_, took, err := r.waitFor("commit seen", start, func(st hub.Status) bool { return st.Commit == r.repo.head })
	if err != nil {
		return abort(err)
	}
	p.add(Figure{Name: "commit seen by the hub (Git detection + compile)", Value: took.Seconds(), Unit: "s"})
	return nil
}

// addResource adds one Config to set s and measures its rollout.
func (r *runner) addResource(p *Phase, rev int64, s int, hive string) error {
	r.wl.resources[s]++
	if err := r.repo.writeSets(r.wl, s); err != nil {
		return abort(err)
	}
	start := time.Now()
	if err := r.repo.commit(fmt.Sprintf("scaletest: add a resource to %s", setName(s))); err != nil {
		return abort(err)
	}
	if err := r.seen(p, start); err != nil {
		return err
	}
	_, stored, err := r.waitFor("resource stored", start, r.stored)
	if err != nil {
		return abort(err)
	}
	_, applied, err := r.waitFor("resource applied", start, r.applied)
	if err != nil {
		return abort(err)
	}
	keys, err := r.desiredWrittenSince(rev)
	if err != nil {
		return err
	}
	p.add(atMost("stored", fmt.Sprintf("%d cells updated (stored)", len(r.fleet.live())), stored.Seconds(), "s", r.targets.edit, hive))
	p.add(Figure{Key: "applied", Name: "every cell applied", Value: applied.Seconds(), Unit: "s"})
	p.add(Figure{Name: "desired keys written", Value: float64(keys), Unit: "keys"})
	return nil
}

// addSet commits one more set.
func (r *runner) addSet(p *Phase, rev int64) error {
	r.wl.resources = append(r.wl.resources, r.o.Resources)
	s := len(r.wl.resources) - 1
	if err := r.repo.writeSets(r.wl, s); err != nil {
		return abort(err)
	}
	start := time.Now()
	if err := r.repo.commit("scaletest: add " + setName(s)); err != nil {
		return abort(err)
	}
	if err := r.seen(p, start); err != nil {
		return err
	}
	_, stored, err := r.waitFor("set stored", start, r.stored)
	if err != nil {
		return abort(err)
	}
	_, applied, err := r.waitFor("set applied", start, r.applied)
	if err != nil {
		return abort(err)
	}
	keys, err := r.desiredWrittenSince(rev)
	if err != nil {
		return err
	}
	p.add(atMost("stored", fmt.Sprintf("%d per-cell instances stored", len(r.fleet.live())), stored.Seconds(), "s", r.targets.addSet, hiveAddSet))
	p.add(Figure{Name: "every cell applied", Value: applied.Seconds(), Unit: "s"})
	p.add(Figure{Name: "desired keys written", Value: float64(keys), Unit: "keys"})
	return nil
}

// restart stops the hub and starts a new one on the same etcd.
func (r *runner) restart(p *Phase, _ int64) error {
	if err := r.stopHub(); err != nil {
		return abort(err)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heapWithout := ms.HeapAlloc
	rev, err := r.revision()
	if err != nil {
		return abort(err)
	}
	start := time.Now()
	if err := r.startHub(); err != nil {
		return abort(err)
	}
	_, took, err := r.waitFor("resynced", start, r.applied)
	if err != nil {
		return abort(err)
	}
	keys, err := r.desiredWrittenSince(rev)
	if err != nil {
		return err
	}
	after, err := r.revision()
	if err != nil {
		return err
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	heapHub := float64(ms.HeapAlloc) - float64(heapWithout)
	p.add(atMost("resync", "resync after restart", took.Seconds(), "s", r.targets.restart, ""))
	p.add(atMost("", "desired keys written during resync", float64(keys), "keys", 0, ""))
	p.add(Figure{Name: "etcd revisions during resync (any writer)", Value: float64(after - rev), Unit: "revisions"})
	// The hub shares the process with every cell and etcd, so its own RSS
	// cannot be read; its live heap (heap after GC with the hub running,
	// minus without it) stands in for it against the 512 MB target.
	p.add(atMost("heap", "hub live heap after resync", math.Round(heapHub/(1<<20)), "MB", r.targets.heapMB, hiveRestart))
	p.add(Figure{Name: "process RSS (hub + all cells + etcd)", Value: math.Round(rssMB()), Unit: "MB"})
	return nil
}

// resize rewrites the config file's worker counts, waits for the hub to
// resize its pools, and adds a resource again.
func (r *runner) resize(p *Phase, rev int64) error {
	start := time.Now()
	if err := r.writeConfig(r.o.ResizeTo); err != nil {
		return abort(err)
	}
	if err := r.waitWorkers(r.o.ResizeTo); err != nil {
		return abort(err)
	}
	p.add(Figure{Name: "config change to pools resized", Value: time.Since(start).Seconds(), Unit: "s", Hive: "pod restart"})
	return r.addResource(p, rev, 1%len(r.wl.resources), hiveResize)
}

// waitWorkers polls the hub's workers gauge until every pool has its size.
func (r *runner) waitWorkers(w config.Workers) error {
	deadline := time.Now().Add(r.o.PhaseTimeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	want := map[string]float64{"fanout": float64(w.Fanout), "apply": float64(w.Apply)}
	for {
		mfs, err := r.hubReg.Gather()
		if err != nil {
			return fmt.Errorf("gather hub metrics: %w", err)
		}
		got := byLabel(mfs, "cellsync_workqueue_workers", "controller")
		if got["fanout"] == want["fanout"] && got["apply"] == want["apply"] {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pools not resized to %v after %s: %v", want, r.o.PhaseTimeout, got)
		}
		select {
		case <-r.ctx.Done():
			return r.ctx.Err()
		case <-tick.C:
		}
	}
}

// kill stops a fraction of the cells without evacuation and waits until
// their LRP instances run elsewhere.
func (r *runner) kill(p *Phase, _ int64) error {
	step := int(math.Round(1 / r.o.KillFraction))
	start := time.Now()
	names, err := r.fleet.kill(step)
	if err != nil {
		return abort(err)
	}
	placed := func(st hub.Status) bool {
		if !r.stored(st) {
			return false
		}
		for _, w := range st.Workloads {
			if len(w.ID) > 4 && w.ID[:4] == "LRP/" && w.Placed != w.Desired {
				return false
			}
		}
		return true
	}
	_, replaced, err := r.waitFor("instances re-placed", start, placed)
	if err != nil {
		return abort(err)
	}
	_, running, err := r.waitFor("instances running", start, func(st hub.Status) bool {
		if !r.applied(st) || !placed(st) {
			return false
		}
		for _, w := range st.Workloads {
			if len(w.ID) > 4 && w.ID[:4] == "LRP/" && w.Running != w.Desired {
				return false
			}
		}
		return true
	})
	if err != nil {
		return abort(err)
	}
	limit := (r.o.LeaseTTL + 2*time.Second).Seconds()
	p.add(Figure{Name: "cells killed", Value: float64(len(names)), Unit: "cells"})
	p.add(atMost("replaced", "LRP instances re-placed", replaced.Seconds(), "s", limit, hiveNoReplace))
	p.add(atMost("running", "LRP instances running again", running.Seconds(), "s", limit, ""))
	return nil
}
