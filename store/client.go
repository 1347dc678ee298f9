package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/cellsync/cellsync/model"
)

// Defaults of Config.
const (
	// DefaultMaxTxnOps matches etcd's own server default (--max-txn-ops).
	DefaultMaxTxnOps = 128
	// DefaultMaxTxnBytes stays under etcd's default request limit of 1.5 MiB.
	DefaultMaxTxnBytes = 1 << 20
	// listPage is how many keys one List round trip fetches.
	listPage = 2000
)

// ErrTooLarge is returned by Write for an operation larger than one etcd
// request may carry (Config.MaxTxnBytes); nothing is written.
var ErrTooLarge = errors.New("value too large")

// ErrCompacted is returned by Watch when the requested revision has been
// compacted away; the caller must List again and watch from there.
var ErrCompacted = errors.New("watch revision compacted")

// ErrFenced is returned by the writes of a fenced Client (WithFence) once
// its fence key no longer has the fence's create revision: the writer lost
// the election that entitled it to write, and nothing of that transaction
// was written.
var ErrFenced = errors.New("fence lost: no longer the leader")

// Config says how to reach etcd.
type Config struct {
	Endpoints []string
	// DialTimeout bounds the first connection; default 5s.
	DialTimeout time.Duration
	// MaxTxnOps caps operations per transaction; default 128, etcd's default.
	MaxTxnOps int
	// MaxTxnBytes caps the payload of one transaction; default 1 MiB.
	MaxTxnBytes int
	// TLS, when set, connects with mutual TLS: endpoints are https://.
	TLS TLSFiles
}

// Client is a typed etcd client. It is safe for concurrent use.
type Client struct {
	etcd     *clientv3.Client
	maxOps   int
	maxBytes int
	// fence, when set, conditions every write (see WithFence).
	fence *Fence
}

// Fence is a condition on one key's create revision. A hub fences its
// writes with its election key: the key is created when the hub becomes the
// leader and deleted when its session ends, so a deposed leader's writes
// fail instead of landing after its successor's.
type Fence struct {
	Key            string
	CreateRevision int64
}

// WithFence returns a Client that shares c's connection and makes every
// Write (and CompareAndSwap) conditional on f: a transaction whose fence key
// no longer has f.CreateRevision writes nothing and fails with ErrFenced.
// The fence takes one of the transaction's MaxTxnOps compare slots, so a
// fenced client packs one operation fewer per transaction. Do not Close the
// returned Client; close c.
func (c *Client) WithFence(f Fence) *Client {
	fc := *c
	fc.fence = &f
	return &fc
}

// Connect dials etcd and checks that it answers.
func Connect(ctx context.Context, cfg Config) (*Client, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, fmt.Errorf("connect etcd: no endpoints")
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	if cfg.MaxTxnOps <= 0 {
		cfg.MaxTxnOps = DefaultMaxTxnOps
	}
	if cfg.MaxTxnBytes <= 0 {
		cfg.MaxTxnBytes = DefaultMaxTxnBytes
	}
	ccfg := clientv3.Config{
		Endpoints:   cfg.Endpoints,
		DialTimeout: cfg.DialTimeout,
		Context:     ctx,
		Logger:      zap.NewNop(),
	}
	if cfg.TLS.Enabled() {
		tc, err := cfg.TLS.ClientConfig()
		if err != nil {
			return nil, err
		}
		ccfg.TLS = tc
	}
	c, err := clientv3.New(ccfg)
	if err != nil {
		return nil, fmt.Errorf("connect etcd %v: %w", cfg.Endpoints, err)
	}
	// Probe with Status, which needs no key permission: under etcd auth a
	// cell may read only its own keys.
	pctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()
	var perr error
	for _, ep := range cfg.Endpoints {
		if _, perr = c.Status(pctx, ep); perr == nil {
			break
		}
	}
	if perr != nil {
		c.Close()
		return nil, fmt.Errorf("connect etcd %v: %w", cfg.Endpoints, perr)
	}
	return &Client{etcd: c, maxOps: cfg.MaxTxnOps, maxBytes: cfg.MaxTxnBytes}, nil
}

