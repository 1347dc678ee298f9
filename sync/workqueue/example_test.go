package workqueue_test

import (
	"context"
	"fmt"

	"github.com/cellsync/cellsync/sync/workqueue"
)

// A burst of events for one key becomes one reconcile.
func Example() {
	q := workqueue.New("fanout", workqueue.Options{})
	for _, key := range []string{"lrp/web", "lrp/web", "config/agent", "lrp/web"} {
		q.Add(key)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		done <- q.Run(ctx, 1, func(_ context.Context, key string) error {
			fmt.Println("reconcile", key)
			return nil
		})
	}()
	if err := q.WaitIdle(context.Background()); err != nil {
		fmt.Println(err)
	}
	cancel()
	fmt.Println("run:", <-done)
	// Output:
	// reconcile lrp/web
	// reconcile config/agent
	// run: <nil>
}
