package ops

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
	"golang.org/x/sync/errgroup"

	"github.com/cellsync/cellsync/cell"
	"github.com/cellsync/cellsync/cell/imagebuild"
	"github.com/cellsync/cellsync/cell/logserver"
	ctrd "github.com/cellsync/cellsync/cell/runtime/containerd"
	"github.com/cellsync/cellsync/cell/runtime/sim"
	"github.com/cellsync/cellsync/config"
	"github.com/cellsync/cellsync/metrics"
	"github.com/cellsync/cellsync/model"
	"github.com/cellsync/cellsync/router"
	"github.com/cellsync/cellsync/sync/hub"
	"github.com/cellsync/cellsync/sync/hubserver"
)

// Runtimes of a Local installation.
const (
	RuntimeAuto       = ""
	RuntimeContainerd = "containerd"
	RuntimeSim        = "sim"
)

// Defaults of LocalConfig.
const (
	DefaultContainerdSocket = "/run/containerd/containerd.sock"
	DefaultBusybox          = "/bin/busybox"
	// BusyboxImage is the image repo-example runs; Local builds it from
	// the host's busybox-static and imports it into containerd.
	BusyboxImage = "cellsync.local/busybox:1"
)

// LocalConfig describes a whole installation in one process.
type LocalConfig struct {
	// Repo is the Git repository (URL or local path); empty creates one
	// in DataDir/repo from Example, or reuses the one created before.
	Repo string
	// Example is the directory a new repository is seeded from; default
	// the repo-example directory found by FindExample.
	Example string
	// Cells is the number of local cells; default 3.
	Cells int
	// Runtime is RuntimeContainerd, RuntimeSim or RuntimeAuto (containerd
	// when ContainerdSocket answers, else sim).
	Runtime string
	// ContainerdSocket is containerd's socket; default
	// DefaultContainerdSocket.
	ContainerdSocket string
	// Busybox is the busybox-static binary the local image is built from;
	// default DefaultBusybox.
	Busybox string
	// DataDir holds etcd, the Git mirror, the created repository and the
	// cells' state. Default config.Default().DataDir.
	DataDir string
	// Metrics is the listen address of /metrics and /status; default
	// "127.0.0.1:9090", or a free port when that one is taken.
	Metrics string
	// Router is the router's listen address; default ":8080", or a free
	// port when that one is taken.
	Router string
	// BridgePrefix names the cells' bridges (prefix + cell number);
	// default DefaultBridgePrefix.
	BridgePrefix string
	// Subnet is split among the cells' bridges; default
	// DefaultLocalSubnet.
	Subnet netip.Prefix
	// Ports is split among the cells as their host port ranges; default
	// DefaultLocalPorts.
	Ports cell.PortRange
}

// LocalDeps are a Local's collaborators.
type LocalDeps struct {
	// Logger receives the hub's and cells' logs; default discards.
	Logger *slog.Logger
	// Out receives the plain messages for the person who ran `up`: which
	// runtime, which repository, which port; default discards.
	Out io.Writer
}

// Local is a started installation: embedded etcd, hub and cell agents.
type Local struct {
	cfg      LocalConfig
	log      *slog.Logger
	srv      *hubserver.Server
	agents   []*cell.Agent
	router   *router.Router
	routerLn net.Listener
	bridges  []*ctrd.Runtime // removed once the cells have stopped
	logSrvs  []*logserver.Server
	closers  []func()
	runtime  string
	repo     string
	endpoint Target
}

// FindExample returns the repo-example directory in dir or the nearest of
// its parents.
func FindExample(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("find repo-example: %w", err)
	}
	for d := abs; ; d = filepath.Dir(d) {
		p := filepath.Join(d, "repo-example")
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			return p, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no repo-example directory in %s or its parents: run from a cellsync checkout, or pass --repo", dir)
		}
	}
}

