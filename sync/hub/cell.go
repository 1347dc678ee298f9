package hub

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/store"
)

// cellState is everything the hub knows and wants about one cell: its
// registration, what the fan-out wants on it (intents, by source), a mirror
// of its records in etcd, the write in flight, what it reported and its
// instances. Its methods do no I/O: plan turns intents and stored records
// into the operations to write, and landed, failed and abandon do the
// bookkeeping when that write lands, loses a compare-and-swap or fails.
//
// The apply worker holding the cell's queue key plans and submits its
// writes; the fan-out sets intents and the watches report what the cell
// does, each under the record's own lock, which is taken after the term's
// and before the tally's. Forgetting a cell is deleting its record.
type cellState struct {
	mu    sync.Mutex
	name  string
	tally *tally

	registered  bool
	zone, state string

	// intents[src] is what the fan-out wants; stored[src] mirrors
	// desired/<cell>/<src> in etcd.
	intents map[string][]model.Item
	stored  map[string]record
	// flags holds each source's non-zero flags (see srcFlag); npending
	// counts the sources flagged pending.
	flags    map[string]srcFlag
	npending int

	// inflight is the write with the writer; dirty says the cell changed
	// meanwhile and must be planned again when it lands.
	inflight *cellWrite
	dirty    bool
	// retry is set while the cell's write waits in a delayed retry;
	// notBefore is when the cell may be planned again.
	retry     *retryState
	notBefore time.Time
	// lost counts, per source, the compare-and-swap rounds lost in a row.
	lost map[string]int

	// landedRev is the revision of the newest write that landed (at load,
	// of the newest stored record); landedCommit the commit of the last
	// plan that left nothing pending; appliedCommit the newest commit the
	// cell was seen to run all of.
	landedRev                   int64
	landedCommit, appliedCommit string
	report                      int64 // the cell's reported AppliedRevision
	reported                    bool

	actual           map[string]instance
	running, crashed int
	// restarts holds the crashed instances the hub restarts, by InstanceID.
	restarts map[string]restartDue

	conflicts []Conflict
	// refused holds, by source (and "source object" for merged objects),
	// why a record is not written.
	refused map[string]string
}

// record is one stored assignment.
type record struct {
	a   model.Assignment
	rev int64
	// broken marks a value that does not decode: the hub overwrites or
	// deletes it with a compare-and-swap on rev instead of fighting it.
	broken bool
}

// instance is what the hub keeps of one reported LRP instance.
type instance struct {
	lrp     string
	index   int32
	state   string
	crashes int
}

// restartDue is a crashed instance the hub restarts at a given time, if it
// is still crashed with the same count.
type restartDue struct {
	at      time.Time
	crashes int
}

type retryState struct {
	err      error
	attempts int
}

// cellWrite is one planned write of a cell: its operations and what each
// means for the mirror.
type cellWrite struct {
	ops []store.Op
	// srcs[i] is the source ops[i] writes, "" for a body.
	srcs []string
	// next holds, by source, the records the puts write.
	next   map[string]model.Assignment
	commit string
	// bodies are the merged bodies the write carries.
	bodies []string
	// restarts are the instances whose restart the write carries.
	restarts []string
	start    time.Time
}

// planInput is the cross-cell state a plan reads: the compiled desired
// model (immutable), its bodies and the limits.
type planInput struct {
	model  *compiledModel
	bodies intents
	// bodyStored reports whether a merged body is already in etcd.
	bodyStored func(hash string) bool
	// maxOp is the largest key plus value of one write.
	maxOp             int
	immediateRestarts int
	now               time.Time
}

func newCellState(name string, t *tally) *cellState {
	return &cellState{name: name, tally: t, intents: map[string][]model.Item{}, stored: map[string]record{}}
}

// register records the cell's registration; state and zone are for status.
func (c *cellState) register(reg model.Cell) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.registered, c.zone, c.state = true, reg.Zone, reg.State
}

// unregister records that the cell is gone: its records are deleted, Upsert
// ones included, at its next plan.
func (c *cellState) unregister() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.registered = false
}

