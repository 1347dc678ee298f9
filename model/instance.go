package model

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// These types are the contract between the hub and the cells, stored in etcd
// under the keys of package store.
//
// The hub writes one Assignment per (cell, source) at desired/<cell>/<source>:
// what that source (a SelectorSyncSet, an LRP, a Task) asks the cell to run.
// Object bodies are content-addressed: an Item names its body by the SHA-256 of
// its encoding, stored once at specs/<hash> however many cells use it. When
// several sources carry the same object to one cell, the hub merges them and
// every Item for that object names the same merged body.

// Assignment is what one source asks one cell to run.
type Assignment struct {
	// Source is "<Kind>/<name>" of the workload that put the items here.
	Source string `json:"source"`
	// Commit is the Git commit at which the items last changed.
	Commit string `json:"commit"`
	// Upsert marks a record of an Upsert-mode SelectorSyncSet: the hub adds
	// and updates its items but never removes them, nor the record.
	Upsert bool `json:"upsert,omitempty"`
	// ImmediateRestarts is the crash-restart policy of the LRP instances
	// the record carries, set by the hub on every record with an LRP item:
	// the cell restarts a crashed instance itself for its first
	// ImmediateRestarts crashes, and after that only when the hub rewrites
	// the record (the hub's backoff). One number from one place, so the cell
	// and the hub cannot disagree and leave an instance crashed with nobody
	// restarting it. 0 (a record of an older hub) means
	// DefaultImmediateRestarts.
	ImmediateRestarts int    `json:"immediateRestarts,omitempty"`
	Items             []Item `json:"items"`
}

// DefaultImmediateRestarts is how many crashes of an LRP instance its cell
// restarts at once, Diego's figure.
const DefaultImmediateRestarts = 3

// Item is one object on a cell.
type Item struct {
	Kind Kind   `json:"kind"`
	Name string `json:"name"`
	// Spec is the hash of the object body at specs/<hash>.
	Spec string `json:"spec"`
	// Indexes are the LRP instance indexes this cell runs (LRPs only).
	Indexes []int32 `json:"indexes,omitempty"`
	// Configs, when not nil, pins the Config bodies the indexes mount, one
	// per configs reference of the LRP body, in the body's order; their
	// version is then InstanceVersion(Spec, Configs). During a rollout an
	// assignment names one LRP in several items, one per version, each
	// with its own Spec, Configs and Indexes. When nil, the instances mount
	// the cell's Config items of those names.
	Configs []MountedConfig `json:"configs,omitempty"`
}

// SpecHash returns the content address of an encoded object body.
func SpecHash(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// Marshal encodes v as compact JSON without escaping '<', '>' and '&'
// (encoding/json's default turns each into six bytes, so 200 KB of '<'
// would become 1.2 MB). Bodies and records are stored in etcd, never
// embedded in HTML, so there is nothing to escape them for.
func Marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	out := b.Bytes()
	return out[:len(out)-1], nil // Encode ends every value with a newline
}

// EncodeObject returns the canonical body of an object and its hash. The
// body leaves out what only paces a rollout (an LRP's spec.update, the
// pause annotation), so tuning or pausing a rollout changes no body and
// restarts nothing.
func EncodeObject(o Object) (body []byte, hash string, err error) {
	body, err = Marshal(withoutRolloutFields(o))
	if err != nil {
		return nil, "", fmt.Errorf("encode %s/%s: %w", o.Head().Kind, o.Head().Metadata.Name, err)
	}
	return body, SpecHash(body), nil
}

// DecodeObject parses a body written by EncodeObject.
func DecodeObject(body []byte) (Object, error) {
	var h Header
	if err := json.Unmarshal(body, &h); err != nil {
		return nil, fmt.Errorf("decode object: %w", err)
	}
	o := newObject(h.Kind)
	if o == nil || h.Kind == KindSelectorSyncSet {
		return nil, fmt.Errorf("decode object: kind %q cannot run on a cell", h.Kind)
	}
	if err := json.Unmarshal(body, o); err != nil {
		return nil, fmt.Errorf("decode %s %s: %w", h.Kind, h.Metadata.Name, err)
	}
	return o, nil
}

// InstanceID names one running unit on a cell: "LRP/<name>/<index>" or
// "Task/<name>". It is the last part of the cell's actual-state key.
func InstanceID(kind Kind, name string, index int32) string {
	if kind == KindLRP {
		return fmt.Sprintf("%s/%s/%d", kind, name, index)
	}
	return string(kind) + "/" + name
}

// ReportID is the actual-state key suffix of a cell's own report; it has no
// '/' so it never collides with an InstanceID.
const ReportID = "agent"

// ActualLRP states, after Diego's ActualLRP.
const (
	StateClaimed = "CLAIMED"
	StateRunning = "RUNNING"
	StateCrashed = "CRASHED"
)

