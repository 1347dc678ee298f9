package model

import "time"

// Event types: what happened. Cells write the instance, task and cell ones;
// the hub writes the commit, cell-lost and error ones.
const (
	EventCellJoined       = "CellJoined"
	EventCellEvacuating   = "CellEvacuating"
	EventCellLost         = "CellLost"
	EventCellLeft         = "CellLeft"
	EventInstanceStarted  = "InstanceStarted"
	EventInstanceCrashed  = "InstanceCrashed"
	EventInstanceOOM      = "InstanceOOMKilled"
	EventInstanceUnhealth = "InstanceUnhealthy"
	EventInstanceStopped  = "InstanceStopped"
	EventTaskRunning      = "TaskRunning"
	EventTaskCompleted    = "TaskCompleted"
	EventTaskFailed       = "TaskFailed"
	EventTaskEditIgnored  = "TaskEditIgnored"
	EventCommitSeen       = "CommitSeen"
	EventCommitApplied    = "CommitApplied"
	EventWorkloadError    = "WorkloadError"
	EventError            = "Error"
)

// Event severities.
const (
	SeverityInfo    = "info"
	SeverityWarning = "warning"
)

// MaxEventMessage bounds an event's message, in bytes; a longer one is cut.
const MaxEventMessage = 1024

// Event is one entry of the event log (package events), written by a cell
// under events/cells/<cell>/ or by the hub under events/hub/.
type Event struct {
	// Time is when it happened, UTC.
	Time time.Time `json:"time"`
	// Type is one of the Event* constants.
	Type     string `json:"type"`
	Severity string `json:"severity,omitempty"`
	// Workload is "<Kind>/<name>" when the event concerns one.
	Workload string `json:"workload,omitempty"`
	// Instance is the model.InstanceID when the event concerns one.
	Instance string `json:"instance,omitempty"`
	// Cell is the cell the event concerns (or that wrote it).
	Cell    string `json:"cell,omitempty"`
	Commit  string `json:"commit,omitempty"`
	Message string `json:"message"`
	// Source is the writer: "hub" or "cell/<name>"; set by the reader from
	// the key, never trusted from the value.
	Source string `json:"source,omitempty"`
}
