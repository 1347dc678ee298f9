package model

import "fmt"

// Validation of the rollout fields: an LRP's spec.update, a set's
// spec.rollout and the pause annotation. Every number has a maximum.

// pauseAnnotation checks the value of AnnotationPaused, so that a typo
// ("yes", "True") is an error rather than a rollout that does not pause.
func (v validator) pauseAnnotation(m *Meta, path string) {
	val, ok := m.Annotations[AnnotationPaused]
	if ok && val != "true" && val != "false" {
		v.fail(join(join(path, "annotations"), AnnotationPaused), `must be "true" or "false", got %q`, val)
	}
}

// update checks an LRP's spec.update; nested is true inside a
// SelectorSyncSet, whose spec.rollout paces its LRPs instead.
func (v validator) update(u *Update, path string, nested bool) {
	if nested {
		v.fail(path, "an LRP inside a SelectorSyncSet is rolled out by the set's spec.rollout; remove update")
		return
	}
	v.amount(u.MaxUnavailable, join(path, "maxUnavailable"), 0, MaxInstances)
	v.amount(u.MaxSurge, join(path, "maxSurge"), 0, MaxInstances)
	if u.MaxUnavailable != nil && u.MaxSurge != nil && u.MaxUnavailable.Value == 0 && u.MaxSurge.Value == 0 {
		v.fail(join(path, "maxSurge"), "maxUnavailable and maxSurge cannot both be 0: the rollout could never replace an instance")
	}
	v.deadlines(u.MinHealthySeconds, u.ProgressDeadlineSeconds, path)
	if u.Canary < 0 || u.Canary > MaxInstances {
		v.fail(join(path, "canary"), "must be between 0 and %d, got %d", MaxInstances, u.Canary)
	}
	if u.AutoPromote && u.Canary == 0 {
		v.fail(join(path, "autoPromote"), "promotes canaries, but canary is 0; set canary or remove autoPromote")
	}
}

// setRollout checks a SelectorSyncSet's spec.rollout.
func (v validator) setRollout(r *SetRollout, path string) {
	v.amount(r.MaxUnavailable, join(path, "maxUnavailable"), 1, MaxRolloutCells)
	v.deadlines(r.MinHealthySeconds, r.ProgressDeadlineSeconds, path)
	if len(r.Partitions) > MaxPartitions {
		v.fail(join(path, "partitions"), "at most %d partitions, got %d", MaxPartitions, len(r.Partitions))
	}
	seen := map[string]int{}
	for i, p := range r.Partitions {
		pp := fmt.Sprintf("%s.partitions[%d]", path, i)
		if err := checkName(p.Name); err != nil {
			v.fail(pp+".name", "%v", err)
		} else if j, dup := seen[p.Name]; dup {
			v.fail(pp+".name", "partition %q is already defined in partitions[%d]", p.Name, j)
		}
		seen[p.Name] = i
		switch {
		case p.Selector == "":
			v.fail(pp+".selector", "is required (a CEL expression over cell; the cells no partition matches come last)")
		case len(p.Selector) > maxSelectorLen:
			v.fail(pp+".selector", "is longer than %d characters", maxSelectorLen)
		}
	}
}

// amount checks a count against [minCount, maxCount] and a percentage
// against [minCount, 100].
func (v validator) amount(a *Amount, path string, minCount, maxCount int32) {
	switch {
	case a == nil:
	case a.Percent && (a.Value < minCount || a.Value > 100):
		v.fail(path, "must be between %d%% and 100%%, got %s", minCount, a)
	case !a.Percent && (a.Value < minCount || a.Value > maxCount):
		v.fail(path, "must be between %d and %d, got %s", minCount, maxCount, a)
	}
}

// deadlines checks minHealthySeconds and progressDeadlineSeconds, each
// against its range and the deadline against the minimum healthy time
// (defaults applied), which it must exceed or no rollout could succeed.
func (v validator) deadlines(minHealthy, deadline *int32, path string) {
	mh, dl := int32(DefaultMinHealthySeconds), int32(DefaultProgressDeadlineSeconds)
	ok := true
	if minHealthy != nil {
		mh = *minHealthy
		if mh < 0 || mh > MaxMinHealthySeconds {
			v.fail(join(path, "minHealthySeconds"), "must be between 0 and %d, got %d", MaxMinHealthySeconds, mh)
			ok = false
		}
	}
	if deadline != nil {
		dl = *deadline
		if dl < 1 || dl > MaxProgressDeadlineSeconds {
			v.fail(join(path, "progressDeadlineSeconds"), "must be between 1 and %d, got %d", MaxProgressDeadlineSeconds, dl)
			ok = false
		}
	}
	switch {
	case !ok || dl > mh:
	case deadline == nil:
		v.fail(join(path, "minHealthySeconds"), "must be less than progressDeadlineSeconds (default %d), got %d", dl, mh)
	default:
		v.fail(join(path, "progressDeadlineSeconds"), "must be more than minHealthySeconds (%d), got %d", mh, dl)
	}
}
