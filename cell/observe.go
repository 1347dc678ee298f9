package cell

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/cellsync/cellsync/cell/logs"
	"github.com/cellsync/cellsync/model"
)

// What the agent tells operators about its instances: their output
// (package cell/logs, one directory per instance under StateDir/logs), how
// each run ended (model.Exit in the actual state) and events (package
// events).

// reasonReplaced stops an LRP instance whose new version starts at once:
// its output is kept, so that the old version's is the previous run.
const reasonReplaced = "replaced by a new version"

// ErrImageNotFound is returned by a Runtime's Start for an image that is
// neither on the cell nor pullable.
var ErrImageNotFound = errors.New("image not found")

// logSpec returns where an instance's output goes; nowhere without a state
// directory.
func (a *Agent) logSpec(id string) logs.Spec {
	if a.logsRoot == "" {
		return logs.Spec{}
	}
	dir, err := logs.InstanceDir(a.logsRoot, id)
	if err != nil {
		a.log.Warn("log directory", "cell", a.cfg.Name, "instance", id, "err", err)
		return logs.Spec{}
	}
	return logs.Spec{Dir: dir, Limits: a.cfg.Logs}
}

// removeLogs deletes an instance's output: it has left the cell.
func (a *Agent) removeLogs(id string) {
	if dir := a.logSpec(id).Dir; dir != "" {
		if err := os.RemoveAll(dir); err != nil {
			a.log.Warn("remove logs", "cell", a.cfg.Name, "instance", id, "err", err)
		}
	}
}

// gcLogs removes the output no runner owns: an LRP instance's at once (it
// left while no agent ran), a Task's once older than TaskLogRetention or
// beyond the newest maxTaskLogs. Called by the reconcile goroutine.
func (a *Agent) gcLogs() {
	if a.logsRoot == "" {
		return
	}
	dirs, err := logs.List(a.logsRoot)
	if err != nil {
		a.log.Warn("list logs", "cell", a.cfg.Name, "err", err)
		return
	}
	var tasks []logs.Instance
	for _, d := range dirs {
		if _, ok := a.runners[d.ID]; ok {
			continue
		}
		if strings.HasPrefix(d.ID, string(model.KindTask)+"/") && a.clock.Since(d.Modified) < a.cfg.TaskLogRetention {
			tasks = append(tasks, d)
			continue
		}
		a.removeLogs(d.ID)
	}
	sort.Slice(tasks, func(i, j int) bool { return tasks[i].Modified.After(tasks[j].Modified) })
	for _, d := range tasks[min(len(tasks), maxTaskLogs):] {
		a.removeLogs(d.ID)
	}
}

// event writes an event about this cell.
func (a *Agent) event(e model.Event) {
	e.Cell = a.cfg.Name
	a.ev.Emit(e)
}

// workloadOf returns the workload of an instance ID: "LRP/web" of
// "LRP/web/0", "Task/x" of "Task/x".
func workloadOf(id string) string {
	if rest, ok := strings.CutPrefix(id, string(model.KindLRP)+"/"); ok {
		if i := strings.LastIndexByte(rest, '/'); i >= 0 {
			return string(model.KindLRP) + "/" + rest[:i]
		}
	}
	return id
}

func (a *Agent) startEvent(id, lrp string, restarts int) {
	msg := id + " started"
	if restarts > 0 {
		msg = fmt.Sprintf("%s restarted (restart %d)", id, restarts)
	}
	a.event(model.Event{Type: model.EventInstanceStarted, Workload: string(model.KindLRP) + "/" + lrp, Instance: id, Message: msg})
}

func (a *Agent) crashEvent(id, lrp string, e model.Exit, crashes int) {
	typ := model.EventInstanceCrashed
	if e.Cause == model.ExitOOMKilled {
		typ = model.EventInstanceOOM
	}
	a.event(model.Event{Type: typ, Severity: model.SeverityWarning, Workload: string(model.KindLRP) + "/" + lrp, Instance: id,
		Message: fmt.Sprintf("%s crashed (%d in a row): %s", id, crashes, e.Message)})
}

// startFailure is the exit of a container that could not start.
func (a *Agent) startFailure(err error) model.Exit {
	cause := model.ExitStartFailed
	if errors.Is(err, ErrImageNotFound) {
		cause = model.ExitImageNotFound
	}
	return model.Exit{Code: -1, Cause: cause, Message: err.Error(), At: a.clock.Now().UTC()}
}

// exitOf says how a container's process ended; memoryMB is its limit.
func (a *Agent) exitOf(res exitResult, memoryMB int64) model.Exit {
	if res.err != nil {
		return model.Exit{Code: -1, Cause: model.ExitLost, Message: fmt.Sprintf("wait for container: %v", res.err), At: a.clock.Now().UTC()}
	}
	e := model.Exit{Code: res.exit.Code, Cause: model.ExitExited, Message: fmt.Sprintf("exited with status %d", res.exit.Code), At: res.exit.At.UTC()}
	if res.exit.OOMKilled {
		e.Cause, e.LimitMB = model.ExitOOMKilled, memoryMB
		e.Message = fmt.Sprintf("OOM-killed at its %d MiB memory limit (exit status %d)", memoryMB, res.exit.Code)
	}
	return e
}