// setIntent sets (items non-nil) or clears what src wants on the cell and
// reports whether it changed; the caller queues the cell when it did.
func (c *cellState) setIntent(src string, items []model.Item) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	old, had := c.intents[src]
	if items == nil {
		if !had {
			return false
		}
		delete(c.intents, src)
	} else {
		if had && itemsEqual(old, items) {
			return false
		}
		c.intents[src] = items
	}
	c.setFlag(src, flagPending, true)
	if c.inflight != nil {
		c.dirty = true
	}
	return true
}

// loadRecord puts a stored record into the mirror, at term start or when a
// resync finds etcd differing from it; the record counts as unapplied until
// the cell reports its revision. It reports whether the mirror changed.
func (c *cellState) loadRecord(src string, r record) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.stored[src]; ok && old.rev == r.rev {
		return false
	}
	c.stored[src] = r
	c.landedRev = max(c.landedRev, r.rev)
	c.setFlag(src, flagPending, true) // compared at the next plan
	c.setFlag(src, flagUnapplied, !c.reported || r.rev > c.report)
	return true
}

// dropRecord removes a record a resync found gone from etcd; it reports
// whether the mirror had it.
func (c *cellState) dropRecord(src string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.stored[src]; !ok {
		return false
	}
	delete(c.stored, src)
	c.setFlag(src, flagUnapplied, false)
	c.setFlag(src, flagPending, true)
	return true
}

// storedRevs returns the mirror's revision of every record, for a resync.
func (c *cellState) storedRevs() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int64, len(c.stored))
	for src, r := range c.stored {
		out[src] = r.rev
	}
	return out
}

// want returns what the cell should hold: its intents plus the top-level
// Configs its workloads mount; nothing once the cell is unregistered.
func (c *cellState) want(m *compiledModel) map[string][]model.Item {
	want := make(map[string][]model.Item, len(c.intents)+1)
	if !c.registered {
		return want
	}
	for src, items := range c.intents {
		want[src] = items
		if w := m.workloads[src]; w != nil {
			for _, name := range w.configs {
				if cw := m.workloads[workloadID(model.KindConfig, name)]; cw != nil {
					want[cw.id] = cw.items
				}
			}
		}
	}
	return want
}

