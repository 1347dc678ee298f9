package cell

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/store"
)

// assignment is one desired key as the agent holds it.
type assignment struct {
	model.Assignment
	// modRev is the key's mod revision: the hub rewriting a key (even with
	// the same content) restarts the instances it carries that stopped
	// restarting after repeated crashes.
	modRev int64
}

// snapshot is the cell's desired prefix at one revision.
type snapshot struct {
	rev     int64
	assigns map[string]assignment // by key
}

// watcher keeps the cell's desired prefix in memory: List once, then Watch,
// and List again after a compaction or a broken watch.
type watcher struct {
	prefix string
	st     *store.Client
	clock  clockwork.Clock
	log    *slog.Logger
	retry  time.Duration

	mu      sync.Mutex
	snap    snapshot
	ready   bool
	changed chan struct{} // capacity 1: a burst of changes is one wake-up
}

func newWatcher(cell string, st *store.Client, clock clockwork.Clock, log *slog.Logger, retry time.Duration) *watcher {
	return &watcher{
		prefix: store.DesiredCellPrefix(cell), st: st, clock: clock, log: log, retry: retry,
		changed: make(chan struct{}, 1),
	}
}

func (w *watcher) poke() {
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

// current returns a copy of the latest snapshot; ok is false before the
// first List.
func (w *watcher) current() (snapshot, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return snapshot{rev: w.snap.rev, assigns: maps.Clone(w.snap.assigns)}, w.ready
}

func (w *watcher) decode(kv store.KV) assignment {
	var a assignment
	if err := store.Decode(kv, &a.Assignment); err != nil {
		// A key the agent cannot read asks for nothing; the hub's next
		// write replaces it.
		w.log.Warn("ignore desired key", "key", kv.Key, "err", err)
		a.Assignment = model.Assignment{}
	}
	a.modRev = kv.ModRevision
	return a
}

// run follows the desired prefix until ctx ends.
func (w *watcher) run(ctx context.Context) error {
	for {
		kvs, rev, err := w.st.List(ctx, w.prefix)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			w.log.Warn("list desired state", "prefix", w.prefix, "err", err)
			if sleep(ctx, w.clock, w.retry) != nil {
				return nil
			}
			continue
		}
		m := make(map[string]assignment, len(kvs))
		for _, kv := range kvs {
			m[kv.Key] = w.decode(kv)
		}
		w.mu.Lock()
		w.snap = snapshot{rev: rev, assigns: m}
		w.ready = true
		w.mu.Unlock()
		w.poke()

		for b, err := range w.st.Watch(ctx, w.prefix, rev) {
			if err != nil {
				if !errors.Is(err, store.ErrCompacted) && ctx.Err() == nil {
					w.log.Warn("watch desired state", "prefix", w.prefix, "err", err)
				}
				break
			}
			w.mu.Lock()
			for _, ev := range b.Events {
				if ev.Type == store.Delete {
					delete(w.snap.assigns, ev.KV.Key)
				} else {
					w.snap.assigns[ev.KV.Key] = w.decode(ev.KV)
				}
			}
			w.snap.rev = b.Revision
			w.mu.Unlock()
			w.poke()
		}
		if ctx.Err() != nil {
			return nil
		}
		if sleep(ctx, w.clock, w.retry) != nil {
			return nil
		}
	}
}

// lrpWant is one LRP instance the cell must run.
type lrpWant struct {
	id    string
	name  string
	index int32
	hash  string
	lrp   *model.LRP
	// commit is the Git commit of the assignment that named hash.
	commit  string
	version string
	// bump is the highest mod revision of the keys carrying the instance.
	bump int64
	// restarts is how many crashes the cell restarts at once: the hub's
	// policy, from the record carrying the instance.
	restarts int
	// configs are the Configs the instance references that are on the cell.
	configs map[string]configWant
}

// taskWant is one Task the cell must run once.
type taskWant struct {
	name    string
	hash    string
	task    *model.Task
	configs map[string]configWant
}

// configWant is one Config on the cell.
type configWant struct {
	hash string
	cfg  *model.Config
}

// want is everything the cell must run, the union of its assignments.
type want struct {
	lrps    map[string]lrpWant // by instance ID
	tasks   map[string]taskWant
	configs map[string]configWant
}

// allConfigs returns every Config the cell holds or an instance mounts:
// during a rollout, two bodies of one Config may be mounted at once.
func (w want) allConfigs() []configWant {
	out := make([]configWant, 0, len(w.configs))
	for _, c := range w.configs {
		out = append(out, c)
	}
	for _, l := range w.lrps {
		for _, c := range l.configs {
			out = append(out, c)
		}
	}
	for _, t := range w.tasks {
		for _, c := range t.configs {
			out = append(out, c)
		}
	}
	return out
}

