// Package events is cellsync's event log: what happened in the fleet
// (commits seen and applied, instances started, crashed or OOM-killed,
// Task transitions, cells joined, evacuating or lost, errors), kept in
// etcd for `cellsync events` and the hub's GET /events.
//
// # What it owns
//
// Each writer has its own prefix: the hub writes under events/hub/, each
// cell under events/cells/<cell>/ (which etcd authorization lets only that
// cell write). A key is "<prefix><unix nanoseconds>-<process tag>-<seq>",
// so a prefix sorts by time, and its value is a model.Event. A Writer
// deletes the oldest events of its prefix (store.Client.Trim) before a
// write would take it past Capacity and a tenth, so the log never holds
// more than 1.1 × Capacity events per writer. The prefix of a cell that is
// gone for good keeps its last Capacity events.
//
// # Lifecycle
//
// New returns a Writer; Emit queues an event without blocking (a bounded
// queue: when etcd is unreachable the oldest queued events are dropped and
// the drop is itself reported); Run writes a batch per FlushInterval until
// its context ends. List reads the events a Filter selects and Follow
// continues after a listing with a watch. Decode takes an event's writer
// from its key, never from its value. Handler serves both over HTTP (JSON,
// or Server-Sent Events with ?follow=true).
//
//	w, err := events.New(events.Config{Prefix: store.CellEventsPrefix("c1")}, events.Deps{Store: st})
//	go w.Run(ctx)
//	w.Emit(model.Event{Type: model.EventInstanceStarted, Instance: "LRP/web/0"})
//	l, err := events.List(ctx, st, events.Filter{Workload: "LRP/web"})
package events
