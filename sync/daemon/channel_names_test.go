package daemon

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
	"github.com/portsync/portsync/sync"
)

// breakerNames lists the names of portsync_breaker_state's series.
func breakerNames(t *testing.T, m *sync.Metrics) []string {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		if mf.GetName() != "portsync_breaker_state" {
			continue
		}
		for _, mt := range mf.GetMetric() {
			for _, l := range mt.GetLabel() {
				if l.GetName() == "name" {
					names = append(names, l.GetValue())
				}
			}
		}
	}
	slices.Sort(names)
	return names
}

// TestChannelNamesSurviveAnInsertedChannel: firing alerts have gone out on
// the mqtt channel; a reload inserts a webhook before it. The webhook gets
// the firing alerts (it has had none), the mqtt channel gets nothing again
// (it is the same channel, under the same name), and its breaker and
// notification series keep their names.
func TestChannelNamesSurviveAnInsertedChannel(t *testing.T) {
	// A long repeat interval: any notice after the first is a re-send.
	h := newHarness(t, func(y string) string { return strings.Replace(y, "repeat_interval: 3s", "repeat_interval: 1h", 1) })
	ids := []string{sync.AlertID(state.KindUnauthorizedDeparture, c1, ""), sync.AlertID(state.KindUnauthorizedDeparture, c2, "")}
	for i, c := range []string{c1, c2} {
		h.tos("N4-A"+string(rune('0'+i)), c, state.TOSArrived, "2026-11-28T10:20:00+08:00", "CUSTOMS")
		h.tos("N4-D"+string(rune('0'+i)), c, state.TOSDeparted, "2026-11-28T10:30:00+08:00")
	}
	for _, id := range ids {
		h.eventually(id+" on mqtt", func() bool { return len(h.alertsFor(id)) > 0 })
	}
	mqttName := h.cfg.Alerts.Channels[0].Name
	if !strings.HasPrefix(mqttName, "mqtt-main-") {
		t.Fatalf("mqtt channel named %q, want a name from its broker and topic", mqttName)
	}
	sent := counterSum(h.daemon.metrics, "portsync_notifications_total", map[string]string{"channel": mqttName, "result": "sent"})
	breakers := breakerNames(t, h.daemon.metrics)
	if !slices.Contains(breakers, "channel:"+mqttName) {
		t.Fatalf("no breaker channel:%s among %v", mqttName, breakers)
	}
	before := map[string]int{}
	for _, id := range ids {
		before[id] = len(h.alertsFor(id))
	}

	hook := newFlakyWebhook(t)
	hook.up.Store(true)
	next := strings.Replace(h.yaml, "    - {type: mqtt, broker: main, topic: portsync/alerts}",
		"    - {type: webhook, url: "+hook.URL+"/alerts}\n    - {type: mqtt, broker: main, topic: portsync/alerts}", 1)
	cfg, err := config.Parse("reloaded.yaml", []byte(next), adapters.Registry)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Alerts.Channels[1].Name; got != mqttName {
		t.Fatalf("after the insertion the mqtt channel is named %q, was %q", got, mqttName)
	}
	if err := h.daemon.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		h.eventually(id+" on the new webhook", func() bool { return hook.got(id, state.Firing) })
	}
	// The pass that fed the webhook also went over the mqtt channel; give
	// a re-send time to arrive at the watcher.
	time.Sleep(time.Second)
	for _, id := range ids {
		if got := len(h.alertsFor(id)); got != before[id] {
			t.Errorf("%s: %d notices on mqtt after the reload, %d before: the mqtt channel got it again", id, got, before[id])
		}
	}
	if got := counterSum(h.daemon.metrics, "portsync_notifications_total", map[string]string{"channel": mqttName, "result": "sent"}); got != sent {
		t.Errorf("portsync_notifications_total{channel=%q,result=sent} went from %v to %v", mqttName, sent, got)
	}
	hookName := cfg.Alerts.Channels[0].Name
	if got := counterSum(h.daemon.metrics, "portsync_notifications_total", map[string]string{"channel": hookName, "result": "sent"}); got < float64(len(ids)) {
		t.Errorf("portsync_notifications_total{channel=%q,result=sent} = %v, want at least %d", hookName, got, len(ids))
	}
	after := breakerNames(t, h.daemon.metrics)
	want := slices.Sorted(slices.Values(append(slices.Clone(breakers), "channel:"+hookName)))
	if !slices.Equal(after, want) {
		t.Errorf("breakers after the reload %v, want %v", after, want)
	}
}
