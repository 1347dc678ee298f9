package hub

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/selectors"
	"github.com/cellsync/cellsync/store"
)

// Desired is the desired model at one commit, as the Git source emits it:
// the last good version of every workload, and the problems of the files
// that failed (for status; their workloads keep their last good version).
type Desired struct {
	Commit  string
	Objects []model.Object
	Errors  []error
}

// compiledModel is one desired model compiled. It is immutable once
// installed, so apply workers read it without the term's lock.
type compiledModel struct {
	commit    string
	workloads map[string]*workload
	// ids are the workload IDs, sorted.
	ids []string
	// shared holds the objects ("Kind/name") several workloads carry:
	// only those can need a merge on a cell.
	shared map[string]bool
	// bodies holds every body the workloads need, by hash.
	bodies map[string][]byte
	// fileErrors are the source's problems with files (Desired.Errors).
	fileErrors []error
	// errs are the hub's problems with workloads (a selector that does not
	// compile, a body over the size limit, an edit no cell could run), by
	// workload ID; each such workload keeps its previous version.
	errs map[string]error
}

var emptyModel = &compiledModel{workloads: map[string]*workload{}, shared: map[string]bool{}, bodies: map[string][]byte{}, errs: map[string]error{}}

// setDesired makes d the term's desired model, in four steps. A workload
// that fails to compile keeps its previous version; an error means the
// bodies could not be written, and the caller retries.
func (t *term) setDesired(ctx context.Context, d *Desired) error {
	next := t.compile(d)
	n, err := t.writeBodies(ctx, next)
	if err != nil {
		return err
	}
	t.install(next)
	t.fanOutFirst(next)
	t.h.log.Info("desired model", "commit", d.Commit, "workloads", len(next.workloads), "bodies written", n, "errors", len(d.Errors)+len(next.errs))
	return nil
}

// compile turns d into a compiled model, reusing the workloads that did not
// change and keeping the previous version of those that fail.
func (t *term) compile(d *Desired) *compiledModel {
	t.mu.Lock()
	defer t.mu.Unlock()
	prev := t.model()
	topConfigs := map[string]bool{}
	for _, o := range d.Objects {
		if o.Head().Kind == model.KindConfig {
			topConfigs[o.Head().Metadata.Name] = true
		}
	}
	used := map[string]bool{}
	compile := func(expr string) (*selectors.Selector, error) {
		used[expr] = true
		if s, ok := t.selectors[expr]; ok {
			return s, nil
		}
		s, err := t.h.deps.Env.Compile(expr)
		if err == nil {
			t.selectors[expr] = s
		}
		return s, err
	}
	var cells []model.Cell
	next := &compiledModel{commit: d.Commit, workloads: make(map[string]*workload, len(d.Objects)), bodies: map[string][]byte{},
		fileErrors: d.Errors, errs: map[string]error{}}
	for _, o := range d.Objects {
		id := workloadID(o.Head().Kind, o.Head().Metadata.Name)
		old, had := prev.workloads[id]
		w, err := compileWorkload(o, compile, topConfigs, t.maxBody)
		switch {
		case err != nil:
			next.errs[id] = err
			if had {
				next.workloads[id] = old // keep the last good version
				used[old.selectorExpr()] = true
			}
			continue
		case had && old.fingerprint == w.fingerprint:
			next.workloads[id] = old
			continue
		case had:
			// An edit that no cell could run would stop what runs now: keep
			// the running version, as for any other bad change.
			if cells == nil {
				cells = t.readyCells()
			}
			if err := unplaceable(w, cells); err != nil {
				next.errs[id] = err
				next.workloads[id] = old
				used[old.selectorExpr()] = true
				continue
			}
		}
		w.commit = d.Commit
		next.workloads[id] = w
	}
	next.ids = slices.Sorted(maps.Keys(next.workloads))
	for _, id := range next.ids {
		maps.Copy(next.bodies, next.workloads[id].bodies)
	}
	next.shared = sharedObjects(next.workloads)
	for expr := range t.selectors {
		if !used[expr] {
			delete(t.selectors, expr) // a selector no workload uses is freed
		}
	}
	return next
}

func (w *workload) selectorExpr() string {
	if w.selector == nil {
		return ""
	}
	return w.selector.Expr()
}

// writeBodies writes the bodies of next that etcd lacks, before anything
// names them: a cell must find every body its records name.
func (t *term) writeBodies(ctx context.Context, next *compiledModel) (int, error) {
	var missing []store.Op
	for _, hash := range slices.Sorted(maps.Keys(next.bodies)) {
		if !t.bodies.stored(hash) {
			missing = append(missing, bodyOp(hash, next.bodies[hash]))
		}
	}
	if len(missing) == 0 {
		return 0, nil
	}
	if _, err := t.st.Write(ctx, missing); err != nil {
		t.writeFailed(err)
		return 0, fmt.Errorf("write %d bodies: %w", len(missing), err)
	}
	t.writeLanded()
	for _, op := range missing {
		t.bodies.markStored(op.Key[len(store.SpecsPrefix):])
	}
	return len(missing), nil
}

// install makes next the term's model: selectors are registered with the
// index, and every workload that is new, changed or gone is queued for the
// fan-out; cells holding a changed top-level Config are queued for apply.
// The caches of bodies and intents keep only what next uses.
func (t *term) install(next *compiledModel) {
	t.mu.Lock()
	defer t.mu.Unlock()
	prev := t.model()
	t.cm.Store(next)
	t.desiredEvents(prev, next, !t.haveDesired)
	t.bodies.retain(next.bodies)
	for _, id := range next.ids {
		w := next.workloads[id]
		if old, ok := prev.workloads[id]; ok && old == w {
			continue
		}
		if w.selector != nil {
			t.enqueueChanges(t.evaluate(func() []selectors.Change { return t.index.SetSelector(id, w.selector) }))
		}
		t.fanout.Add(id)
		if w.kind == model.KindConfig {
			t.queueConfigHolders(next, w.name)
		}
	}
	for id, w := range prev.workloads {
		if _, ok := next.workloads[id]; !ok {
			if w.selector != nil {
				t.index.RemoveSelector(id)
			}
			t.fanout.Add(id)
		}
	}
}

// queueConfigHolders queues the cells that run a workload mounting the
// top-level Config name: they need its new body. Callers hold t.mu.
func (t *term) queueConfigHolders(m *compiledModel, name string) {
	for _, id := range m.ids {
		if slices.Contains(m.workloads[id].configs, name) {
			for cell := range t.holders(id) {
				t.apply.Add(cell)
			}
		}
	}
}

// fanOutFirst fans the term's first model out inline, before any apply
// runs: otherwise a restarted hub would delete every record it had not yet
// recomputed. Only new Tasks (a record write) wait in the queue.
func (t *term) fanOutFirst(next *compiledModel) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.haveDesired {
		return
	}
	for _, id := range next.ids {
		if w := next.workloads[id]; w.kind == model.KindTask {
			if _, placed := t.tasks[w.name]; !placed {
				continue // queued by install; placing it writes a record
			}
		}
		if _, _, err := t.fanoutLocked(id); err != nil {
			t.h.log.Warn("fan out", "workload", id, "err", err)
		}
	}
	t.haveDesired = true
	for cell := range t.cells {
		t.apply.Add(cell)
	}
}
