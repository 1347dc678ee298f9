package containerd

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/oci"
	"github.com/containerd/platforms"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/cellsync/cellsync/cell"
	"github.com/cellsync/cellsync/model"
)

// Defaults of Config.
const (
	// DefaultNamespace is the containerd namespace of cellsync's containers.
	DefaultNamespace = "cellsync"
	// DefaultStopGrace is the wait between SIGTERM and SIGKILL.
	DefaultStopGrace = 5 * time.Second
	// DefaultRuntime is the OCI runtime shim.
	DefaultRuntime = "io.containerd.runc.v2"
)

// labelNetwork records a container's network mode for Address.
const labelNetwork = "cellsync.io/network"

// Config says how to reach containerd and how to capture output.
type Config struct {
	// Address is containerd's socket, e.g. /run/containerd/containerd.sock.
	Address string
	// Namespace isolates cellsync's containers and images; default "cellsync".
	Namespace string
	// Snapshotter is the snapshotter for root filesystems; default
	// overlayfs (containerd's default on Linux).
	Snapshotter string
	// Runtime is the OCI runtime shim; default io.containerd.runc.v2.
	Runtime string
	// LogDriver is the program containerd's shim runs beside each container
	// whose spec asks for logs (see package cell/logs); default the running
	// executable, which must call logs.RunDriver first thing in main (the
	// cellsync binary does; so does the TestMain of a test that runs
	// containers).
	LogDriver string
	// StopGrace is how long Stop waits after SIGTERM before SIGKILL;
	// default 5s.
	StopGrace time.Duration
	// Bridge is the network of containers with network bridge (see
	// network.go).
	Bridge BridgeConfig
}

// Runtime runs containers through containerd. It implements cell.Runtime
// and is safe for concurrent use.
type Runtime struct {
	cfg    Config
	client *containerd.Client
	net    *network
	execs  atomic.Uint64
}

// New connects to containerd.
func New(ctx context.Context, cfg Config) (*Runtime, error) {
	if cfg.Address == "" {
		return nil, fmt.Errorf("containerd runtime: no socket address")
	}
	if cfg.Namespace == "" {
		cfg.Namespace = DefaultNamespace
	}
	if cfg.Runtime == "" {
		cfg.Runtime = DefaultRuntime
	}
	if cfg.Snapshotter == "" {
		cfg.Snapshotter = containerd.DefaultSnapshotter
	}
	if cfg.StopGrace == 0 {
		cfg.StopGrace = DefaultStopGrace
	}
	if err := cfg.Bridge.validate(); err != nil {
		return nil, fmt.Errorf("containerd runtime: %w", err)
	}
	if cfg.LogDriver == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("containerd runtime: log driver: %w", err)
		}
		cfg.LogDriver = exe
	}
	c, err := containerd.New(cfg.Address, containerd.WithDefaultNamespace(cfg.Namespace), containerd.WithTimeout(10*time.Second))
	if err != nil {
		return nil, fmt.Errorf("connect containerd at %s: %w", cfg.Address, err)
	}
	if _, err := c.Version(namespaces.WithNamespace(ctx, cfg.Namespace)); err != nil {
		c.Close()
		return nil, fmt.Errorf("connect containerd at %s: %w", cfg.Address, err)
	}
	return &Runtime{cfg: cfg, client: c, net: newNetwork(cfg.Bridge)}, nil
}

// Close releases the connection; containers keep running.
func (r *Runtime) Close() error { return r.client.Close() }

func (r *Runtime) ns(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, r.cfg.Namespace)
}

// Name implements cell.Runtime.
func (r *Runtime) Name() string { return "containerd" }

// Import loads an OCI image-layout or docker-archive tar into containerd's
// store and unpacks it; it returns the names of the imported images.
func (r *Runtime) Import(ctx context.Context, archive io.Reader) ([]string, error) {
	ctx = r.ns(ctx)
	imgs, err := r.client.Import(ctx, archive, containerd.WithImportPlatform(platforms.Default()))
	if err != nil {
		return nil, fmt.Errorf("import image: %w", err)
	}
	var names []string
	for _, img := range imgs {
		i := containerd.NewImage(r.client, img)
		if err := i.Unpack(ctx, r.cfg.Snapshotter); err != nil {
			return nil, fmt.Errorf("unpack image %s: %w", img.Name, err)
		}
		names = append(names, img.Name)
	}
	return names, nil
}

// ErrImageNotFound is an image that is neither in containerd's store nor
// pullable.
var ErrImageNotFound = cell.ErrImageNotFound

