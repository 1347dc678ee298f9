package cell

import (
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cellsync/cellsync/cell/logs"
	"github.com/cellsync/cellsync/events"
	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/store"
)

// ShutdownMode says what Run does with the cell's work when its context ends.
type ShutdownMode int

const (
	// Evacuate marks the cell evacuating, waits up to EvacuationTimeout for
	// the hub to take the cell's LRPs away, stops every container and
	// revokes the lease. It is the default.
	Evacuate ShutdownMode = iota
	// Detach leaves containers running and the lease to expire, for an
	// in-place restart of the agent: the next agent adopts the containers.
	Detach
)

// Defaults of Config.
const (
	// DefaultLeaseTTL is the registration lease's time to live.
	DefaultLeaseTTL = 10 * time.Second
	// DefaultEvacuationTimeout bounds the wait for the hub during shutdown.
	DefaultEvacuationTimeout = 30 * time.Second
	// DefaultFlushInterval is the batching window of actual-state writes.
	DefaultFlushInterval = 50 * time.Millisecond
	// DefaultStopTimeout bounds stopping one container.
	DefaultStopTimeout = 10 * time.Second
	// DefaultRetryInterval is the pause before retrying a failed call.
	DefaultRetryInterval = time.Second
	// DefaultDrainPeriod is the wait between taking a routed instance out
	// of the routers and stopping it.
	DefaultDrainPeriod = 5 * time.Second
	// MaxDrainPeriod bounds DrainPeriod.
	MaxDrainPeriod = 10 * time.Minute
	// DefaultAddress is where the cell's host ports are reached by default.
	DefaultAddress = "127.0.0.1"
	// DefaultTaskLogRetention is how long a finished Task's output stays.
	DefaultTaskLogRetention = 24 * time.Hour
	// MaxTaskLogRetention bounds TaskLogRetention.
	MaxTaskLogRetention = 30 * 24 * time.Hour
	// maxTaskLogs is how many finished Tasks' output a cell keeps at most,
	// the newest, whatever their age.
	maxTaskLogs = 100
)

// Config describes one cell agent. A zero field takes the default named in
// its comment.
type Config struct {
	// Name is the cell's name, a DNS label. Required.
	Name string
	// Zone is the cell's failure domain; may be empty.
	Zone string
	// Labels are the cell's attributes for selectors.
	Labels map[string]string
	// Capacity is what the cell offers; every field must be > 0.
	Capacity model.Capacity
	// Version is the agent's version, registered with the cell.
	Version string
	// StateDir holds materialised Configs and, under logs/, the output of
	// every container (package cell/logs). Required when a workload mounts
	// a Config; without it output is discarded.
	StateDir string
	// Logs bounds the output kept per instance: Logs.MaxFiles files of
	// Logs.MaxFileBytes per run, and the run before the newest too; default
	// 2 × 8 MiB (see logs.Limits for the bounds).
	Logs logs.Limits
	// TaskLogRetention is how long the output of a Task that has left the
	// cell stays readable (it is removed at the first reconcile after
	// that; at most the newest 100 are kept); default 24h, at most 30 days.
	TaskLogRetention time.Duration
	// LogsURL is published in the cell's registration: where the cell's
	// log server (package cell/logserver) answers. Empty publishes none.
	LogsURL string
	// EventCapacity is how many events the cell keeps in its prefix of the
	// event log (package events); default events.DefaultCapacity, at most
	// events.MaxCapacity; negative writes no events.
	EventCapacity int
	// LeaseTTL is the registration lease's time to live; default 10s.
	LeaseTTL time.Duration
	// Shutdown is what happens to the cell's work when Run's context ends;
	// default Evacuate.
	Shutdown ShutdownMode
	// EvacuationTimeout bounds the wait for the hub to re-place the cell's
	// LRPs during an Evacuate shutdown; default 30s.
	EvacuationTimeout time.Duration
	// FlushInterval is how long actual-state changes are collected before
	// they are written in one batch; default 50ms.
	FlushInterval time.Duration
	// StopTimeout bounds stopping one container; default 10s.
	StopTimeout time.Duration
	// RetryInterval is the pause before retrying a failed etcd or runtime
	// call; default 1s.
	RetryInterval time.Duration
	// Address is the IP address at which other machines (routers) reach
	// the host ports of the cell's containers; default 127.0.0.1, right
	// only for a router on the same machine.
	Address string
	// PortRange is where host ports for LRP ports are allocated; default
	// 61000-61999. Cells sharing a machine need disjoint ranges, and no
	// process may listen in it: a mapped port takes every connection to
	// it, so keep it out of the ephemeral range (Linux: 32768-60999).
	PortRange PortRange
	// DrainPeriod is how long a routed instance keeps running after its
	// cell took it out of the routers and before SIGTERM; default 5s, at
	// most 10m; negative means no wait.
	DrainPeriod time.Duration
}

