// Package containerd is the cell.Runtime that runs real containers through
// containerd's Go client (v1.7 client; works with containerd 1.6 and later).
//
// Everything lives in one containerd namespace (default "cellsync"). Images
// are used by reference: taken from containerd's store, or pulled when
// absent; an image that is neither yields ErrImageNotFound with the
// reference in the message. Import loads an OCI archive, such as one built
// by package cell/imagebuild, for cells without a registry.
//
// Each container gets the image's config, the spec's command and
// environment, its memory limit, its bind mounts (Configs, read-only) and
// the host's network, hosts file and resolv.conf unless the spec asks for
// network none (a private network namespace with loopback only). The
// agent's labels are stored on the container, which is how a restarted
// agent finds and adopts it. Output of containers started with Output goes
// to <StateDir>/logs/<id>.log, which survives an agent restart.
//
// A Runtime is made with New and closed with Close; it owns the client
// connection and no goroutine (Wait blocks in the caller's goroutine).
//
//	rt, err := containerd.New(ctx, containerd.Config{
//		Address: "/run/containerd/containerd.sock", StateDir: "/var/lib/cellsync",
//	})
package containerd