// image returns an unpacked image: from the store, or pulled.
func (r *Runtime) image(ctx context.Context, ref string) (containerd.Image, error) {
	img, err := r.client.GetImage(ctx, ref)
	if errdefs.IsNotFound(err) {
		img, err = r.client.Pull(ctx, ref, containerd.WithPullUnpack, containerd.WithPullSnapshotter(r.cfg.Snapshotter))
		if err != nil {
			return nil, fmt.Errorf("%w: %s is not in containerd's store (namespace %s) and pulling it failed: %v", ErrImageNotFound, ref, r.cfg.Namespace, err)
		}
		return img, nil
	}
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", ref, err)
	}
	ok, err := img.IsUnpacked(ctx, r.cfg.Snapshotter)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", ref, err)
	}
	if !ok {
		if err := img.Unpack(ctx, r.cfg.Snapshotter); err != nil {
			return nil, fmt.Errorf("unpack image %s: %w", ref, err)
		}
	}
	return img, nil
}

// Start implements cell.Runtime.
func (r *Runtime) Start(ctx context.Context, spec cell.ContainerSpec) (err error) {
	ctx = r.ns(ctx)
	img, err := r.image(ctx, spec.Image)
	if err != nil {
		return fmt.Errorf("start %s: %w", spec.ID, err)
	}
	opts := []oci.SpecOpts{oci.WithImageConfig(img)}
	if len(spec.Command) > 0 {
		opts = append(opts, oci.WithProcessArgs(spec.Command...))
	}
	if len(spec.Env) > 0 {
		opts = append(opts, oci.WithEnv(spec.Env))
	}
	if spec.MemoryBytes > 0 {
		opts = append(opts, oci.WithMemoryLimit(uint64(spec.MemoryBytes)))
	}
	var mounts []specs.Mount
	for _, m := range spec.Mounts {
		o := []string{"rbind"}
		if m.ReadOnly {
			o = append(o, "ro")
		} else {
			o = append(o, "rw")
		}
		mounts = append(mounts, specs.Mount{Type: "bind", Source: m.Source, Destination: m.Target, Options: o})
	}
	if len(mounts) > 0 {
		opts = append(opts, oci.WithMounts(mounts))
	}
	network := spec.Network
	if network == "" {
		network = model.NetworkBridge
	}
	switch network {
	case model.NetworkHost:
		opts = append(opts, oci.WithHostNamespace(specs.NetworkNamespace), oci.WithHostHostsFile, oci.WithHostResolvconf)
	case model.NetworkBridge:
		opts = append(opts, oci.WithHostResolvconf)
	}
	// A snapshot left by a start that failed half-way would block this ID
	// for good; the agent stops any container of this ID before Start, so a
	// snapshot here has no container.
	if err := r.client.SnapshotService(r.cfg.Snapshotter).Remove(ctx, spec.ID); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("start %s: remove stale snapshot: %w", spec.ID, err)
	}
	labels := map[string]string{labelNetwork: network}
	for k, v := range spec.Labels {
		labels[k] = v
	}
	c, err := r.client.NewContainer(ctx, spec.ID,
		containerd.WithImage(img),
		containerd.WithSnapshotter(r.cfg.Snapshotter),
		containerd.WithNewSnapshot(spec.ID, img),
		containerd.WithRuntime(r.cfg.Runtime, nil),
		containerd.WithNewSpec(opts...),
		containerd.WithContainerLabels(labels),
	)
	if err != nil {
		return fmt.Errorf("create container %s: %w", spec.ID, err)
	}
	defer func() {
		if err != nil {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			_ = c.Delete(dctx, containerd.WithSnapshotCleanup)
		}
	}()
	task, err := c.NewTask(ctx, r.logIO(spec.Logs))
	if err != nil {
		return fmt.Errorf("create task %s: %w", spec.ID, err)
	}
	if network == model.NetworkBridge {
		// The created task's process holds its new network namespace and
		// has not run yet: the network is there before the program is.
		if err := r.net.attach(ctx, c, task.Pid(), spec); err != nil {
			_, _ = task.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill)
			return err
		}
	}
	if err := task.Start(ctx); err != nil {
		_, _ = task.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill)
		_ = r.net.detach(context.WithoutCancel(ctx), spec.ID)
		return fmt.Errorf("start task %s: %w", spec.ID, err)
	}
	return nil
}

// Wait implements cell.Runtime.
func (r *Runtime) Wait(ctx context.Context, id string) (cell.Exit, error) {
	ctx = r.ns(ctx)
	c, err := r.client.LoadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		return cell.Exit{}, fmt.Errorf("wait %s: %w", id, cell.ErrNotFound)
	}
	if err != nil {
		return cell.Exit{}, fmt.Errorf("wait %s: %w", id, err)
	}
	task, err := c.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		// A container without a task never ran or its task was deleted.
		return cell.Exit{Code: -1, At: time.Now()}, nil
	}
	if err != nil {
		return cell.Exit{}, fmt.Errorf("wait %s: %w", id, err)
	}
	ch, err := task.Wait(ctx)
	if err != nil {
		return cell.Exit{}, fmt.Errorf("wait %s: %w", id, err)
	}
	select {
	case st := <-ch:
		code, at, err := st.Result()
		if err != nil {
			return cell.Exit{}, fmt.Errorf("wait %s: %w", id, err)
		}
		return cell.Exit{Code: int(code), At: at, OOMKilled: r.oomKilled(ctx, c)}, nil
	case <-ctx.Done():
		return cell.Exit{}, ctx.Err()
	}
}

