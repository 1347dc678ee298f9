package router_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/router"
	"github.com/cellsync/cellsync/store"
	"github.com/cellsync/cellsync/store/storetest"
)

// BenchmarkRouteUpdate measures how long an instance takes to become
// routable after its cell writes it RUNNING: from the start of the etcd
// write to the router's table holding its endpoint, through the real
// watch. Grid: how many instances the table already holds.
//
//	go test -run '^$' -bench BenchmarkRouteUpdate -benchmem ./router
func BenchmarkRouteUpdate(b *testing.B) {
	for _, existing := range []int{10, 1000} {
		b.Run(fmt.Sprintf("instances=%d", existing), func(b *testing.B) {
			st, _ := storetest.New(b)
			r, err := router.New(router.Config{}, router.Deps{Source: st})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); r.Run(ctx) }()
			defer func() { cancel(); <-done }()
			f := &fixture{t: b, st: st, rt: r}
			hosts := min(50, existing)
			var ops []store.Op
			for i := range existing {
				v, _ := store.Encode(model.Actual{Name: "bg", Index: int32(i), State: model.StateRunning, HealthySince: time.Now(),
					Ports:  []model.PortBinding{{Name: "http", Host: fmt.Sprintf("10.0.%d.%d:61000", i/250, i%250)}},
					Routes: []model.Route{{Host: fmt.Sprintf("bg%d.example", i%hosts), Port: "http"}}})
				ops = append(ops, store.Op{Key: store.ActualKey("c1", model.InstanceID(model.KindLRP, "bg", int32(i))), Value: v})
			}
			if _, err := st.Write(ctx, ops); err != nil {
				b.Fatal(err)
			}
			f.waitEndpoints("bg0.example", existing/hosts)

			lat := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				host := fmt.Sprintf("new%d.example", i)
				changed := r.Routes().Changed()
				t0 := time.Now()
				f.instance("c2", "web", int32(i), host, "127.0.0.1:1")
				for len(r.Routes().Load().Lookup(host)) == 0 {
					<-changed
					changed = r.Routes().Changed()
				}
				lat = append(lat, time.Since(t0))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
		})
	}
}
