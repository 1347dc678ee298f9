// Package config is the hub's configuration: its YAML file, defaults,
// validation and live reload.
//
// # The file
//
//	git:
//	  url: file:///srv/workloads     # required
//	  branch: main
//	  path: .
//	  pollInterval: 30s
//	  webhookSecretFile: ""
//	  auth: {usernameFile: "", passwordFile: "", sshKeyFile: ""}
//	  massDeleteFraction: 0.5
//	etcd: {endpoints: [], dialTimeout: 5s, maxTxnOps: 128}   # no endpoints: embedded etcd in dataDir, on a unix socket (TLS on etcd.listen with serverCertFile)
//	dataDir: ./cellsync-data
//	workers: {fanout: 8, apply: 32, convergence: 2}
//	resyncInterval: 10m
//	listen: {metrics: "127.0.0.1:9090", webhook: ":9091"}   # metrics: this machine only
//
// Durations are Go duration strings ("30s", "10m"); a bare number is an
// error, not nanoseconds. The comment of each field of Hub gives its unit
// and default.
//
// # Precedence
//
// Default, overlaid by the file, overlaid by flags, then Validate once:
// Load does the first three steps for a caller without flags; a caller with
// flags uses Read, sets the flagged fields (Workers is a flag.Value for
// "--workers fanout=8,apply=32"), then calls Validate and File.Locate.
// Unknown fields and wrong types are errors with their line; Validate's
// errors are *FieldError values naming the field, and the line once located.
//
// # Live reload
//
// Watch follows the file and hands each new valid config to a callback and
// each invalid one to another, the caller keeping its current config.
// Changed lists which fields differ, so that the hub applies what it can
// live (worker pool sizes) and logs the rest as needing a restart:
//
//	cfg, err := config.Load(path)
//	...
//	go config.Watch(ctx, path, func(next config.Hub) {
//		for _, f := range config.Changed(cfg, next) { log.Info("config changed", "field", f) }
//		fanout.Resize(next.Workers.Fanout)
//		cfg = next
//	}, func(err error) { log.Error("config rejected; keeping the current one", "err", err) })
//
// The package owns no goroutine outside Watch, which returns when its
// context ends.
package config
