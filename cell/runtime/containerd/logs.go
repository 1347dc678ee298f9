package containerd

import (
	"net/url"

	"github.com/containerd/containerd/cio"

	"github.com/cellsync/cellsync/cell/logs"
)

// logIO returns how a container's stdio is set up: through the log driver
// when spec names a directory, else discarded. The driver is started by
// the shim ("binary" log URI) with the read ends of the container's stdout
// and stderr pipes, so it outlives the agent and capture never waits on it.
func (r *Runtime) logIO(spec logs.Spec) cio.Creator {
	if spec.Dir == "" {
		return cio.NullIO
	}
	u := url.URL{Scheme: "binary", Path: r.cfg.LogDriver}
	// One query key: the shim passes each key and its value as arguments,
	// in map order, so a single pair keeps them in place.
	u.RawQuery = url.Values{logs.DriverArg: {logs.EncodeDriverArg(spec)}}.Encode()
	return cio.LogURI(&u)
}