// plan returns the write that brings the cell's stored records to what the
// hub wants, or nil when there is nothing to write (or a write is in
// flight: the cell is then marked dirty), or when the cell backs off after
// failed writes: wait then says how long, for the caller to plan again
// (whatever queued the cell meanwhile, the backoff holds).
//
// Puts carry a compare-and-swap on the mirrored revision; records no source
// wants are deleted (Upsert records only once the cell is gone); merged
// bodies go before the records naming them; a crashed instance due for the
// hub's restart gets its record re-put. Records and merged bodies over
// in.maxOp bytes are refused and flagged. The errors are merges that
// failed, for the log.
func (c *cellState) plan(in planInput) (w *cellWrite, wait time.Duration, errs []error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inflight != nil {
		c.dirty = true
		return nil, 0, nil
	}
	if in.now.Before(c.notBefore) {
		return nil, c.notBefore.Sub(in.now), nil
	}
	m := in.model
	want := c.want(m)
	mr := mergeShared(c.name, want, m.shared, in.bodies, store.MaxBodyBytes(in.maxOp), c.stored)
	c.setConflicts(mr.conflicts)
	refused := map[string]string{}
	for obj, rf := range mr.refused {
		for _, src := range rf.srcs {
			refused[src+" "+obj] = rf.why
		}
	}

	w = &cellWrite{next: map[string]model.Assignment{}, commit: m.commit, start: in.now}
	for _, hash := range slices.Sorted(maps.Keys(mr.bodies)) {
		if in.bodyStored(hash) || c.namesStored(hash) {
			continue
		}
		w.ops = append(w.ops, bodyOp(hash, mr.bodies[hash]))
		w.srcs = append(w.srcs, "")
		w.bodies = append(w.bodies, hash)
	}
	for _, src := range slices.Sorted(maps.Keys(want)) {
		items := withoutTombstones(want[src])
		if len(items) == 0 {
			continue // everything it carries here was refused: flagged above
		}
		wl := m.workloads[src]
		upsert := wl != nil && wl.kind == model.KindSelectorSyncSet && wl.mode == model.ApplyUpsert
		st, had := c.stored[src]
		if upsert && had && !st.broken {
			items = union(items, st.a.Items)
		}
		a := model.Assignment{Source: src, Commit: m.commit, Upsert: upsert, Items: items}
		if carriesLRP(items) {
			a.ImmediateRestarts = in.immediateRestarts
		}
		if had && !st.broken && sameRecord(st.a, a) {
			c.setFlag(src, flagPending, false)
			continue
		}
		val, err := model.Marshal(a)
		if err != nil {
			refused[src] = fmt.Sprintf("%s on cell %s: encode: %v", src, c.name, err)
			continue
		}
		key := store.DesiredKey(c.name, src)
		if n := len(key) + len(val); n > in.maxOp {
			refused[src] = fmt.Sprintf("%s on cell %s: the assignment is %d bytes, over the %d-byte limit of one etcd request; split the workload", src, c.name, n, in.maxOp)
			c.setFlag(src, flagPending, true)
			continue
		}
		c.setFlag(src, flagPending, true)
		w.put(key, src, val, a, st.rev)
	}
	for _, src := range slices.Sorted(maps.Keys(c.stored)) {
		st := c.stored[src]
		if _, ok := want[src]; ok || (st.a.Upsert && !st.broken && c.registered) {
			if !ok {
				c.setFlag(src, flagPending, false)
			}
			continue
		}
		c.setFlag(src, flagPending, true)
		w.ops = append(w.ops, store.Op{Key: store.DesiredKey(c.name, src), Delete: true, IfModRevision: store.Revision(st.rev)})
		w.srcs = append(w.srcs, src)
	}
	c.planRestarts(w, in.now)
	c.setRefused(refused)
	// A source flagged pending that is neither wanted nor stored (its
	// intent was set and cleared before any write) has nothing left to do.
	for src, f := range c.flags {
		if _, wanted := want[src]; f&flagPending != 0 && !wanted && !slices.Contains(w.srcs, src) {
			if _, isStored := c.stored[src]; !isStored {
				c.setFlag(src, flagPending, false)
			}
		}
	}

	if !slices.ContainsFunc(w.srcs, func(s string) bool { return s != "" }) {
		// Nothing but bodies: a body no record names is not written.
		w.ops, w.srcs, w.bodies = nil, nil, nil
	}
	if len(w.ops) == 0 {
		c.clearRetry()
		if c.npending == 0 {
			c.landedCommit = m.commit
			c.refreshApplied()
		}
		return nil, 0, mr.errs
	}
	c.inflight = w
	c.tally.cellWrites(1, 0)
	return w, 0, mr.errs
}

func (w *cellWrite) put(key, src string, val []byte, a model.Assignment, rev int64) {
	w.ops = append(w.ops, store.Op{Key: key, Value: val, IfModRevision: store.Revision(rev)})
	w.srcs = append(w.srcs, src)
	w.next[src] = a
}

// planRestarts adds to w the re-put of every record that carries a crashed
// instance due for the hub's restart (the cell restarts an instance it gave
// up on when its key is written again).
func (c *cellState) planRestarts(w *cellWrite, now time.Time) {
	for _, id := range slices.Sorted(maps.Keys(c.restarts)) {
		due := c.restarts[id]
		act, ok := c.actual[id]
		if !ok || act.state != model.StateCrashed || act.crashes != due.crashes {
			delete(c.restarts, id) // running again, gone, or crashed again (rescheduled)
			continue
		}
		if due.at.After(now) {
			continue
		}
		src, found := c.carrier(act.lrp, act.index)
		if !found {
			delete(c.restarts, id)
			continue
		}
		w.restarts = append(w.restarts, id)
		if slices.Contains(w.srcs, src) {
			continue // rewritten anyway
		}
		st := c.stored[src]
		val, err := model.Marshal(st.a)
		if err != nil {
			delete(c.restarts, id)
			continue
		}
		w.put(store.DesiredKey(c.name, src), src, val, st.a, st.rev)
	}
}

// carrier returns the source whose stored record carries an LRP instance.
func (c *cellState) carrier(lrp string, index int32) (string, bool) {
	for _, src := range slices.Sorted(maps.Keys(c.stored)) {
		st := c.stored[src]
		if !st.broken && carries(st.a.Items, lrp, index) {
			return src, true
		}
	}
	return "", false
}

