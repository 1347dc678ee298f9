package router

import "fmt"

// Balance is how the proxy spreads a host's requests over its endpoints.
type Balance string

// Balancing strategies.
const (
	// RoundRobin takes the endpoints in turn. It is the default.
	RoundRobin Balance = "round-robin"
	// LeastOutstanding takes the endpoint with the fewest requests in
	// flight from this router, in turn among equals.
	LeastOutstanding Balance = "least-outstanding"
)

// ParseBalance reads a strategy name.
func ParseBalance(s string) (Balance, error) {
	switch b := Balance(s); b {
	case RoundRobin, LeastOutstanding:
		return b, nil
	case "":
		return RoundRobin, nil
	}
	return "", fmt.Errorf("balance %q: use %s or %s", s, RoundRobin, LeastOutstanding)
}

// pick chooses one of n endpoints (n > 0) and returns its index. turn is
// the host's request counter; skip is an endpoint to avoid (a retry's
// first choice), -1 for none; outstanding reports an endpoint's requests
// in flight (LeastOutstanding only). It is pure, so tables test it.
func pick(b Balance, n int, turn uint64, skip int, outstanding func(i int) int64) int {
	start := int(turn % uint64(n))
	if b != LeastOutstanding {
		i := start
		if i == skip && n > 1 {
			i = (i + 1) % n
		}
		return i
	}
	best, bestLoad := -1, int64(0)
	for k := range n {
		i := (start + k) % n
		if i == skip && n > 1 {
			continue
		}
		if load := outstanding(i); best < 0 || load < bestLoad {
			best, bestLoad = i, load
		}
	}
	return best
}
