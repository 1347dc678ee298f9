package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Options say which certificates to make.
type Options struct {
	// Clients are the client identities, each a certificate's common name.
	Clients []string
	// Hosts are extra DNS names or IP addresses of the etcd server, and of
	// the Serving identities.
	Hosts []string
	// Serving names client identities whose certificate also serves TLS,
	// for the same host names as etcd's (a cell serves its logs with it).
	Serving []string
	// Validity defaults to one year.
	Validity time.Duration
}

// Pair names a certificate file and its key file.
type Pair struct {
	Cert, Key string
}

// Files are the paths Generate wrote.
type Files struct {
	// CA is the authority's certificate, which every party trusts.
	CA string
	// Server is etcd's serving certificate.
	Server Pair
	// Clients holds one certificate per identity.
	Clients map[string]Pair
}

// Generate writes a new CA and the certificates opts asks for into dir
// (created if missing; keys are written 0600). Existing files are replaced.
func Generate(dir string, opts Options) (*Files, error) {
	if opts.Validity <= 0 {
		opts.Validity = 365 * 24 * time.Hour
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("certs: CA key: %w", err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "cellsync development CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(opts.Validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("certs: CA: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("certs: CA: %w", err)
	}
	files := &Files{CA: filepath.Join(dir, "ca.pem"), Clients: map[string]Pair{}}
	if err := writePEM(files.CA, "CERTIFICATE", caDER, 0o644); err != nil {
		return nil, err
	}
	serving := map[string]bool{}
	for _, c := range opts.Serving {
		serving[c] = true
	}
	issue := func(name string, server bool) (Pair, error) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return Pair{}, fmt.Errorf("certs: key of %s: %w", name, err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: serial(),
			Subject:      pkix.Name{CommonName: name},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(opts.Validity),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}
		if server {
			// etcd also dials itself with this certificate, so it serves both.
			tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
			for _, h := range append([]string{"localhost", "127.0.0.1", "::1"}, opts.Hosts...) {
				if ip := net.ParseIP(h); ip != nil {
					tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
				} else {
					tmpl.DNSNames = append(tmpl.DNSNames, h)
				}
			}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return Pair{}, fmt.Errorf("certs: certificate of %s: %w", name, err)
		}
		keyDER, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			return Pair{}, fmt.Errorf("certs: key of %s: %w", name, err)
		}
		p := Pair{Cert: filepath.Join(dir, name+".pem"), Key: filepath.Join(dir, name+"-key.pem")}
		if err := writePEM(p.Cert, "CERTIFICATE", der, 0o644); err != nil {
			return Pair{}, err
		}
		return p, writePEM(p.Key, "EC PRIVATE KEY", keyDER, 0o600)
	}
	if files.Server, err = issue("etcd", true); err != nil {
		return nil, err
	}
	for _, c := range opts.Clients {
		if c == "" || c == "etcd" || c == "ca" || filepath.Base(c) != c {
			return nil, fmt.Errorf("certs: client name %q: use a plain name other than etcd and ca", c)
		}
		if files.Clients[c], err = issue(c, serving[c]); err != nil {
			return nil, err
		}
	}
	return files, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return big.NewInt(time.Now().UnixNano())
	}
	return n
}

func writePEM(path, kind string, der []byte, mode os.FileMode) error {
	data := pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der})
	if err := os.WriteFile(path, data, mode); err != nil {
		return fmt.Errorf("certs: write %s: %w", path, err)
	}
	return nil
}
