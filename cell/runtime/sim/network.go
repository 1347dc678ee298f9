package sim

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/cellsync/cellsync/cell"
	"github.com/cellsync/cellsync/model"
)

// Address implements cell.Runtime: a bridge container gets an address of
// 10.88.0.0/16 by start order, a host container 127.0.0.1. Nothing listens
// on either: the simulated containers have no network.
func (r *Runtime) Address(ctx context.Context, id string) (netip.Addr, error) {
	r.mu.Lock()
	c, ok := r.cs[id]
	r.mu.Unlock()
	if !ok {
		return netip.Addr{}, fmt.Errorf("address of %s: %w", id, cell.ErrNotFound)
	}
	switch c.spec.Network {
	case model.NetworkHost:
		return netip.AddrFrom4([4]byte{127, 0, 0, 1}), nil
	case model.NetworkNone:
		return netip.Addr{}, fmt.Errorf("address of %s: container has network none", id)
	}
	return netip.AddrFrom4([4]byte{10, 88, byte(c.seq >> 8), byte(c.seq)}), nil
}

// CheckHTTP implements cell.Runtime: the check passes unless the container
// is unhealthy.
func (r *Runtime) CheckHTTP(ctx context.Context, id string, port int, path string) error {
	if err := r.CheckPort(ctx, id, port); err != nil {
		return fmt.Errorf("http check of %s%s: %w", id, path, err)
	}
	return nil
}
