// Package routes derives the router's route table from actual state, with
// no I/O: a Builder takes instances' model.Actual one by one and makes
// Tables (host → endpoints of the RUNNING, healthy, not draining
// instances). A Table is never changed once built: every change yields a
// new one that shares the unchanged hosts' endpoint lists, and the router
// swaps it in atomically, as gorouter's route registry does, so a request
// reads one consistent table without a lock.
//
//	b := routes.NewBuilder()
//	b.Put("c1/LRP/web/0", actual) // every watch event
//	b.Delete("c1/LRP/web/1")
//	t := b.Table()                // publish
//	eps := t.Lookup("web.apps.internal")
package routes
