package daemon

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/state"
)

// TestSignedSourceRefusesForgedReleases: a forged release on a signed feed
// is dead-lettered as bad_signature and raises a critical alert; a signed
// one is applied.
func TestSignedSourceRefusesForgedReleases(t *testing.T) {
	key := filepath.Join(t.TempDir(), "customs.key")
	if err := os.WriteFile(key, []byte("shared-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, func(y string) string {
		return strings.Replace(y, "kind: agency, agency: customs}", "kind: agency, agency: customs, hmac_key_file: "+key+"}", 1)
	})
	event := func(id string, st state.Status, c string) []byte {
		data, _ := json.Marshal(map[string]any{"id": id, "agency": "customs", "status": st, "containers": []string{c}, "at": "2026-11-28T10:15:00+08:00"})
		return data
	}
	h.publish("customs/releases", adapters.Sign(event("REL-S", state.Released, c1), []byte("shared-secret")))
	h.publish("customs/releases", event("REL-F", state.Released, c2))
	h.publish("customs/releases", adapters.Sign(event("REL-G", state.Released, c3), []byte("guessed")))
	h.eventually("signed release applied", func() bool { return h.get("/api/v1/containers/"+c1, nil) == http.StatusOK })
	var dl struct {
		Deadletters []state.DeadLetter `json:"deadletters"`
	}
	h.eventually("both forgeries dead-lettered", func() bool {
		h.get("/api/v1/deadletters", &dl)
		return len(dl.Deadletters) == 2
	})
	for _, d := range dl.Deadletters {
		if d.Code != adapters.CodeBadSignature {
			t.Errorf("dead letter %s: code %s, want bad_signature", d.ID, d.Code)
		}
	}
	for _, c := range []string{c2, c3} {
		if code := h.get("/api/v1/containers/"+c, nil); code != http.StatusNotFound {
			t.Errorf("forged release changed %s (HTTP %d)", c, code)
		}
	}
	var alerts struct {
		Alerts []state.Alert `json:"alerts"`
	}
	h.eventually("critical invalid_input alert", func() bool {
		h.get("/api/v1/alerts", &alerts)
		for _, a := range alerts.Alerts {
			if a.ID == "invalid_input/customs-mqtt" && a.Severity == "critical" {
				return true
			}
		}
		return false
	})
}

func TestCrossSiteRequestsAreRefused(t *testing.T) {
	h := newHarness(t, nil)
	cases := []struct {
		name    string
		method  string
		headers map[string]string
		want    int
	}{
		{"tool without browser headers", "GET", nil, http.StatusOK},
		{"same origin", "POST", map[string]string{"Origin": "http://" + h.daemon.Addr(), "Sec-Fetch-Site": "same-origin"}, http.StatusOK},
		{"cross-site fetch", "GET", map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"foreign origin", "POST", map[string]string{"Origin": "http://evil.example"}, http.StatusForbidden},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := "/api/v1/mismatches"
			if tc.method == "POST" {
				path = "/api/v1/sweep"
			}
			req, _ := http.NewRequest(tc.method, h.base()+path, nil)
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("HTTP %d, want %d", resp.StatusCode, tc.want)
			}
			if resp.Header.Get("Access-Control-Allow-Origin") != "" {
				t.Fatal("a CORS header was sent")
			}
		})
	}
}

func TestSessionCookieReadsButCannotChange(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "api.token")
	if err := os.WriteFile(tokenFile, []byte("t0ken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, func(y string) string {
		return strings.Replace(y, `http: {listen: "127.0.0.1:0"}`, `http: {listen: "127.0.0.1:0", token_file: `+tokenFile+`}`, 1)
	})
	do := func(method, path string, cookie bool) int {
		req, _ := http.NewRequest(method, h.base()+path, nil)
		if cookie {
			req.AddCookie(&http.Cookie{Name: "portsync_token", Value: "t0ken"})
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := do("GET", "/api/v1/overview", true); got != http.StatusOK {
		t.Errorf("GET with the session cookie: HTTP %d, want 200", got)
	}
	if got := do("GET", "/", false); got != http.StatusUnauthorized {
		t.Errorf("dashboard without token: HTTP %d, want 401 (the page then asks for the token)", got)
	}
	if got := do("POST", "/api/v1/sweep", true); got != http.StatusUnauthorized {
		t.Errorf("POST with only the cookie: HTTP %d, want 401", got)
	}
}

func TestHTTPSListener(t *testing.T) {
	dir := t.TempDir()
	cert, key, pool := selfSignedCert(t, dir)
	h := newHarness(t, func(y string) string {
		return strings.Replace(y, `http: {listen: "127.0.0.1:0"}`,
			`http: {listen: "127.0.0.1:0", tls: {cert_file: `+cert+`, key_file: `+key+`}}`, 1)
	})
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 5 * time.Second}
	resp, err := client.Get("https://" + h.daemon.Addr() + "/api/v1/mismatches")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HTTPS GET: %d", resp.StatusCode)
	}
}

// selfSignedCert writes a certificate for 127.0.0.1 and its key, and
// returns their paths and a pool that trusts it.
func selfSignedCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "portsync test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	c, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(c)
	return certFile, keyFile, pool
}