// MaxOpBytes is the largest key plus value one Write operation may carry.
func (c *Client) MaxOpBytes() int { return c.maxBytes }

// MaxTxnOps is the number of operations one transaction carries at most
// (Config.MaxTxnOps), less the fence's compare slot on a fenced client.
func (c *Client) MaxTxnOps() int {
	if c.fence != nil {
		return max(c.maxOps-1, 1)
	}
	return c.maxOps
}

// Etcd returns the underlying client, for leases, sessions and elections.
func (c *Client) Etcd() *clientv3.Client { return c.etcd }

// Close releases the connection.
func (c *Client) Close() error { return c.etcd.Close() }

// KV is one stored key.
type KV struct {
	Key         string
	Value       []byte
	ModRevision int64
	Lease       int64
}

func fromEtcd(kv *mvccpb.KeyValue) KV {
	return KV{Key: string(kv.Key), Value: kv.Value, ModRevision: kv.ModRevision, Lease: kv.Lease}
}

// Get reads one key; ok is false when it does not exist.
func (c *Client) Get(ctx context.Context, key string) (kv KV, ok bool, err error) {
	resp, err := c.etcd.Get(ctx, key)
	if err != nil {
		return KV{}, false, fmt.Errorf("get %s: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return KV{}, false, nil
	}
	return fromEtcd(resp.Kvs[0]), true, nil
}

// GetMany reads several keys, as many per transaction as the limits allow,
// and returns those that exist. A cell fetching the bodies a rollout names
// makes one request instead of one per body.
func (c *Client) GetMany(ctx context.Context, keys []string) (map[string]KV, error) {
	out := make(map[string]KV, len(keys))
	for start := 0; start < len(keys); start += c.maxOps {
		end := min(start+c.maxOps, len(keys))
		gets := make([]clientv3.Op, 0, end-start)
		for _, k := range keys[start:end] {
			gets = append(gets, clientv3.OpGet(k))
		}
		resp, err := c.etcd.Txn(ctx).Then(gets...).Commit()
		if err != nil {
			return nil, fmt.Errorf("get %d keys (first %s): %w", end-start, keys[start], err)
		}
		for _, r := range resp.Responses {
			for _, kv := range r.GetResponseRange().Kvs {
				out[string(kv.Key)] = fromEtcd(kv)
			}
		}
	}
	return out, nil
}

// List reads every key under prefix at one revision, which it returns so that
// a Watch can resume exactly after it. Large prefixes are read in pages.
func (c *Client) List(ctx context.Context, prefix string) ([]KV, int64, error) {
	var out []KV
	var rev int64
	end := clientv3.GetPrefixRangeEnd(prefix)
	for from := prefix; ; {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(listPage)}
		if rev != 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		resp, err := c.etcd.Get(ctx, from, opts...)
		if err != nil {
			return nil, 0, fmt.Errorf("list %s: %w", prefix, err)
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for _, kv := range resp.Kvs {
			out = append(out, fromEtcd(kv))
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return out, rev, nil
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// EventType says whether a watched key was put or deleted.
type EventType int

// Event types.
const (
	Put EventType = iota
	Delete
)

// Event is one change of a watched key. A Delete event's KV has no value.
type Event struct {
	Type EventType
	KV   KV
}

// Batch is the events of one or more revisions, delivered together.
type Batch struct {
	Revision int64
	Events   []Event
}

// Watch yields the changes under prefix after revision afterRev, until ctx
// ends or an error occurs: ErrCompacted when afterRev is no longer
// available, or the connection's error. The iterator owns no goroutine of its
// own; stopping the loop cancels the watch.
func (c *Client) Watch(ctx context.Context, prefix string, afterRev int64) iter.Seq2[Batch, error] {
	return func(yield func(Batch, error) bool) {
		ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		defer cancel()
		ch := c.etcd.Watch(ctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(afterRev+1))
		for resp := range ch {
			if resp.CompactRevision != 0 {
				yield(Batch{}, fmt.Errorf("watch %s from %d: %w (compacted at %d)", prefix, afterRev, ErrCompacted, resp.CompactRevision))
				return
			}
			if err := resp.Err(); err != nil {
				if errors.Is(err, rpctypes.ErrCompacted) {
					err = ErrCompacted
				}
				yield(Batch{}, fmt.Errorf("watch %s: %w", prefix, err))
				return
			}
			if len(resp.Events) == 0 {
				continue // progress notification
			}
			b := Batch{Revision: resp.Header.Revision, Events: make([]Event, len(resp.Events))}
			for i, ev := range resp.Events {
				b.Events[i] = Event{KV: fromEtcd(ev.Kv)}
				if ev.Type == clientv3.EventTypeDelete {
					b.Events[i].Type = Delete
				}
			}
			if !yield(b, nil) {
				return
			}
		}
		if ctx.Err() == nil {
			yield(Batch{}, fmt.Errorf("watch %s: channel closed", prefix))
		}
	}
}

// Op is one write. With IfModRevision set, the write happens only if the
// key's current mod revision equals *IfModRevision (0: the key must not exist).
type Op struct {
	Key           string
	Value         []byte
	Delete        bool
	Lease         int64
	IfModRevision *int64
}

// Revision returns a pointer for Op.IfModRevision.
func Revision(r int64) *int64 { return &r }

// Conflict is a compare-and-swap write that lost: the key's revision was
// not the expected one. Current is the key as it is now (ModRevision 0 when
// it does not exist).
type Conflict struct {
	Op      Op
	Current KV
}

// WriteResult reports a Write.
type WriteResult struct {
	// Revision is the store revision after the last transaction.
	Revision int64
	// Txns counts the transactions sent.
	Txns int
	// Written counts the operations applied.
	Written int
	// Conflicts are the compare-and-swap ops that were not applied.
	Conflicts []Conflict
	// Revisions holds, for each op in order, the revision at which it was
	// applied, or 0 for a conflict.
	Revisions []int64
}

// Write applies ops in as few transactions as the limits allow (operations
// and bytes per transaction). Every op without a condition is applied; ops
// whose condition fails are returned as conflicts, and the rest of their
// transaction is retried without them. Ops in one transaction apply
// atomically; ops in different transactions do not. A key must appear at
// most once in ops.
func (c *Client) Write(ctx context.Context, ops []Op) (WriteResult, error) {
	res := WriteResult{Revisions: make([]int64, len(ops))}
	for _, op := range ops {
		if n := len(op.Key) + len(op.Value); n > c.maxBytes {
			return res, fmt.Errorf("write %s: %w: key and value are %d bytes, over the %d-byte limit of one etcd request", op.Key, ErrTooLarge, n, c.maxBytes)
		}
	}
	maxOps := c.MaxTxnOps()
	for start := 0; start < len(ops); {
		end, size := start, 0
		for end < len(ops) && end-start < maxOps {
			sz := len(ops[end].Key) + len(ops[end].Value)
			if end > start && size+sz > c.maxBytes {
				break
			}
			size += sz
			end++
		}
		if err := c.writeBatch(ctx, ops, start, end, &res); err != nil {
			return res, err
		}
		start = end
	}
	return res, nil
}

// writeBatch writes ops[start:end] in one transaction, dropping and
// reporting the ops whose condition fails until the rest succeeds. A lost
// fence fails the whole batch with ErrFenced.
func (c *Client) writeBatch(ctx context.Context, ops []Op, start, end int, res *WriteResult) error {
	batch := make([]int, 0, end-start)
	for i := start; i < end; i++ {
		batch = append(batch, i)
	}
	for len(batch) > 0 {
		var cmps []clientv3.Cmp
		var onFail []clientv3.Op
		if c.fence != nil {
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(c.fence.Key), "=", c.fence.CreateRevision))
			onFail = append(onFail, clientv3.OpGet(c.fence.Key))
		}
		thens := make([]clientv3.Op, 0, len(batch))
		for _, i := range batch {
			op := ops[i]
			if op.IfModRevision != nil {
				cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(op.Key), "=", *op.IfModRevision))
				onFail = append(onFail, clientv3.OpGet(op.Key))
			}
			switch {
			case op.Delete:
				thens = append(thens, clientv3.OpDelete(op.Key))
			case op.Lease != 0:
				thens = append(thens, clientv3.OpPut(op.Key, string(op.Value), clientv3.WithLease(clientv3.LeaseID(op.Lease))))
			default:
				thens = append(thens, clientv3.OpPut(op.Key, string(op.Value)))
			}
		}
		resp, err := c.etcd.Txn(ctx).If(cmps...).Then(thens...).Else(onFail...).Commit()
		if err != nil {
			return fmt.Errorf("write %d keys (first %s): %w", len(batch), ops[batch[0]].Key, err)
		}
		res.Txns++
		res.Revision = resp.Header.Revision
		if resp.Succeeded {
			res.Written += len(batch)
			for _, i := range batch {
				res.Revisions[i] = resp.Header.Revision
			}
			return nil
		}
		// Keep the ops whose condition held; report the others.
		current := map[string]KV{}
		fenceHeld := c.fence == nil
		for _, r := range resp.Responses {
			for _, kv := range r.GetResponseRange().Kvs {
				if c.fence != nil && string(kv.Key) == c.fence.Key {
					fenceHeld = kv.CreateRevision == c.fence.CreateRevision
					continue
				}
				current[string(kv.Key)] = fromEtcd(kv)
			}
		}
		if !fenceHeld {
			return fmt.Errorf("write %d keys (first %s): %w (fence %s at create revision %d)", len(batch), ops[batch[0]].Key, ErrFenced, c.fence.Key, c.fence.CreateRevision)
		}
		kept := batch[:0:0]
		for _, i := range batch {
			op := ops[i]
			if op.IfModRevision != nil && current[op.Key].ModRevision != *op.IfModRevision {
				cur := current[op.Key]
				cur.Key = op.Key
				res.Conflicts = append(res.Conflicts, Conflict{Op: op, Current: cur})
				continue
			}
			kept = append(kept, i)
		}
		batch = kept
	}
	return nil
}