// namesStored reports whether a stored record names a body: it is in etcd,
// since bodies are written before the records that name them.
func (c *cellState) namesStored(hash string) bool {
	for _, st := range c.stored {
		for _, it := range st.a.Items {
			if it.Spec == hash {
				return true
			}
		}
	}
	return false
}

// landed does the bookkeeping of a write that reached etcd at time now:
// records that landed enter the mirror; a lost compare-and-swap adopts the
// key's current value (an undecodable one is marked broken, to be
// overwritten) and plans again. It returns whether the cell must be planned
// again and after what delay: a source that lost maxLost rounds in a row
// backs off exponentially instead of fighting, and the cell counts as
// waiting in a retry. lost is the number of compare-and-swaps this write
// lost.
func (c *cellState) landed(w *cellWrite, res store.WriteResult, maxLost int, now time.Time) (again bool, delay time.Duration, lost int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inflight = nil
	c.tally.cellWrites(-1, 0)
	dirty := c.dirty
	again, c.dirty = dirty, false
	conflicts := make(map[string]store.KV, len(res.Conflicts))
	for _, cf := range res.Conflicts {
		conflicts[cf.Op.Key] = cf.Current
	}
	worst := 0
	for i, op := range w.ops {
		src := w.srcs[i]
		if src == "" {
			continue
		}
		if cur, ok := conflicts[op.Key]; ok {
			lost++
			if c.lost == nil {
				c.lost = map[string]int{}
			}
			c.lost[src]++
			worst = max(worst, c.lost[src])
			c.adopt(src, cur)
			c.setFlag(src, flagPending, true)
			again = true
			continue
		}
		delete(c.lost, src)
		rev := res.Revisions[i]
		c.landedRev = max(c.landedRev, rev)
		if op.Delete {
			delete(c.stored, src)
			c.setFlag(src, flagUnapplied, false)
		} else {
			c.stored[src] = record{a: w.next[src], rev: rev}
			c.setFlag(src, flagUnapplied, !c.reported || rev > c.report)
		}
		if !dirty {
			c.setFlag(src, flagPending, false)
		}
	}
	for _, id := range w.restarts {
		src, _ := c.carrier(c.actual[id].lrp, c.actual[id].index)
		if _, lostIt := conflicts[store.DesiredKey(c.name, src)]; !lostIt {
			delete(c.restarts, id)
		}
	}
	if len(c.lost) == 0 {
		c.lost = nil
	}
	if worst >= maxLost {
		delay = min(100*time.Millisecond<<min(worst-maxLost, 10), 30*time.Second)
		c.setRetry(fmt.Errorf("cell %s: a record lost %d compare-and-swap rounds in a row; backing off %s", c.name, worst, delay))
		c.notBefore = now.Add(delay)
	} else {
		c.clearRetry()
	}
	if !again && c.npending == 0 {
		c.landedCommit = w.commit
	}
	c.refreshApplied()
	return again, delay, lost
}

// adopt takes a key's current value after a lost compare-and-swap.
func (c *cellState) adopt(src string, cur store.KV) {
	if cur.ModRevision == 0 {
		delete(c.stored, src)
		c.setFlag(src, flagUnapplied, false)
		return
	}
	var a model.Assignment
	if err := store.Decode(cur, &a); err != nil {
		c.stored[src] = record{rev: cur.ModRevision, broken: true}
		return
	}
	c.stored[src] = record{a: a, rev: cur.ModRevision}
}

// failed does the bookkeeping of a write that did not reach etcd at time
// now (etcd refused or was unreachable): nothing changed there, so the cell
// is planned again after a delay that doubles with every failure in a row.
func (c *cellState) failed(err error, now time.Time) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inflight = nil
	c.dirty = false
	c.tally.cellWrites(-1, 0)
	attempts := 1
	if c.retry != nil {
		attempts = c.retry.attempts + 1
	}
	c.setRetry(err)
	c.retry.attempts = attempts
	d := min(time.Second<<min(attempts-1, 5), 30*time.Second)
	c.notBefore = now.Add(d)
	return d
}

