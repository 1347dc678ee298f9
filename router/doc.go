// Package router is cellsync's HTTP router: a reverse proxy in front of
// the RUNNING, healthy instances of LRPs, chosen by the request's Host
// among the hosts the LRPs list under routes.
//
// # What it owns
//
// Nothing in etcd: it only reads actual/<cell>/LRP/<name>/<index> (a
// model.Actual), which cells write. An instance is routable while it is
// RUNNING, healthy (HealthySince set: its last health check passed) and
// not Draining, for each route whose port it reports bound; its endpoint is the cell's address and the
// instance's host port. Several routers can run side by side: each builds
// the same table from the same keys.
//
// # The route table
//
// Package router/routes derives it, with no I/O: a Builder takes
// instances' actual state and makes immutable Tables, which Routes swaps in
// atomically (after gorouter's route registry), so a request reads one
// consistent table without a lock. watch.go feeds the Builder from etcd:
// List, then Watch from that revision, List again after a compaction.
//
// # The proxy
//
// Router.ServeHTTP looks the host up (an unknown host gets a 404 page
// naming it), and net/http/httputil's ReverseProxy forwards the request,
// WebSocket upgrades included, through a transport that balances (round
// robin, or least outstanding requests from this router) and retries an
// idempotent request without body once on another instance when the
// connection to the first was refused, or broke before a whole answer
// came (answers of up to 64 KiB to such requests are read whole before
// they are passed on). Serve accepts HTTP/1.1 and HTTP/2
// (h2c, or ALPN over TLS). Metrics per route: requests by status code, a
// latency histogram, upstream errors and retries.
//
// # Usage
//
//	rt, err := router.New(router.Config{Balance: router.RoundRobin},
//		router.Deps{Source: st, Logger: log, Registerer: reg})
//	go rt.Run(ctx) // follows etcd until ctx ends
//	err = router.Serve(ctx, ln, rt, nil)
package router
