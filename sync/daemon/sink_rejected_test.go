package daemon

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	stdsync "sync"
	"testing"
	"time"

	_ "github.com/portsync/portsync/adapters/httpsink"
	"github.com/portsync/portsync/internal/testtos"
	"github.com/portsync/portsync/sync"

	"github.com/portsync/portsync/state"
)

// fakeTOSAPI is a TOS command API: it rejects commands for the
// containers in reject (409) and accepts the rest.
type fakeTOSAPI struct {
	mu     stdsync.Mutex
	reject map[string]bool
	got    []state.Command
}

func (f *fakeTOSAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var cmd state.Command
	if err := json.Unmarshal(body, &cmd); err != nil {
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, cmd)
	if f.reject[cmd.Container] {
		http.Error(w, `{"error":"container is under inspection"}`, http.StatusConflict)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func (f *fakeTOSAPI) sent(container string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.got {
		if c.Container == container {
			n++
		}
	}
	return n
}

func TestHTTPSinkRejectionIsParkedAlertedAndResolved(t *testing.T) {
	api := &fakeTOSAPI{reject: map[string]bool{c1: true}}
	srv := httptest.NewServer(api)
	defer srv.Close()
	h := newHarness(t, func(y string) string {
		return strings.Replace(y, "sink: {type: mqtt, broker: main, topic: tos/commands}", "sink: {type: http, url: "+srv.URL+"}", 1)
	})
	h.agency("REL-1", "customs", state.Released, "2026-11-28T10:15:00+08:00", c1, c2)
	h.tos("N4-1", c1, state.TOSArrived, "2026-11-28T10:20:00+08:00", "CUSTOMS")
	h.tos("N4-2", c2, state.TOSArrived, "2026-11-28T10:20:00+08:00", "CUSTOMS")

	alertID := sync.AlertID(state.KindCommandRejected, c1, "customs")
	h.eventually("command_rejected alert for c1", func() bool { return len(h.alertsFor(alertID)) > 0 })
	h.eventually("c2's command sent", func() bool { return api.sent(c2) > 0 })
	// retry_after is 1s: a command that is not parked would be sent again
	// within a few seconds; c2's is (it is not confirmed), c1's is not.
	time.Sleep(3500 * time.Millisecond)
	if n := api.sent(c1); n != 1 {
		t.Errorf("rejected command sent %d times, want 1 (parked until the next sweep)", n)
	}
	if n := api.sent(c2); n < 2 {
		t.Errorf("accepted, unconfirmed command sent %d times, want it re-sent", n)
	}
	if st := h.daemon.engine().OutputStatus()[0]; !st.Healthy || st.Breaker != "closed" {
		t.Errorf("sink status %+v after rejections, want healthy and closed", st)
	}

	// A sweep sends it once more; rejected again, the alert is not news.
	resp, err := h.httpc.Post(h.base()+"/api/v1/sweep", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	h.eventually("c1's command sent again after the sweep", func() bool { return api.sent(c1) == 2 })
	time.Sleep(500 * time.Millisecond)
	// Repeats (alerts.repeat_interval) carry the first since; a second
	// firing would start a new one.
	since := map[any]bool{}
	for _, a := range h.alertsFor(alertID) {
		since[a["since"]] = true
	}
	if len(since) != 1 {
		t.Errorf("the rejection fired %d times, want once", len(since))
	}

	// The TOS releases the hold after all: the command is confirmed and
	// the alert resolves.
	h.tos("N4-3", c1, state.TOSHolds, "2026-11-28T10:30:00+08:00")
	h.eventually("command_rejected resolved", func() bool {
		for _, a := range h.alertsFor(alertID) {
			if a["state"] == state.Resolved {
				return true
			}
		}
		return false
	})
}

func TestSweepAPIAppliesTheTOSSnapshot(t *testing.T) {
	tos, scfg := newSnapTOS(t)
	h := newHarness(t, func(y string) string {
		return strings.Replace(y, "sla:", "  snapshot: {type: http_poll, url: "+scfg.Keys.Scalar("url")+", token_file: "+scfg.Keys.Scalar("token_file")+"}\nsla:", 1)
	})
	h.tos("N4-1", c1, state.TOSArrived, "2026-11-28T10:20:00+08:00", "CUSTOMS")
	h.eventually("c1 in the yard", func() bool { d, ok := h.snapLookup(c1); return ok && d.Presence == state.InYard })
	tos.Serve(http.StatusOK, testtos.JSON(true, "2026-11-28T10:30:00+08:00", map[string][]string{c2: {"CUSTOMS"}}))
	resp, err := h.httpc.Post(h.base()+"/api/v1/sweep", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	var ans struct {
		Snapshot      *sync.SnapshotResult `json:"snapshot"`
		SnapshotError string               `json:"snapshot_error"`
		Containers    int                  `json:"containers"`
	}
	json.NewDecoder(resp.Body).Decode(&ans)
	resp.Body.Close()
	if ans.Snapshot == nil || ans.Snapshot.Repaired != 2 || ans.Snapshot.Departed != 1 {
		t.Errorf("sweep answer %+v (snapshot %+v), want 2 repaired, 1 departed", ans, ans.Snapshot)
	}
	if d, _ := h.snapLookup(c1); d.Presence != state.Departed {
		t.Errorf("c1 %s, want departed", d.Presence)
	}
	tos.Serve(http.StatusInternalServerError, "down")
	resp, err = h.httpc.Post(h.base()+"/api/v1/sweep", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	ans.SnapshotError = ""
	json.NewDecoder(resp.Body).Decode(&ans)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(ans.SnapshotError, "HTTP 500") {
		t.Errorf("sweep with the TOS down: HTTP %d, snapshot_error %q", resp.StatusCode, ans.SnapshotError)
	}
}

func TestSnapshotOnItsOwnSchedule(t *testing.T) {
	tos, scfg := newSnapTOS(t)
	tos.Serve(http.StatusOK, testtos.JSON(false, "2026-11-28T10:30:00+08:00", map[string][]string{c1: {"CUSTOMS"}}))
	h := newHarness(t, func(y string) string {
		return strings.Replace(y, "sla:", "  snapshot: {type: http_poll, url: "+scfg.Keys.Scalar("url")+", schedule: \"@every 1s\"}\nsla:", 1)
	})
	h.eventually("c1 known from the scheduled snapshot", func() bool {
		d, ok := h.snapLookup(c1)
		return ok && d.Presence == state.InYard
	})
}
