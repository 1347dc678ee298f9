// Package hubserver assembles and runs a complete hub process from its
// configuration: etcd (embedded when no endpoints are configured), the store
// client, the Git source, the hub reconciler and its event writer (package
// events, under events/hub/), the HTTP endpoints (/metrics, /status,
// /events — the event log as JSON, or as Server-Sent Events with
// ?follow=true — and /healthz on listen.metrics, loopback by default; the
// Git webhook, on its own listener only when signed; each bounded by
// Options.HTTPLimits) and live reload of the config
// file's worker counts. `cellsync hub`, `cellsync up` and `cellsync
// scaletest` all run a hub through it, so they exercise one code path.
//
//	srv, err := hubserver.Start(ctx, hubserver.Options{Config: cfg, ConfigPath: path, Logger: log})
//	if err != nil {
//		return err
//	}
//	return srv.Run(ctx) // until ctx ends; closes everything it opened
package hubserver
