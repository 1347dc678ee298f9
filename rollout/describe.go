package rollout

import (
	"fmt"
	"strings"
	"time"

	"github.com/cellsync/cellsync/model"
)

// DescribeLRP says, in one line for `cellsync plan`, how a new version of
// an LRP rolls out under its spec.update: "web: 6 instances, 1 at a time,
// canary 1 ...". A rollout that replaces every instance at once says so.
func DescribeLRP(o *model.LRP) string {
	n := int(o.Spec.Replicas())
	p := LRPPolicy(o.Spec.Update, n)
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", o.Metadata.Name, plural(n, "instance"))
	switch {
	case n == 0:
		b.WriteString(", nothing to replace")
		return b.String()
	case p.Canary == 0 && p.MaxUnavailable >= n:
		fmt.Fprintf(&b, ", EVERYTHING AT ONCE (maxUnavailable %d of %d: every instance stops before the new version is healthy)", p.MaxUnavailable, n)
	default:
		fmt.Fprintf(&b, ", %d at a time", min(p.MaxUnavailable, n))
		if p.MaxUnavailable == 0 {
			b.WriteString(" (none down: each replacement waits for a surge instance)")
		}
	}
	if p.MaxSurge > 0 {
		fmt.Fprintf(&b, ", %s beside them where there is room", plural(p.MaxSurge, "surge instance"))
	}
	if p.Canary > 0 {
		fmt.Fprintf(&b, ", canary %d", p.Canary)
		if p.AutoPromote {
			b.WriteString(" promoted once healthy")
		} else {
			b.WriteString(" then waits for a commit setting canary: 0")
		}
	}
	b.WriteString(gates(p.MinHealthy, p.ProgressDeadline, p.AutoRevert, "instance"))
	if model.Paused(o) {
		b.WriteString(pausedNote)
	}
	return b.String()
}

// DescribeSet says, in one line, how a new version of a set reaches the
// cells it matches (cells of them, now).
func DescribeSet(s *model.SelectorSyncSet, cells int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", s.Metadata.Name, plural(cells, "cell"))
	r := s.Spec.Rollout
	if r == nil {
		b.WriteString(", EVERYTHING AT ONCE (no spec.rollout: every cell changes together)")
		return b.String()
	}
	p := SetPolicyOf(r, cells)
	if p.MaxUnavailable >= cells {
		fmt.Fprintf(&b, ", EVERYTHING AT ONCE (maxUnavailable %d of %d)", p.MaxUnavailable, cells)
	} else {
		fmt.Fprintf(&b, ", %d at a time", p.MaxUnavailable)
	}
	if len(r.Partitions) > 0 {
		names := make([]string, 0, len(r.Partitions)+1)
		for _, part := range r.Partitions {
			names = append(names, part.Name)
		}
		fmt.Fprintf(&b, ", partitions %s → the rest", strings.Join(names, " → "))
	}
	b.WriteString(gates(p.MinHealthy, p.ProgressDeadline, p.AutoRevert, "cell"))
	if model.Paused(s) {
		b.WriteString(pausedNote)
	}
	return b.String()
}

const pausedNote = "; PAUSED (" + model.AnnotationPaused + "): nothing moves until it is removed"

// gates describes the health gates and what a failure does.
func gates(minHealthy, deadline time.Duration, autoRevert bool, what string) string {
	failure := "stops on failure"
	if autoRevert {
		failure = "reverts on failure"
	}
	return fmt.Sprintf(", each %s healthy %s before the next, fails after %s without progress, %s", what, minHealthy, deadline, failure)
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// fill copies the record's state into a status.
func (s *Status) fill(r *Record) {
	s.Phase, s.Paused, s.Reason, s.Message = r.Phase, r.Paused, r.Reason, r.Message
	s.Commit, s.StableCommit = r.Target.Commit, r.Stable.Commit
}

// String is the rollout's one-line state for `cellsync status`:
// "progressing 3/6", "paused at 3/6", "failed at commit X (reason),
// running the version of commit Y", ...
func (s Status) String() string {
	progress := fmt.Sprintf("%d/%d", s.Updated, s.Total)
	failure := fmt.Sprintf("failed at commit %s (%s: %s)", shortCommit(s.Commit), s.Reason, s.Message)
	var line string
	switch {
	case s.Phase == Failed && s.StableCommit != "":
		line = failure + ", running the version of commit " + shortCommit(s.StableCommit) + " where it was not replaced"
	case s.Phase == Failed:
		line = failure
	case s.Phase == Reverting:
		line = fmt.Sprintf("reverting %s to commit %s: %s", progress, shortCommit(s.StableCommit), failure)
	case s.Phase == Reverted:
		line = failure + ", running the version of commit " + shortCommit(s.StableCommit)
	case s.Phase == Succeeded:
		line = fmt.Sprintf("succeeded %s at commit %s", progress, shortCommit(s.Commit))
	case s.Paused:
		line = "paused at " + progress
	case s.AwaitingPromotion:
		line = "canaries healthy at " + progress + ", awaiting promotion"
	default:
		line = "progressing " + progress
	}
	if s.Waiting != "" && (s.Phase == Progressing || s.Phase == Reverting) {
		line += " (" + s.Waiting + ")"
	}
	return line
}

func shortCommit(c string) string {
	if c == "" {
		return "(unknown)"
	}
	if len(c) > 8 {
		return c[:8]
	}
	return c
}
