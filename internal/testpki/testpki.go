// Package testpki owns the throw-away certificate authority that tests of
// TLS clients use: a CA, a server certificate for 127.0.0.1 and a client
// certificate, written as PEM files to a test's temporary directory. Only
// tests import it.
package testpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// PKI is a test CA with one server and one client certificate.
type PKI struct {
	Dir                   string
	CAFile                string
	ServerCert, ServerKey string
	ClientCert, ClientKey string
	Pool                  *x509.CertPool // the CA, to verify clients

	caCert *x509.Certificate
	caKey  *ecdsa.PrivateKey
}

// New makes a CA named name and issues a server certificate for 127.0.0.1
// and localhost and a client certificate, in a new temporary directory.
func New(t testing.TB, name string) *PKI {
	t.Helper()
	p := &PKI{Dir: t.TempDir()}
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"portsync test"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if p.caCert, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	p.caKey = key
	p.CAFile = filepath.Join(p.Dir, "ca.crt")
	writePEM(t, p.CAFile, "CERTIFICATE", der)
	p.Pool = x509.NewCertPool()
	p.Pool.AddCert(p.caCert)
	p.ServerCert, p.ServerKey = p.issue(t, "server", true)
	p.ClientCert, p.ClientKey = p.issue(t, "client", false)
	return p
}

// ServerConfig is a TLS server configuration with the server certificate;
// with requireClient it demands a client certificate signed by the CA.
func (p *PKI) ServerConfig(t testing.TB, requireClient bool) *tls.Config {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(p.ServerCert, p.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if requireClient {
		tc.ClientAuth = tls.RequireAndVerifyClientCert
		tc.ClientCAs = p.Pool
	}
	return tc
}

// Peer issues a certificate for 127.0.0.1 that serves and dials both, as
// a cluster node's does.
func (p *PKI) Peer(t testing.TB, name string) (certFile, keyFile string) {
	t.Helper()
	return p.issueFor(t, name, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth})
}

func (p *PKI) issue(t testing.TB, name string, server bool) (certFile, keyFile string) {
	if server {
		return p.issueFor(t, name, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth})
	}
	return p.issueFor(t, name, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth})
}

func (p *PKI) issueFor(t testing.TB, name string, usage []x509.ExtKeyUsage) (certFile, keyFile string) {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: name, Organization: []string{"portsync test"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  usage,
	}
	if slices.Contains(usage, x509.ExtKeyUsageServerAuth) {
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		tmpl.DNSNames = []string{"localhost"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile = filepath.Join(p.Dir, name+".crt")
	keyFile = filepath.Join(p.Dir, name+".key")
	writePEM(t, certFile, "CERTIFICATE", der)
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, keyFile, "PRIVATE KEY", kder)
	return certFile, keyFile
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func serial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
