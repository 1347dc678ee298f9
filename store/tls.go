package store

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// TLSFiles name the PEM files of one side of mutual TLS: the CA that signs
// the other side's certificate, and this side's certificate and key.
type TLSFiles struct {
	CA, Cert, Key string
}

// Enabled reports whether any file is set.
func (f TLSFiles) Enabled() bool { return f.CA != "" || f.Cert != "" || f.Key != "" }

// ClientConfig loads a client's TLS configuration: it trusts only CA and
// presents Cert.
func (f TLSFiles) ClientConfig() (*tls.Config, error) {
	pool, pair, err := f.load()
	if err != nil {
		return nil, err
	}
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}

// ServerConfig loads a server's TLS configuration for mutual TLS: it
// presents Cert and accepts only clients with a certificate signed by CA.
func (f TLSFiles) ServerConfig() (*tls.Config, error) {
	pool, pair, err := f.load()
	if err != nil {
		return nil, err
	}
	return &tls.Config{ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}

func (f TLSFiles) load() (*x509.CertPool, tls.Certificate, error) {
	if f.CA == "" || f.Cert == "" || f.Key == "" {
		return nil, tls.Certificate{}, fmt.Errorf("TLS needs a CA, a certificate and a key (got ca=%q cert=%q key=%q)", f.CA, f.Cert, f.Key)
	}
	pem, err := os.ReadFile(f.CA)
	if err != nil {
		return nil, tls.Certificate{}, fmt.Errorf("TLS: read CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, tls.Certificate{}, fmt.Errorf("TLS: %s holds no PEM certificate", f.CA)
	}
	pair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, tls.Certificate{}, fmt.Errorf("TLS: load %s and %s: %w", f.Cert, f.Key, err)
	}
	return pool, pair, nil
}
