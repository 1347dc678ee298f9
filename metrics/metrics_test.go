package metrics

import (
	"errors"
	"io"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cellsync/cellsync/sync/workqueue"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The adapter must fit the queue's interface.
var _ workqueue.Metrics = (*Queue)(nil)

func newHub(t *testing.T) (*Hub, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	h, err := NewHub(reg)
	if err != nil {
		t.Fatal(err)
	}
	return h, reg
}

func TestHubNamesFollowConventions(t *testing.T) {
	h, reg := newHub(t)
	// Touch every vector so that it appears in Gather.
	q := h.Queue("fanout")
	q.Depth(1)
	q.Added()
	q.Retried()
	q.Done(time.Millisecond)
	q.Workers(8)
	h.Reconciled("fanout", ResultSuccess)
	h.ResourcesApplied.WithLabelValues(ApplyChanged).Inc()
	h.ObserveEtcd("txn", time.Millisecond)
	h.SetCells(map[string]int{"ready": 1})
	h.SetActualLRPs(map[string]int{"RUNNING": 1})
	h.SetSync(false, "failed", "WriteFailed")
	h.IgnoredRecords.WithLabelValues("cells").Inc()

	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint %s: %s", p.Metric, p.Text)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) != 24 {
		t.Errorf("gathered %d metric families, want 24", len(mfs))
	}
	name := regexp.MustCompile(`^cellsync_[a-z]+_[a-z_]+$`)
	for _, mf := range mfs {
		if !name.MatchString(mf.GetName()) {
			t.Errorf("metric %q does not follow cellsync_<subsystem>_<name>_<unit>", mf.GetName())
		}
	}
}

func TestQueueAdapter(t *testing.T) {
	h, reg := newHub(t)
	fan, apply := h.Queue("fanout"), h.Queue("apply")
	if h.Queue("fanout") != fan {
		t.Error("Queue returned a new adapter for the same controller")
	}
	fan.Added()
	fan.Added()
	fan.Depth(2)
	fan.Depth(1)
	fan.Retried()
	fan.Done(300 * time.Microsecond)
	apply.Added()
	apply.Workers(32)

	tests := []struct {
		name string
		got  float64
		want float64
	}{
		{name: "fanout adds", got: testutil.ToFloat64(h.QueueAdds.WithLabelValues("fanout")), want: 2},
		{name: "apply adds", got: testutil.ToFloat64(h.QueueAdds.WithLabelValues("apply")), want: 1},
		{name: "fanout depth is the last value", got: testutil.ToFloat64(h.QueueDepth.WithLabelValues("fanout")), want: 1},
		{name: "fanout retries", got: testutil.ToFloat64(h.QueueRetries.WithLabelValues("fanout")), want: 1},
		{name: "apply workers", got: testutil.ToFloat64(h.QueueWorkers.WithLabelValues("apply")), want: 32},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}

	// Sub-millisecond work lands in a sub-millisecond bucket; a queue's
	// series exist, at zero, from the moment its adapter is made.
	want := `
# HELP cellsync_workqueue_work_duration_seconds Time of one handler run, per controller queue.
# TYPE cellsync_workqueue_work_duration_seconds histogram
cellsync_workqueue_work_duration_seconds_bucket{controller="apply",le="1e-05"} 0
cellsync_workqueue_work_duration_seconds_bucket{controller="apply",le="4e-05"} 0
cellsync_workqueue_work_duration_seconds_bucket{controller="apply",le="0.00016"} 0
cellsync_workqueue_work_duration_seconds_bucket{controller="apply",le="0.00064"} 0
cellsync_workqueue_work_duration_seconds_bucket{controller="apply",le="0.00256"} 0
cellsync_workqueue_work_duration_seconds_bucket{controller="apply",le="0.01024"} 0
cellsync_workqueue_work_duration_seconds_bucket{controller="apply",le="0.04096"} 0
cellsync_workqueue_work_duration_seconds_bucket{controller="apply",le="0.16384"} 0
cellsync_workqueue_work_duration_seconds_bucket{controller="apply",le="0.65536"} 0
cellsync_workqueue_work_duration_seconds_bucket{controller="apply",le="2.62144"} 0
cellsync_workqueue_work_duration_seconds_bucket{controller="apply",le="+Inf"} 0
cellsync_workqueue_work_duration_seconds_sum{controller="apply"} 0
cellsync_workqueue_work_duration_seconds_count{controller="apply"} 0
cellsync_workqueue_work_duration_seconds_bucket{controller="fanout",le="1e-05"} 0
cellsync_workqueue_work_duration_seconds_bucket{controller="fanout",le="4e-05"} 0
cellsync_workqueue_work_duration_seconds_bucket{controller="fanout",le="0.00016"} 0
cellsync_workqueue_work_duration_seconds_bucket{controller="fanout",le="0.00064"} 1
cellsync_workqueue_work_duration_seconds_bucket{controller="fanout",le="0.00256"} 1
cellsync_workqueue_work_duration_seconds_bucket{controller="fanout",le="0.01024"} 1
cellsync_workqueue_work_duration_seconds_bucket{controller="fanout",le="0.04096"} 1
cellsync_workqueue_work_duration_seconds_bucket{controller="fanout",le="0.16384"} 1
cellsync_workqueue_work_duration_seconds_bucket{controller="fanout",le="0.65536"} 1
cellsync_workqueue_work_duration_seconds_bucket{controller="fanout",le="2.62144"} 1
cellsync_workqueue_work_duration_seconds_bucket{controller="fanout",le="+Inf"} 1
cellsync_workqueue_work_duration_seconds_sum{controller="fanout"} 0.0003
cellsync_workqueue_work_duration_seconds_count{controller="fanout"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "cellsync_workqueue_work_duration_seconds"); err != nil {
		t.Error(err)
	}
}

func TestHubCounters(t *testing.T) {
	h, reg := newHub(t)
	h.Reconciled("fanout", ResultSuccess)
	h.Reconciled("fanout", ResultSuccess)
	h.Reconciled("convergence", ResultError)
	h.Wrote(3, 600)
	h.Wrote(1, 200)
	h.ObserveEtcd("txn", 2*time.Millisecond)
	h.ObserveEtcd("txn", 3*time.Millisecond)
	h.ObserveEtcd("get", time.Millisecond)

	want := `
# HELP cellsync_controller_reconcile_total Reconciles by controller and result (success, error, requeue, permanent_error).
# TYPE cellsync_controller_reconcile_total counter
cellsync_controller_reconcile_total{controller="convergence",result="error"} 1
cellsync_controller_reconcile_total{controller="fanout",result="success"} 2
# HELP cellsync_etcd_writes_total Keys written (puts and deletes) to etcd.
# TYPE cellsync_etcd_writes_total counter
cellsync_etcd_writes_total 4
# HELP cellsync_etcd_written_bytes_total Key and value bytes sent to etcd in writes.
# TYPE cellsync_etcd_written_bytes_total counter
cellsync_etcd_written_bytes_total 800
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"cellsync_controller_reconcile_total", "cellsync_etcd_writes_total", "cellsync_etcd_written_bytes_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(h.EtcdRequestDuration); n != 2 {
		t.Errorf("etcd request duration series = %d, want 2 (get, txn)", n)
	}
}

