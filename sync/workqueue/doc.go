// Package workqueue is the hub's de-duplicating, rate-limited work queue with a
// live-resizable pool of workers: a burst of events for one key becomes one
// reconcile, and N workers take keys from it.
//
// # Semantics
//
//   - A key is processed by at most one worker at a time.
//   - Adding a key that is already queued does nothing: the burst collapses.
//   - Adding a key while it is being processed marks it dirty; it is queued
//     again when the current run finishes, so no event is lost.
//   - A handler error re-adds the key after a per-key exponential backoff
//     (Options.BaseDelay doubling up to Options.MaxDelay); success forgets the
//     key's failure count. An error wrapped with Permanent is not retried;
//     RequeueAfter(d) processes the key again after d without counting a
//     failure. This is the one place where errors become requeue decisions.
//   - Keys are processed in FIFO order of their (first) addition.
//
// # What it owns
//
// A Queue owns its keys, its per-key failure counts, one timer for delayed
// additions (armed only while Run is active) and the worker goroutines started
// by Run and Resize. It owns no goroutine outside Run.
//
// # Lifecycle
//
// New builds an idle queue; Add and AddAfter may be called at any time, before,
// during or after Run. Run starts the workers and blocks until its context
// ends, then waits for every worker to finish its current item and stops the
// delay timer; keys still queued stay queued for a later Run. Resize changes
// the number of workers while Run is active: growing starts workers at once,
// shrinking lets surplus workers exit after their current item.
//
//	q := workqueue.New("fanout", workqueue.Options{Metrics: m.Queue("fanout")})
//	q.Add("lrp/web")
//	go func() { _ = q.Run(ctx, cfg.Workers.Fanout, r.Reconcile) }()
//	...
//	q.Resize(newCfg.Workers.Fanout) // on a config change
//
// Every method is safe for concurrent use.
package workqueue
