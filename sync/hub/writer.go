package hub

import (
	"context"

	"github.com/cellsync/cellsync/store"
)

// writer is a group commit: apply workers hand it their cells' operations,
// and each of its flushers packs whatever is waiting into one Write, so a
// rollout to 1,000 cells costs tens of etcd transactions, not 1,000. Several
// flushers keep transactions in flight while others are being filled.
type writer struct {
	store    *store.Client
	requests chan *writeRequest
	maxOps   int
}

type writeRequest struct {
	ops []store.Op
	// done receives the result, on the flusher's goroutine.
	done func(store.WriteResult, error)
}

// newWriter returns a writer on c, packing as many operations per
// transaction as c allows.
func newWriter(c *store.Client) *writer {
	// The buffer lets apply workers move on to the next cell while earlier
	// cells' operations wait for a transaction: batches are then bounded by
	// the transaction limit, not by the number of workers.
	return &writer{store: c, requests: make(chan *writeRequest, 4096), maxOps: c.MaxTxnOps()}
}

// Submit queues ops; done is called with their result (Revisions aligned
// with ops, and the conflicts among them) once they are written, or with
// ctx's error. It blocks only while the buffer is full.
func (w *writer) Submit(ctx context.Context, ops []store.Op, done func(store.WriteResult, error)) {
	select {
	case w.requests <- &writeRequest{ops: ops, done: done}:
	case <-ctx.Done():
		done(store.WriteResult{}, ctx.Err())
	}
}

// run is one flusher; it returns when ctx ends, failing what is still
// queued with ctx's error.
func (w *writer) run(ctx context.Context) error {
	for {
		var batch []*writeRequest
		n := 0
		select {
		case <-ctx.Done():
			for {
				select {
				case req := <-w.requests:
					req.done(store.WriteResult{}, ctx.Err())
				default:
					return nil
				}
			}
		case req := <-w.requests:
			batch, n = append(batch, req), len(req.ops)
		}
	fill:
		for n < w.maxOps {
			select {
			case req := <-w.requests:
				batch, n = append(batch, req), n+len(req.ops)
			default:
				break fill
			}
		}
		w.flush(ctx, batch, n)
	}
}

func (w *writer) flush(ctx context.Context, batch []*writeRequest, n int) {
	// Cells in one flush may carry the same content-addressed body; etcd
	// rejects a transaction naming a key twice, so each key is written once
	// and its duplicates share its result. (Per-cell keys never repeat: a
	// cell has at most one write in flight.)
	ops := make([]store.Op, 0, n)
	at := make(map[string]int, n)
	where := make([]int, 0, n)
	for _, r := range batch {
		for _, op := range r.ops {
			i, dup := at[op.Key]
			if !dup {
				i = len(ops)
				at[op.Key] = i
				ops = append(ops, op)
			}
			where = append(where, i)
		}
	}
	res, err := w.store.Write(ctx, ops)
	lost := map[string]store.Conflict{}
	for _, c := range res.Conflicts {
		lost[c.Op.Key] = c
	}
	k := 0
	for _, r := range batch {
		out := store.WriteResult{Txns: res.Txns, Revisions: make([]int64, len(r.ops))}
		for i, op := range r.ops {
			j := where[k]
			k++
			if c, ok := lost[op.Key]; ok {
				out.Conflicts = append(out.Conflicts, c)
				continue
			}
			if err == nil && len(res.Revisions) == len(ops) {
				out.Revisions[i] = res.Revisions[j]
				out.Written++
				out.Revision = max(out.Revision, res.Revisions[j])
			}
		}
		r.done(out, err)
	}
}
