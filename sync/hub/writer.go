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
	ops   []store.Op
	reply chan writeReply
}

type writeReply struct {
	res store.WriteResult
	err error
}

func newWriter(c *store.Client, maxOps int) *writer {
	return &writer{store: c, requests: make(chan *writeRequest), maxOps: maxOps}
}

// Write submits ops and waits for their result: Revisions aligned with ops,
// and the conflicts among them. It returns ctx's error if ctx ends first.
func (w *writer) Write(ctx context.Context, ops []store.Op) (store.WriteResult, error) {
	req := &writeRequest{ops: ops, reply: make(chan writeReply, 1)}
	select {
	case w.requests <- req:
	case <-ctx.Done():
		return store.WriteResult{}, ctx.Err()
	}
	select {
	case r := <-req.reply:
		return r.res, r.err
	case <-ctx.Done():
		return store.WriteResult{}, ctx.Err()
	}
}

// run is one flusher; it returns when ctx ends.
func (w *writer) run(ctx context.Context) error {
	for {
		var batch []*writeRequest
		n := 0
		select {
		case <-ctx.Done():
			return nil
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
	ops := make([]store.Op, 0, n)
	for _, r := range batch {
		ops = append(ops, r.ops...)
	}
	res, err := w.store.Write(ctx, ops)
	lost := map[string]store.Conflict{}
	for _, c := range res.Conflicts {
		lost[c.Op.Key] = c
	}
	off := 0
	for _, r := range batch {
		out := store.WriteResult{Revision: res.Revision, Txns: res.Txns}
		if len(res.Revisions) == len(ops) {
			out.Revisions = res.Revisions[off : off+len(r.ops)]
		}
		for i, op := range r.ops {
			if c, ok := lost[op.Key]; ok {
				out.Conflicts = append(out.Conflicts, c)
			} else if err == nil {
				out.Written++
				if out.Revisions[i] > out.Revision {
					out.Revision = out.Revisions[i]
				}
			}
		}
		off += len(r.ops)
		r.reply <- writeReply{res: out, err: err}
	}
}
