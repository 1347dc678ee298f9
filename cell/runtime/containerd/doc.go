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
// its network (network.go):
//   - bridge (the default): its own network namespace on the cell's bridge
//     through CNI (github.com/containerd/go-cni with the standard bridge,
//     host-local, portmap and loopback plugins). Start creates the task,
//     pins its namespace under <StateDir>/netns/<id> (so teardown after a
//     crash runs in that namespace, never in one a reused pid names), sets
//     up the network with the spec's port mappings, records the address as
//     a label, and only then starts the process; Stop tears the network
//     down before removing the container. An iptables chain fences the
//     bridge off from the host's own addresses, loopback included;
//   - host: the host's network, hosts file and resolv.conf;
//   - none: a private network namespace with loopback only.
//
// The
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
