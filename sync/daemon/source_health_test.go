package daemon

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	_ "github.com/portsync/portsync/adapters/httppoll"
	"github.com/portsync/portsync/state"
	"github.com/portsync/portsync/sync"
	"github.com/portsync/portsync/sync/httpapi"
)

// waitFor polls cond until it holds or within passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// serveEmptyFeed starts, on addr, an agency feed that has nothing new.
func serveEmptyFeed(t *testing.T, addr string) {
	t.Helper()
	var ln net.Listener
	waitFor(t, 10*time.Second, "listening on "+addr+" again", func() bool {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err == nil
	})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, "[]")
	})}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("feed server: %v", err)
		}
	}()
	t.Cleanup(func() { srv.Close() })
}

// sourceStatus returns a source's entry among the overview's endpoints.
func (h *harness) sourceStatus(name string) (sync.EndpointStatus, bool) {
	h.t.Helper()
	var o httpapi.Overview
	h.get("/api/v1/overview", &o)
	for _, e := range o.Endpoints {
		if e.Role == "source" && e.Name == name {
			return e, true
		}
	}
	return sync.EndpointStatus{}, false
}

// TestSourceDownDeadFeed: an http_poll source at a closed port shows on the
// dashboard as failing, with its breaker open and its failure streak, and
// raises source_down once it has failed for longer than apply_within. The
// feed coming back resolves it.
func TestSourceDownDeadFeed(t *testing.T) {
	addr := closedPort(t)
	h := newHarness(t, func(y string) string {
		return strings.Replace(y, "sources:\n", fmt.Sprintf(`sources:
  - {name: customs-poll, type: http_poll, url: "http://%s/releases", schedule: "@every 1s", timeout: 2s, kind: agency, agency: customs}
`, addr), 1)
	})
	down := sync.AlertID(state.KindSourceDown, "customs-poll", "")
	h.eventually("source_down fires", func() bool {
		for _, a := range h.alertsFor(down) {
			if a["state"] == state.Firing && a["severity"] == "warning" && a["source"] == "customs-poll" {
				return true
			}
		}
		return false
	})
	var st sync.EndpointStatus
	h.eventually("the dashboard shows the breaker open and the streak", func() bool {
		var ok bool
		st, ok = h.sourceStatus("customs-poll")
		return ok && st.Breaker == "open"
	})
	if st.Healthy || st.Failures < 5 || st.FailingSince.IsZero() || !strings.Contains(st.LastError, addr) {
		t.Errorf("source status %+v, want unhealthy, at least 5 failures in a row, failing since and the last error naming %s", st, addr)
	}
	if _, ok := h.firingAlert(down); !ok {
		t.Error("source_down not among the alerts firing")
	}

	serveEmptyFeed(t, addr)
	// The open breaker probes again ten seconds after it opened.
	waitFor(t, 30*time.Second, "source_down resolves", func() bool { return h.notice(down, state.Resolved) })
	st, _ = h.sourceStatus("customs-poll")
	if !st.Healthy || st.Breaker != "closed" || st.Failures != 0 || !st.FailingSince.IsZero() {
		t.Errorf("source status %+v after the feed came back, want healthy, closed, no streak", st)
	}
}

// TestSourceSilentMQTT: an MQTT source with silent_after that hears
// nothing raises source_silent; a message resolves it. One firing when the
// daemon stops, for a source that no longer has silent_after, resolves at
// the restart.
func TestSourceSilentMQTT(t *testing.T) {
	h := newHarness(t, func(y string) string {
		return strings.Replace(y, "topic: customs/releases, kind: agency, agency: customs}",
			"topic: customs/releases, kind: agency, agency: customs, silent_after: 2s}", 1)
	})
	silent := sync.AlertID(state.KindSourceSilent, "customs-mqtt", "")
	h.eventually("source_silent fires", func() bool {
		for _, a := range h.alertsFor(silent) {
			if a["state"] == state.Firing && a["severity"] == "warning" && a["source"] == "customs-mqtt" {
				return true
			}
		}
		return false
	})
	if st, _ := h.sourceStatus("customs-mqtt"); st.Healthy {
		t.Errorf("silent source shows healthy: %+v", st)
	}
	if n := len(h.alertsFor(sync.AlertID(state.KindSourceSilent, "ciq-mqtt", ""))); n != 0 {
		t.Errorf("source_silent for ciq-mqtt, which has no silent_after")
	}
	h.agency("REL-1", "customs", state.Released, "2026-11-28T10:15:00+08:00", c1)
	h.eventually("source_silent resolves on a message", func() bool { return h.notice(silent, state.Resolved) })
	if st, _ := h.sourceStatus("customs-mqtt"); !st.Healthy || st.LastMessage.IsZero() {
		t.Errorf("source status %+v after a message, want healthy with its last message", st)
	}

	// Silent again, then restarted without silent_after: nothing is left
	// to resolve it but the restart.
	h.eventually("source_silent fires again", func() bool { _, ok := h.firingAlert(silent); return ok })
	h.stop()
	h.mu.Lock()
	h.alerts = nil
	h.mu.Unlock()
	h.yaml = strings.Replace(h.yaml, ", silent_after: 2s}", "}", 1)
	h.start()
	h.eventually("source_silent resolves after the restart", func() bool { return h.notice(silent, state.Resolved) })
}
