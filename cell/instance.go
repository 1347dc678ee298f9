package cell

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/cellsync/cellsync/model"
)

// crashReset is how long an instance must run for its crash count to start
// again from zero (Diego's rule).
const crashReset = 5 * time.Minute

// Health check defaults for fields a workload leaves at zero.
const (
	defaultCheckInterval  = 10 * time.Second
	defaultCheckTimeout   = time.Second
	defaultCheckThreshold = 3
)

// runner owns one instance (an LRP index or a Task) and its container, from
// start to removal, in one goroutine.
type runner struct {
	id      string // model.InstanceID
	cid     string // container ID
	version string
	isTask  bool
	cancel  context.CancelFunc
	done    chan struct{}
	// kill says that the container goes when the runner stops; otherwise
	// (Detach) it is left running for the next agent to adopt.
	kill atomic.Bool
	// reason says why a killed Task did not complete by itself.
	reason atomic.Pointer[string]
	// bump wakes an instance that stopped restarting after repeated crashes.
	bump    chan struct{}
	bumpRev int64
	// restarts is how many crashes the runner restarts at once, the hub's
	// policy; reconcile updates it when the hub's records change it.
	restarts atomic.Int64
	// ports are the instance's host port mappings, allocated at each start
	// (or reserved at adoption) and released at the next start or when the
	// runner ends.
	ports []PortMapping
}

// stop ends the runner; with kill its container is removed too. It does not
// wait: see runner.done.
func (r *runner) stop(kill bool, reason string) {
	r.kill.Store(kill)
	r.reason.Store(&reason)
	r.cancel()
}

// exitResult is what Runtime.Wait returned.
type exitResult struct {
	exit Exit
	err  error
}

// waitExit runs Runtime.Wait in a goroutine owned by the caller, who must
// call the returned stop function before returning.
func (a *Agent) waitExit(ctx context.Context, cid string) (<-chan exitResult, func()) {
	ctx, cancel := context.WithCancel(ctx)
	ch := make(chan exitResult, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		e, err := a.rt.Wait(ctx, cid)
		ch <- exitResult{exit: e, err: err}
	}()
	return ch, func() { cancel(); <-done }
}

// runLRP keeps one LRP instance running: start (or adopt), health-check,
// report, and restart after the first crashes. seed carries what a
// previous runner of the same instance and version reported: its crash
// count, restarts and last exit.
func (a *Agent) runLRP(ctx context.Context, r *runner, w lrpWant, adopted *Container, seed model.Actual) {
	defer close(r.done)
	base := model.Actual{Name: w.name, Index: w.index, Spec: w.hash, Version: w.version, Commit: w.commit, Restarts: seed.Restarts, LastExit: seed.LastExit}
	crashes := seed.CrashCount
	memoryMB := w.lrp.Spec.Needs().MemoryMB
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			base.Restarts++
		}
		var runningSince time.Time
		c, started := a.startLRP(ctx, r, w, base, adopted, crashes)
		adopted = nil
		if started {
			c, runningSince = a.monitor(ctx, r, w, base, crashes, memoryMB)
		}
		if ctx.Err() != nil {
			a.finish(r)
			return
		}
		if !runningSince.IsZero() && a.clock.Since(runningSince) >= crashReset {
			crashes = 0
		}
		crashes++
		a.m.crashes.Inc()
		a.log.Info("instance crashed", "cell", a.cfg.Name, "instance", r.id, "crashes", crashes, "exit", c.Code, "cause", c.Cause, "reason", c.Message)
		// A bump that arrived while the instance ran is not for this crash.
		select {
		case <-r.bump:
		default:
		}
		base.LastExit = &c
		act := base
		act.State, act.CrashCount = model.StateCrashed, crashes
		a.reportCrash(r, act)
		a.crashEvent(r.id, w.name, c, crashes)
		a.removeContainer(ctx, r.cid)
		if crashes <= int(r.restarts.Load()) {
			continue
		}
		select {
		case <-ctx.Done():
			a.finish(r)
			return
		case <-r.bump:
			a.log.Info("instance restart asked by the hub", "cell", a.cfg.Name, "instance", r.id)
		}
	}
}