// Actual is one LRP instance's state as its cell reports it, at
// actual/<cell>/<InstanceID>, under the cell's lease.
type Actual struct {
	Name  string `json:"name"`
	Index int32  `json:"index"`
	State string `json:"state"`
	// Spec is the body hash the instance runs.
	Spec string `json:"spec"`
	// Version is what the instance runs: InstanceVersion of its body and
	// the Configs it mounts.
	Version string `json:"version,omitempty"`
	// Commit is the Git commit of the assignment that carries Spec.
	Commit      string `json:"commit,omitempty"`
	ContainerID string `json:"containerID,omitempty"`
	// CrashCount counts crashes since the instance last ran for 5 minutes.
	CrashCount int `json:"crashCount,omitempty"`
	// Restarts counts the runs of this version after its first, on this
	// agent; unlike CrashCount it is never reset.
	Restarts int `json:"restarts,omitempty"`
	// HealthySince is when the instance last became healthy — RUNNING with
	// its health check passing, or RUNNING when it has no check — and zero
	// while it is not: a failed check clears it before the instance is
	// killed, so the hub can require minHealthySeconds of continuous health.
	HealthySince time.Time `json:"healthySince,omitzero"`
	// LastExit is how the instance's previous run ended, nil before the
	// first end: for a CRASHED instance, why it crashed.
	LastExit *Exit     `json:"lastExit,omitempty"`
	Since    time.Time `json:"since"`
	// Ports say where the instance's named ports are reachable.
	Ports []PortBinding `json:"ports,omitempty"`
	// Routes are the LRP's routes, copied here so that a router needs
	// nothing but actual state.
	Routes []Route `json:"routes,omitempty"`
	// Draining marks a RUNNING instance that its cell is about to stop:
	// routers stop sending it requests, and the cell waits its drain
	// period before the SIGTERM.
	Draining bool `json:"draining,omitempty"`
}

// Causes of an Exit.
const (
	// ExitExited: the process ended by itself (or by a signal from inside).
	ExitExited = "exited"
	// ExitOOMKilled: the kernel killed the process at its memory limit.
	ExitOOMKilled = "oom-killed"
	// ExitHealthCheck: the health check failed FailureThreshold times in a
	// row and the cell killed the instance.
	ExitHealthCheck = "health-check"
	// ExitImageNotFound: the image is neither on the cell nor pullable.
	ExitImageNotFound = "image-not-found"
	// ExitStartFailed: the container could not be created or started (a
	// Config that is not on the cell, ...).
	ExitStartFailed = "start-failed"
	// ExitKilled: the agent stopped it because the hub said so (removed,
	// replaced by a new version, the cell evacuated).
	ExitKilled = "killed"
	// ExitTimeout: a Task ran past its timeoutSeconds and was killed.
	ExitTimeout = "timeout"
	// ExitLost: the process's status could not be read.
	ExitLost = "lost"
)

// Exit is how one run of an instance or a Task ended.
type Exit struct {
	// Code is the exit status, 128+n for a process killed by signal n, or
	// -1 when there is none (the process never ran, or its status is lost).
	Code int `json:"code"`
	// Cause is one of the Exit* constants.
	Cause string `json:"cause"`
	// Message says it for people: "exited with status 3", "OOM-killed at
	// its 32 MiB memory limit", "health check failed 3 times: ...".
	Message string `json:"message"`
	// LimitMB is the memory limit an OOM-killed process hit, in MiB.
	LimitMB int64     `json:"limitMB,omitempty"`
	At      time.Time `json:"at"`
}

// StartFailed reports whether the run never started: the container could
// not be created or started, or its image is not there.
func (e *Exit) StartFailed() bool {
	return e != nil && (e.Cause == ExitStartFailed || e.Cause == ExitImageNotFound)
}

// CellReport is a cell agent's summary of itself, at actual/<cell>/agent.
type CellReport struct {
	// AppliedRevision is the etcd revision of the cell's desired prefix that
	// the agent has fully reconciled: the cell has applied a hub write once
	// this is at least that write's revision.
	AppliedRevision int64     `json:"appliedRevision"`
	Evacuating      bool      `json:"evacuating,omitempty"`
	Running         int       `json:"running"`
	Crashed         int       `json:"crashed"`
	Time            time.Time `json:"time"`
}

// Task states, after Diego's Task lifecycle.
const (
	TaskPending   = "PENDING"
	TaskRunning   = "RUNNING"
	TaskCompleted = "COMPLETED"
	TaskResolved  = "RESOLVED"
)

// MaxTaskResult bounds the result a Task records: the first bytes of its
// result file, or the last bytes of its output.
const MaxTaskResult = 4 << 10

// TaskRecord is a Task's lifecycle at tasks/<name>. Every transition is a
// compare-and-swap on the record's mod revision, which is what makes a Task
// run at most once: the hub creates it PENDING for one cell, that cell's
// claim (PENDING → RUNNING) succeeds once, and nothing moves it back.
type TaskRecord struct {
	Name   string `json:"name"`
	State  string `json:"state"`
	Cell   string `json:"cell"`
	Spec   string `json:"spec"`
	Commit string `json:"commit,omitempty"`
	// Started is when the cell claimed the Task (RUNNING).
	Started time.Time `json:"started,omitzero"`
	// Failed, ExitCode, Reason and Result are set when COMPLETED; Reason
	// names an OOM kill, a timeout or an unreadable result file.
	Failed   bool      `json:"failed,omitempty"`
	ExitCode int       `json:"exitCode,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	Result   string    `json:"result,omitempty"`
	Updated  time.Time `json:"updated"`
}
