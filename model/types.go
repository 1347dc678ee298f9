package model

// APIVersion is the only apiVersion cellsync accepts.
const APIVersion = "cellsync.io/v1"

// Kind names a workload kind.
type Kind string

// The workload kinds.
const (
	KindLRP             Kind = "LRP"
	KindTask            Kind = "Task"
	KindConfig          Kind = "Config"
	KindSelectorSyncSet Kind = "SelectorSyncSet"
)

// ApplyMode says what a SelectorSyncSet does with resources it no longer
// carries or with cells that no longer match.
type ApplyMode string

const (
	// ApplyUpsert creates and updates resources on matching cells but never
	// removes anything. It is the default.
	ApplyUpsert ApplyMode = "Upsert"
	// ApplySync also removes resources dropped from the set and resources on
	// cells that stopped matching.
	ApplySync ApplyMode = "Sync"
)

// Source says where an object came from: file (slash-separated, relative to
// the repository path), zero-based document index and the line of its kind.
type Source struct {
	File string `json:"file"`
	Doc  int    `json:"doc"`
	Line int    `json:"line"`
}

// Meta is the metadata every object carries.
type Meta struct {
	// Name is a DNS label: lower-case letters, digits and '-', at most 63.
	Name string `json:"name"`
	// Labels are free-form key/value pairs for people and tools.
	Labels map[string]string `json:"labels,omitempty"`
	// Annotations carry instructions to cellsync itself, such as the
	// mass-deletion confirmation.
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Header is the part every object shares: apiVersion, kind, metadata and,
// not serialized, where it was read from.
type Header struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       Kind   `json:"kind"`
	Metadata   Meta   `json:"metadata"`
	Source     Source `json:"-"`
}

// Head returns the object's header.
func (h *Header) Head() *Header { return h }

// Object is any workload object.
type Object interface {
	Head() *Header
}

// newObject returns an empty object of a kind, or nil for an unknown kind.
func newObject(k Kind) Object {
	switch k {
	case KindLRP:
		return &LRP{}
	case KindTask:
		return &Task{}
	case KindConfig:
		return &Config{}
	case KindSelectorSyncSet:
		return &SelectorSyncSet{}
	}
	return nil
}

// Resources is what one instance of a workload needs from a cell.
type Resources struct {
	// MemoryMB is the memory limit in MiB; it must be > 0. Default 128.
	MemoryMB int64 `json:"memoryMB"`
	// DiskMB is the disk reservation in MiB; it must be > 0. Default 256.
	DiskMB int64 `json:"diskMB"`
}

// DefaultResources apply when a workload states no resources.
var DefaultResources = Resources{MemoryMB: 128, DiskMB: 256}

// ConfigRef makes a Config visible to a container: as files under MountPath
// (one file per key, mounted read-only), as environment variables, or both.
type ConfigRef struct {
	Name      string `json:"name"`
	MountPath string `json:"mountPath,omitempty"`
	Env       bool   `json:"env,omitempty"`
}

// HealthCheck is Diego's monitor action: an instance is RUNNING only once its
// check passes, and is killed as crashed after FailureThreshold failures.
// Exactly one of Exec, TCPPort and HTTP is set; TCPPort and HTTP reach the
// container's own address in bridge networking, 127.0.0.1 in host
// networking.
type HealthCheck struct {
	Exec             []string   `json:"exec,omitempty"`
	TCPPort          int        `json:"tcpPort,omitempty"`
	HTTP             *HTTPCheck `json:"http,omitempty"`
	IntervalSeconds  int        `json:"intervalSeconds,omitempty"`
	TimeoutSeconds   int        `json:"timeoutSeconds,omitempty"`
	FailureThreshold int        `json:"failureThreshold,omitempty"`
}

// Network modes of a container.
const (
	// NetworkBridge gives each container its own network namespace and
	// address on the cell's bridge, with ports mapped to host ports. It
	// is the default.
	NetworkBridge = "bridge"
	// NetworkHost shares the cell's network: the container reaches every
	// service on the cell, loopback included.
	NetworkHost = "host"
	// NetworkNone gives the container loopback only.
	NetworkNone = "none"
)

// Spread modes of an LRP.
const (
	SpreadZone = "zone"
	SpreadNone = "none"
)