// abandon drops the write in flight of a term that ended.
func (c *cellState) abandon() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inflight != nil {
		c.inflight = nil
		c.tally.cellWrites(-1, 0)
	}
}

func (c *cellState) setRetry(err error) {
	if c.retry == nil {
		c.tally.cellWrites(0, 1)
		c.retry = &retryState{}
	}
	c.retry.err = err
}

func (c *cellState) clearRetry() {
	if c.retry != nil {
		c.retry = nil
		c.tally.cellWrites(0, -1)
	}
}

// setReport records the revision the cell reports applied.
func (c *cellState) setReport(rev int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.report, c.reported = rev, true
	for src, f := range c.flags {
		if f&flagUnapplied != 0 && c.stored[src].rev <= rev {
			c.setFlag(src, flagUnapplied, false)
		}
	}
	c.refreshApplied()
}

// dropReport records that the cell's report is gone.
func (c *cellState) dropReport() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reported = false
}

// applied reports whether the cell runs everything the hub wants of it:
// nothing pending or in flight, and a report at or past the newest write.
func (c *cellState) applied() bool {
	return c.reported && c.report >= c.landedRev && c.npending == 0 && c.inflight == nil
}

func (c *cellState) refreshApplied() {
	if c.applied() && c.landedCommit != "" {
		c.appliedCommit = c.landedCommit
	}
}

// setActual records an instance's reported state. For a crash that is the
// hub's to restart (policy), it schedules the restart and returns its delay.
func (c *cellState) setActual(id string, a model.Actual, policy RestartPolicy, now time.Time) (time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.actual[id]
	if c.actual == nil {
		c.actual = map[string]instance{}
	}
	c.actual[id] = instance{lrp: a.Name, index: a.Index, state: a.State, crashes: a.CrashCount}
	c.count(old.lrp, old.state, -1)
	c.count(a.Name, a.State, 1)
	if a.State != model.StateCrashed {
		return 0, false
	}
	d, ok := policy.delay(a.CrashCount)
	if !ok {
		return 0, false
	}
	if c.restarts == nil {
		c.restarts = map[string]restartDue{}
	}
	c.restarts[id] = restartDue{at: now.Add(d), crashes: a.CrashCount}
	return d, true
}

// actualIDs returns the actual-state keys (instance IDs, and ReportID) the
// record holds, for a resync.
func (c *cellState) actualIDs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids := make([]string, 0, len(c.actual)+1)
	for id := range c.actual {
		ids = append(ids, id)
	}
	if c.reported {
		ids = append(ids, model.ReportID)
	}
	return ids
}

// dropActual records that an instance's report is gone.
func (c *cellState) dropActual(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.actual[id]; ok {
		c.count(old.lrp, old.state, -1)
		delete(c.actual, id)
		delete(c.restarts, id)
	}
}

func (c *cellState) count(lrp, state string, d int) {
	if lrp == "" {
		return
	}
	switch state {
	case model.StateRunning:
		c.running += d
	case model.StateCrashed:
		c.crashed += d
	default:
		return
	}
	if d > 0 {
		c.tally.instance(lrp, "", state)
	} else {
		c.tally.instance(lrp, state, "")
	}
}

// setFlag sets or clears one flag of src and reports the change to the tally.
func (c *cellState) setFlag(src string, f srcFlag, on bool) {
	old := c.flags[src]
	now := old &^ f
	if on {
		now = old | f
	}
	if now == old {
		return
	}
	if c.flags == nil {
		c.flags = map[string]srcFlag{}
	}
	if now == 0 {
		delete(c.flags, src)
	} else {
		c.flags[src] = now
	}
	d := -1
	if on {
		d = 1
	}
	if f == flagPending {
		c.npending += d
	}
	c.tally.flag(src, f, d)
}

// setConflicts replaces the cell's conflicts and flags their sources.
func (c *cellState) setConflicts(cs []Conflict) {
	was := map[string]bool{}
	for _, x := range c.conflicts {
		was[x.Workload] = true
	}
	now := map[string]bool{}
	for _, x := range cs {
		now[x.Workload] = true
	}
	for src := range was {
		if !now[src] {
			c.setFlag(src, flagConflict, false)
		}
	}
	for src := range now {
		c.setFlag(src, flagConflict, true)
	}
	c.conflicts = cs
}

