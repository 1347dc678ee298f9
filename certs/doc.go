// Package certs generates a development certificate authority and the
// certificates cellsync's processes use for mutual TLS with etcd: one server
// certificate for etcd (valid for localhost and 127.0.0.1 plus any names
// given) and one client certificate per identity ("hub", "cell-c1", ...),
// whose common name is the identity; the identities named in
// Options.Serving (cells, which serve their logs) may also serve TLS for the
// same host names as etcd. With etcd's client-certificate auth
// enabled, that common name is the etcd user, which is what per-identity
// etcd roles attach to.
//
//	files, err := certs.Generate("dev-certs", certs.Options{Clients: []string{"hub", "cell-c1"}})
//	// files.CA, files.Server, files.Clients["hub"] hold the PEM file paths.
//
// The keys are ECDSA P-256 and the certificates are valid for one year: this
// is for development and tests, not a production PKI.
package certs
