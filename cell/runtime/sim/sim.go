package sim

import (
	"context"
	"fmt"
	"io/fs"
	"maps"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cellsync/cellsync/cell"
	"github.com/cellsync/cellsync/cell/logs"
	"github.com/cellsync/cellsync/model"
)

// Environment variables a workload sets to steer the default Behavior.
const (
	// EnvExit makes the process exit at once with the given status.
	EnvExit = "CELLSYNC_SIM_EXIT"
	// EnvOutput is what the process prints.
	EnvOutput = "CELLSYNC_SIM_OUTPUT"
	// EnvUnhealthy, set to any value, makes every health check fail.
	EnvUnhealthy = "CELLSYNC_SIM_UNHEALTHY"
)

// Behavior is how one simulated container acts.
type Behavior struct {
	// Exit makes the process end right after it starts, with Code.
	Exit bool
	// Code is the exit status when Exit is set.
	Code int
	// Output is the process's output.
	Output string
	// Unhealthy makes health checks fail.
	Unhealthy bool
	// OOMKilled makes the exit report an OOM kill.
	OOMKilled bool
	// Files are what ReadFile finds in the container, by absolute path.
	Files map[string]string
	// StartErr, when set, makes Start fail.
	StartErr error
}

// DefaultBehavior reads a container's Behavior from its environment (see
// EnvExit, EnvOutput, EnvUnhealthy). Without them a Task's container (its
// cell.LabelInstance is "Task/...") exits 0 at once, printing its command's
// arguments, and any other container runs until stopped.
func DefaultBehavior(spec cell.ContainerSpec) Behavior {
	var b Behavior
	env := map[string]string{}
	for _, kv := range spec.Env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	if s, ok := env[EnvExit]; ok {
		b.Exit = true
		if n, err := strconv.Atoi(s); err == nil {
			b.Code = n
		}
	} else if strings.HasPrefix(spec.Labels[cell.LabelInstance], string(model.KindTask)+"/") {
		b.Exit = true
		if len(spec.Command) > 1 {
			b.Output = strings.Join(spec.Command[1:], " ") + "\n"
		}
	}
	if s, ok := env[EnvOutput]; ok {
		b.Output = s
	}
	_, b.Unhealthy = env[EnvUnhealthy]
	return b
}

// Runtime is an in-process cell.Runtime whose containers start and exit
// instantly, as their Behavior says; a container whose spec names a log
// directory writes its Behavior.Output there as one run of real log files.
// It is safe for concurrent use.
type Runtime struct {
	behave func(cell.ContainerSpec) Behavior

	mu     sync.Mutex
	cs     map[string]*container
	starts int
}

type container struct {
	seq      int // start order, for Address
	spec     cell.ContainerSpec
	behavior Behavior
	exit     cell.Exit
	done     chan struct{}
}

