package store

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/authpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Identities of cellsync's etcd users. With client-certificate auth etcd
// takes a client's user from its certificate's common name, which is what
// `cellsync certs` writes: "root", "hub", "router" and "cell-<name>".
const (
	RootUser = "root"
	HubUser  = "hub"
	// RouterUser reads actual state, from which routers build their table.
	RouterUser = "router"
)

// CellUser is the etcd user (and certificate common name) of a cell.
func CellUser(cell string) string { return "cell-" + cell }

// EnableAuth creates the users and roles of per-identity authorization and
// turns etcd's auth on. c must act as root (a certificate with common name
// "root"). The hub may read and write everything under Root. A cell may:
// read its own desired prefix and the bodies under specs/; write its own
// registration, its own actual-state prefix and its own event prefix; and
// read and write task records, which it claims by compare-and-swap (a cell
// could therefore touch another cell's task record: task keys carry no
// cell). Nothing else. A router may only read actual state. Running it
// again, or with more cells, is safe.
func EnableAuth(ctx context.Context, c *Client, cells []string) error {
	a := c.etcd.Auth
	ignoreExists := func(err error) error {
		if errors.Is(err, rpctypes.ErrUserAlreadyExist) || errors.Is(err, rpctypes.ErrRoleAlreadyExist) {
			return nil
		}
		return err
	}
	user := func(name, role string, perms ...func() error) error {
		noPassword := &clientv3.UserAddOptions{NoPassword: true}
		if _, err := a.RoleAdd(ctx, role); ignoreExists(err) != nil {
			return fmt.Errorf("etcd auth: role %s: %w", role, err)
		}
		for _, p := range perms {
			if err := p(); err != nil {
				return fmt.Errorf("etcd auth: permission of role %s: %w", role, err)
			}
		}
		if _, err := a.UserAddWithOptions(ctx, name, "", noPassword); ignoreExists(err) != nil {
			return fmt.Errorf("etcd auth: user %s: %w", name, err)
		}
		if _, err := a.UserGrantRole(ctx, name, role); err != nil {
			return fmt.Errorf("etcd auth: grant %s to %s: %w", role, name, err)
		}
		return nil
	}
	grant := func(role, key string, prefix bool, perm authpb.Permission_Type) func() error {
		return func() error {
			end := ""
			if prefix {
				end = clientv3.GetPrefixRangeEnd(key)
			}
			_, err := a.RoleGrantPermission(ctx, role, key, end, clientv3.PermissionType(perm))
			return err
		}
	}
	if err := user(RootUser, "root"); err != nil {
		return err
	}
	if err := user(HubUser, "cellsync-hub", grant("cellsync-hub", Root, true, clientv3.PermReadWrite)); err != nil {
		return err
	}
	if err := user(RouterUser, "cellsync-router", grant("cellsync-router", ActualPrefix, true, clientv3.PermRead)); err != nil {
		return err
	}
	for _, cell := range cells {
		role := "cellsync-" + CellUser(cell)
		if err := user(CellUser(cell), role,
			grant(role, DesiredCellPrefix(cell), true, clientv3.PermRead),
			grant(role, SpecsPrefix, true, clientv3.PermRead),
			grant(role, CellKey(cell), false, clientv3.PermReadWrite),
			grant(role, ActualCellPrefix(cell), true, clientv3.PermReadWrite),
			grant(role, TasksPrefix, true, clientv3.PermReadWrite),
			grant(role, CellEventsPrefix(cell), true, clientv3.PermReadWrite),
		); err != nil {
			return err
		}
	}
	if _, err := a.AuthEnable(ctx); err != nil {
		return fmt.Errorf("etcd auth: enable: %w", err)
	}
	return nil
}