// startLRP starts the instance's container, or adopts a running one; it
// returns false and the failure when no container runs.
func (a *Agent) startLRP(ctx context.Context, r *runner, w lrpWant, base model.Actual, adopted *Container, crashes int) (model.Exit, bool) {
	if adopted != nil {
		a.log.Info("adopt container", "cell", a.cfg.Name, "instance", r.id, "container", r.cid)
		return model.Exit{}, true
	}
	act := base
	act.State, act.CrashCount = model.StateClaimed, crashes
	a.rep.set(r.id, act)
	t0 := a.clock.Now()
	if err := a.allocatePorts(r, w.lrp.Spec.Ports); err != nil {
		return a.startFailure(fmt.Errorf("prepare container: %w", err)), false
	}
	spec, err := a.files.containerSpec(r.cid, a.labels(r), &w.lrp.Spec.Process, w.configs)
	if err != nil {
		return a.startFailure(fmt.Errorf("prepare container: %w", err)), false
	}
	spec.Ports = r.ports
	spec.Logs = a.logSpec(r.id)
	// A container left by an earlier run of this instance (crashed, or of
	// an older version) holds the ID.
	a.removeContainer(ctx, r.cid)
	if err := a.rt.Start(ctx, spec); err != nil {
		return a.startFailure(fmt.Errorf("start container: %w", err)), false
	}
	a.m.startLatency.Observe(a.clock.Since(t0).Seconds())
	a.startEvent(r.id, w.name, base.Restarts)
	return model.Exit{}, true
}

// monitor follows a started container until it exits, its health check
// fails too often, or ctx ends. It reports RUNNING once the container is
// healthy and returns when that was. HealthySince follows every check: set
// by a pass after a failure, cleared by a failure.
func (a *Agent) monitor(ctx context.Context, r *runner, w lrpWant, base model.Actual, crashes int, memoryMB int64) (model.Exit, time.Time) {
	exits, stopWait := a.waitExit(ctx, r.cid)
	defer stopWait()
	act := base
	act.ContainerID, act.CrashCount = r.cid, crashes
	ports, err := a.bindings(ctx, r)
	if err != nil {
		if ctx.Err() != nil {
			return model.Exit{}, time.Time{}
		}
		return a.startFailure(fmt.Errorf("container network: %w", err)), time.Time{}
	}
	act.Ports = ports
	if len(ports) > 0 {
		act.Routes = w.lrp.Spec.Routes
	}
	hc := healthCheckOf(&w.lrp.Spec)
	var runningSince time.Time
	running := func() {
		runningSince = a.clock.Now()
		act.State, act.HealthySince = model.StateRunning, runningSince.UTC()
		a.rep.set(r.id, act)
	}
	if hc == nil {
		running()
		select {
		case <-ctx.Done():
			return model.Exit{}, runningSince
		case res := <-exits:
			return a.exitOf(res, memoryMB), runningSince
		}
	}
	act.State = model.StateClaimed
	a.rep.set(r.id, act)
	interval, timeout, threshold := checkParams(hc)
	failures := 0
	next := time.Duration(0) // the first check runs at once
	for {
		t := a.clock.NewTimer(next)
		select {
		case <-ctx.Done():
			t.Stop()
			return model.Exit{}, runningSince
		case res := <-exits:
			t.Stop()
			return a.exitOf(res, memoryMB), runningSince
		case <-t.Chan():
		}
		next = interval
		err := a.check(ctx, r.cid, hc, w.lrp.Spec.NetworkMode(), timeout)
		if ctx.Err() != nil {
			return model.Exit{}, runningSince
		}
		if err == nil {
			failures = 0
			switch {
			case runningSince.IsZero():
				running()
			case act.HealthySince.IsZero():
				act.HealthySince = a.clock.Now().UTC()
				a.rep.set(r.id, act)
			}
			continue
		}
		failures++
		if !act.HealthySince.IsZero() {
			act.HealthySince = time.Time{}
			a.rep.set(r.id, act)
		}
		a.log.Debug("health check failed", "cell", a.cfg.Name, "instance", r.id, "failures", failures, "err", err)
		if failures >= threshold {
			return model.Exit{Code: -1, Cause: model.ExitHealthCheck, At: a.clock.Now().UTC(),
				Message: fmt.Sprintf("health check failed %d times: %v", failures, err)}, runningSince
		}
	}
}