func TestSetStatesZeroesVanishedStates(t *testing.T) {
	tests := []struct {
		name  string
		steps []map[string]int
		want  map[string]float64
	}{
		{
			name:  "one report",
			steps: []map[string]int{{"ready": 3, "evacuating": 1}},
			want:  map[string]float64{"ready": 3, "evacuating": 1},
		},
		{
			name:  "state vanishes",
			steps: []map[string]int{{"ready": 3, "evacuating": 1}, {"ready": 4}},
			want:  map[string]float64{"ready": 4, "evacuating": 0},
		},
		{
			name:  "empty report zeroes all",
			steps: []map[string]int{{"ready": 3}, {}},
			want:  map[string]float64{"ready": 0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, _ := newHub(t)
			for _, s := range tt.steps {
				h.SetCells(s)
				h.SetActualLRPs(s)
			}
			for state, want := range tt.want {
				if got := testutil.ToFloat64(h.Cells.WithLabelValues(state)); got != want {
					t.Errorf("cells{state=%q} = %v, want %v", state, got, want)
				}
				if got := testutil.ToFloat64(h.ActualLRPs.WithLabelValues(state)); got != want {
					t.Errorf("actual_lrps{state=%q} = %v, want %v", state, got, want)
				}
			}
		})
	}
}

// TestSetSyncKeepsOneCondition: the condition gauge is 1 for the current
// condition only.
func TestSetSyncKeepsOneCondition(t *testing.T) {
	h, _ := newHub(t)
	h.SetSync(false, "progressing", "Applying")
	h.SetSync(false, "failed", "WriteFailed")
	h.SetSync(true, "ready", "Synced")
	for _, c := range []struct {
		state, reason string
		want          float64
	}{{"progressing", "Applying", 0}, {"failed", "WriteFailed", 0}, {"ready", "Synced", 1}} {
		if got := testutil.ToFloat64(h.Condition.WithLabelValues(c.state, c.reason)); got != c.want {
			t.Errorf("condition{%s,%s} = %v, want %v", c.state, c.reason, got, c.want)
		}
	}
	if got := testutil.ToFloat64(h.Synced); got != 1 {
		t.Errorf("synced = %v", got)
	}
}

func TestRegisterTwiceFails(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := NewHub(reg); err != nil {
		t.Fatal(err)
	}
	_, err := NewHub(reg)
	var are prometheus.AlreadyRegisteredError
	if !errors.As(err, &are) {
		t.Errorf("second NewHub = %v, want an AlreadyRegisteredError", err)
	}
}

func TestHandlerServesRegistry(t *testing.T) {
	reg := NewRegistry()
	h, err := NewHub(reg)
	if err != nil {
		t.Fatal(err)
	}
	h.Reconciled("apply", ResultSuccess)
	srv := httptest.NewServer(Handler(reg))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for _, want := range []string{
		`cellsync_controller_reconcile_total{controller="apply",result="success"} 1`,
		"go_goroutines",
		"process_resident_memory_bytes",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
