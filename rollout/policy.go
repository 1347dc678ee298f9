package rollout

import (
	"time"

	"github.com/cellsync/cellsync/model"
)

// Policy is an LRP's spec.update with the defaults applied and the amounts
// resolved against its instance count.
type Policy struct {
	// MaxUnavailable is how many of the instances may be unavailable at
	// once because of the rollout.
	MaxUnavailable int
	// MaxSurge is how many extra new-version instances may run while the
	// rollout lasts.
	MaxSurge int
	// MinHealthy is how long an instance must be healthy to count as
	// available.
	MinHealthy time.Duration
	// ProgressDeadline fails a rollout that makes no progress that long.
	ProgressDeadline time.Duration
	AutoRevert       bool
	// Canary is the number of extra new-version instances started first.
	Canary      int
	AutoPromote bool
}

// LRPPolicy resolves u (nil: every default) for an LRP of n instances.
// A count is taken as it is; a percentage rounds down for maxUnavailable
// and up for maxSurge, as Kubernetes does. The default maxUnavailable is at
// least 1, so a default rollout progresses without room for surge
// instances; when explicit percentages round both to 0, maxUnavailable
// becomes 1, or the rollout could never start.
func LRPPolicy(u *model.Update, n int) Policy {
	if u == nil {
		u = &model.Update{}
	}
	p := Policy{
		MaxUnavailable:   max(1, model.Percent(model.DefaultMaxUnavailablePercent).Of(n, false)),
		MaxSurge:         model.Percent(model.DefaultMaxSurgePercent).Of(n, true),
		MinHealthy:       seconds(u.MinHealthySeconds, model.DefaultMinHealthySeconds),
		ProgressDeadline: seconds(u.ProgressDeadlineSeconds, model.DefaultProgressDeadlineSeconds),
		AutoRevert:       u.AutoRevert,
		Canary:           int(u.Canary),
		AutoPromote:      u.AutoPromote,
	}
	if u.MaxUnavailable != nil {
		p.MaxUnavailable = u.MaxUnavailable.Of(n, false)
	}
	if u.MaxSurge != nil {
		p.MaxSurge = u.MaxSurge.Of(n, true)
	}
	if p.MaxUnavailable == 0 && p.MaxSurge == 0 {
		p.MaxUnavailable = 1
	}
	return p
}

// SetPolicy is a SelectorSyncSet's spec.rollout with the defaults applied
// and maxUnavailable resolved against its matching cells.
type SetPolicy struct {
	// MaxUnavailable is how many cells may be changing at once; at least 1.
	MaxUnavailable   int
	MinHealthy       time.Duration
	ProgressDeadline time.Duration
	AutoRevert       bool
}

// SetPolicyOf resolves r for a set matching n cells; r must not be nil (a
// set without spec.rollout changes every cell at once and needs no
// rollout).
func SetPolicyOf(r *model.SetRollout, n int) SetPolicy {
	amount := model.Percent(model.DefaultMaxUnavailablePercent)
	if r.MaxUnavailable != nil {
		amount = r.MaxUnavailable
	}
	return SetPolicy{
		MaxUnavailable:   max(1, amount.Of(n, false)),
		MinHealthy:       seconds(r.MinHealthySeconds, model.DefaultMinHealthySeconds),
		ProgressDeadline: seconds(r.ProgressDeadlineSeconds, model.DefaultProgressDeadlineSeconds),
		AutoRevert:       r.AutoRevert,
	}
}

func seconds(v *int32, def int) time.Duration {
	if v == nil {
		return time.Duration(def) * time.Second
	}
	return time.Duration(*v) * time.Second
}