// Process is what LRPs and Tasks have in common: what to run and where.
type Process struct {
	// Selector is a CEL expression over `cell`; empty matches every cell.
	Selector string `json:"selector,omitempty"`
	// Image is an OCI image reference.
	Image string `json:"image"`
	// Command overrides the image's entrypoint and arguments.
	Command []string          `json:"command,omitempty"`
	Env     map[string]string `json:"env,omitempty"`
	// Resources defaults to DefaultResources when omitted.
	Resources *Resources  `json:"resources,omitempty"`
	Configs   []ConfigRef `json:"configs,omitempty"`
	// Network is "bridge" (the default), "host" or "none".
	Network string `json:"network,omitempty"`
}

// Needs returns the resources one instance needs, defaults applied.
func (p *Process) Needs() Resources {
	if p.Resources == nil {
		return DefaultResources
	}
	return *p.Resources
}

// LRPSpec describes a long-running process.
type LRPSpec struct {
	Process `json:",inline"`
	// Instances is the number of instances to keep running; default 1.
	Instances *int32 `json:"instances,omitempty"`
	// Spread is "zone" (the default: balance instances across zones) or
	// "none".
	Spread      string       `json:"spread,omitempty"`
	HealthCheck *HealthCheck `json:"healthCheck,omitempty"`
	// Ports are the container ports the cell maps to host ports (bridge
	// networking only); at most MaxPorts.
	Ports []Port `json:"ports,omitempty"`
	// Routes are the router's hosts for this LRP; at most MaxRoutes.
	Routes []Route `json:"routes,omitempty"`
	// Update says how a new version replaces the running instances; see
	// Update for the defaults.
	Update *Update `json:"update,omitempty"`
}

// Replicas returns the desired instance count, default applied.
func (s *LRPSpec) Replicas() int32 {
	if s.Instances == nil {
		return 1
	}
	return *s.Instances
}

// LRP is a long-running process kept at N instances.
type LRP struct {
	Header `json:",inline"`
	Spec   LRPSpec `json:"spec"`
}

// TaskSpec describes a one-off unit of work.
type TaskSpec struct {
	Process `json:",inline"`
	// ResultFile is an absolute path inside the container whose first
	// MaxTaskResult bytes become the Task's result when it exits (Diego's
	// ResultFile); empty: the result is the tail of the Task's output.
	ResultFile string `json:"resultFile,omitempty"`
	// TimeoutSeconds bounds the run: a Task still running after it is
	// killed and completed as failed. 0 means no limit; at most
	// MaxTaskTimeoutSeconds.
	TimeoutSeconds int `json:"timeoutSeconds,omitempty"`
}

// Task runs at most once.
type Task struct {
	Header `json:",inline"`
	Spec   TaskSpec `json:"spec"`
}

// Config is named key/value data delivered to cells. A Config at the top of
// the repository reaches the cells that run a workload referencing it; a
// Config inside a SelectorSyncSet reaches every cell the set matches.
type Config struct {
	Header `json:",inline"`
	Data   map[string]string `json:"data,omitempty"`
}

// SetSpec is the body of a SelectorSyncSet.
type SetSpec struct {
	Selector string `json:"selector,omitempty"`
	// ResourceApplyMode is Upsert (default) or Sync.
	ResourceApplyMode ApplyMode `json:"resourceApplyMode,omitempty"`
	// Resources are Configs, LRPs and Tasks copied to every matching cell.
	Resources []Resource `json:"resources"`
	// Rollout paces a change across the matching cells; without it every
	// matching cell is changed at once.
	Rollout *SetRollout `json:"rollout,omitempty"`
}

// Mode returns the apply mode, default applied.
func (s *SetSpec) Mode() ApplyMode {
	if s.ResourceApplyMode == "" {
		return ApplyUpsert
	}
	return s.ResourceApplyMode
}

// SelectorSyncSet copies its resources to every cell its selector matches.
type SelectorSyncSet struct {
	Header `json:",inline"`
	Spec   SetSpec `json:"spec"`
}

// Resource is one entry of a SelectorSyncSet: exactly one of LRP, Task and
// Config is set after parsing.
type Resource struct {
	LRP    *LRP
	Task   *Task
	Config *Config
}

// Object returns the resource's object.
func (r Resource) Object() Object {
	switch {
	case r.LRP != nil:
		return r.LRP
	case r.Task != nil:
		return r.Task
	case r.Config != nil:
		return r.Config
	}
	return nil
}
