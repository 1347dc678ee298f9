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
//     pins its namespace under <Bridge.Dir>/netns/<id> (so teardown after a
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
// agent finds and adopts it.
//
// A container whose spec names a log directory gets a log driver: the shim
// starts Config.LogDriver (default: this executable, whose main must call
// logs.RunDriver) through containerd's "binary" log URI, with the container's
// stdout and stderr pipes; the driver writes them into bounded files
// (package cell/logs) and, being the shim's child, keeps doing so while the
// agent restarts. Stop deletes the task, which makes the shim close the
// pipes and wait for the driver to finish writing. Other containers' output
// goes to /dev/null.
//
// Wait reports an OOM kill from the container's memory cgroup
// (memory.events on cgroup v2, memory.oom_control on v1), read after the
// exit and before the task is deleted. ReadFile reads a file of an exited
// container (a Task's result file) from its snapshot, mounted read-only in a
// temporary directory and opened through an os.Root, so links cannot lead
// out of it.
//
// A Runtime is made with New and closed with Close; it owns the client
// connection and no goroutine (Wait blocks in the caller's goroutine).
//
//	rt, err := containerd.New(ctx, containerd.Config{Address: "/run/containerd/containerd.sock"})
package containerd
