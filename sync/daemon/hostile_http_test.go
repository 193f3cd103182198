package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	stdsync "sync"
	"testing"
	"time"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/sync"
)

// startDaemon is newHarness without the watching client, with a hook that
// may adjust the daemon before it serves.
func startDaemon(t *testing.T, edit func(string) string, before func(*Daemon)) *harness {
	t.Helper()
	h := &harness{t: t, broker: testBroker(t), dir: t.TempDir(), status: map[string]sync.View{}}
	clientSeq++
	h.yaml = testYAML(h.dir, h.broker.URL())
	if edit != nil {
		h.yaml = edit(h.yaml)
	}
	cfg, err := config.Parse("test.yaml", []byte(h.yaml), adapters.Registry)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	h.cfg, h.scheme, h.httpc = cfg, "http", http.DefaultClient
	d, err := New(cfg, slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	if before != nil {
		before(d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.daemon, h.cancel, h.done = d, cancel, make(chan error, 1)
	go func() { h.done <- d.Run(ctx) }()
	t.Cleanup(h.stop)
	h.eventually("daemon ready", func() bool { return h.getStatus("/readyz") == http.StatusOK })
	return h
}

// withHTTP replaces the base config's http block.
func withHTTP(block string) func(string) string {
	return func(y string) string { return strings.Replace(y, `http: {listen: "127.0.0.1:0"}`, "http: "+block, 1) }
}

// writeToken writes a token file and returns its path.
func writeToken(t *testing.T, name, token string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// withHost sends one request with the given Host header and returns the
// status and body.
func withHost(t *testing.T, h *harness, method, path, host, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, h.base()+path, strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := h.httpc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestForeignHostIsRefused: a page that rebinds its own name to 127.0.0.1
// reaches the daemon with its own name as Host; that must be refused on
// every path, with or without a token, while loopback names and the listen
// address are served.
func TestForeignHostIsRefused(t *testing.T) {
	h := newHarness(t, nil)
	_, port, _ := net.SplitHostPort(h.daemon.Addr())
	paths := []struct{ method, path string }{
		{"GET", "/api/v1/backup"}, {"GET", "/api/v1/mismatches"}, {"GET", "/healthz"}, {"GET", "/readyz"},
		{"GET", "/metrics"}, {"GET", "/"}, {"GET", "/static/app.js"}, {"POST", "/api/v1/events"}, {"POST", "/api/v1/sweep"},
	}
	for _, host := range []string{"evil.example", "evil.example:" + port, "127.0.0.1.evil.example:" + port, "localhost.evil.example", "0.0.0.0:" + port} {
		for _, p := range paths {
			code, body := withHost(t, h, p.method, p.path, host, "")
			if code != http.StatusMisdirectedRequest {
				t.Errorf("%s %s with Host %s: HTTP %d, want 421", p.method, p.path, host, code)
				continue
			}
			var e struct{ Error string }
			if err := json.Unmarshal([]byte(body), &e); err != nil || !strings.Contains(e.Error, host) {
				t.Errorf("%s %s with Host %s: answer %q does not name the host", p.method, p.path, host, body)
			}
		}
	}
	for _, host := range []string{"127.0.0.1:" + port, "localhost:" + port, "LOCALHOST", "localhost", "localhost.", "127.0.0.2:9", "[::1]:" + port, "[::1]"} {
		if code, body := withHost(t, h, "GET", "/api/v1/mismatches", host, ""); code != http.StatusOK {
			t.Errorf("Host %s: HTTP %d %s, want 200", host, code, body)
		}
	}
	// HTTP/1.0 may leave Host out (old load balancers' health checks); no
	// browser does, so that is not a rebinding.
	resp, _, err := rawRequest(t, h.daemon.Addr(), "GET /healthz HTTP/1.0\r\n", "", 5*time.Second)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("HTTP/1.0 without Host: %v %v, want 200", err, resp)
	}
}

// TestForeignHostIsRefusedWithToken: the right token does not make a
// foreign Host acceptable, and http.hosts names are, whatever their case
// and port.
func TestForeignHostIsRefusedWithToken(t *testing.T) {
	tok := writeToken(t, "api.token", "s3cret")
	h := newHarness(t, withHTTP(`{listen: "127.0.0.1:0", token_file: `+tok+`, hosts: [Portsync.T1.example, 10.1.2.3]}`))
	if code, body := withHost(t, h, "GET", "/api/v1/backup", "evil.example", "s3cret"); code != http.StatusMisdirectedRequest || !strings.Contains(body, "evil.example") {
		t.Errorf("foreign Host with the token: HTTP %d %s, want 421 naming the host", code, body)
	}
	for _, host := range []string{"portsync.t1.example", "PORTSYNC.T1.EXAMPLE:9740", "10.1.2.3:1"} {
		if code, body := withHost(t, h, "GET", "/api/v1/mismatches", host, "s3cret"); code != http.StatusOK {
			t.Errorf("Host %s from http.hosts: HTTP %d %s, want 200", host, code, body)
		}
	}
	if code, _ := withHost(t, h, "GET", "/api/v1/mismatches", "portsync.t1.example", ""); code != http.StatusUnauthorized {
		t.Errorf("accepted Host without the token: HTTP %d, want 401", code)
	}
}

// rawRequest writes a request head (and whatever body is given) on a new
// connection and reads the answer, giving up after within.
func rawRequest(t *testing.T, addr, head, body string, within time.Duration) (*http.Response, net.Conn, error) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := io.WriteString(conn, head+"\r\n"+body); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(within))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return resp, conn, err
}

func pushConfig(t *testing.T) func(string) string {
	gateway := writeToken(t, "gateway.token", "gw-secret")
	api := writeToken(t, "api.token", "api-secret")
	return func(y string) string {
		y = strings.Replace(y, "  - {name: tos-events,",
			"  - {name: customs-push, type: http_push, kind: agency, agency: customs, token_file: "+gateway+"}\n  - {name: tos-events,", 1)
		return withHTTP(`{listen: "127.0.0.1:0", token_file: ` + api + `}`)(y)
	}
}

// TestUnauthorizedPushIsAnsweredBeforeItsBody: a client that announces a
// body and never sends it gets its 401 at once, and many of them at a time
// hold nothing.
func TestUnauthorizedPushIsAnsweredBeforeItsBody(t *testing.T) {
	h := newHarness(t, pushConfig(t))
	addr := h.daemon.Addr()
	heads := map[string]string{
		"no token":         "POST /api/v1/events HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n",
		"wrong token":      "POST /api/v1/events HTTP/1.1\r\nHost: " + addr + "\r\nAuthorization: Bearer nope\r\nContent-Length: 4096\r\n",
		"chunked no token": "POST /api/v1/events HTTP/1.1\r\nHost: " + addr + "\r\nTransfer-Encoding: chunked\r\n",
		"api path":         "POST /api/v1/sweep HTTP/1.1\r\nHost: " + addr + "\r\nContent-Length: 4096\r\n",
	}
	for name, head := range heads {
		t.Run(name, func(t *testing.T) {
			resp, _, err := rawRequest(t, addr, head, "", 5*time.Second)
			if err != nil {
				t.Fatalf("no answer while the body is missing: %v", err)
			}
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("HTTP %d, want 401", resp.StatusCode)
			}
		})
	}
	// The finding: thousands of these held the server. A few hundred at
	// once must all be answered, and none must wait for its body.
	const n = 300
	var wg stdsync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close()
			io.WriteString(conn, heads["no token"]+"\r\n")
			conn.SetReadDeadline(time.Now().Add(20 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				errs <- err
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				errs <- fmt.Errorf("HTTP %d", resp.StatusCode)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("one of %d slow unauthorized pushes: %v", n, err)
	}
}

// TestSlowAuthorizedBodyIsCutOff: a gateway with the right token that
// trickles its body is cut off by the body deadline, not held open.
func TestSlowAuthorizedBodyIsCutOff(t *testing.T) {
	h := startDaemon(t, pushConfig(t), func(d *Daemon) { d.api.BodyTimeout = 300 * time.Millisecond })
	addr := h.daemon.Addr()
	head := "POST /api/v1/events HTTP/1.1\r\nHost: " + addr + "\r\nAuthorization: Bearer gw-secret\r\nContent-Length: 1000\r\n"
	resp, conn, err := rawRequest(t, addr, head, `{"id":"SLOW-1",`, 10*time.Second)
	if err != nil {
		t.Fatalf("a slow body was held open: %v", err)
	}
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("HTTP %d, want 408", resp.StatusCode)
	}
	// The connection is not kept for another request: what follows on the
	// wire would be the rest of this body.
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := conn.Read(make([]byte, 1)); err == nil {
		t.Fatalf("connection still open after the deadline (read %d bytes)", n)
	}
	// A body that arrives in time is still applied.
	event := `{"id":"FAST-1","agency":"customs","status":"released","containers":["` + c1 + `"],"at":"2026-11-28T10:15:00+08:00"}`
	resp, _, err = rawRequest(t, addr, head[:strings.Index(head, "Content-Length")]+fmt.Sprintf("Content-Length: %d\r\n", len(event)), event, 10*time.Second)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("a prompt body: %v %v", err, resp)
	}
}

// TestServerTimeoutsAreSet: the listener bounds headers, whole requests,
// idle connections and header size.
func TestServerTimeoutsAreSet(t *testing.T) {
	h := newHarness(t, nil)
	s := h.daemon.server
	if s.ReadHeaderTimeout <= 0 || s.ReadTimeout <= 0 || s.IdleTimeout <= 0 || s.MaxHeaderBytes <= 0 {
		t.Fatalf("unbounded server: ReadHeaderTimeout %v ReadTimeout %v IdleTimeout %v MaxHeaderBytes %d",
			s.ReadHeaderTimeout, s.ReadTimeout, s.IdleTimeout, s.MaxHeaderBytes)
	}
}
