package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

const sessionLostID = "session_lost/main"

// slTOS is a TOS snapshot endpoint that counts the sweeps asking it and
// holds each answer until the test releases them, so that the test sees
// the daemon in the middle of its sweep.
type slTOS struct {
	url      string
	requests atomic.Int32
	release  chan struct{}
	once     sync.Once
}

func newSLTOS(t *testing.T) *slTOS {
	tos := &slTOS{release: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tos.requests.Add(1)
		select {
		case <-tos.release:
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"containers": []}`)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(tos.open) // before srv.Close: it waits for the handlers
	tos.url = srv.URL
	return tos
}

func (tos *slTOS) open() { tos.once.Do(func() { close(tos.release) }) }

// newSLHarness is the usual harness with a TOS snapshot, which every
// full sweep fetches.
func newSLHarness(t *testing.T) (*harness, *slTOS) {
	tos := newSLTOS(t)
	h := newHarness(t, func(y string) string {
		return strings.Replace(y, "sla:", "  snapshot: {type: http_poll, url: "+tos.url+"}\nsla:", 1)
	})
	brSkipUnlessMosquitto(t, h)
	return h, tos
}

// slFreshBroker stops the harness's mosquitto and starts another on the
// same address without persistence: a broker that came back having lost
// every session and queue.
func slFreshBroker(t *testing.T, h *harness) {
	t.Helper()
	if err := h.broker.Stop(); err != nil {
		t.Fatal(err)
	}
	host, port, err := net.SplitHostPort(h.broker.Addr)
	if err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf("listener %s %s\nallow_anonymous true\npersistence false\nmax_inflight_messages 1000\nmax_queued_messages 1000000\n", port, host)
	if os.Geteuid() == 0 {
		conf += "user root\n"
	}
	path := filepath.Join(t.TempDir(), "mosquitto.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("mosquitto", "-c", path)
	cmd.Stdout, cmd.Stderr = testWriter{t}, testWriter{t}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	brWaitFor(t, brokerRestartTimeout, "the fresh broker to listen", func() bool {
		c, err := net.DialTimeout("tcp", h.broker.Addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

// slStartUnready starts the daemon as h.start does, but returns as soon as
// it serves HTTP, ready or not.
func slStartUnready(h *harness) {
	h.t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(h.yaml), adapters.Registry)
	if err != nil {
		h.t.Fatalf("config: %v", err)
	}
	h.cfg, h.scheme, h.httpc = cfg, "http", http.DefaultClient
	d, err := New(cfg, slog.New(slog.NewTextHandler(testWriter{h.t}, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.daemon, h.cancel, h.done = d, cancel, make(chan error, 1)
	go func() { h.done <- d.Run(ctx) }()
	h.t.Cleanup(h.stop)
	h.eventually("daemon serving", func() bool { return h.getStatus("/healthz") == http.StatusOK })
}

// slFiring returns the session_lost alert of broker main if it fires.
func slFiring(h *harness) (state.Alert, bool) {
	var body struct {
		Alerts []state.Alert `json:"alerts"`
	}
	if code := h.get("/api/v1/alerts", &body); code != http.StatusOK {
		h.t.Fatalf("GET /api/v1/alerts: HTTP %d", code)
	}
	for _, a := range body.Alerts {
		if a.ID == sessionLostID {
			return a, true
		}
	}
	return state.Alert{}, false
}

// slWatcherSubscribed waits until the harness's watching client, back on
// a restarted broker, receives alert notices again.
func slWatcherSubscribed(t *testing.T, h *harness) {
	t.Helper()
	brWaitWatcher(t, h)
	brWaitFor(t, brokerRestartTimeout, "the watcher to receive alert notices", func() bool {
		h.publish("portsync/alerts", map[string]any{"id": "probe"})
		time.Sleep(100 * time.Millisecond)
		return len(h.alertsFor("probe")) > 0
	})
}

// slNoticed reports whether the watcher received a notice of the
// session_lost alert in state st.
func slNoticed(h *harness, st string) bool {
	return slices.ContainsFunc(h.alertsFor(sessionLostID), func(a map[string]any) bool { return a["state"] == st })
}

// slWaitLost checks what the daemon says once broker main came back
// without its session: the alert fires, /readyz names the cause, and the
// full sweep has asked the TOS for its snapshot (the test holds the
// answer, so the sweep is still running).
func slWaitLost(t *testing.T, h *harness, tos *slTOS, before int32) {
	t.Helper()
	var a state.Alert
	brWaitFor(t, brokerRestartTimeout, "the session_lost alert to fire", func() bool {
		var ok bool
		a, ok = slFiring(h)
		return ok
	})
	if a.Kind != state.KindSessionLost || a.Severity != "critical" || a.Source != "main" || a.Summary == "" {
		t.Errorf("session_lost alert %+v, want kind %s, severity critical, source main and a summary", a, state.KindSessionLost)
	}
	const why = "broker main: session lost; waiting for the full sweep"
	var reasons []string
	brWaitFor(t, brokerRestartTimeout, "/readyz to give the lost session as a reason", func() bool {
		var code int
		code, reasons = brReady(h)
		return code == http.StatusServiceUnavailable && slices.Contains(reasons, why)
	})
	brWaitFor(t, brokerRestartTimeout, "the full sweep to fetch the TOS snapshot", func() bool { return tos.requests.Load() > before })
	// Held: the sweep has not finished, so the alert and the reason stay.
	time.Sleep(200 * time.Millisecond)
	if _, ok := slFiring(h); !ok {
		t.Error("session_lost resolved before the sweep finished")
	}
	if _, reasons := brReady(h); !slices.Contains(reasons, why) {
		t.Errorf("/readyz reasons %v before the sweep finished, want %q among them", reasons, why)
	}
}

// slWaitSwept releases the sweep and waits for the alert to resolve and
// the daemon to be ready again.
func slWaitSwept(t *testing.T, h *harness, tos *slTOS) {
	t.Helper()
	tos.open()
	brWaitFor(t, brokerRestartTimeout, "session_lost to resolve after the sweep", func() bool {
		_, firing := slFiring(h)
		return !firing
	})
	brWaitFor(t, brokerRestartTimeout, "/readyz 200 after the sweep", func() bool {
		code, _ := brReady(h)
		return code == http.StatusOK
	})
	brWaitFor(t, brokerRestartTimeout, "the resolved notice", func() bool { return slNoticed(h, state.Resolved) })
}

// TestSessionLostOnReconnect: the broker restarts without its persistent
// store while the daemon runs; the daemon notices on reconnecting, raises
// session_lost, says so on /readyz, runs the full sweep at once and
// resolves the alert when the sweep is done.
func TestSessionLostOnReconnect(t *testing.T) {
	h, tos := newSLHarness(t)
	h.agency("SL-1", "customs", state.Released, "2026-11-28T10:00:00+08:00", c1)
	brWaitFor(t, brokerRestartTimeout, "SL-1 applied", func() bool { return brStatusIs(h, c1, "customs", state.Released) })
	before := tos.requests.Load()

	slFreshBroker(t, h)
	slWaitLost(t, h, tos, before)
	slWatcherSubscribed(t, h)
	brWaitFor(t, brokerRestartTimeout, "the firing notice", func() bool { return slNoticed(h, state.Firing) })
	slWaitSwept(t, h, tos)

	// The daemon carries on with its new session.
	h.agency("SL-2", "customs", state.Held, "2026-11-28T11:00:00+08:00", c1)
	brWaitFor(t, brokerRestartTimeout, "SL-2 applied", func() bool { return brStatusIs(h, c1, "customs", state.Held) })
}

// TestSessionLostWhileDaemonDown: the broker loses its sessions while the
// daemon is stopped. The store remembers that the daemon had one, so the
// first connection after the restart notices the loss just the same.
func TestSessionLostWhileDaemonDown(t *testing.T) {
	h, tos := newSLHarness(t)
	// The connection's report is recorded after /readyz turns 200.
	brWaitFor(t, brokerRestartTimeout, "the daemon to record its session in the store", func() bool {
		var id string
		h.daemon.store.View(func(tx *state.Tx) error {
			id = tx.Meta("broker_session/main")
			return nil
		})
		return id == h.cfg.Brokers["main"].ClientID
	})
	h.stop()
	before := tos.requests.Load()
	slFreshBroker(t, h)
	slWatcherSubscribed(t, h)

	slStartUnready(h)
	slWaitLost(t, h, tos, before)
	brWaitFor(t, brokerRestartTimeout, "the firing notice", func() bool { return slNoticed(h, state.Firing) })
	slWaitSwept(t, h, tos)
}

// TestSessionLostNotOnPersistentReconnect: a broker that keeps its
// sessions (persistence on) raises no session_lost, neither when it
// restarts nor when the daemon does. Every TOS snapshot is held, so a
// sweep for a lost session would keep /readyz at 503.
func TestSessionLostNotOnPersistentReconnect(t *testing.T) {
	h, _ := newSLHarness(t)
	if err := h.broker.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := h.broker.Start(); err != nil {
		t.Fatal(err)
	}
	brWaitFor(t, brokerRestartTimeout, "/readyz 200 after the broker restart", func() bool {
		code, _ := brReady(h)
		return code == http.StatusOK
	})
	brWaitWatcher(t, h)
	// An event after the reconnect is committed after anything the
	// reconnect itself raised.
	h.agency("SP-1", "customs", state.Released, "2026-11-28T10:00:00+08:00", c1)
	brWaitFor(t, brokerRestartTimeout, "SP-1 applied", func() bool { return brStatusIs(h, c1, "customs", state.Released) })
	if a, ok := slFiring(h); ok {
		t.Fatalf("session_lost fired on reconnecting to a persistent broker: %+v", a)
	}

	h.stop()
	h.start()
	h.agency("SP-2", "customs", state.Held, "2026-11-28T11:00:00+08:00", c1)
	brWaitFor(t, brokerRestartTimeout, "SP-2 applied", func() bool { return brStatusIs(h, c1, "customs", state.Held) })
	if a, ok := slFiring(h); ok {
		t.Fatalf("session_lost fired on restarting the daemon against a persistent broker: %+v", a)
	}
}
