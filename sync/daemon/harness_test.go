package daemon

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	stdsync "sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/portsync/portsync/adapters"
	_ "github.com/portsync/portsync/adapters/jsonfmt"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/internal/broker"
	"github.com/portsync/portsync/internal/testcfg"
	"github.com/portsync/portsync/state"
	"github.com/portsync/portsync/sync"
	"github.com/portsync/portsync/sync/httpapi"
)

// testBroker starts a mosquitto of the test's own on a free loopback port,
// or the embedded broker where mosquitto is not installed.
func testBroker(t testing.TB) *broker.Broker {
	t.Helper()
	b, err := broker.StartLocal(t.TempDir(), testWriter{t})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Stop() })
	return b
}

// testWriter sends a process's output to the test log, only shown on
// failure or with -v.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// harnessRetention is the harness's retention line, for tests that change
// it.
const harnessRetention = testcfg.DefaultRetention

// testYAML is the configuration integration tests start from
// (testcfg's defaults: customs and quarantine, MQTT in and out, a short
// SLA), with integrated status published, for a store in dir and a
// broker at url.
func testYAML(dir, url string) string {
	return testcfg.Daemon{
		StateDir: dir, BrokerURL: url, ClientID: fmt.Sprintf("portsync-test-%d", clientSeq),
		Extra: []string{"status_topic: portsync/status"},
	}.YAML()
}

// harness runs a daemon in-process against a real broker and watches
// what it publishes with a client of its own.
type harness struct {
	t      *testing.T
	broker *broker.Broker
	dir    string
	yaml   string
	cfg    *config.Config

	daemon *Daemon
	cancel context.CancelFunc
	done   chan error
	scheme string       // http, or https when the config serves TLS
	httpc  *http.Client // trusts the daemon's certificate blindly; TLS tests check it properly

	client paho.Client
	mu     stdsync.Mutex
	cmds   []state.Command
	alerts []map[string]any
	status map[string]sync.View
}

var clientSeq int

// newHarness starts a broker, a watching client and a daemon. edit may
// change the YAML before it is parsed.
func newHarness(t *testing.T, edit func(string) string) *harness {
	t.Helper()
	return newHarnessOn(t, testBroker(t), edit)
}

// newHarnessOn is newHarness on a broker the caller started: another kind
// than testBroker's, or one that several harnesses share in turn.
func newHarnessOn(t *testing.T, b *broker.Broker, edit func(string) string) *harness {
	t.Helper()
	h := &harness{t: t, broker: b, dir: t.TempDir(), status: map[string]sync.View{}}
	clientSeq++
	h.yaml = testYAML(h.dir, h.broker.URL())
	if edit != nil {
		h.yaml = edit(h.yaml)
	}
	h.watch()
	h.start()
	return h
}

func (h *harness) watch() {
	opts := paho.NewClientOptions().AddBroker(h.broker.URL()).SetClientID(fmt.Sprintf("watcher-%d", clientSeq)).
		SetCleanSession(true).SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(100 * time.Millisecond).
		// paho's reconnect backoff doubles up to 10 minutes: a broker that
		// takes seconds to restart (RabbitMQ) would keep the watcher away
		// for longer than the tests wait.
		SetMaxReconnectInterval(time.Second).
		SetOrderMatters(true).SetOnConnectHandler(func(c paho.Client) {
		c.Subscribe("tos/commands", 1, func(_ paho.Client, m paho.Message) {
			var cmd state.Command
			if err := json.Unmarshal(m.Payload(), &cmd); err != nil {
				h.t.Errorf("bad command %s: %v", m.Payload(), err)
			}
			h.mu.Lock()
			h.cmds = append(h.cmds, cmd)
			h.mu.Unlock()
		})
		c.Subscribe("portsync/alerts", 1, func(_ paho.Client, m paho.Message) {
			var a map[string]any
			if err := json.Unmarshal(m.Payload(), &a); err != nil {
				h.t.Errorf("bad alert %s: %v", m.Payload(), err)
			}
			h.mu.Lock()
			h.alerts = append(h.alerts, a)
			h.mu.Unlock()
		})
		c.Subscribe("portsync/status/#", 1, func(_ paho.Client, m paho.Message) {
			var v sync.View
			if err := json.Unmarshal(m.Payload(), &v); err != nil {
				h.t.Errorf("bad status %s: %v", m.Payload(), err)
			}
			h.mu.Lock()
			h.status[v.Container] = v
			h.mu.Unlock()
		}).Wait()
	})
	h.client = paho.NewClient(opts)
	if tok := h.client.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		h.t.Fatalf("watcher connect: %v", tok.Error())
	}
	h.eventually("watcher subscribed", func() bool { return h.client.IsConnectionOpen() })
	h.t.Cleanup(func() { h.client.Disconnect(100) })
}

