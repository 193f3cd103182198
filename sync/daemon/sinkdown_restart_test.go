package daemon

import (
	"strings"
	"testing"
	"time"

	"github.com/portsync/portsync/state"
	"github.com/portsync/portsync/sync"
)

// firingAlert returns the alert with id that the API reports firing.
func (h *harness) firingAlert(id string) (map[string]any, bool) {
	h.t.Helper()
	var ans struct {
		Alerts []map[string]any `json:"alerts"`
	}
	h.get("/api/v1/alerts", &ans)
	for _, a := range ans.Alerts {
		if a["id"] == id {
			return a, true
		}
	}
	return nil, false
}

// notice reports whether the watcher got a notice of alert id in state st.
func (h *harness) notice(id, st string) bool {
	for _, a := range h.alertsFor(id) {
		if a["state"] == st {
			return true
		}
	}
	return false
}

// fireHookDown makes the webhook's sink_down fire: a departure alert is due
// to the webhook, which fails for longer than apply_within.
func fireHookDown(h *harness, container string) string {
	h.t.Helper()
	h.tos("N4-1", container, state.TOSArrived, "2026-11-28T10:20:00+08:00", "CUSTOMS")
	h.tos("N4-2", container, state.TOSDeparted, "2026-11-28T10:30:00+08:00")
	down := sync.AlertID(state.KindSinkDown, "ops-hook", "")
	h.eventually("sink_down for the webhook", func() bool { return h.notice(down, state.Firing) })
	return down
}

// TestSinkDownRestartResolves: a sink_down firing when the daemon stops is
// taken over by the next process. While the channel still fails after the
// restart, the alert keeps firing with its original since; once the
// channel delivers, it resolves and every channel gets the resolution.
func TestSinkDownRestartResolves(t *testing.T) {
	hook := newFlakyWebhook(t)
	h := newHarness(t, withWebhook(hook.URL))
	down := fireHookDown(h, c1)
	before, ok := h.firingAlert(down)
	if !ok {
		t.Fatal("sink_down not firing in the API")
	}

	h.stop()
	h.start()
	// Past apply_within with the webhook still failing: a tracker that
	// started afresh would fire the alert again with a new since.
	h.eventually("failed sends after the restart", func() bool {
		return counterSum(h.daemon.metrics, "portsync_notifications_total", map[string]string{"channel": "ops-hook", "result": "failed"}) >= 3
	})
	time.Sleep(3 * time.Second)
	after, ok := h.firingAlert(down)
	if !ok {
		t.Fatal("sink_down not firing after the restart while the webhook still fails")
	}
	if after["since"] != before["since"] {
		t.Errorf("sink_down since %v after the restart, want the original %v", after["since"], before["since"])
	}

	h.stop()
	hook.up.Store(true)
	h.start()
	h.eventually("sink_down resolves on mqtt after the restart", func() bool { return h.notice(down, state.Resolved) })
	h.eventually("the webhook gets the resolution", func() bool { return hook.got(down, state.Resolved) })
	if _, ok := h.firingAlert(down); ok {
		t.Error("sink_down still firing in the API")
	}
}

// TestSinkDownRestartChannelGoneResolves: a sink_down for a channel that is
// no longer configured, after a restart or a reload, resolves.
func TestSinkDownRestartChannelGoneResolves(t *testing.T) {
	hook := newFlakyWebhook(t)
	h := newHarness(t, withWebhook(hook.URL))
	down := fireHookDown(h, c2)
	withHook := h.yaml

	h.stop()
	h.yaml = strings.Replace(h.yaml, "\n    - {type: webhook, name: ops-hook, url: "+hook.URL+"}", "", 1)
	h.start()
	h.eventually("sink_down of the removed channel resolves after the restart", func() bool { return h.notice(down, state.Resolved) })

	// Back with the channel, still failing: it fires again; a reload
	// without it resolves it.
	h.stop()
	h.yaml = withHook
	h.start()
	h.eventually("sink_down fires again", func() bool {
		a, ok := h.firingAlert(down)
		return ok && a["state"] == state.Firing
	})
	h.mu.Lock()
	h.alerts = nil
	h.mu.Unlock()
	cfg := *h.cfg
	cfg.Alerts.Channels = cfg.Alerts.Channels[:1]
	if err := h.daemon.Reload(&cfg); err != nil {
		t.Fatal(err)
	}
	h.eventually("sink_down of the removed channel resolves after the reload", func() bool { return h.notice(down, state.Resolved) })
}
