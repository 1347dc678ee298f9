package store

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Trim deletes the oldest keys under prefix, in key order, so that at most
// keep remain, and returns how many remain. It reads the count first and
// deletes one key range, so it costs one or two reads and at most one
// write. Keys put meanwhile may leave slightly more than keep; the next
// Trim removes them.
func (c *Client) Trim(ctx context.Context, prefix string, keep int) (int, error) {
	end := clientv3.GetPrefixRangeEnd(prefix)
	resp, err := c.etcd.Get(ctx, prefix, clientv3.WithRange(end), clientv3.WithCountOnly())
	if err != nil {
		return 0, fmt.Errorf("trim %s: %w", prefix, err)
	}
	count := int(resp.Count)
	extra := count - keep
	if extra <= 0 {
		return count, nil
	}
	resp, err = c.etcd.Get(ctx, prefix, clientv3.WithRange(end), clientv3.WithKeysOnly(),
		clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend), clientv3.WithLimit(int64(extra)), clientv3.WithRev(resp.Header.Revision))
	if err != nil {
		return 0, fmt.Errorf("trim %s: %w", prefix, err)
	}
	if len(resp.Kvs) == 0 {
		return count, nil
	}
	last := string(resp.Kvs[len(resp.Kvs)-1].Key)
	del, err := c.etcd.Delete(ctx, prefix, clientv3.WithRange(last+"\x00"))
	if err != nil {
		return 0, fmt.Errorf("trim %s: %w", prefix, err)
	}
	return count - int(del.Deleted), nil
}
