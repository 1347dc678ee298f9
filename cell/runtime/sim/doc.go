// Package sim is a simulated cell.Runtime: containers live in memory, start
// instantly and exit as their Behavior says. The agent drives it through the
// same code paths as a real runtime, which is what lets one process host the
// scale test's 1,000 synthetic cells.
//
// A container whose spec names a log directory writes its Behavior.Output
// there as one run of real log files (package cell/logs), so logs, Task
// results and previous runs work as on containerd; Behavior.OOMKilled and
// Behavior.Files play OOM kills and result files.
//
// A Runtime is created empty with New and used by one agent (or by a test
// that plays a crash with Kill). It owns no goroutine.
//
//	rt := sim.New(nil) // DefaultBehavior: env CELLSYNC_SIM_EXIT etc.
//	agent, err := cell.New(cfg, cell.Deps{Store: st, Runtime: rt})
package sim
