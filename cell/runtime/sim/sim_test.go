package sim

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/cellsync/cellsync/cell"
)

func TestDefaultBehavior(t *testing.T) {
	tests := []struct {
		name string
		spec cell.ContainerSpec
		want Behavior
	}{
		{name: "lrp runs", spec: cell.ContainerSpec{Command: []string{"sleep", "9"}}, want: Behavior{}},
		{name: "task echoes its arguments", spec: cell.ContainerSpec{Labels: map[string]string{cell.LabelInstance: "Task/t"}, Command: []string{"echo", "a", "b"}}, want: Behavior{Exit: true, Output: "a b\n"}},
		{name: "exit code from env", spec: cell.ContainerSpec{Env: []string{EnvExit + "=3", EnvOutput + "=boom"}}, want: Behavior{Exit: true, Code: 3, Output: "boom"}},
		{name: "unhealthy", spec: cell.ContainerSpec{Env: []string{EnvUnhealthy + "=1"}}, want: Behavior{Unhealthy: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DefaultBehavior(tt.spec); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("DefaultBehavior = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestRuntime(t *testing.T) {
	ctx := context.Background()
	rt := New(nil)
	if err := rt.Start(ctx, cell.ContainerSpec{ID: "a", Labels: map[string]string{"k": "v"}}); err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(ctx, cell.ContainerSpec{ID: "a"}); err == nil {
		t.Fatal("second Start with the same ID succeeded")
	}
	if code, err := rt.Exec(ctx, "a", []string{"true"}); err != nil || code != 0 {
		t.Fatalf("Exec = %d, %v", code, err)
	}
	if err := rt.Kill("a", 9); err != nil {
		t.Fatal(err)
	}
	if e, err := rt.Wait(ctx, "a"); err != nil || e.Code != 9 {
		t.Fatalf("Wait = %+v, %v", e, err)
	}
	if _, err := rt.Exec(ctx, "a", []string{"true"}); err == nil {
		t.Fatal("Exec in an exited container succeeded")
	}
	cs, _ := rt.List(ctx)
	if len(cs) != 1 || cs[0].Running || cs[0].Labels["k"] != "v" {
		t.Fatalf("List = %+v", cs)
	}
	if err := rt.Stop(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Wait(ctx, "a"); !errors.Is(err, cell.ErrNotFound) {
		t.Fatalf("Wait after Stop: %v, want ErrNotFound", err)
	}
	if err := rt.Stop(ctx, "a"); err != nil {
		t.Fatalf("Stop of an unknown container: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	_ = rt.Start(ctx, cell.ContainerSpec{ID: "b"})
	cancel()
	if _, err := rt.Wait(cctx, "b"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait with a cancelled context: %v", err)
	}
}
