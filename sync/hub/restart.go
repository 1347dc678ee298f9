package hub

import "time"

// RestartPolicy is how crashed LRP instances restart, after Diego: the cell
// restarts an instance itself for its first ImmediateRestarts crashes;
// after that the hub rewrites the record that carries it after Backoff,
// doubling with every crash up to MaxBackoff, and gives up at MaxCrashes.
// A cell resets the count once an instance has run for 5 minutes.
//
// The hub is the one place the policy comes from: it writes
// ImmediateRestarts into every record that carries an LRP
// (model.Assignment.ImmediateRestarts), so the cell's immediate restarts
// and the hub's backoff always meet.
type RestartPolicy struct {
	// ImmediateRestarts is how many crashes the cell restarts at once.
	// Default 3 (model.DefaultImmediateRestarts); at most 100.
	ImmediateRestarts int
	// Backoff is the hub's first restart delay; default 30s.
	Backoff time.Duration
	// MaxBackoff caps the delay; default 16m.
	MaxBackoff time.Duration
	// MaxCrashes is the crash count at which the hub gives up; default 200.
	MaxCrashes int
}

// maxImmediateRestarts bounds RestartPolicy.ImmediateRestarts.
const maxImmediateRestarts = 100

func (p RestartPolicy) withDefaults() RestartPolicy {
	if p.ImmediateRestarts <= 0 {
		p.ImmediateRestarts = 3
	}
	p.ImmediateRestarts = min(p.ImmediateRestarts, maxImmediateRestarts)
	if p.Backoff <= 0 {
		p.Backoff = 30 * time.Second
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = 16 * time.Minute
	}
	if p.MaxCrashes <= 0 {
		p.MaxCrashes = 200
	}
	return p
}

// delay returns how long the hub waits before restarting an instance that
// crashed for the crashes-th time, and false when the cell restarts it
// itself or the hub has given up.
func (p RestartPolicy) delay(crashes int) (time.Duration, bool) {
	if crashes <= p.ImmediateRestarts || crashes >= p.MaxCrashes {
		return 0, false
	}
	d := p.Backoff
	for i := p.ImmediateRestarts + 1; i < crashes && d < p.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, p.MaxBackoff), true
}