// missingSpecs returns the spec hashes the assignments name (bodies and
// pinned Configs) that are not in specs, sorted.
func missingSpecs(s snapshot, specs map[string]model.Object) []string {
	seen := map[string]bool{}
	var out []string
	need := func(h string) {
		if _, ok := specs[h]; !ok && h != "" && !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	for _, a := range s.assigns {
		for _, it := range a.Items {
			need(it.Spec)
			for _, c := range it.Configs {
				need(c.Spec)
			}
		}
	}
	sort.Strings(out)
	return out
}

// computeWant merges the assignments into what the cell runs. It is pure:
// items whose spec (or pinned Config) is absent from specs or of the wrong
// kind are reported as problems and left out. When two sources name
// different bodies for one object or one LRP index (the hub merges them, so
// this is a hub bug), the greater hash (for an index, the greater version)
// wins so that every agent decides alike.
func computeWant(s snapshot, specs map[string]model.Object) (want, []string) {
	w := want{lrps: map[string]lrpWant{}, tasks: map[string]taskWant{}, configs: map[string]configWant{}}
	var problems []string
	keys := make([]string, 0, len(s.assigns))
	for k := range s.assigns {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	lookup := func(k string, it model.Item, spec string, kind model.Kind) (model.Object, bool) {
		obj, ok := specs[spec]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s: %s %s: spec %s not found", k, it.Kind, it.Name, spec))
			return nil, false
		}
		if obj.Head().Kind != kind {
			problems = append(problems, fmt.Sprintf("%s: %s %s: spec %s is a %s", k, it.Kind, it.Name, spec, obj.Head().Kind))
			return nil, false
		}
		return obj, true
	}
	// Configs and Tasks first: an LRP item without pinned Configs mounts
	// the cell's Config items, so they must all be known.
	for _, k := range keys {
		for _, it := range s.assigns[k].Items {
			if it.Kind == model.KindLRP {
				continue
			}
			obj, ok := lookup(k, it, it.Spec, it.Kind)
			if !ok {
				continue
			}
			switch o := obj.(type) {
			case *model.Config:
				if c, ok := w.configs[it.Name]; !ok || it.Spec > c.hash {
					w.configs[it.Name] = configWant{hash: it.Spec, cfg: o}
				}
			case *model.Task:
				if t, ok := w.tasks[it.Name]; !ok || it.Spec > t.hash {
					w.tasks[it.Name] = taskWant{name: it.Name, hash: it.Spec, task: o}
				}
			}
		}
	}
	for _, k := range keys {
		a := s.assigns[k]
		for _, it := range a.Items {
			if it.Kind != model.KindLRP {
				continue
			}
			obj, ok := lookup(k, it, it.Spec, model.KindLRP)
			if !ok {
				continue
			}
			o := obj.(*model.LRP)
			mounts, configs, ok := mounted(k, it, &o.Spec.Process, w.configs, lookup)
			if !ok {
				continue
			}
			version := model.InstanceVersion(it.Spec, mounts)
			for _, idx := range it.Indexes {
				id := model.InstanceID(model.KindLRP, it.Name, idx)
				l, ok := w.lrps[id]
				if !ok || version > l.version {
					l = lrpWant{id: id, name: it.Name, index: idx, hash: it.Spec, lrp: o, commit: a.Commit, version: version, configs: configs, bump: l.bump}
				}
				l.bump = max(l.bump, a.modRev)
				l.restarts = max(l.restarts, immediateRestarts(a.Assignment))
				w.lrps[id] = l
			}
		}
	}
	for name, t := range w.tasks {
		_, t.configs = unpinned(&t.task.Spec.Process, w.configs)
		w.tasks[name] = t
	}
	return w, problems
}

// immediateRestarts is the crash-restart policy a record carries; a record
// of a hub that did not set it means Diego's default.
func immediateRestarts(a model.Assignment) int {
	if a.ImmediateRestarts > 0 {
		return a.ImmediateRestarts
	}
	return model.DefaultImmediateRestarts
}

// mounted returns the Configs an LRP item's instances mount, as the version
// names them and as the agent materialises them: the item's pinned
// Configs, or else the cell's Config items of the names the body
// references. ok is false (and a problem recorded) when a pinned body is
// missing.
func mounted(k string, it model.Item, p *model.Process, cellConfigs map[string]configWant,
	lookup func(string, model.Item, string, model.Kind) (model.Object, bool)) ([]model.MountedConfig, map[string]configWant, bool) {
	if it.Configs == nil {
		mounts, configs := unpinned(p, cellConfigs)
		return mounts, configs, true
	}
	configs := make(map[string]configWant, len(it.Configs))
	for _, c := range it.Configs {
		if c.Spec == "" {
			continue
		}
		obj, ok := lookup(k, it, c.Spec, model.KindConfig)
		if !ok {
			return nil, nil, false
		}
		configs[c.Name] = configWant{hash: c.Spec, cfg: obj.(*model.Config)}
	}
	return it.Configs, configs, true
}

// unpinned returns the cell's Configs that p references: as the version
// names them (in reference order, "" for one the cell does not have) and
// by name.
func unpinned(p *model.Process, cellConfigs map[string]configWant) ([]model.MountedConfig, map[string]configWant) {
	if len(p.Configs) == 0 {
		return nil, nil
	}
	mounts := make([]model.MountedConfig, len(p.Configs))
	configs := make(map[string]configWant, len(p.Configs))
	for i, ref := range p.Configs {
		mounts[i].Name = ref.Name
		if c, ok := cellConfigs[ref.Name]; ok {
			mounts[i].Spec = c.hash
			configs[ref.Name] = c
		}
	}
	return mounts, configs
}

// containerID is the runtime name of an instance's container: readable when
// it fits containerd's identifier rules, a hash otherwise.
func containerID(cell, instance string) string {
	id := cell + "." + strings.ReplaceAll(instance, "/", ".")
	if len(id) <= 76 && validID(id) {
		return id
	}
	return "cs-" + model.SpecHash([]byte(cell + "/" + instance))[:40]
}

// validID follows containerd's identifier rule: alphanumeric runs joined by
// single '.', '_' or '-'.
func validID(s string) bool {
	prevSep := true
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			prevSep = false
		case r == '.' || r == '_' || r == '-':
			if prevSep {
				return false
			}
			prevSep = true
		default:
			return false
		}
	}
	return !prevSep
}