// Deps are the agent's collaborators.
type Deps struct {
	// Store is the etcd client. Required.
	Store *store.Client
	// Runtime runs the containers. Required.
	Runtime Runtime
	// Logger receives the agent's log; default discards.
	Logger *slog.Logger
	// Clock drives timers; default the real clock.
	Clock clockwork.Clock
	// Registerer receives the agent's metrics, labelled with the cell's
	// name; nil registers nothing.
	Registerer prometheus.Registerer
}

func (c *Config) validate() error {
	rec := model.Cell{Name: c.Name, Zone: c.Zone, Labels: c.Labels, Capacity: c.Capacity}
	if err := rec.Validate(); err != nil {
		return fmt.Errorf("cell config: %w", err)
	}
	if c.LeaseTTL == 0 {
		c.LeaseTTL = DefaultLeaseTTL
	}
	if c.LeaseTTL < time.Second {
		return fmt.Errorf("cell config: lease TTL %s is under 1s", c.LeaseTTL)
	}
	if c.EvacuationTimeout == 0 {
		c.EvacuationTimeout = DefaultEvacuationTimeout
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = DefaultFlushInterval
	}
	if c.StopTimeout == 0 {
		c.StopTimeout = DefaultStopTimeout
	}
	if c.RetryInterval == 0 {
		c.RetryInterval = DefaultRetryInterval
	}
	if c.Address == "" {
		c.Address = DefaultAddress
	}
	if _, err := netip.ParseAddr(c.Address); err != nil {
		return fmt.Errorf("cell config: address %q is not an IP address", c.Address)
	}
	if c.PortRange == (PortRange{}) {
		c.PortRange = PortRange{First: DefaultFirstPort, Last: DefaultLastPort}
	}
	if err := c.PortRange.check(); err != nil {
		return fmt.Errorf("cell config: %w", err)
	}
	if c.DrainPeriod == 0 {
		c.DrainPeriod = DefaultDrainPeriod
	}
	if c.DrainPeriod > MaxDrainPeriod {
		return fmt.Errorf("cell config: drain period %s is over %s", c.DrainPeriod, MaxDrainPeriod)
	}
	var err error
	if c.Logs, err = c.Logs.WithDefaults(); err != nil {
		return fmt.Errorf("cell config: %w", err)
	}
	if c.TaskLogRetention == 0 {
		c.TaskLogRetention = DefaultTaskLogRetention
	}
	if c.TaskLogRetention < 0 || c.TaskLogRetention > MaxTaskLogRetention {
		return fmt.Errorf("cell config: task log retention %s: must be between 0 and %s", c.TaskLogRetention, MaxTaskLogRetention)
	}
	if c.EventCapacity > events.MaxCapacity {
		return fmt.Errorf("cell config: event capacity %d: at most %d", c.EventCapacity, events.MaxCapacity)
	}
	if c.Shutdown != Evacuate && c.Shutdown != Detach {
		return fmt.Errorf("cell config: unknown shutdown mode %d", c.Shutdown)
	}
	return nil
}

func (d *Deps) validate() error {
	if d.Store == nil {
		return fmt.Errorf("cell deps: store is required")
	}
	if d.Runtime == nil {
		return fmt.Errorf("cell deps: runtime is required")
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Clock == nil {
		d.Clock = clockwork.NewRealClock()
	}
	return nil
}
