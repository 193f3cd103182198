package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/portsync/portsync/internal/broker"
)

// serviceConfig is a configuration for the service tests; %[1]s is the state
// directory, %[2]s the broker URL, %[3]d the HTTP port, %[4]s extra sources.
const serviceConfig = `
terminal: SVC-T1
state_dir: %[1]s
log: {level: debug, format: text}
agencies:
  customs: {tos_hold: CUSTOMS}
brokers:
  main: {url: %[2]s, client_id: portsync-service-test}
sources:
  - {name: customs-mqtt, type: mqtt, broker: main, topic: customs/releases, kind: agency, agency: customs}
  - {name: tos-events, type: mqtt, broker: main, topic: tos/events, kind: tos}
%[4]s
tos:
  sink: {type: mqtt, broker: main, topic: tos/commands}
http: {listen: "127.0.0.1:%[3]d"}
`

// notifyListener is a stand-in for systemd's notification socket.
type notifyListener struct {
	conn *net.UnixConn
	msgs chan string
}

func listenNotify(t *testing.T) (*notifyListener, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	n := &notifyListener{conn: conn, msgs: make(chan string, 1024)}
	go func() {
		buf := make([]byte, 4096)
		for {
			k, err := conn.Read(buf)
			if err != nil {
				close(n.msgs)
				return
			}
			n.msgs <- string(buf[:k])
		}
	}()
	return n, path
}

// expect waits for a datagram containing want and returns it.
func (n *notifyListener) expect(t *testing.T, want string) string {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case m, ok := <-n.msgs:
			if !ok {
				t.Fatalf("notify socket closed while waiting for %q", want)
			}
			if strings.Contains(m, want) {
				return m
			}
		case <-deadline:
			t.Fatalf("no %q from the daemon within 20s", want)
		}
	}
}

func TestServiceNotifiesSystemd(t *testing.T) {
	b, err := testServiceBroker(t)
	if err != nil {
		t.Fatal(err)
	}
	port, err := broker.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "portsync.yaml")
	write := func(text string) {
		if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(fmt.Sprintf(serviceConfig, dir, b.URL(), port, ""))
	notify, sock := listenNotify(t)

	var logs lockedBuffer
	cmd := exec.Command(portsyncBinary(t), "run", "-config", file)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock, "WATCHDOG_USEC=1500000")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		if t.Failed() {
			t.Logf("daemon log:\n%s", logs.String())
		}
	})

	ready := notify.expect(t, "READY=1")
	if !strings.Contains(ready, "STATUS=") {
		t.Errorf("READY=1 without a STATUS= line: %q", ready)
	}
	notify.expect(t, "WATCHDOG=1")
	notify.expect(t, "WATCHDOG=1") // and again: pings are periodic

	// A reload with one more source: the new topic is consumed afterwards.
	write(fmt.Sprintf(serviceConfig, dir, b.URL(), port,
		"  - {name: customs-extra, type: mqtt, broker: main, topic: customs/extra, kind: agency, agency: customs}"))
	cmd.Process.Signal(syscall.SIGHUP)
	reloading := notify.expect(t, "RELOADING=1")
	if !strings.Contains(reloading, "MONOTONIC_USEC=") {
		t.Errorf("RELOADING=1 without MONOTONIC_USEC: %q", reloading)
	}
	notify.expect(t, "READY=1")
	api := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitHTTP(t, api+"/readyz", http.StatusOK)
	publishService(t, b.URL(), "customs/extra",
		`{"id":"X-1","agency":"customs","status":"released","containers":["MSCU1234566"],"at":"2026-11-28T10:15:00+08:00"}`)
	waitHTTP(t, api+"/api/v1/containers/MSCU1234566", http.StatusOK)
	if got := metricValue(t, api, "portsync_config_last_reload_successful"); got != "1" {
		t.Errorf("portsync_config_last_reload_successful = %s after a good reload, want 1", got)
	}

	// An invalid file is refused and the running configuration stays.
	write("terminal: [not, a, string]\n")
	cmd.Process.Signal(syscall.SIGHUP)
	notify.expect(t, "RELOADING=1")
	refused := notify.expect(t, "READY=1")
	if !strings.Contains(refused, "reload refused") {
		t.Errorf("a refused reload should say so in STATUS=: %q", refused)
	}
	if got := metricValue(t, api, "portsync_config_last_reload_successful"); got != "0" {
		t.Errorf("portsync_config_last_reload_successful = %s after a refused reload, want 0", got)
	}
	waitHTTP(t, api+"/readyz", http.StatusOK)
	if !strings.Contains(logs.String(), "terminal") {
		t.Errorf("the refused reload's errors are not logged")
	}

	cmd.Process.Signal(syscall.SIGTERM)
	notify.expect(t, "STOPPING=1")
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("daemon exited with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("daemon did not exit within 5s of SIGTERM")
	}
}

func TestServiceUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed")
	}
	unit, err := os.ReadFile("../../systemd/portsync.service")
	if err != nil {
		t.Fatal(err)
	}
	// verify checks that ExecStart= names an executable: point it at the
	// binary under test.
	path := filepath.Join(t.TempDir(), "portsync.service")
	text := strings.ReplaceAll(string(unit), "/usr/local/bin/portsync", portsyncBinary(t))
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// testServiceBroker starts the broker a service test talks to.
func testServiceBroker(t *testing.T) (*broker.Broker, error) {
	b, err := broker.StartLocal(t.TempDir(), io.Discard)
	if err == nil {
		t.Cleanup(func() { b.Stop() })
	}
	return b, err
}

func waitHTTP(t *testing.T, url string, code int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == code {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s did not answer %d within 15s", url, code)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// metricValue returns a metric's value as /metrics prints it.
func metricValue(t *testing.T, api, name string) string {
	t.Helper()
	resp, err := http.Get(api + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}

func publishService(t *testing.T, url, topic, payload string) {
	t.Helper()
	c := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID("service-test-pub"))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(100)
	var v any
	if err := json.Unmarshal([]byte(payload), &v); err != nil {
		t.Fatal(err)
	}
	if tok := c.Publish(topic, 1, false, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
}