// Stop implements cell.Runtime: SIGTERM, SIGKILL after StopGrace, then the
// task and its log driver (which finishes writing the output first), the
// container and its snapshot are removed; the output stays.
func (r *Runtime) Stop(ctx context.Context, id string) error {
	ctx = r.ns(ctx)
	c, err := r.client.LoadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stop %s: %w", id, err)
	}
	task, err := c.Task(ctx, nil)
	switch {
	case errdefs.IsNotFound(err):
	case err != nil:
		return fmt.Errorf("stop %s: %w", id, err)
	default:
		if err := r.kill(ctx, task); err != nil {
			return fmt.Errorf("stop %s: %w", id, err)
		}
		if _, err := task.Delete(ctx, containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("delete task %s: %w", id, err)
		}
	}
	// The container stays until its network is gone, so that a failed
	// teardown is retried by the next Stop.
	if err := r.net.detach(ctx, id); err != nil {
		return fmt.Errorf("stop %s: %w", id, err)
	}
	if err := c.Delete(ctx, containerd.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("delete container %s: %w", id, err)
	}
	return nil
}

func (r *Runtime) kill(ctx context.Context, task containerd.Task) error {
	st, err := task.Status(ctx)
	if err != nil {
		return err
	}
	if st.Status == containerd.Stopped || st.Status == containerd.Created {
		return nil
	}
	ch, err := task.Wait(ctx)
	if err != nil {
		return err
	}
	if err := task.Kill(ctx, syscall.SIGTERM); err != nil && !errdefs.IsNotFound(err) {
		return err
	}
	t := time.NewTimer(r.cfg.StopGrace)
	defer t.Stop()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
	}
	if err := task.Kill(ctx, syscall.SIGKILL); err != nil && !errdefs.IsNotFound(err) {
		return err
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Exec implements cell.Runtime.
func (r *Runtime) Exec(ctx context.Context, id string, argv []string) (int, error) {
	ctx = r.ns(ctx)
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return -1, fmt.Errorf("exec in %s: %w", id, err)
	}
	task, err := c.Task(ctx, nil)
	if err != nil {
		return -1, fmt.Errorf("exec in %s: %w", id, err)
	}
	spec, err := c.Spec(ctx)
	if err != nil {
		return -1, fmt.Errorf("exec in %s: %w", id, err)
	}
	ps := *spec.Process
	ps.Args = argv
	ps.Terminal = false
	execID := "check-" + strconv.FormatUint(r.execs.Add(1), 10)
	p, err := task.Exec(ctx, execID, &ps, cio.NullIO)
	if err != nil {
		return -1, fmt.Errorf("exec in %s: %w", id, err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_, _ = p.Delete(dctx, containerd.WithProcessKill)
	}()
	ch, err := p.Wait(ctx)
	if err != nil {
		return -1, fmt.Errorf("exec in %s: %w", id, err)
	}
	if err := p.Start(ctx); err != nil {
		return -1, fmt.Errorf("exec in %s: %w", id, err)
	}
	select {
	case st := <-ch:
		code, _, err := st.Result()
		if err != nil {
			return -1, fmt.Errorf("exec in %s: %w", id, err)
		}
		return int(code), nil
	case <-ctx.Done():
		return -1, fmt.Errorf("exec in %s: %w", id, ctx.Err())
	}
}

// List implements cell.Runtime.
func (r *Runtime) List(ctx context.Context) ([]cell.Container, error) {
	ctx = r.ns(ctx)
	cs, err := r.client.Containers(ctx)
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	out := make([]cell.Container, 0, len(cs))
	for _, c := range cs {
		labels, err := c.Labels(ctx)
		if errdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("list containers: %w", err)
		}
		running := false
		if task, err := c.Task(ctx, nil); err == nil {
			if st, err := task.Status(ctx); err == nil {
				running = st.Status == containerd.Running
			}
		}
		out = append(out, cell.Container{ID: c.ID(), Labels: labels, Running: running})
	}
	return out, nil
}

// Pid returns the host process ID of a container's task, for tests and
// diagnostics.
func (r *Runtime) Pid(ctx context.Context, id string) (uint32, error) {
	ctx = r.ns(ctx)
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return 0, fmt.Errorf("pid of %s: %w", id, err)
	}
	task, err := c.Task(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("pid of %s: %w", id, err)
	}
	return task.Pid(), nil
}
