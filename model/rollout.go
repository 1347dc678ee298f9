package model

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	yaml "sigs.k8s.io/yaml/goyaml.v3"
)

// AnnotationPaused, set to "true" on an LRP or a SelectorSyncSet, stops its
// rollout where it stands: nothing more moves to the new version (nor back)
// until the annotation is removed or set to "false".
const AnnotationPaused = "cellsync.io/paused"

// Paused reports whether an object carries AnnotationPaused: "true".
func Paused(o Object) bool {
	return o.Head().Metadata.Annotations[AnnotationPaused] == "true"
}

// withoutRolloutFields returns o without an LRP's spec.update and without
// the pause annotation, copying only what it changes.
func withoutRolloutFields(o Object) Object {
	_, paused := o.Head().Metadata.Annotations[AnnotationPaused]
	lrp, isLRP := o.(*LRP)
	if !paused && (!isLRP || lrp.Spec.Update == nil) {
		return o
	}
	var c Object
	switch o := o.(type) {
	case *LRP:
		l := *o
		l.Spec.Update = nil
		c = &l
	case *Task:
		t := *o
		c = &t
	case *Config:
		cf := *o
		c = &cf
	case *SelectorSyncSet:
		s := *o
		c = &s
	default:
		return o
	}
	h := c.Head()
	if paused {
		a := make(map[string]string, len(h.Metadata.Annotations))
		for k, v := range h.Metadata.Annotations {
			if k != AnnotationPaused {
				a[k] = v
			}
		}
		if len(a) == 0 {
			a = nil
		}
		h.Metadata.Annotations = a
	}
	return c
}

// Rollout defaults, applied where a workload leaves a field out. They follow
// Kubernetes' Deployment (25% unavailable, 25% surge, 10-minute progress
// deadline) and Nomad's update block (10 s minimum healthy time), with one
// difference: at least one instance may be unavailable, so that a rollout
// with the defaults always progresses, also on a fleet with no room for a
// surge instance.
const (
	// DefaultMaxUnavailablePercent of an LRP's instances (rounded down, at
	// least 1) or of a set's matching cells (rounded down, at least 1) may
	// be changing at once.
	DefaultMaxUnavailablePercent = 25
	// DefaultMaxSurgePercent of an LRP's instances (rounded up) may run
	// beside them on the new version, where placement finds room.
	DefaultMaxSurgePercent = 25
	// DefaultMinHealthySeconds is how long a new instance must stay RUNNING
	// with its health check passing to count as healthy.
	DefaultMinHealthySeconds = 10
	// DefaultProgressDeadlineSeconds is how long a rollout may go without
	// one more instance (or cell) becoming healthy before it fails.
	DefaultProgressDeadlineSeconds = 600
)

// Rollout limits. They bound how long a rollout can take to notice a
// failure and how much work one workload can ask for.
const (
	// MaxMinHealthySeconds bounds minHealthySeconds: one hour.
	MaxMinHealthySeconds = 3600
	// MaxProgressDeadlineSeconds bounds progressDeadlineSeconds: one day.
	MaxProgressDeadlineSeconds = 86400
	// MaxPartitions bounds the partitions of a set's rollout.
	MaxPartitions = 16
	// MaxRolloutCells bounds a count of cells in a set's rollout.
	MaxRolloutCells = 100000
)

// Amount is a count (2) or a percentage of a total ("25%").
type Amount struct {
	// Value is the count, or the percentage when Percent is set.
	Value int32
	// Percent says Value is a percentage of the total.
	Percent bool
}

// Count returns an Amount of n.
func Count(n int32) *Amount { return &Amount{Value: n} }

// Percent returns an Amount of p percent.
func Percent(p int32) *Amount { return &Amount{Value: p, Percent: true} }

// Of resolves the amount against total, rounding a percentage up or down.
func (a Amount) Of(total int, roundUp bool) int {
	if !a.Percent {
		return int(a.Value)
	}
	n := int64(a.Value) * int64(total)
	if roundUp {
		return int((n + 99) / 100)
	}
	return int(n / 100)
}

// String returns "2" or "25%".
func (a Amount) String() string {
	if a.Percent {
		return strconv.Itoa(int(a.Value)) + "%"
	}
	return strconv.Itoa(int(a.Value))
}

// MarshalJSON encodes a count as a number and a percentage as "25%".
func (a Amount) MarshalJSON() ([]byte, error) {
	if a.Percent {
		return json.Marshal(a.String())
	}
	return json.Marshal(a.Value)
}

// UnmarshalJSON decodes what MarshalJSON writes.
func (a *Amount) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := parsePercent(s)
		if err != nil {
			return err
		}
		*a = Amount{Value: v, Percent: true}
		return nil
	}
	var n int32
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("amount: want a count or a percentage, got %s", b)
	}
	*a = Amount{Value: n}
	return nil
}