// SeedRepo makes dir a Git repository (branch main) holding a copy of
// example, committed, unless dir already is a repository, which is reused.
// created reports which.
func SeedRepo(dir, example string) (created bool, err error) {
	if _, err := git.PlainOpen(dir); err == nil {
		return false, nil
	}
	if _, err := os.Stat(example); err != nil {
		return false, fmt.Errorf("seed repository: %w", err)
	}
	repo, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: "refs/heads/main"}})
	if err != nil {
		return false, fmt.Errorf("create repository in %s: %w", dir, err)
	}
	err = filepath.WalkDir(example, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(example, p)
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dir, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, rel), b, 0o644)
	})
	if err != nil {
		return false, fmt.Errorf("copy %s into %s: %w", example, dir, err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		return false, fmt.Errorf("seed repository: %w", err)
	}
	if err := wt.AddGlob("."); err != nil {
		return false, fmt.Errorf("seed repository: %w", err)
	}
	sig := &object.Signature{Name: "cellsync up", Email: "up@cellsync.local", When: time.Now()}
	if _, err := wt.Commit("Workloads from repo-example", &git.CommitOptions{Author: sig}); err != nil {
		return false, fmt.Errorf("seed repository: %w", err)
	}
	return true, nil
}

// freeAddr returns addr when it can be bound, else a free port on the same
// host; moved reports the switch.
func freeAddr(addr string) (string, bool, error) {
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		ln.Close()
		return addr, false, nil
	}
	host, _, _ := net.SplitHostPort(addr)
	ln, err = net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", false, fmt.Errorf("find a free port for metrics: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), true, nil
}