// start starts the daemon and waits until it is ready.
func (h *harness) start() {
	h.t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(h.yaml), adapters.Registry)
	if err != nil {
		h.t.Fatalf("config: %v", err)
	}
	h.cfg = cfg
	h.scheme, h.httpc = "http", http.DefaultClient
	if cfg.HTTP.TLS.CertFile != "" {
		h.scheme = "https"
		h.httpc = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	}
	log := slog.New(slog.NewTextHandler(testWriter{h.t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	d, err := New(cfg, log)
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.daemon, h.cancel, h.done = d, cancel, make(chan error, 1)
	go func() { h.done <- d.Run(ctx) }()
	h.t.Cleanup(h.stop)
	h.eventually("daemon ready", func() bool { return h.getStatus("/readyz") == http.StatusOK })
}

// stop stops the daemon, if it runs, and waits for it.
func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("daemon stopped with %v", err)
		}
	case <-time.After(10 * time.Second):
		// What each goroutine waits on is the one clue a hang leaves.
		var buf bytes.Buffer
		pprof.Lookup("goroutine").WriteTo(&buf, 1)
		h.t.Errorf("daemon did not stop within 10s; goroutines:\n%s", buf.String())
	}
	h.cancel = nil
}

func (h *harness) base() string { return h.scheme + "://" + h.daemon.Addr() }

func (h *harness) getStatus(path string) int {
	resp, err := h.httpc.Get(h.base() + path)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// get fetches an API path into v and returns the status code.
func (h *harness) get(path string, v any) int {
	h.t.Helper()
	resp, err := h.httpc.Get(h.base() + path)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	if v != nil {
		data, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(data, v); err != nil {
			h.t.Fatalf("GET %s: %v: %s", path, err, data)
		}
	}
	return resp.StatusCode
}

func (h *harness) publish(topic string, payload any) {
	h.t.Helper()
	var data []byte
	switch p := payload.(type) {
	case string:
		data = []byte(p)
	case []byte:
		data = p
	default:
		var err error
		if data, err = json.Marshal(p); err != nil {
			h.t.Fatal(err)
		}
	}
	tok := h.client.Publish(topic, 1, false, data)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		h.t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// agency publishes an agency event on the agency's source topic.
func (h *harness) agency(id, agency string, st state.Status, at string, containers ...string) {
	topic := map[string]string{"customs": "customs/releases", "quarantine": "ciq/releases"}[agency]
	h.publish(topic, map[string]any{"id": id, "agency": agency, "status": st, "containers": containers, "at": at})
}

// tos publishes a TOS event.
func (h *harness) tos(id, container, event string, at string, holds ...string) {
	ev := map[string]any{"id": id, "container": container, "event": event, "at": at}
	if holds != nil || event != state.TOSDeparted {
		if holds == nil {
			holds = []string{}
		}
		ev["holds"] = holds
	}
	h.publish("tos/events", ev)
}

// eventually polls cond until it holds or 15 seconds pass.
func (h *harness) eventually(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// commands returns the commands published so far for a container.
func (h *harness) commands(container string) []state.Command {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []state.Command
	for _, c := range h.cmds {
		if c.Container == container {
			out = append(out, c)
		}
	}
	return out
}

// waitCommand waits for a command for container with action and hold.
func (h *harness) waitCommand(container, action, hold string) state.Command {
	h.t.Helper()
	var found state.Command
	h.eventually(fmt.Sprintf("%s %s on %s", action, hold, container), func() bool {
		for _, c := range h.commands(container) {
			if c.Action == action && c.Hold == hold {
				found = c
				return true
			}
		}
		return false
	})
	return found
}

// alertsFor returns alert notices received with the given id.
func (h *harness) alertsFor(id string) []map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []map[string]any
	for _, a := range h.alerts {
		if a["id"] == id {
			out = append(out, a)
		}
	}
	return out
}

// container fetches the API's view of a container.
func (h *harness) container(id string) httpapi.ContainerDetail {
	h.t.Helper()
	var d httpapi.ContainerDetail
	if code := h.get("/api/v1/containers/"+id, &d); code != http.StatusOK {
		h.t.Fatalf("GET container %s: HTTP %d", id, code)
	}
	return d
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// Container numbers with valid check digits, for tests.
const (
	c1 = "MSCU1234566"
	c2 = "TGHU1234567"
	c3 = "CSQU3054383"
)

func TestMain(m *testing.M) {
	for _, id := range []string{c1, c2, c3} {
		if _, err := state.ParseContainer(id); err != nil {
			fmt.Fprintln(os.Stderr, "bad test container:", err)
			os.Exit(2)
		}
	}
	os.Exit(m.Run())
}
