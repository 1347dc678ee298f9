package hub

import (
	"fmt"
	"sync"

	"github.com/cellsync/cellsync/apply"
	"github.com/cellsync/cellsync/model"
)

// bodyCache knows which bodies are in etcd and holds the apply intents of
// the model's bodies, decoded once for merges. It keeps only what the
// current model uses (retain), so superseded bodies are freed. Safe for
// concurrent use; its lock is a leaf.
type bodyCache struct {
	mu sync.Mutex
	// inEtcd holds hashes known to be stored under specs/.
	inEtcd map[string]struct{}
	// model holds the current model's bodies; intents their decoded form.
	model   map[string][]byte
	intents map[string]*apply.Intent
}

func newBodyCache() *bodyCache {
	return &bodyCache{inEtcd: map[string]struct{}{}, intents: map[string]*apply.Intent{}}
}

func (b *bodyCache) stored(hash string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ok := b.inEtcd[hash]
	return ok
}

func (b *bodyCache) markStored(hash string) {
	b.mu.Lock()
	b.inEtcd[hash] = struct{}{}
	b.mu.Unlock()
}

// retain makes bodies the current model's and forgets everything else.
// A merged body forgotten here and named again is written again, once.
func (b *bodyCache) retain(bodies map[string][]byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.model = bodies
	for hash := range b.inEtcd {
		if _, ok := bodies[hash]; !ok {
			delete(b.inEtcd, hash)
		}
	}
	for hash := range b.intents {
		if _, ok := bodies[hash]; !ok {
			delete(b.intents, hash)
		}
	}
}

// intent returns the apply intent of a body of the current model.
func (b *bodyCache) intent(hash string) (*apply.Intent, error) {
	b.mu.Lock()
	in, ok := b.intents[hash]
	body, inModel := b.model[hash]
	b.mu.Unlock()
	if ok {
		return in, nil
	}
	if !inModel {
		return nil, fmt.Errorf("body %s is not in the desired model", shortHash(hash))
	}
	o, err := model.DecodeObject(body)
	if err != nil {
		return nil, err
	}
	if in, err = apply.FromObject(o); err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.intents[hash] = in
	b.mu.Unlock()
	return in, nil
}

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