// StartLocal starts etcd and the hub and prepares the cells; Run runs them.
// On error, whatever was started is closed.
func StartLocal(ctx context.Context, cfg LocalConfig, deps LocalDeps) (_ *Local, err error) {
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	out := deps.Out
	if out == nil {
		out = io.Discard
	}
	if cfg.Cells == 0 {
		cfg.Cells = 3
	}
	if cfg.Cells < 1 {
		return nil, fmt.Errorf("--cells %d: need at least one cell", cfg.Cells)
	}
	if cfg.DataDir == "" {
		cfg.DataDir = config.Default().DataDir
	}
	if cfg.ContainerdSocket == "" {
		cfg.ContainerdSocket = DefaultContainerdSocket
	}
	if cfg.Busybox == "" {
		cfg.Busybox = DefaultBusybox
	}
	if cfg.Metrics == "" {
		cfg.Metrics = "127.0.0.1:9090"
	}
	if cfg.Router == "" {
		cfg.Router = DefaultRouter
	}
	if cfg.BridgePrefix == "" {
		cfg.BridgePrefix = DefaultBridgePrefix
	}
	if !cfg.Subnet.IsValid() {
		cfg.Subnet = netip.MustParsePrefix(DefaultLocalSubnet)
	}
	if cfg.Ports == (cell.PortRange{}) {
		cfg.Ports = DefaultLocalPorts
	}
	nets, err := SplitNetworks(cfg.BridgePrefix, cfg.Subnet, cfg.Ports, max(cfg.Cells, 1))
	if err != nil {
		return nil, err
	}
	if cfg.DataDir, err = filepath.Abs(cfg.DataDir); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	l := &Local{cfg: cfg, log: deps.Logger, repo: cfg.Repo}
	defer func() {
		if err != nil {
			if l.srv != nil {
				// Run on an ended context closes what Start opened.
				done, cancel := context.WithCancel(context.Background())
				cancel()
				_ = l.srv.Run(done)
			}
			l.close()
		}
	}()

	if l.repo == "" {
		if cfg.Example == "" {
			wd, err := os.Getwd()
			if err != nil {
				return nil, fmt.Errorf("find repo-example: %w", err)
			}
			if cfg.Example, err = FindExample(wd); err != nil {
				return nil, err
			}
		}
		l.repo = filepath.Join(cfg.DataDir, "repo")
		created, err := SeedRepo(l.repo, cfg.Example)
		if err != nil {
			return nil, err
		}
		if created {
			fmt.Fprintf(out, "repository: created %s from %s (branch main)\n", l.repo, cfg.Example)
		} else {
			fmt.Fprintf(out, "repository: reusing %s (branch main)\n", l.repo)
		}
	} else {
		fmt.Fprintf(out, "repository: %s\n", l.repo)
	}

	newRuntime, err := l.chooseRuntime(ctx, out)
	if err != nil {
		return nil, err
	}

	addr, moved, err := freeAddr(cfg.Metrics)
	if err != nil {
		return nil, err
	}
	if moved {
		fmt.Fprintf(out, "metrics: %s is taken; using %s instead\n", cfg.Metrics, addr)
	}
	hcfg := config.Default()
	hcfg.Git.URL = l.repo
	hcfg.DataDir = cfg.DataDir
	hcfg.Listen = config.Listen{Metrics: addr}
	if err := hcfg.Validate(); err != nil {
		return nil, err
	}
	reg := metrics.NewRegistry()
	if l.srv, err = hubserver.Start(ctx, hubserver.Options{Config: hcfg, Logger: deps.Logger, Registry: reg}); err != nil {
		return nil, err
	}
	l.endpoint = Target{Hub: hubURL(l.srv.MetricsAddr()), Etcd: l.srv.Endpoints()}

	if err := l.startRouter(out, reg); err != nil {
		return nil, err
	}

	zones := []string{"z1", "z2"}
	for i := range cfg.Cells {
		name := fmt.Sprintf("cell-%d", i+1)
		rt, err := newRuntime(name, nets[i])
		if err != nil {
			return nil, err
		}
		stateDir := filepath.Join(cfg.DataDir, "cells", name)
		// Each cell serves its containers' output on a loopback port of
		// its own, which it publishes: `cellsync logs` finds it there.
		ls, err := logserver.Start(logserver.Config{Root: filepath.Join(stateDir, "logs"), Listen: "127.0.0.1:0"})
		if err != nil {
			return nil, err
		}
		l.closers = append(l.closers, func() { ls.Close() })
		l.logSrvs = append(l.logSrvs, ls)
		a, err := cell.New(cell.Config{
			Name: name, Zone: zones[i%len(zones)], Labels: map[string]string{"env": "prod"},
			Capacity: model.Capacity{MemoryMB: 4096, DiskMB: 20480, Containers: 50},
			Version:  "up",
			StateDir: stateDir,
			LogsURL:  ls.URL(),
			// Every cell stops at once: nowhere to evacuate to, so do not wait long.
			EvacuationTimeout: time.Second,
			StopTimeout:       5 * time.Second,
			Address:           "127.0.0.1",
			PortRange:         nets[i].Ports,
			DrainPeriod:       time.Second,
		}, cell.Deps{Store: l.srv.Store(), Runtime: rt, Logger: deps.Logger, Registerer: reg})
		if err != nil {
			return nil, err
		}
		l.agents = append(l.agents, a)
	}
	return l, nil
}

