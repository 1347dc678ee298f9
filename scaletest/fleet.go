package scaletest

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cellsync/cellsync/cell"
	"github.com/cellsync/cellsync/cell/runtime/sim"
	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/store"
)

// member is one running cell agent.
type member struct {
	name   string
	agent  *cell.Agent
	cancel context.CancelFunc
	done   chan error
	dead   bool
}

// fleet runs the synthetic cells: adopted copies of one template cell, each
// a real agent on a simulated runtime.
type fleet struct {
	log     *slog.Logger
	clients []*store.Client
	members []*member
	// mu guards the members' dead flags, read by the checks while kill
	// and stop write them.
	mu sync.Mutex
}

// template returns the cell config of copy i: the template's capacity, a
// zone z0..z4 and labels that vary by copy.
func template(i int, ttl time.Duration) cell.Config {
	return cell.Config{
		Name: cellName(i),
		Zone: fmt.Sprintf("z%d", i%5),
		Labels: map[string]string{
			"template": "scaletest",
			"env":      []string{"prod", "staging"}[i%2],
			"rack":     fmt.Sprintf("r%02d", i%20),
		},
		Capacity: model.Capacity{MemoryMB: 16384, DiskMB: 65536, Containers: 100},
		Version:  "scaletest",
		LeaseTTL: ttl,
		// Detach: a cancelled agent leaves its lease to expire, as a cell
		// that dies does; nothing is evacuated.
		Shutdown: cell.Detach,
	}
}

// startFleet starts n agents spread over the given store clients.
func startFleet(ctx context.Context, n int, ttl time.Duration, clients []*store.Client, log *slog.Logger) (*fleet, error) {
	f := &fleet{log: log, clients: clients}
	for i := range n {
		a, err := cell.New(template(i, ttl), cell.Deps{Store: clients[i%len(clients)], Runtime: sim.New(nil), Logger: log})
		if err != nil {
			f.stop()
			return nil, fmt.Errorf("create cell %s: %w", cellName(i), err)
		}
		actx, cancel := context.WithCancel(ctx)
		m := &member{name: cellName(i), agent: a, cancel: cancel, done: make(chan error, 1)}
		go func() { m.done <- a.Run(actx) }()
		f.members = append(f.members, m)
	}
	return f, nil
}

// registered counts the agents that have registered.
func (f *fleet) registered() int {
	n := 0
	for _, m := range f.members {
		select {
		case <-m.agent.Registered():
			n++
		default:
		}
	}
	return n
}

// kill stops every step-th agent without evacuation and waits for them to
// return; it returns their names.
func (f *fleet) kill(step int) ([]string, error) {
	var killed []*member
	live := f.live()
	for i, m := range f.members {
		if i%step == step-1 && live[m.name] {
			m.cancel()
			killed = append(killed, m)
		}
	}
	var names []string
	for _, m := range killed {
		if err := <-m.done; err != nil {
			return names, fmt.Errorf("stop cell %s: %w", m.name, err)
		}
		f.mu.Lock()
		m.dead = true
		f.mu.Unlock()
		names = append(names, m.name)
	}
	return names, nil
}

// live returns the set of cells whose agents still run.
func (f *fleet) live() map[string]bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]bool, len(f.members))
	for _, m := range f.members {
		if !m.dead {
			out[m.name] = true
		}
	}
	return out
}

// stop cancels every agent and waits for all of them.
func (f *fleet) stop() {
	for _, m := range f.members {
		m.cancel()
	}
	for _, m := range f.members {
		f.mu.Lock()
		dead := m.dead
		f.mu.Unlock()
		if dead {
			continue
		}
		if err := <-m.done; err != nil {
			f.log.Warn("cell agent stopped with an error", "cell", m.name, "err", err)
		}
		f.mu.Lock()
		m.dead = true
		f.mu.Unlock()
	}
}