func checkParams(hc *model.HealthCheck) (interval, timeout time.Duration, threshold int) {
	interval, timeout, threshold = defaultCheckInterval, defaultCheckTimeout, defaultCheckThreshold
	if hc.IntervalSeconds > 0 {
		interval = time.Duration(hc.IntervalSeconds) * time.Second
	}
	if hc.TimeoutSeconds > 0 {
		timeout = time.Duration(hc.TimeoutSeconds) * time.Second
	}
	if hc.FailureThreshold > 0 {
		threshold = hc.FailureThreshold
	}
	return interval, timeout, threshold
}

// errCheckFailed is a health check command that ran and failed.
var errCheckFailed = errors.New("health check command failed")

// check runs one health check with its timeout.
func (a *Agent) check(ctx context.Context, cid string, hc *model.HealthCheck, network string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if len(hc.Exec) > 0 {
		code, err := a.rt.Exec(ctx, cid, hc.Exec)
		if err != nil {
			return fmt.Errorf("exec %v: %w", hc.Exec, err)
		}
		if code != 0 {
			return fmt.Errorf("exec %v: %w with status %d", hc.Exec, errCheckFailed, code)
		}
		return nil
	}
	if network == model.NetworkNone {
		return fmt.Errorf("a container with network none has no port to check; use an exec check")
	}
	if h := hc.HTTP; h != nil {
		return a.rt.CheckHTTP(ctx, cid, h.Port, h.CheckPath())
	}
	if err := a.rt.CheckPort(ctx, cid, hc.TCPPort); err != nil {
		return fmt.Errorf("tcp check of port %d: %w", hc.TCPPort, err)
	}
	return nil
}

// removeContainer stops and removes a container, bounded by StopTimeout
// and carried out even when ctx has ended.
func (a *Agent) removeContainer(ctx context.Context, cid string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.StopTimeout)
	defer cancel()
	if err := a.rt.Stop(ctx, cid); err != nil {
		a.log.Warn("stop container", "cell", a.cfg.Name, "container", cid, "err", err)
	}
}

// finish ends a stopped LRP runner: with kill, its container, its actual
// state and (unless a new version replaces it) its output go; without, all
// stay for the next agent.
func (a *Agent) finish(r *runner) {
	defer a.releasePorts(r)
	if !r.kill.Load() {
		return
	}
	a.drain(r)
	a.removeContainer(context.Background(), r.cid)
	a.rep.remove(r.id)
	reason := ReasonRemoved
	if p := r.reason.Load(); p != nil && *p != "" {
		reason = *p
	}
	if reason != reasonReplaced {
		a.removeLogs(r.id)
	}
	a.event(model.Event{Type: model.EventInstanceStopped, Workload: workloadOf(r.id), Instance: r.id, Message: fmt.Sprintf("%s stopped: %s", r.id, reason)})
}

// labels are the container labels of a runner's instance.
func (a *Agent) labels(r *runner) map[string]string {
	l := map[string]string{LabelCell: a.cfg.Name, LabelInstance: r.id, LabelVersion: r.version}
	if len(r.ports) > 0 {
		l[LabelPorts] = portsLabel(r.ports)
	}
	return l
}