// parsePercent reads "25%".
func parsePercent(s string) (int32, error) {
	digits, ok := strings.CutSuffix(s, "%")
	if !ok || digits == "" || strings.TrimLeft(digits, "0123456789") != "" {
		return 0, fmt.Errorf("want a count (2) or a percentage (25%%), got %q", s)
	}
	v, err := strconv.ParseInt(digits, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("percentage %q out of range", s)
	}
	return int32(v), nil
}

// Update is an LRP's spec.update: how instances move from the running
// version to a new one. The hub replaces instances in place, index by index,
// within the budget, and only while the new ones turn healthy.
type Update struct {
	// MaxUnavailable is how many of the instances may be unavailable at
	// once (stopped, starting, or not yet healthy for MinHealthySeconds): a
	// count or a percentage of instances, rounded down. Default 25%, at
	// least 1; at most MaxInstances or 100%.
	MaxUnavailable *Amount `json:"maxUnavailable,omitempty"`
	// MaxSurge is how many new-version instances may run beside the
	// instances while the rollout lasts, where placement finds room: a
	// count or a percentage, rounded up. Default 25%; at most MaxInstances
	// or 100%. MaxUnavailable and MaxSurge cannot both be 0.
	MaxSurge *Amount `json:"maxSurge,omitempty"`
	// MinHealthySeconds is how long a new instance must stay RUNNING with
	// its health check passing to count as healthy. Default 10; at most
	// MaxMinHealthySeconds.
	MinHealthySeconds *int32 `json:"minHealthySeconds,omitempty"`
	// ProgressDeadlineSeconds fails the rollout when no instance has turned
	// healthy for that long. Default 600; more than MinHealthySeconds and
	// at most MaxProgressDeadlineSeconds.
	ProgressDeadlineSeconds *int32 `json:"progressDeadlineSeconds,omitempty"`
	// AutoRevert moves the instances back to the last version that was
	// healthy everywhere when the rollout fails. Default false: a failed
	// rollout stops where it stands.
	AutoRevert bool `json:"autoRevert,omitempty"`
	// Canary is the number of new-version instances started first, beside
	// the running ones; the rollout continues once they are healthy and
	// promoted. Default 0; at most MaxInstances.
	Canary int32 `json:"canary,omitempty"`
	// AutoPromote promotes healthy canaries by itself. Without it,
	// promotion is a commit that sets canary to 0, so Git stays the source
	// of truth.
	AutoPromote bool `json:"autoPromote,omitempty"`
}

// SetRollout is a SelectorSyncSet's spec.rollout: the order and pace at
// which its matching cells move to a new version of the set. Without it,
// every matching cell gets a change at once.
type SetRollout struct {
	// MaxUnavailable is how many cells may be changing at once (written,
	// and not yet applied with the set's LRPs healthy for
	// MinHealthySeconds): a count or a percentage of matching cells,
	// rounded down, at least 1. Default 25%; at most MaxRolloutCells or
	// 100%.
	MaxUnavailable *Amount `json:"maxUnavailable,omitempty"`
	// Partitions are rolled in order: a partition starts once every cell
	// of the ones before it is done. A cell belongs to the first partition
	// whose selector matches it; cells no partition matches come last. At
	// most MaxPartitions.
	Partitions []Partition `json:"partitions,omitempty"`
	// MinHealthySeconds is how long a changed cell's LRPs of the set must
	// be healthy for the cell to count as done. Default 10; at most
	// MaxMinHealthySeconds.
	MinHealthySeconds *int32 `json:"minHealthySeconds,omitempty"`
	// ProgressDeadlineSeconds fails the rollout when no cell has finished
	// for that long. Default 600; more than MinHealthySeconds and at most
	// MaxProgressDeadlineSeconds.
	ProgressDeadlineSeconds *int32 `json:"progressDeadlineSeconds,omitempty"`
	// AutoRevert returns the changed cells to the last version of the set
	// that was healthy everywhere when the rollout fails. Default false.
	AutoRevert bool `json:"autoRevert,omitempty"`
}

// Partition is one ordered group of a set's cells.
type Partition struct {
	// Name labels the partition in status; a DNS label, unique in the set.
	Name string `json:"name"`
	// Selector is a CEL expression over `cell`, like a set's selector.
	Selector string `json:"selector"`
}

var amountType = reflect.TypeOf(Amount{})

// amount decodes a count (an integer) or a percentage (a string "25%").
func (d *decoder) amount(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.ScalarNode {
		switch n.ShortTag() {
		case "!!int":
			i, err := strconv.ParseInt(n.Value, 0, 32)
			if err != nil {
				d.fail(n.Line, path, "integer %s out of range", n.Value)
				return
			}
			v.Set(reflect.ValueOf(Amount{Value: int32(i)}))
			return
		case "!!str":
			p, err := parsePercent(n.Value)
			if err != nil {
				d.fail(n.Line, path, "%v", err)
				return
			}
			v.Set(reflect.ValueOf(Amount{Value: p, Percent: true}))
			return
		}
	}
	d.fail(n.Line, path, "want a count (2) or a percentage (25%%), got %s", describe(n))
}
