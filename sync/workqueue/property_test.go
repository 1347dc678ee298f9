package workqueue

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// TestNoLostEvents drives the queue with concurrent adds, random handler
// failures and live resizes, and checks the queue's promise: every key's last
// Add is followed by a successful run that started after it, and no key ever
// runs twice at once.
func TestNoLostEvents(t *testing.T) {
	const keys, adders, addsEach = 40, 4, 1500
	q := New("test", Options{BaseDelay: 10 * time.Microsecond, MaxDelay: time.Millisecond})

	var mu sync.Mutex
	addSeq := make(map[string]int)   // bumped before each Add
	okSeq := make(map[string]int)    // addSeq seen at the start of the last successful run
	running := make(map[string]bool) // key → a run is under way
	var overlaps int
	rng := rand.New(rand.NewPCG(1, 2))

	start(t, q, 4, func(_ context.Context, key string) error {
		mu.Lock()
		if running[key] {
			overlaps++
		}
		running[key] = true
		seen := addSeq[key]
		fail := rng.IntN(4) == 0
		mu.Unlock()

		mu.Lock()
		defer mu.Unlock()
		running[key] = false
		if fail {
			return errors.New("transient")
		}
		okSeq[key] = seen
		return nil
	})

	var wg sync.WaitGroup
	for a := range adders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(a), 7))
			for i := range addsEach {
				key := fmt.Sprint("k", r.IntN(keys))
				mu.Lock()
				addSeq[key]++
				mu.Unlock()
				q.Add(key)
				if a == 0 && i%100 == 0 {
					q.Resize(1 + r.IntN(8))
				}
			}
		}()
	}
	wg.Wait()
	waitIdle(t, q)

	mu.Lock()
	defer mu.Unlock()
	if overlaps != 0 {
		t.Errorf("%d overlapping runs of one key", overlaps)
	}
	for key, seq := range addSeq {
		if okSeq[key] != seq {
			t.Errorf("%s: last Add was #%d but the last successful run started after #%d", key, seq, okSeq[key])
		}
	}
}
