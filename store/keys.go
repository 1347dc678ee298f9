package store

import "strings"

// Root prefixes every cellsync key; the version lets a future layout live
// beside this one during a migration.
const Root = "/cellsync/v1/"

// Key prefixes, each ending in '/'.
const (
	CellsPrefix   = Root + "cells/"
	DesiredPrefix = Root + "desired/"
	SpecsPrefix   = Root + "specs/"
	ActualPrefix  = Root + "actual/"
	TasksPrefix   = Root + "tasks/"
	StatusPrefix  = Root + "status/"
	// EventsPrefix holds the event log: one prefix per writer below it.
	EventsPrefix = Root + "events/"
	// HubEventsPrefix holds the hub's events.
	HubEventsPrefix = EventsPrefix + "hub/"
	// cellEventsPrefix holds one prefix per cell: see CellEventsPrefix.
	cellEventsPrefix = EventsPrefix + "cells/"
	// LeaderKey is the election prefix of the active hub.
	LeaderKey = Root + "locks/hub"
)

// CellKey is a cell's registration.
func CellKey(cell string) string { return CellsPrefix + cell }

// DesiredCellPrefix holds everything the hub wants one cell to run.
func DesiredCellPrefix(cell string) string { return DesiredPrefix + cell + "/" }

// DesiredKey is what one source asks of one cell: a model.Assignment at
// desired/<cell>/<source>, where source is "<Kind>/<name>" of the workload.
func DesiredKey(cell, source string) string { return DesiredCellPrefix(cell) + source }

// SpecKey is a content-addressed object body.
func SpecKey(hash string) string { return SpecsPrefix + hash }

// specKeyLen is the length of a SpecKey (a SHA-256 in hex).
const specKeyLen = len(SpecsPrefix) + 64

// MaxBodyBytes is the largest body one write can store at its SpecKey when
// a key and its value may carry maxOpBytes together.
func MaxBodyBytes(maxOpBytes int) int { return maxOpBytes - specKeyLen }

// DefaultMaxBodyBytes is MaxBodyBytes under the default request limit.
const DefaultMaxBodyBytes = DefaultMaxTxnBytes - specKeyLen

// ActualCellPrefix holds one cell's actual-state reports.
func ActualCellPrefix(cell string) string { return ActualPrefix + cell + "/" }

// ActualKey is one instance's actual state on a cell (a model.Actual at
// actual/<cell>/<model.InstanceID>), or the cell's own report (a
// model.CellReport at actual/<cell>/agent).
func ActualKey(cell, instance string) string { return ActualCellPrefix(cell) + instance }

// TaskKey is a Task's lifecycle record.
func TaskKey(task string) string { return TasksPrefix + task }

// CellEventsPrefix holds the events one cell writes.
func CellEventsPrefix(cell string) string { return cellEventsPrefix + cell + "/" }

// EventWriter returns who wrote an event key: "hub", "cell/<name>", or ""
// for a key of another shape.
func EventWriter(key string) string {
	if strings.HasPrefix(key, HubEventsPrefix) {
		return "hub"
	}
	rest, ok := strings.CutPrefix(key, cellEventsPrefix)
	cell, _, found := strings.Cut(rest, "/")
	if !ok || !found || cell == "" {
		return ""
	}
	return "cell/" + cell
}

// StatusKey is one hub status record.
func StatusKey(name string) string { return StatusPrefix + name }

// SplitCellKey returns the cell and the rest of a per-cell key under prefix
// (DesiredPrefix or ActualPrefix); ok is false for a key of another shape.
func SplitCellKey(prefix, key string) (cell, rest string, ok bool) {
	after, found := strings.CutPrefix(key, prefix)
	if !found {
		return "", "", false
	}
	cell, rest, ok = strings.Cut(after, "/")
	if !ok || cell == "" {
		return "", "", false
	}
	return cell, rest, true
}
