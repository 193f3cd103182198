package daemon

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	stdsync "sync"
	"sync/atomic"
	"testing"

	_ "github.com/portsync/portsync/adapters/webhook"
	"github.com/portsync/portsync/state"
	"github.com/portsync/portsync/sync"
)

// flakyWebhook is an alert receiver that fails until told otherwise and
// records what it got.
type flakyWebhook struct {
	*httptest.Server
	up     atomic.Bool
	mu     stdsync.Mutex
	alerts []map[string]any
}

func newFlakyWebhook(t *testing.T) *flakyWebhook {
	w := &flakyWebhook{}
	w.Server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if !w.up.Load() {
			http.Error(rw, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		data, _ := io.ReadAll(r.Body)
		var a map[string]any
		if err := json.Unmarshal(data, &a); err != nil {
			t.Errorf("webhook body %s: %v", data, err)
		}
		w.mu.Lock()
		w.alerts = append(w.alerts, a)
		w.mu.Unlock()
	}))
	t.Cleanup(w.Close)
	return w
}

func (w *flakyWebhook) got(id, st string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, a := range w.alerts {
		if a["id"] == id && a["state"] == st {
			return true
		}
	}
	return false
}

func withWebhook(url string) func(string) string {
	return func(y string) string {
		return strings.Replace(y, "    - {type: mqtt, broker: main, topic: portsync/alerts}",
			"    - {type: mqtt, broker: main, topic: portsync/alerts}\n    - {type: webhook, name: ops-hook, url: "+url+"}", 1)
	}
}

// TestChannelDownRaisesSinkDownAndCatchesUp: a webhook that fails longer
// than apply_within raises sink_down on the other channels; once it is
// back, it gets what it missed and sink_down resolves.
func TestChannelDownRaisesSinkDownAndCatchesUp(t *testing.T) {
	hook := newFlakyWebhook(t)
	h := newHarness(t, withWebhook(hook.URL))
	h.tos("N4-1", c1, state.TOSArrived, "2026-11-28T10:20:00+08:00", "CUSTOMS")
	h.tos("N4-2", c1, state.TOSDeparted, "2026-11-28T10:30:00+08:00")
	departure := sync.AlertID(state.KindUnauthorizedDeparture, c1, "")
	h.eventually("departure alert on mqtt", func() bool { return len(h.alertsFor(departure)) > 0 })
	down := sync.AlertID(state.KindSinkDown, "ops-hook", "")
	h.eventually("sink_down for the webhook after apply_within", func() bool {
		for _, a := range h.alertsFor(down) {
			if a["state"] == state.Firing && a["severity"] == "critical" {
				return true
			}
		}
		return false
	})
	if got := counterSum(h.daemon.metrics, "portsync_notifications_total", map[string]string{"channel": "ops-hook", "result": "failed"}); got == 0 {
		t.Error("failed notices not counted")
	}
	hook.up.Store(true)
	h.eventually("the webhook catches up", func() bool { return hook.got(departure, state.Firing) })
	h.eventually("sink_down resolves", func() bool {
		for _, a := range h.alertsFor(down) {
			if a["state"] == state.Resolved {
				return true
			}
		}
		return false
	})
}

// TestNoticeWaitsAcrossRestart: a notice a channel could not take is in
// the store, and a restarted daemon delivers it.
func TestNoticeWaitsAcrossRestart(t *testing.T) {
	hook := newFlakyWebhook(t)
	h := newHarness(t, withWebhook(hook.URL))
	h.tos("N4-1", c2, state.TOSArrived, "2026-11-28T10:20:00+08:00", "CUSTOMS")
	h.tos("N4-2", c2, state.TOSDeparted, "2026-11-28T10:30:00+08:00")
	departure := sync.AlertID(state.KindUnauthorizedDeparture, c2, "")
	h.eventually("departure alert on mqtt", func() bool { return len(h.alertsFor(departure)) > 0 })
	h.stop()
	hook.up.Store(true)
	h.start()
	h.eventually("the notice delivered after the restart", func() bool { return hook.got(departure, state.Firing) })
}