func (c *container) running() bool {
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// New returns an empty simulated runtime; behave decides how each container
// acts (nil: DefaultBehavior).
func New(behave func(cell.ContainerSpec) Behavior) *Runtime {
	if behave == nil {
		behave = DefaultBehavior
	}
	return &Runtime{behave: behave, cs: map[string]*container{}}
}

// Name implements cell.Runtime.
func (r *Runtime) Name() string { return "sim" }

// Start implements cell.Runtime.
func (r *Runtime) Start(ctx context.Context, spec cell.ContainerSpec) error {
	b := r.behave(spec)
	if b.StartErr != nil {
		return fmt.Errorf("start %s: %w", spec.ID, b.StartErr)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.cs[spec.ID]; ok {
		return fmt.Errorf("start %s: container exists", spec.ID)
	}
	if spec.Logs.Dir != "" {
		if err := writeOutput(spec.Logs, b.Output); err != nil {
			return fmt.Errorf("start %s: %w", spec.ID, err)
		}
	}
	spec.Labels = maps.Clone(spec.Labels)
	r.starts++
	c := &container{seq: r.starts, spec: spec, behavior: b, done: make(chan struct{})}
	r.cs[spec.ID] = c
	if b.Exit {
		c.end(b.Code)
	}
	return nil
}

func (c *container) end(code int) {
	c.exit = cell.Exit{Code: code, At: time.Now(), OOMKilled: c.behavior.OOMKilled}
	close(c.done)
}

// writeOutput writes a container's whole output as one new run.
func writeOutput(spec logs.Spec, output string) error {
	w, err := logs.Create(spec.Dir, spec.Limits, nil)
	if err != nil {
		return err
	}
	if output != "" {
		if err := w.Write(logs.Stdout, []byte(output)); err != nil {
			w.Close()
			return err
		}
	}
	return w.Close()
}

// Wait implements cell.Runtime.
func (r *Runtime) Wait(ctx context.Context, id string) (cell.Exit, error) {
	r.mu.Lock()
	c, ok := r.cs[id]
	r.mu.Unlock()
	if !ok {
		return cell.Exit{}, fmt.Errorf("wait %s: %w", id, cell.ErrNotFound)
	}
	select {
	case <-c.done:
		return c.exit, nil
	case <-ctx.Done():
		return cell.Exit{}, ctx.Err()
	}
}

// Stop implements cell.Runtime.
func (r *Runtime) Stop(ctx context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.cs[id]
	if !ok {
		return nil
	}
	if c.running() {
		c.end(137)
	}
	delete(r.cs, id)
	return nil
}

// Exec implements cell.Runtime: the command succeeds unless the container
// is unhealthy.
func (r *Runtime) Exec(ctx context.Context, id string, argv []string) (int, error) {
	unhealthy, err := r.runningContainer(id)
	if err != nil {
		return -1, fmt.Errorf("exec in %s: %w", id, err)
	}
	if unhealthy {
		return 1, nil
	}
	return 0, nil
}

// CheckPort implements cell.Runtime: the port answers unless the container
// is unhealthy.
func (r *Runtime) CheckPort(ctx context.Context, id string, port int) error {
	unhealthy, err := r.runningContainer(id)
	if err != nil {
		return fmt.Errorf("check port %d of %s: %w", port, id, err)
	}
	if unhealthy {
		return fmt.Errorf("check port %d of %s: connection refused", port, id)
	}
	return nil
}

// runningContainer returns whether a running container is unhealthy, or
// why it is not running.
func (r *Runtime) runningContainer(id string) (unhealthy bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.cs[id]
	if !ok {
		return false, cell.ErrNotFound
	}
	if !c.running() {
		return false, fmt.Errorf("container %s is not running", id)
	}
	return c.behavior.Unhealthy, nil
}

// SetUnhealthy makes a container's health checks fail (or pass again)
// from now on, as a process that stops answering would.
func (r *Runtime) SetUnhealthy(id string, unhealthy bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.cs[id]
	if !ok {
		return fmt.Errorf("set health of %s: %w", id, cell.ErrNotFound)
	}
	c.behavior.Unhealthy = unhealthy
	return nil
}

// List implements cell.Runtime.
func (r *Runtime) List(ctx context.Context) ([]cell.Container, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]cell.Container, 0, len(r.cs))
	for id, c := range r.cs {
		out = append(out, cell.Container{ID: id, Labels: maps.Clone(c.spec.Labels), Running: c.running()})
	}
	return out, nil
}

// ReadFile implements cell.Runtime with the container's Behavior.Files.
func (r *Runtime) ReadFile(ctx context.Context, id, path string, limit int) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.cs[id]
	if !ok {
		return nil, fmt.Errorf("read %s in %s: %w", path, id, cell.ErrNotFound)
	}
	data, ok := c.behavior.Files[path]
	if !ok {
		return nil, fmt.Errorf("read %s in %s: %w", path, id, fs.ErrNotExist)
	}
	return []byte(data[:min(len(data), limit)]), nil
}

// Kill ends a running container's process with code, as a crash would.
func (r *Runtime) Kill(id string, code int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.cs[id]
	if !ok {
		return fmt.Errorf("kill %s: %w", id, cell.ErrNotFound)
	}
	if c.running() {
		c.end(code)
	}
	return nil
}

// Starts counts the containers started so far.
func (r *Runtime) Starts() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.starts
}

// Spec returns the spec a container was started with.
func (r *Runtime) Spec(id string) (cell.ContainerSpec, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.cs[id]
	if !ok {
		return cell.ContainerSpec{}, false
	}
	return c.spec, true
}
