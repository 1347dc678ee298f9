// Package logserver serves a cell's container output (package cell/logs)
// over HTTP to `cellsync logs`, at the address the cell publishes in its
// registration (model.Cell.LogsURL).
//
// With the cell's certificates it speaks mutual TLS with the fleet's CA and
// serves only the Readers identities (the hub and the operator's root): a
// cell's own identity is refused, so no cell reads another cell's logs.
// Without certificates it listens on loopback only, as `cellsync up` runs
// it, and refuses any other client.
//
// GET Path<instance ID> (/logs/LRP/web/0, /logs/Task/migrate-db) returns
// one JSON Line per line of output; ?tail=N, ?since=<RFC 3339>,
// ?previous=true and ?follow=true select as logs.Options and logs.Follow
// do. Start binds the listener, Run serves until its context ends.
//
//	srv, err := logserver.Start(logserver.Config{Root: filepath.Join(stateDir, "logs"), Listen: "127.0.0.1:0"})
//	cfg.LogsURL = srv.URL() // published by the agent
//	go srv.Run(ctx)
package logserver
