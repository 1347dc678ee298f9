package cell

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/cellsync/cellsync/cell/logs"
)

// Labels the agent puts on every container it creates, so that a restarted
// agent can find and adopt its containers instead of duplicating them.
const (
	// LabelCell names the cell that owns the container.
	LabelCell = "cellsync.io/cell"
	// LabelInstance is the container's model.InstanceID.
	LabelInstance = "cellsync.io/instance"
	// LabelVersion is the instance's version (model.InstanceVersion: the
	// body hash and the hashes of the Configs it mounts); a restarted agent
	// adopts a container only when it matches.
	LabelVersion = "cellsync.io/version"
)

// ErrNotFound is returned by a Runtime for a container it does not know.
var ErrNotFound = errors.New("container not found")

// Mount is a host directory made visible inside a container.
type Mount struct {
	// Source is the host path.
	Source string
	// Target is the path inside the container.
	Target string
	// ReadOnly mounts the directory read-only.
	ReadOnly bool
}

// ContainerSpec is everything a Runtime needs to create and start one
// container. The agent computes it from an LRP or Task and its Configs.
type ContainerSpec struct {
	// ID is the container's name in the runtime, chosen by the agent; it is
	// stable per (cell, instance), so a second Start with the same ID fails
	// instead of running a duplicate.
	ID string
	// Labels are stored with the container and returned by List.
	Labels map[string]string
	// Image is an OCI image reference.
	Image string
	// Command replaces the image's entrypoint and arguments when not empty.
	Command []string
	// Env holds "KEY=value" pairs added to the image's environment.
	Env []string
	// MemoryBytes is the memory limit; 0 means none.
	MemoryBytes int64
	// Mounts are bind mounts, typically materialised Configs.
	Mounts []Mount
	// Network is model.NetworkBridge (also when empty), model.NetworkHost
	// or model.NetworkNone.
	Network string
	// Ports are mapped from the cell's host ports to the container's
	// (bridge networking).
	Ports []PortMapping
	// Logs says where the runtime captures the container's stdout and
	// stderr (package cell/logs); with no Dir they are discarded.
	Logs logs.Spec
}

// PortMapping maps a host port of the cell to a container port.
type PortMapping struct {
	// Name is the LRP's name for the port.
	Name          string
	ContainerPort int
	HostPort      int
}

// Container is a container the runtime knows, as List returns it.
type Container struct {
	// ID is the container's name in the runtime.
	ID string
	// Labels are those given at Start.
	Labels map[string]string
	// Running is true while the container's process is alive.
	Running bool
}

// Exit is how a container's process ended.
type Exit struct {
	// Code is the exit status; 128+n for a process killed by signal n.
	Code int
	// OOMKilled is true when the kernel killed the process at its memory
	// limit.
	OOMKilled bool
	// At is when the process exited.
	At time.Time
}

// Runtime runs containers on the cell's machine. The agent is its only
// user; implementations must be safe for concurrent use on different
// container IDs. Package cell/runtime/containerd runs real containers and
// package cell/runtime/sim simulates them.
type Runtime interface {
	// Name is what the cell registers as its runtime, e.g. "containerd".
	Name() string
	// Start creates the container and starts its process. It fails if a
	// container with spec.ID exists; on failure nothing is left behind.
	Start(ctx context.Context, spec ContainerSpec) error
	// Wait blocks until the container's process exits and returns how, also
	// for a container that exited before the call (e.g. while the agent was
	// down). It returns ErrNotFound for an unknown container and ctx's error
	// when ctx ends first.
	Wait(ctx context.Context, id string) (Exit, error)
	// Stop kills the container's process (if any) and removes the
	// container. Stopping an unknown container is not an error.
	Stop(ctx context.Context, id string) error
	// Exec runs argv inside the running container and returns its exit
	// status; it returns an error when the command could not be run or ctx
	// ended first.
	Exec(ctx context.Context, id string, argv []string) (int, error)
	// CheckPort reports whether something accepts TCP connections on port in
	// the container's network; nil means it does.
	CheckPort(ctx context.Context, id string, port int) error
	// CheckHTTP reports whether GET path on port in the container's network
	// answers with a 2xx or 3xx status; nil means it does.
	CheckHTTP(ctx context.Context, id string, port int, path string) error
	// Address returns the container's IP address as the cell's machine
	// reaches it: its own for bridge networking, 127.0.0.1 for host. It
	// fails for network none and for an unknown container.
	Address(ctx context.Context, id string) (netip.Addr, error)
	// List returns every container the runtime holds, with its labels; the
	// agent keeps those labelled with its cell.
	List(ctx context.Context) ([]Container, error)
	// ReadFile returns the first limit bytes of a file in the filesystem of
	// a container whose process has exited and which is not yet stopped (a
	// Task's result file). path is absolute inside the container and is
	// resolved there: it cannot name a file outside. It returns an error
	// wrapping fs.ErrNotExist for a missing file.
	ReadFile(ctx context.Context, id, path string, limit int) ([]byte, error)
}
