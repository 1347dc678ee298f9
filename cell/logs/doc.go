// Package logs keeps what a cell's containers print, in bounded files, and
// reads it back for `cellsync logs` and for Task results.
//
// # What it owns
//
// One directory per instance under a root (InstanceDir): each start of the
// container is a new run, split into files of at most Limits.MaxFileBytes,
// of which the newest Limits.MaxFiles are kept; a new run removes every run
// but the one before it, which is how the output of a run that crashed
// stays readable (Options.Previous). An instance therefore never uses more
// than Limits.Cap bytes: 2 × MaxFiles × MaxFileBytes (32 MiB by default).
// Removing the directory is the caller's job (the agent does it when the
// instance leaves the cell).
//
// A file is a sequence of chunks: a header line "<time> <out|err> <n>"
// and the n bytes the driver read from one stream at once. The reader
// rebuilds lines, per stream, from the chunks.
//
// # The driver
//
// A Writer is fed by the log driver, a process the container runtime
// starts beside each container (RunDriver, started by containerd's shim
// through a "binary://" log URI with DriverArg and EncodeDriverArg's
// value). It reads the container's stdout and stderr pipes and writes
// whatever it reads at once, one chunk per read, so capture costs the
// container one pipe write and never waits for the agent: the driver is
// the shim's child and outlives an agent restart. When the container is
// deleted the shim closes the pipes and sends SIGTERM; the driver reads
// what is left and exits, so once the runtime has removed a container its
// output is complete on disk.
//
// # Reading
//
// Read returns one run's lines (Options: Previous, Since, Tail); Follow
// does the same and then emits new lines as they are written, moving on to
// the next run when the container starts again, until its context ends or
// the directory goes. Tail returns the last bytes of the newest run (a
// Task's result when it names no result file).
//
//	w, err := logs.Create(dir, logs.Limits{}, nil) // a new run, default limits
//	err = w.Write(logs.Stdout, []byte("hello\n"))
//	lines, err := logs.Read(dir, logs.Options{Tail: 10})
package logs