// CompareAndSwap writes value to key if the key's mod revision is modRev (0:
// if the key does not exist). It returns whether it wrote, and the key as it
// is now when it did not.
func (c *Client) CompareAndSwap(ctx context.Context, key string, modRev int64, value []byte) (bool, KV, error) {
	res, err := c.Write(ctx, []Op{{Key: key, Value: value, IfModRevision: Revision(modRev)}})
	if err != nil {
		return false, KV{}, err
	}
	if len(res.Conflicts) > 0 {
		return false, res.Conflicts[0].Current, nil
	}
	return true, KV{Key: key, Value: value, ModRevision: res.Revisions[0]}, nil
}

// Encode serializes a value compactly, without escaping HTML characters
// (model.Marshal): a record holding "<" stays as small as it reads.
func Encode(v any) ([]byte, error) { return model.Marshal(v) }

// Decode parses a value written by Encode, naming the key on failure.
func Decode(kv KV, v any) error {
	if err := json.Unmarshal(kv.Value, v); err != nil {
		return fmt.Errorf("decode %s: %w", kv.Key, err)
	}
	return nil
}

// GetJSON reads and decodes one key; ok is false when it does not exist.
func GetJSON[T any](ctx context.Context, c *Client, key string) (v T, kv KV, ok bool, err error) {
	kv, ok, err = c.Get(ctx, key)
	if err != nil || !ok {
		return v, kv, ok, err
	}
	err = Decode(kv, &v)
	return v, kv, true, err
}
