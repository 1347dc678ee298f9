package routes

import (
	"fmt"
	"testing"
	"time"

	"github.com/cellsync/cellsync/model"
)

// BenchmarkBuilder measures one change to a table of n instances: Put and
// the new Table, which copies the host map and rebuilds the changed host.
func BenchmarkBuilder(b *testing.B) {
	for _, n := range []int{100, 10000} {
		b.Run(fmt.Sprintf("instances=%d", n), func(b *testing.B) {
			bl := NewBuilder()
			for i := range n {
				bl.Put(fmt.Sprintf("c/LRP/w/%d", i), model.Actual{State: model.StateRunning, HealthySince: time.Now(),
					Ports:  []model.PortBinding{{Name: "http", Host: fmt.Sprintf("h:%d", i)}},
					Routes: []model.Route{{Host: fmt.Sprintf("h%d.example", i%(n/10)), Port: "http"}}})
			}
			bl.Table()
			a := model.Actual{State: model.StateRunning, HealthySince: time.Now(), Ports: []model.PortBinding{{Name: "http", Host: "h:1"}}, Routes: []model.Route{{Host: "h1.example", Port: "http"}}}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				a.Ports[0].Host = fmt.Sprintf("h:%d", i)
				bl.Put("c/LRP/w/1", a)
				if len(bl.Table().Lookup("h1.example")) == 0 {
					b.Fatal("lost the host")
				}
			}
		})
	}
}
