package config

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// ClientConfig builds the client TLS configuration t describes, for every
// outbound connection (brokers, HTTP endpoints, SMTP): the CA file replaces
// the system roots when set; cert_file and key_file are a client
// certificate for mutual TLS.
func (t TLS) ClientConfig() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		pool, err := t.rootCAs()
		if err != nil {
			return nil, fmt.Errorf("tls.ca_file: %w", err)
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" || t.KeyFile != "" {
		cert, err := t.KeyPair()
		if err != nil {
			return nil, fmt.Errorf("tls.cert_file/key_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

func (t TLS) rootCAs() (*x509.CertPool, error) {
	pem, err := os.ReadFile(t.CAFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate in it", t.CAFile)
	}
	return pool, nil
}

// KeyPair loads cert_file and key_file, as a client certificate or as the
// HTTPS server's.
func (t TLS) KeyPair() (tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%s with %s: %w", t.CertFile, t.KeyFile, err)
	}
	return cert, nil
}
