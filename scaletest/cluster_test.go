package scaletest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// etcdCluster is a cluster started by scripts/etcd-cluster.
type etcdCluster struct {
	dir       string
	endpoints []string
}

// startEtcdCluster starts a three-member cluster of Debian's etcd on free
// loopback ports with the repository's script. Without an etcd binary the
// test skips, unless CELLSYNC_REQUIRE_ETCD=1 (set by CI) makes it fail.
func startEtcdCluster(t *testing.T) *etcdCluster {
	t.Helper()
	if _, err := exec.LookPath("etcd"); err != nil {
		if os.Getenv("CELLSYNC_REQUIRE_ETCD") == "1" {
			t.Fatal("CELLSYNC_REQUIRE_ETCD=1 but there is no etcd binary: apt-get install -y etcd-server")
		}
		t.Skip("no etcd binary (apt-get install -y etcd-server)")
	}
	script, err := filepath.Abs("../scripts/etcd-cluster")
	if err != nil {
		t.Fatal(err)
	}
	c := &etcdCluster{dir: t.TempDir()}
	ports := freePorts(t, 6)
	join := func(ps []int) string {
		s := make([]string, len(ps))
		for i, p := range ps {
			s[i] = strconv.Itoa(p)
		}
		return strings.Join(s, ",")
	}
	out, err := exec.Command(script, "start", c.dir, "--client-ports", join(ports[:3]), "--peer-ports", join(ports[3:])).CombinedOutput()
	t.Cleanup(func() {
		if out, err := exec.Command(script, "stop", c.dir).CombinedOutput(); err != nil {
			t.Errorf("stop etcd cluster: %v\n%s", err, out)
		}
	})
	if err != nil {
		for i := range 3 {
			log, _ := os.ReadFile(filepath.Join(c.dir, fmt.Sprintf("m%d.log", i)))
			t.Logf("m%d.log:\n%s", i, log)
		}
		t.Fatalf("start etcd cluster: %v\n%s", err, out)
	}
	c.endpoints = strings.Split(strings.TrimSpace(string(out)), ",")
	return c
}

// freePorts returns n loopback ports that were free a moment ago. etcd
// cannot be handed a bound socket, so this is the narrowest window there is.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// killLeader sends SIGKILL to the member that leads the cluster and
// returns its name.
func (c *etcdCluster) killLeader(ctx context.Context) (string, error) {
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.endpoints, DialTimeout: 5 * time.Second})
	if err != nil {
		return "", err
	}
	defer cli.Close()
	members, err := cli.MemberList(ctx)
	if err != nil {
		return "", fmt.Errorf("list members: %w", err)
	}
	st, err := cli.Status(ctx, c.endpoints[0])
	if err != nil {
		return "", fmt.Errorf("member status: %w", err)
	}
	for _, m := range members.Members {
		if m.ID != st.Leader {
			continue
		}
		b, err := os.ReadFile(filepath.Join(c.dir, m.Name+".pid"))
		if err != nil {
			return "", err
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			return "", fmt.Errorf("pid file of %s: %w", m.Name, err)
		}
		return m.Name, syscall.Kill(pid, syscall.SIGKILL)
	}
	return "", fmt.Errorf("leader %x is not a member", st.Leader)
}

// TestRunEtcdClusterLeaderKilled runs the scale test against a real
// three-member etcd cluster and kills its leader with SIGKILL as soon as
// the hub's first per-cell write of the commit phase lands: the run must
// still end every phase with each cell holding exactly its desired
// assignments.
func TestRunEtcdClusterLeaderKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an etcd cluster")
	}
	c := startEtcdCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var killed string
	rep, err := Run(ctx, Options{
		Cells: 100, Sets: 10, Resources: 5, LRPs: 3, Instances: 8,
		EtcdEndpoints: c.endpoints, MaxTxnOps: 128,
		LeaseTTL: 3 * time.Second, PhaseTimeout: 2 * time.Minute, BaselineKeys: -1,
		WorkDir: t.TempDir(),
		KillDuringCommit: func() (err error) {
			killed, err = c.killLeader(ctx)
			return err
		},
	})
	if rep != nil {
		var b strings.Builder
		_ = rep.WriteTable(&b)
		t.Log(b.String())
	}
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if killed == "" {
		t.Fatal("no member was killed")
	}
	commit := rep.Phases[1]
	var at *Figure
	for i, f := range commit.Figures {
		if strings.HasPrefix(f.Name, "fault injected") {
			at = &commit.Figures[i]
		}
	}
	// The fault must land mid-commit: after the first write, before the last.
	if at == nil || at.Value < 1 || at.Value >= float64(100*10) {
		t.Fatalf("fault figure %+v: the leader (%s) was not killed in the middle of the commit", at, killed)
	}
	t.Logf("killed leader %s with %.0f per-cell keys stored", killed, at.Value)
}
