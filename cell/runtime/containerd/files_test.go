package containerd_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cellsync/cellsync/cell"
	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/store/storetest"
)

// TestResultFileStaysInTheContainer reads Task result files from the
// container's filesystem after it exited: a file it wrote, and links that
// point out of it, which must not reach the host's files.
func TestResultFileStaysInTheContainer(t *testing.T) {
	rt := newRuntime(t)
	st, _ := storetest.New(t)
	h := hub{t, st}
	startAgent(t, st, rt, "result1", cell.Evacuate, t.TempDir())
	// A host file the links below point at: resolved on the host, they
	// would read it.
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("host secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	withResult := func(name, script string) *model.Task {
		o := task(name, "sh", "-c", script)
		o.Spec.ResultFile = "/tmp/result"
		return o
	}
	tests := []struct {
		task       *model.Task
		wantResult string
		wantReason string
	}{
		{task: withResult("written", "echo noise; printf 'the result' > /tmp/result"), wantResult: "the result"},
		{task: withResult("relative-escape", "busybox ln -s ../../../../../../../.."+secret+" /tmp/result"), wantReason: "result file /tmp/result: "},
		{task: withResult("absolute-escape", "busybox ln -s "+secret+" /tmp/result"), wantReason: "result file /tmp/result: "},
		{task: withResult("missing", "true"), wantReason: "result file /tmp/result: "},
	}
	for _, tt := range tests {
		t.Run(tt.task.Metadata.Name, func(t *testing.T) {
			name := tt.task.Metadata.Name
			h.createTask(name, "result1")
			h.assign("result1", "Task/"+name, model.Item{Kind: model.KindTask, Name: name, Spec: h.put(tt.task)})
			eventually(t, "completed", 30*time.Second, func() bool { return h.task(name).State == model.TaskCompleted })
			got := h.task(name)
			if got.Result != tt.wantResult || !strings.HasPrefix(got.Reason, tt.wantReason) || got.Failed != (tt.wantReason != "") {
				t.Fatalf("task = %+v", got)
			}
			if strings.Contains(got.Result, "host secret") {
				t.Fatalf("the result holds a host file: %q", got.Result)
			}
		})
	}
}