// setRefused replaces the cell's refusals ("src" or "src object" → why)
// and flags their sources.
func (c *cellState) setRefused(r map[string]string) {
	srcOf := func(k string) string {
		for i := range len(k) {
			if k[i] == ' ' {
				return k[:i]
			}
		}
		return k
	}
	now := map[string]bool{}
	for k := range r {
		now[srcOf(k)] = true
	}
	for k := range c.refused {
		if src := srcOf(k); !now[src] {
			c.setFlag(src, flagRefused, false)
		}
	}
	for src := range now {
		c.setFlag(src, flagRefused, true)
	}
	if len(r) == 0 {
		r = nil
	}
	c.refused = r
}

// forgettable reports whether the hub may drop the record: the cell is gone
// and nothing of it is left in etcd or in flight.
func (c *cellState) forgettable() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.registered && len(c.intents) == 0 && len(c.stored) == 0 && c.inflight == nil && len(c.actual) == 0 && !c.reported
}

// release takes the record's flags and write states out of the tally,
// before the record is dropped.
func (c *cellState) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for src, f := range c.flags {
		for _, one := range []srcFlag{flagPending, flagUnapplied, flagRefused, flagConflict} {
			if f&one != 0 {
				c.setFlag(src, one, false)
			}
		}
	}
	c.clearRetry()
}

// CellStatus summarises one cell.
type CellStatus struct {
	Name  string `json:"name"`
	Zone  string `json:"zone,omitempty"`
	State string `json:"state,omitempty"`
	// Applied is true when the cell runs everything the hub wants of it:
	// every record is stored and the cell reported applying the newest.
	Applied bool `json:"applied"`
	// Commit is the newest commit the cell runs all of: the hub's commit
	// when Applied, else the last commit it was seen to run all of (""
	// when none since this hub started leading).
	Commit   string `json:"commit,omitempty"`
	Running  int    `json:"running"`
	Crashed  int    `json:"crashed"`
	Assigned int    `json:"assigned"`
}

// status returns the cell's summary, its conflicts and its refusals.
func (c *cellState) status() (CellStatus, []Conflict, []string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := CellStatus{Name: c.name, Zone: c.zone, State: c.state, Applied: c.applied(), Commit: c.appliedCommit,
		Running: c.running, Crashed: c.crashed, Assigned: len(c.stored)}
	if s.Applied {
		s.Commit = c.landedCommit
	}
	var refused []string
	for _, k := range slices.Sorted(maps.Keys(c.refused)) {
		refused = append(refused, c.refused[k])
	}
	var retry error
	if c.retry != nil {
		retry = c.retry.err
	}
	return s, c.conflicts, refused, retry
}

func carriesLRP(items []model.Item) bool {
	return slices.ContainsFunc(items, func(it model.Item) bool { return it.Kind == model.KindLRP })
}

func carries(items []model.Item, lrp string, index int32) bool {
	for _, it := range items {
		if it.Kind == model.KindLRP && it.Name == lrp && slices.Contains(it.Indexes, index) {
			return true
		}
	}
	return false
}

// sameRecord reports whether two records carry the same content; the
// commit is not compared, since a record keeps the commit it last changed
// at.
func sameRecord(a, b model.Assignment) bool {
	return a.Upsert == b.Upsert && a.ImmediateRestarts == b.ImmediateRestarts && itemsEqual(a.Items, b.Items)
}

func itemsEqual(a, b []model.Item) bool {
	return slices.EqualFunc(a, b, func(x, y model.Item) bool {
		return x.Kind == y.Kind && x.Name == y.Name && x.Spec == y.Spec && slices.Equal(x.Indexes, y.Indexes) && slices.Equal(x.Configs, y.Configs)
	})
}

// union returns items plus the stored items of objects items no longer has:
// an Upsert set never removes what it once delivered.
func union(items, stored []model.Item) []model.Item {
	have := make(map[string]bool, len(items))
	for _, it := range items {
		have[objectKey(it)] = true
	}
	var out []model.Item
	for _, it := range stored {
		if !have[objectKey(it)] {
			out = append(out, it)
		}
	}
	if len(out) == 0 {
		return items
	}
	return append(slices.Clone(items), out...)
}
