package containerd

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/containerd/containerd/mount"
)

// ReadFile implements cell.Runtime: it mounts the container's snapshot
// read-only in a temporary directory and reads path there, through an
// os.Root, so that no symbolic link in the container leads outside it.
func (r *Runtime) ReadFile(ctx context.Context, id, path string, limit int) ([]byte, error) {
	ctx = r.ns(ctx)
	mounts, err := r.client.SnapshotService(r.cfg.Snapshotter).Mounts(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("read %s in %s: %w", path, id, err)
	}
	var out []byte
	err = mount.WithReadonlyTempMount(ctx, mounts, func(dir string) error {
		root, err := os.OpenRoot(dir)
		if err != nil {
			return err
		}
		defer root.Close()
		f, err := root.Open(strings.TrimPrefix(path, "/"))
		if err != nil {
			return err
		}
		defer f.Close()
		out, err = io.ReadAll(io.LimitReader(f, int64(limit)))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read %s in %s: %w", path, id, err)
	}
	return out, nil
}