// chooseRuntime picks the runtime, says which and why, and returns a
// constructor of one runtime per cell.
func (l *Local) chooseRuntime(ctx context.Context, out io.Writer) (func(cell string, n CellNet) (cell.Runtime, error), error) {
	simRuntime := func(string, CellNet) (cell.Runtime, error) { return sim.New(nil), nil }
	switch l.cfg.Runtime {
	case RuntimeSim:
		l.runtime = RuntimeSim
		fmt.Fprintln(out, "runtime: simulated (--runtime sim): containers are pretend, nothing runs on this machine")
		return simRuntime, nil
	case RuntimeContainerd, RuntimeAuto:
	default:
		return nil, fmt.Errorf("--runtime %q: use containerd or sim", l.cfg.Runtime)
	}
	sock := l.cfg.ContainerdSocket
	var probe *ctrd.Runtime
	// A missing socket fails at once; dialling it would wait for the
	// client's connect timeout.
	_, err := os.Stat(sock)
	if err == nil {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		probe, err = ctrd.New(cctx, ctrd.Config{Address: sock})
		cancel()
	} else {
		err = fmt.Errorf("no containerd socket at %s", sock)
	}
	if err != nil {
		if l.cfg.Runtime == RuntimeContainerd {
			return nil, fmt.Errorf("--runtime containerd: %w: start containerd, pass --containerd-socket, or use --runtime sim", err)
		}
		l.runtime = RuntimeSim
		fmt.Fprintf(out, "runtime: simulated, because %v; containers are pretend.\n"+
			"         For real containers: start containerd (as root), or pass --containerd-socket.\n", err)
		return simRuntime, nil
	}
	l.closers = append(l.closers, func() { probe.Close() })
	l.runtime = RuntimeContainerd
	fmt.Fprintf(out, "runtime: containerd at %s\n", sock)
	var buf bytes.Buffer
	if err := imagebuild.Busybox(&buf, BusyboxImage, l.cfg.Busybox); err != nil {
		fmt.Fprintf(out, "image: cannot build %s (%v); repo-example's workloads will not start: apt-get install busybox-static\n", BusyboxImage, rootCause(err))
	} else if _, err := probe.Import(ctx, &buf); err != nil {
		return nil, fmt.Errorf("import %s into containerd: %w", BusyboxImage, err)
	} else {
		fmt.Fprintf(out, "image: imported %s (from %s)\n", BusyboxImage, l.cfg.Busybox)
	}
	return func(name string, n CellNet) (cell.Runtime, error) {
		rt, err := ctrd.New(ctx, ctrd.Config{
			Address: sock, StopGrace: 2 * time.Second,
			Bridge: ctrd.BridgeConfig{Name: n.Bridge, Subnet: n.Subnet, Dir: filepath.Join(l.cfg.DataDir, "cells", name, "network")},
		})
		if err != nil {
			return nil, err
		}
		l.closers = append(l.closers, func() { rt.Close() })
		l.bridges = append(l.bridges, rt)
		return rt, nil
	}, nil
}

func rootCause(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

// Runtime is the runtime the cells use: RuntimeContainerd or RuntimeSim.
func (l *Local) Runtime() string { return l.runtime }

// Repo is the Git repository the hub follows.
func (l *Local) Repo() string { return l.repo }

// Target is where the installation serves: the hub URL and etcd endpoints.
func (l *Local) Target() Target { return l.endpoint }

// Status is the hub's current status.
func (l *Local) Status() hub.Status { return l.srv.Hub.Status() }

// Run runs the hub and the cells until ctx ends, then stops the cells
// first (they evacuate and stop their containers) and the hub last. The
// endpoints file is written while it runs.
func (l *Local) Run(ctx context.Context) error {
	defer l.close()
	hubCtx, stopHub := context.WithCancel(context.Background())
	defer stopHub()
	hubDone := make(chan error, 1)
	go func() { hubDone <- l.srv.Run(hubCtx) }()
	if err := WriteUpFile(l.cfg.DataDir, l.endpoint); err != nil {
		stopHub()
		return errors.Join(err, <-hubDone)
	}
	defer RemoveUpFile(l.cfg.DataDir)

	// The router outlives the cells, so that draining instances are
	// routed away from, not cut off.
	routerCtx, stopRouter := context.WithCancel(context.Background())
	var rg errgroup.Group
	rg.Go(func() error { return l.router.Run(routerCtx) })
	rg.Go(func() error { return router.Serve(routerCtx, l.routerLn, l.router, nil) })
	defer func() {
		stopRouter()
		_ = rg.Wait()
		l.removeBridges()
	}()

	g, cellCtx := errgroup.WithContext(ctx)
	for _, a := range l.agents {
		g.Go(func() error { return a.Run(cellCtx) })
	}
	for _, ls := range l.logSrvs {
		g.Go(func() error { return ls.Run(cellCtx) })
	}
	var err error
	select {
	case err = <-hubDone:
		// The hub stopped on its own: stop the cells and report why.
		cellErr := g.Wait()
		return errors.Join(fmt.Errorf("hub stopped: %w", err), cellErr)
	case <-cellCtx.Done():
	}
	err = g.Wait()
	stopHub()
	return errors.Join(err, <-hubDone)
}

func (l *Local) close() {
	for i := len(l.closers) - 1; i >= 0; i-- {
		l.closers[i]()
	}
	l.closers = nil
}
