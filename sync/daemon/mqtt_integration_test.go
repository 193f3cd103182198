package daemon

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	stdsync "sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/portsync/portsync/state"
	"github.com/portsync/portsync/sync"
	"github.com/portsync/portsync/sync/httpapi"
)

func TestReleaseBeforeArrivalIsAppliedOnArrival(t *testing.T) {
	releaseBeforeArrival(t, newHarness(t, nil))
}

// releaseBeforeArrival: a release that comes before the container is
// applied on arrival, as a release_hold command for the agency's hold
// only. TestClusteredBrokers runs it on other brokers.
func releaseBeforeArrival(t *testing.T, h *harness) {
	h.agency("REL-1", "customs", state.Released, "2026-11-28T10:15:00+08:00", c1)
	h.eventually("container expected", func() bool {
		return h.get("/api/v1/containers/"+c1, nil) == 200
	})
	if d := h.container(c1); d.Presence != state.Expected || len(d.PendingCommands) != 0 {
		t.Fatalf("before arrival: presence %s, pending %v", d.Presence, d.PendingCommands)
	}
	h.tos("N4-1", c1, state.TOSArrived, "2026-11-28T10:20:00+08:00", "CUSTOMS", "PAYMENT")
	cmd := h.waitCommand(c1, state.ReleaseHold, "CUSTOMS")
	if cmd.Cause != "REL-1" || cmd.Agency != "customs" || cmd.Terminal != "CNSHA-T1" {
		t.Fatalf("command %+v", cmd)
	}
	for _, c := range h.commands(c1) {
		if c.Hold == "PAYMENT" {
			t.Fatalf("touched a hold that is not ours: %+v", c)
		}
	}
	h.tos("N4-2", c1, state.TOSHolds, "2026-11-28T10:21:00+08:00", "PAYMENT")
	h.eventually("command confirmed", func() bool {
		d := h.container(c1)
		return len(d.PendingCommands) == 0 && !d.Mismatch
	})
}

// ---------------------------------------------------------------------------
// Agency status: held, revocation, stale events, equal times.

func TestHeldEventAddsHold(t *testing.T) {
	h := newHarness(t, nil)
	h.agency("REL-1", "customs", state.Released, "2026-11-28T10:00:00+08:00", c1)
	h.tos("N4-1", c1, state.TOSArrived, "2026-11-28T10:05:00+08:00")
	h.eventually("c1 in yard and released", func() bool {
		d, ok := h.itLookup(c1)
		return ok && d.Presence == state.InYard && d.Agencies["customs"] == state.Released
	})
	h.itBarrier()
	if cmds := h.commands(c1); len(cmds) != 0 {
		t.Fatalf("released container without hold needs no command, got %+v", cmds)
	}

	h.agency("HLD-1", "customs", state.Held, "2026-11-28T10:30:00+08:00", c1)
	cmd := h.waitCommand(c1, state.AddHold, "CUSTOMS")
	if cmd.Cause != "HLD-1" || cmd.Agency != "customs" || cmd.Terminal != "CNSHA-T1" || cmd.ID == "" || cmd.Reason == "" {
		t.Fatalf("add_hold command %+v", cmd)
	}
	d := h.container(c1)
	if d.Agencies["customs"] != state.Held || d.Cleared {
		t.Fatalf("after held: agencies %v cleared %v", d.Agencies, d.Cleared)
	}
	if len(d.PendingCommands) != 1 || d.PendingCommands[0].ID != cmd.ID || d.PendingCommands[0].Cause != "HLD-1" {
		t.Fatalf("pending %+v, want the add_hold %s", d.PendingCommands, cmd.ID)
	}
}

func TestLaterHeldRevokesEarlierRelease(t *testing.T) {
	h := newHarness(t, nil)
	h.tos("N4-1", c1, state.TOSArrived, "2026-11-28T10:00:00+08:00", "CUSTOMS")
	h.agency("REL-1", "customs", state.Released, "2026-11-28T10:05:00+08:00", c1)
	rel := h.waitCommand(c1, state.ReleaseHold, "CUSTOMS")
	if rel.Cause != "REL-1" {
		t.Fatalf("release %+v", rel)
	}
	h.tos("N4-2", c1, state.TOSHolds, "2026-11-28T10:06:00+08:00")
	h.eventually("release confirmed", func() bool {
		d := h.container(c1)
		return len(d.PendingCommands) == 0 && !d.Mismatch && len(d.TOSHolds) == 0
	})

	h.agency("HLD-2", "customs", state.Held, "2026-11-28T11:00:00+08:00", c1)
	add := h.waitCommand(c1, state.AddHold, "CUSTOMS")
	if add.Cause != "HLD-2" || add.ID == rel.ID {
		t.Fatalf("add_hold %+v after release %+v", add, rel)
	}
	var actions []string
	for _, c := range h.commands(c1) {
		if len(actions) == 0 || actions[len(actions)-1] != c.Action {
			actions = append(actions, c.Action)
		}
	}
	if !slices.Equal(actions, []string{state.ReleaseHold, state.AddHold}) {
		t.Fatalf("command order %v, want release_hold then add_hold", actions)
	}
	if d := h.container(c1); d.Agencies["customs"] != state.Held || d.AgencyDetail["customs"].EventID != "HLD-2" || d.Cleared {
		t.Fatalf("after revocation: %+v", d.View)
	}
}

func TestStaleAgencyEventChangesNothing(t *testing.T) {
	h := newHarness(t, nil)
	h.tos("N4-1", c1, state.TOSArrived, "2026-11-28T10:00:00+08:00", "CUSTOMS")
	h.agency("REL-2", "customs", state.Released, "2026-11-28T11:00:00+08:00", c1)
	h.waitCommand(c1, state.ReleaseHold, "CUSTOMS")
	h.tos("N4-2", c1, state.TOSHolds, "2026-11-28T11:01:00+08:00")
	h.eventually("release confirmed", func() bool {
		d := h.container(c1)
		return len(d.PendingCommands) == 0 && !d.Mismatch
	})

	// A hold stamped before the release arrives late: it is journalled,
	// counted as stale and changes nothing.
	h.agency("HLD-OLD", "customs", state.Held, "2026-11-28T10:30:00+08:00", c1)
	h.eventually("stale event counted", func() bool {
		return h.itMetric("portsync_events_total", map[string]string{"source": "customs-mqtt", "result": "stale"}) == 1
	})
	h.itBarrier()
	if n := h.itMetric("portsync_events_total", map[string]string{"source": "customs-mqtt", "result": "applied"}); n != 1 {
		t.Errorf("applied customs events = %v, want 1", n)
	}
	for _, c := range h.commands(c1) {
		if c.Action == state.AddHold {
			t.Fatalf("stale held event issued %+v", c)
		}
	}
	d := h.container(c1)
	if d.Agencies["customs"] != state.Released || d.AgencyDetail["customs"].EventID != "REL-2" || d.Mismatch || len(d.PendingCommands) != 0 {
		t.Fatalf("stale event changed the container: %+v pending %+v", d.View, d.PendingCommands)
	}
	var found bool
	for _, e := range h.itHistory(c1) {
		if e.Kind == state.JournalAgencyEvent && e.EventID == "HLD-OLD" {
			found = true
			if e.Result != sync.ResultStale {
				t.Errorf("journal of stale event: result %q, want stale", e.Result)
			}
		}
	}
	if !found {
		t.Errorf("stale event HLD-OLD is not in the journal")
	}
}

func TestEqualAtHeldWins(t *testing.T) {
	h := newHarness(t, nil)
	const at = "2026-11-28T10:00:00+08:00"
	// c1: release, then a hold with the same time: the hold wins.
	h.agency("REL-A", "customs", state.Released, at, c1)
	h.agency("HLD-A", "customs", state.Held, at, c1)
	// c2: hold, then a release with the same time: the ledger records the
	// release (a later removal of the hold would let it stand), but the
	// hold wins.
	h.agency("HLD-B", "customs", state.Held, at, c2)
	h.agency("REL-B", "customs", state.Released, at, c2)
	h.eventually("all four events counted", func() bool {
		applied := h.itMetric("portsync_events_total", map[string]string{"source": "customs-mqtt", "result": "applied"})
		stale := h.itMetric("portsync_events_total", map[string]string{"source": "customs-mqtt", "result": "stale"})
		return applied+stale == 4
	})
	for id, want := range map[string]string{c1: "HLD-A", c2: "HLD-B"} {
		d := h.container(id)
		hold := d.AgencyDetail["customs"].Holds[""]
		if d.Agencies["customs"] != state.Held || hold.State != state.HoldOpen || hold.EventID != want {
			t.Errorf("%s: customs %s, general hold %+v, want held by %s", id, d.Agencies["customs"], hold, want)
		}
	}
	h.tos("N4-1", c1, state.TOSArrived, "2026-11-28T10:05:00+08:00")
	if cmd := h.waitCommand(c1, state.AddHold, "CUSTOMS"); cmd.Cause != "HLD-A" {
		t.Fatalf("add_hold %+v, want cause HLD-A", cmd)
	}
}

// ---------------------------------------------------------------------------
// when_unknown policies.

func TestWhenUnknownHoldAddsHoldOnArrival(t *testing.T) {
	h := newHarness(t, nil)
	h.tos("N4-1", c1, state.TOSArrived, "2026-11-28T10:00:00+08:00")
	cmd := h.waitCommand(c1, state.AddHold, "CUSTOMS")
	if cmd.Cause != state.CausePolicyUnknown || cmd.Agency != "customs" || cmd.Container != c1 {
		t.Fatalf("command %+v, want add_hold CUSTOMS caused by %s", cmd, state.CausePolicyUnknown)
	}
	h.itBarrier()
	for _, c := range h.commands(c1) {
		if c.Hold != "CUSTOMS" {
			t.Fatalf("unexpected command %+v (quarantine ignores unknown)", c)
		}
	}
	d := h.container(c1)
	if d.Agencies["customs"] != state.Unknown || !d.Mismatch || len(d.Mismatches) != 1 || d.Mismatches[0].Kind != state.KindMissingHold {
		t.Fatalf("view %+v mismatches %+v", d.View, d.Mismatches)
	}
}

func TestWhenUnknownIgnoreNeitherAddsNorRemoves(t *testing.T) {
	h := newHarness(t, nil)
	h.agency("REL-1", "customs", state.Released, "2026-11-28T10:00:00+08:00", c1, c2)
	h.tos("N4-1", c1, state.TOSArrived, "2026-11-28T10:05:00+08:00", "CIQ")
	h.tos("N4-2", c2, state.TOSArrived, "2026-11-28T10:05:00+08:00")
	h.eventually("both in yard", func() bool {
		d1, ok1 := h.itLookup(c1)
		d2, ok2 := h.itLookup(c2)
		return ok1 && ok2 && d1.Presence == state.InYard && d2.Presence == state.InYard
	})
	h.itBarrier()
	for _, id := range []string{c1, c2} {
		if cmds := h.commands(id); len(cmds) != 0 {
			t.Errorf("%s: quarantine unknown with when_unknown ignore issued %+v", id, cmds)
		}
		d := h.container(id)
		if d.Agencies["quarantine"] != state.Unknown || d.Mismatch || d.Cleared || len(d.PendingCommands) != 0 {
			t.Errorf("%s: view %+v pending %+v", id, d.View, d.PendingCommands)
		}
	}
	// Once quarantine speaks, its hold follows it.
	h.agency("CIQ-1", "quarantine", state.Released, "2026-11-28T10:10:00+08:00", c1)
	if cmd := h.waitCommand(c1, state.ReleaseHold, "CIQ"); cmd.Cause != "CIQ-1" || cmd.Agency != "quarantine" {
		t.Fatalf("command %+v", cmd)
	}
}

// ---------------------------------------------------------------------------
// Dedupe.

func TestDuplicateEventIsAppliedOnce(t *testing.T) {
	duplicateAppliedOnce(t, newHarness(t, nil))
}

// duplicateAppliedOnce: an event sent twice is applied and journaled once
// and counted as a duplicate. TestClusteredBrokers runs it on other
// brokers.
func duplicateAppliedOnce(t *testing.T, h *harness) {
	h.tos("N4-1", c1, state.TOSArrived, "2026-11-28T10:00:00+08:00", "CUSTOMS")
	h.agency("REL-1", "customs", state.Released, "2026-11-28T10:05:00+08:00", c1)
	h.agency("REL-1", "customs", state.Released, "2026-11-28T10:05:00+08:00", c1)
	// (The same id with other content is a new decision: see
	// TestReusedIDWithNewContentIsApplied.)
	h.eventually("duplicates counted", func() bool {
		return h.itMetric("portsync_events_total", map[string]string{"source": "customs-mqtt", "result": "duplicate"}) == 1
	})
	if n := h.itMetric("portsync_events_total", map[string]string{"source": "customs-mqtt", "result": "applied"}); n != 1 {
		t.Errorf("applied = %v, want 1", n)
	}
	h.waitCommand(c1, state.ReleaseHold, "CUSTOMS")
	h.itBarrier()
	ids := map[string]bool{}
	for _, c := range h.commands(c1) {
		ids[c.ID] = true
		if c.Action != state.ReleaseHold {
			t.Errorf("duplicate id changed the decision: %+v", c)
		}
	}
	if len(ids) != 1 {
		t.Errorf("commands %v, want one", ids)
	}
	n := 0
	for _, e := range h.itHistory(c1) {
		if e.Kind == state.JournalAgencyEvent && e.EventID == "REL-1" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("journal has %d entries for REL-1, want 1", n)
	}
	if d := h.container(c1); d.Agencies["customs"] != state.Released {
		t.Errorf("customs %s, want released", d.Agencies["customs"])
	}
	// Ids are unique per source: a TOS event that happens to carry the
	// same id is not a duplicate.
	h.tos("REL-1", c1, state.TOSHolds, "2026-11-28T10:06:00+08:00")
	h.eventually("TOS event REL-1 applied", func() bool {
		d := h.container(c1)
		return len(d.PendingCommands) == 0 && len(d.TOSHolds) == 0
	})
	if n := h.itMetric("portsync_events_total", map[string]string{"source": "tos-events", "result": "duplicate"}); n != 0 {
		t.Errorf("TOS event with an id another source used counted as duplicate")
	}
}

// ---------------------------------------------------------------------------
// Re-sends.

func TestUnconfirmedCommandIsResentWithBackoff(t *testing.T) {
	h := newHarness(t, nil)
	tp := h.itTap("tos/commands")
	h.tos("N4-1", c1, state.TOSArrived, "2026-11-28T10:00:00+08:00", "CUSTOMS")
	h.agency("REL-1", "customs", state.Released, "2026-11-28T10:05:00+08:00", c1)
	first := h.waitCommand(c1, state.ReleaseHold, "CUSTOMS")

	var sends []itMsg
	h.eventually("three sends of "+first.ID, func() bool {
		sends = tp.commands(first.ID)
		return len(sends) >= 3
	})
	for i, s := range sends {
		var c state.Command
		if err := json.Unmarshal(s.payload, &c); err != nil {
			t.Fatal(err)
		}
		if c.ID != first.ID || c.Action != first.Action || c.Hold != first.Hold || c.Cause != "REL-1" || c.Container != c1 {
			t.Errorf("send %d: %+v, want the same command as %+v", i, c, first)
		}
	}
	// Only lower bounds: a loaded machine delays a re-send, it never
	// brings one forward.
	g1, g2 := sends[1].at.Sub(sends[0].at), sends[2].at.Sub(sends[1].at)
	t.Logf("re-send gaps: %v, %v", g1, g2)
	if g1 < 800*time.Millisecond {
		t.Errorf("first re-send after %v, want at least about retry_after (1s)", g1)
	}
	if g2 < 1700*time.Millisecond {
		t.Errorf("second re-send after %v (first %v), want at least about 2s: the wait doubles", g2, g1)
	}
	if d := h.container(c1); len(d.PendingCommands) != 1 || d.PendingCommands[0].ID != first.ID || d.PendingCommands[0].Attempts < 3 {
		t.Errorf("pending %+v, want %s with >= 3 attempts", d.PendingCommands, first.ID)
	}

	// The TOS shows the hold gone: the command is confirmed and no longer sent.
	h.tos("N4-2", c1, state.TOSHolds, "2026-11-28T10:06:00+08:00")
	h.eventually("pending_commands empty", func() bool {
		d := h.container(c1)
		return len(d.PendingCommands) == 0 && !d.Mismatch
	})
	// The dispatcher hears of the commit after the store has it, which is
	// when the API shows it.
	h.eventually("the dispatcher forgets "+first.ID, func() bool {
		return len(h.daemon.engine().CommandAttempts([]string{first.ID})) == 0
	})
	n := len(tp.commands(first.ID))
	time.Sleep(1500 * time.Millisecond)
	if m := len(tp.commands(first.ID)); m != n {
		t.Errorf("command %s sent %d more times after confirmation", first.ID, m-n)
	}
	if c := h.itMetric("portsync_commands_total", map[string]string{"sink": h.cfg.TOS.Sink.Name, "action": state.ReleaseHold, "result": "confirmed"}); c != 1 {
		t.Errorf("confirmed commands metric = %v, want 1", c)
	}
	var confirmed bool
	for _, e := range h.itHistory(c1) {
		if e.Kind == state.JournalConfirmed && e.Command == first.ID {
			confirmed = true
		}
	}
	if !confirmed {
		t.Errorf("no command_confirmed in the journal")
	}
}

// ---------------------------------------------------------------------------
// Alerts.

func TestMismatchAlertsFireRepeatAndResolve(t *testing.T) {
	h := newHarness(t, nil)
	tp := h.itTap("portsync/alerts")
	// c1: released but the TOS keeps CUSTOMS (stale_hold).
	h.tos("N4-1", c1, state.TOSArrived, "2026-11-28T10:00:00+08:00", "CUSTOMS")
	h.agency("REL-1", "customs", state.Released, "2026-11-28T10:05:00+08:00", c1)
	// c2: held but the TOS has no CUSTOMS (missing_hold).
	h.agency("HLD-2", "customs", state.Held, "2026-11-28T10:05:00+08:00", c2)
	h.tos("N4-2", c2, state.TOSArrived, "2026-11-28T10:06:00+08:00")

	staleID := "stale_hold/" + c1 + "/customs"
	missingID := "missing_hold/" + c2 + "/customs"
	since := map[string]time.Time{}
	h.eventually("two mismatches", func() bool {
		ms := h.itMismatches()
		for _, m := range ms {
			since[m.Kind+"/"+m.Container+"/"+m.Agency] = m.Since
		}
		return len(ms) == 2
	})
	if since[staleID].IsZero() || since[missingID].IsZero() {
		t.Fatalf("mismatches %v, want %s and %s", since, staleID, missingID)
	}

	kinds := map[string]string{staleID: state.KindStaleHold, missingID: state.KindMissingHold}
	containers := map[string]string{staleID: c1, missingID: c2}
	first := map[string]itMsg{}
	for id := range kinds {
		h.eventually("first notice of "+id, func() bool {
			n := tp.alerts(id)
			if len(n) > 0 {
				first[id] = n[0]
			}
			return len(n) > 0
		})
		a := first[id].alert(t)
		if a.Kind != kinds[id] || a.State != state.Firing || a.Severity != "warning" || a.Container != containers[id] ||
			a.Agency != "customs" || a.Terminal != "CNSHA-T1" || a.Summary == "" {
			t.Errorf("%s: first notice %+v", id, a)
		}
		if !a.Since.Equal(since[id]) {
			t.Errorf("%s: since %v, mismatch since %v", id, a.Since, since[id])
		}
		// DESIGN 1: an alert fires within one second of since + apply_within.
		due := since[id].Add(2 * time.Second)
		if a.At.Before(due) || a.At.After(due.Add(time.Second)) {
			t.Errorf("%s: fired at %v, due %v (since %v + 2s): want within 1s", id, a.At, due, since[id])
		}
		if first[id].at.Before(due) {
			t.Errorf("%s: received at %v, before it was due %v", id, first[id].at, due)
		}
		if late := first[id].at.Sub(due); late > 2*time.Second {
			t.Errorf("%s: received %v after it was due", id, late)
		}
	}
	open := h.itFiringAlerts()
	for id := range kinds {
		if _, ok := open[id]; !ok {
			t.Errorf("GET /api/v1/alerts lacks %s: %v", id, sortedKeys(open))
		}
	}
	if d := h.container(c1); len(d.OpenAlerts) != 1 || !strings.Contains(string(d.OpenAlerts[0]), staleID) {
		t.Errorf("c1 open_alerts %s", d.OpenAlerts)
	}

	// Repeat every repeat_interval (3s) with the same id, still firing.
	for id := range kinds {
		var second itMsg
		h.eventually("repeat of "+id, func() bool {
			n := tp.alerts(id)
			if len(n) > 1 {
				second = n[1]
			}
			return len(n) > 1
		})
		a := second.alert(t)
		if a.ID != id || a.State != state.Firing || !a.Since.Equal(since[id]) {
			t.Errorf("%s: repeat %+v", id, a)
		}
		if gap := second.at.Sub(first[id].at); gap < 2500*time.Millisecond || gap > 5*time.Second {
			t.Errorf("%s: repeated after %v, want about 3s", id, gap)
		}
	}

	// The TOS confirms both: each alert is resolved once.
	h.tos("N4-3", c1, state.TOSHolds, "2026-11-28T10:07:00+08:00")
	h.tos("N4-4", c2, state.TOSHolds, "2026-11-28T10:07:00+08:00", "CUSTOMS")
	for id := range kinds {
		h.eventually("resolution of "+id, func() bool {
			for _, n := range tp.alerts(id) {
				if n.alert(t).State == state.Resolved {
					return true
				}
			}
			return false
		})
	}
	h.eventually("no alerts firing", func() bool { return len(h.itFiringAlerts()) == 0 })
	raw := h.itRawMismatches()
	if raw != "[]" {
		t.Errorf("mismatches after resolution: %s, want []", raw)
	}
	time.Sleep(1500 * time.Millisecond)
	for id := range kinds {
		var states []string
		for _, n := range tp.alerts(id) {
			states = append(states, n.alert(t).State)
		}
		// Firing once and once per repeat interval, then resolved once.
		if len(states) < 3 || states[len(states)-1] != state.Resolved ||
			slices.Contains(states[:len(states)-1], state.Resolved) {
			t.Errorf("%s: notices %v, want firing, firing (repeat), ..., resolved once at the end", id, states)
		}
	}
}

func TestUnauthorizedDepartureAlertsAtOnce(t *testing.T) {
	h := newHarness(t, nil)
	tp := h.itTap("portsync/alerts")
	// c2 is cleared and leaves: no alert.
	h.agency("REL-2", "customs", state.Released, "2026-11-28T09:00:00+08:00", c2)
	h.agency("CIQ-2", "quarantine", state.Released, "2026-11-28T09:00:00+08:00", c2)
	h.tos("N4-21", c2, state.TOSArrived, "2026-11-28T09:10:00+08:00")
	h.tos("N4-22", c2, state.TOSDeparted, "2026-11-28T09:20:00+08:00")
	// c1 is held by the when_unknown policy and leaves anyway.
	h.tos("N4-1", c1, state.TOSArrived, "2026-11-28T10:00:00+08:00", "CUSTOMS")
	h.tos("N4-2", c1, state.TOSDeparted, "2026-11-28T10:30:00+08:00")
	id := "unauthorized_departure/" + c1
	var n itMsg
	h.eventually("unauthorized_departure notice", func() bool {
		ns := tp.alerts(id)
		if len(ns) > 0 {
			n = ns[0]
		}
		return len(ns) > 0
	})
	a := n.alert(t)
	if a.Kind != state.KindUnauthorizedDeparture || a.Severity != "critical" || a.State != state.Firing || a.Container != c1 {
		t.Fatalf("notice %+v", a)
	}
	var departedAt time.Time
	for _, e := range h.itHistory(c1) {
		if e.Kind == state.JournalTOSEvent && e.EventID == "N4-2" {
			departedAt = e.At
		}
	}
	if departedAt.IsZero() {
		t.Fatalf("departure not journalled")
	}
	if d := a.At.Sub(departedAt); d < 0 || d > 500*time.Millisecond {
		t.Errorf("alert at %v, departure applied at %v: want at once, not after the SLA", a.At, departedAt)
	}
	if _, ok := h.itFiringAlerts()[id]; !ok {
		t.Errorf("GET /api/v1/alerts lacks %s", id)
	}
	d := h.container(c1)
	if d.Presence != state.Departed || !slices.Equal(d.TOSHolds, []string{"CUSTOMS"}) {
		t.Errorf("departed without holds: presence %s holds %v, want departed keeping [CUSTOMS]", d.Presence, d.TOSHolds)
	}
	for _, a := range tp.all() {
		if strings.Contains(string(a.payload), c2) {
			t.Errorf("cleared container departed and raised %s", a.payload)
		}
	}
	if d := h.container(c2); d.Presence != state.Departed || len(d.OpenAlerts) != 0 {
		t.Errorf("c2: presence %s open alerts %s", d.Presence, d.OpenAlerts)
	}
}

// ---------------------------------------------------------------------------
// Retained status (DESIGN 3.5).

func TestRetainedStatusPublishedAfterEveryChange(t *testing.T) {
	h := newHarness(t, nil)
	h.agency("REL-1", "customs", state.Released, "2026-11-28T10:00:00+08:00", c1)
	h.itWaitStatus(c1, "expected, customs released", func(v sync.View) bool {
		return v.Presence == state.Expected && v.Agencies["customs"] == state.Released &&
			v.Agencies["quarantine"] == state.Unknown && !v.Cleared && !v.Mismatch
	})
	h.tos("N4-1", c1, state.TOSArrived, "2026-11-28T10:05:00+08:00", "CUSTOMS", "PAYMENT")
	h.itWaitStatus(c1, "in yard with stale hold", func(v sync.View) bool {
		return v.Presence == state.InYard && slices.Equal(v.TOSHolds, []string{"CUSTOMS", "PAYMENT"}) && v.Mismatch
	})
	h.tos("N4-2", c1, state.TOSHolds, "2026-11-28T10:06:00+08:00", "PAYMENT")
	h.itWaitStatus(c1, "hold released", func(v sync.View) bool {
		return slices.Equal(v.TOSHolds, []string{"PAYMENT"}) && !v.Mismatch && !v.Cleared
	})
	h.agency("CIQ-1", "quarantine", state.Released, "2026-11-28T10:07:00+08:00", c1)
	final := h.itWaitStatus(c1, "cleared", func(v sync.View) bool {
		return v.Cleared && v.Agencies["quarantine"] == state.Released && v.Agencies["customs"] == state.Released
	})
	if final.UpdatedAt.IsZero() || final.Container != c1 {
		t.Errorf("status %+v", final)
	}

	// A subscriber that comes later gets the latest view, retained.
	got := make(chan paho.Message, 4)
	c := h.itClient("late")
	if tok := c.Subscribe("portsync/status/"+c1, 1, func(_ paho.Client, m paho.Message) { got <- m }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	select {
	case m := <-got:
		if !m.Retained() {
			t.Errorf("status message is not retained")
		}
		var v sync.View
		if err := json.Unmarshal(m.Payload(), &v); err != nil {
			t.Fatal(err)
		}
		if !v.Cleared || v.Container != c1 || v.Presence != state.InYard {
			t.Errorf("retained status %s", m.Payload())
		}
		var raw map[string]any
		json.Unmarshal(m.Payload(), &raw)
		for _, k := range []string{"container", "cleared", "presence", "agencies", "tos_holds", "mismatch", "updated_at"} {
			if _, ok := raw[k]; !ok {
				t.Errorf("retained status lacks %q: %s", k, m.Payload())
			}
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no retained status for a new subscriber")
	}
}

// ---------------------------------------------------------------------------
// Dead letters.

func TestBadInputIsDeadLetteredAndGoodInputStillApplied(t *testing.T) {
	h := newHarness(t, nil)
	const at = "2026-11-28T10:00:00+08:00"
	malformed := `{"id":"BAD-1","agency":"customs","status":`
	badDigit := fmt.Sprintf(`{"id":"BAD-2","agency":"customs","status":"released","containers":["MSCU1234567"],"at":%q}`, at)
	forbidden := fmt.Sprintf(`{"id":"BAD-3","agency":"customs","status":"released","containers":[%q],"at":%q}`, c1, at)
	unknown := fmt.Sprintf(`{"id":"BAD-4","agency":"police","status":"released","containers":[%q],"at":%q}`, c1, at)
	h.publish("customs/releases", malformed)
	h.publish("customs/releases", badDigit)
	h.publish("ciq/releases", forbidden)
	h.publish("customs/releases", unknown)
	h.agency("REL-OK", "customs", state.Released, at, c2)

	h.eventually("good event after bad ones applied", func() bool {
		d, ok := h.itLookup(c2)
		return ok && d.Agencies["customs"] == state.Released
	})
	var dls []state.DeadLetter
	h.eventually("four dead letters", func() bool {
		dls = h.itDeadLetters()
		return len(dls) == 4
	})
	byPayload := map[string]state.DeadLetter{}
	for _, d := range dls {
		byPayload[d.Payload] = d
		if d.ID == "" || d.ReceivedAt.IsZero() {
			t.Errorf("dead letter without id or received_at: %+v", d)
		}
	}
	cases := []struct {
		payload, source, code string
		reason                []string
	}{
		{malformed, "customs-mqtt", state.CodeMalformed, []string{"JSON"}},
		{badDigit, "customs-mqtt", state.CodeBadCheckDigit, []string{"containers", "MSCU1234567"}},
		{forbidden, "ciq-mqtt", state.CodeForbiddenAgency, []string{"customs"}},
		{unknown, "customs-mqtt", state.CodeInvalidField, []string{"agency", "police"}},
	}
	for _, c := range cases {
		d, ok := byPayload[c.payload]
		if !ok {
			t.Errorf("no dead letter with payload %s", c.payload)
			continue
		}
		if d.Source != c.source || d.Code != c.code {
			t.Errorf("dead letter %s: source %s code %s, want %s %s", c.payload, d.Source, d.Code, c.source, c.code)
		}
		for _, w := range c.reason {
			if !strings.Contains(d.Reason, w) {
				t.Errorf("dead letter %s: reason %q does not name %q", d.Code, d.Reason, w)
			}
		}
		if c.code == state.CodeBadCheckDigit && !regexp.MustCompile(`\b6\b`).MatchString(d.Reason) {
			t.Errorf("check digit reason %q does not name the right digit 6", d.Reason)
		}
	}
	for _, m := range []struct{ source, reason string }{
		{"customs-mqtt", state.CodeMalformed},
		{"customs-mqtt", state.CodeBadCheckDigit},
		{"ciq-mqtt", state.CodeForbiddenAgency},
		{"customs-mqtt", state.CodeInvalidField},
	} {
		if n := h.itMetric("portsync_deadletters_total", map[string]string{"source": m.source, "reason": m.reason}); n != 1 {
			t.Errorf("portsync_deadletters_total{source=%s,reason=%s} = %v, want 1", m.source, m.reason, n)
		}
	}
	if n := h.itMetric("portsync_events_total", map[string]string{"source": "customs-mqtt", "result": "rejected"}); n != 3 {
		t.Errorf("rejected customs events = %v, want 3", n)
	}
	// The forbidden release did not touch c1.
	if code := h.get("/api/v1/containers/"+c1, nil); code != http.StatusNotFound {
		t.Errorf("a forbidden or unknown agency event created %s (HTTP %d)", c1, code)
	}
	for _, src := range []string{"customs-mqtt", "ciq-mqtt"} {
		id := "invalid_input/" + src
		h.eventually("invalid_input alert for "+src, func() bool { return len(h.alertsFor(id)) > 0 })
		a := h.alertsFor(id)[0]
		if a["kind"] != state.KindInvalidInput || a["state"] != state.Firing {
			t.Errorf("alert %v", a)
		}
		if _, ok := h.itFiringAlerts()[id]; !ok {
			t.Errorf("GET /api/v1/alerts lacks %s", id)
		}
	}
}

// TestInvalidInputAlertIsGroupedPerSource: DESIGN 3.4, invalid_input is one
// alert per source, grouped, sent once when it fires and again only every
// repeat_interval (3s here), however many bad messages arrive.
func TestInvalidInputAlertIsGroupedPerSource(t *testing.T) {
	h := newHarness(t, nil)
	const at = "2026-11-28T10:00:00+08:00"
	h.publish("customs/releases", `{"id":"BAD-1","agency":"customs","status":`)
	h.publish("customs/releases", fmt.Sprintf(`{"id":"BAD-2","agency":"customs","status":"released","containers":["MSCU1234567"],"at":%q}`, at))
	h.publish("customs/releases", fmt.Sprintf(`{"id":"BAD-4","agency":"police","status":"released","containers":[%q],"at":%q}`, c1, at))
	h.eventually("three dead letters", func() bool { return len(h.itDeadLetters()) == 3 })
	h.eventually("invalid_input alert", func() bool { return len(h.alertsFor("invalid_input/customs-mqtt")) > 0 })
	time.Sleep(500 * time.Millisecond)
	if ns := h.alertsFor("invalid_input/customs-mqtt"); len(ns) != 1 {
		t.Errorf("invalid_input/customs-mqtt sent %d times within 0.5s, want once (repeat_interval is 3s): %v", len(ns), ns)
	}
	if a := h.itFiringAlerts()["invalid_input/customs-mqtt"]; !strings.Contains(a.Summary, "3 invalid") {
		t.Errorf("invalid_input summary %q does not count the 3 messages", a.Summary)
	}
}

func TestTooLargePayloadIsDeadLettered(t *testing.T) {
	h := newHarness(t, nil)
	big := fmt.Sprintf(`{"id":"BIG-1","agency":"customs","status":"released","containers":[%q],"at":"2026-11-28T10:00:00+08:00","reason":"%s"}`,
		c1, strings.Repeat("x", 1<<20+100))
	h.publish("customs/releases", big)
	h.agency("REL-OK", "customs", state.Released, "2026-11-28T10:00:00+08:00", c2)
	var dls []state.DeadLetter
	h.eventually("too_large dead letter", func() bool {
		dls = h.itDeadLetters()
		return len(dls) == 1
	})
	d := dls[0]
	if d.Code != state.CodeTooLarge || d.Source != "customs-mqtt" || d.Reason == "" {
		t.Errorf("dead letter %+v", d)
	}
	if d.Payload == "" || !strings.HasPrefix(big, d.Payload) || len(d.Payload) >= len(big) {
		t.Errorf("dead letter payload: %d bytes, want a prefix of the %d sent", len(d.Payload), len(big))
	}
	// The counter moves just after the commit that made the dead letter
	// visible.
	tooLarge := func() float64 {
		return h.itMetric("portsync_deadletters_total", map[string]string{"source": "customs-mqtt", "reason": state.CodeTooLarge})
	}
	h.eventually("too_large metric", func() bool { return tooLarge() >= 1 })
	if n := tooLarge(); n != 1 {
		t.Errorf("too_large metric = %v", n)
	}
	if code := h.get("/api/v1/containers/"+c1, nil); code != http.StatusNotFound {
		t.Errorf("too-large message was applied to %s", c1)
	}
	h.eventually("good event applied", func() bool {
		d, ok := h.itLookup(c2)
		return ok && d.Agencies["customs"] == state.Released
	})
}

func TestDeadLetterRetryOfBadPayloadKeepsIt(t *testing.T) {
	h := newHarness(t, nil)
	h.publish("customs/releases", `{"id":"BAD-2","agency":"customs","status":"released","containers":["MSCU1234567"],"at":"2026-11-28T10:00:00+08:00"}`)
	var dls []state.DeadLetter
	h.eventually("dead letter", func() bool {
		dls = h.itDeadLetters()
		return len(dls) == 1
	})
	id := dls[0].ID
	code, body := h.itRequest(http.MethodPost, "/api/v1/deadletters/"+id+"/retry", "", nil)
	if code != http.StatusUnprocessableEntity {
		t.Fatalf("retry: HTTP %d %s, want 422", code, body)
	}
	var ans map[string]any
	if err := json.Unmarshal(body, &ans); err != nil || ans["error"] == nil || ans["error"] == "" {
		t.Errorf("retry answer %s: want a JSON error", body)
	}
	if ans["code"] != nil && ans["code"] != state.CodeBadCheckDigit {
		t.Errorf("retry code %v", ans["code"])
	}
	after := h.itDeadLetters()
	if len(after) != 1 || after[0].ID != id || after[0].Payload != dls[0].Payload || after[0].Code != dls[0].Code {
		t.Errorf("after a failed retry: %+v, want %+v kept", after, dls[0])
	}
	if n := h.itMetric("portsync_deadletters_total", map[string]string{"source": "customs-mqtt", "reason": state.CodeBadCheckDigit}); n != 1 {
		t.Errorf("a failed retry counted as a new dead letter: %v", n)
	}
	if code, body := h.itRequest(http.MethodPost, "/api/v1/deadletters/dl-999999999999/retry", "", nil); code != http.StatusNotFound {
		t.Errorf("retry of unknown dead letter: HTTP %d %s, want 404", code, body)
	}
}

// ---------------------------------------------------------------------------
// History.

func TestHistoryAPI(t *testing.T) {
	h := newHarness(t, nil)
	h.agency("REL-1", "customs", state.Released, "2026-11-28T10:00:00+08:00", c1)
	h.tos("N4-1", c1, state.TOSArrived, "2026-11-28T10:05:00+08:00", "CUSTOMS")
	cmd := h.waitCommand(c1, state.ReleaseHold, "CUSTOMS")
	h.eventually("command_sent journalled", func() bool {
		for _, e := range h.itHistory(c1) {
			if e.Kind == state.JournalCommandSent {
				return true
			}
		}
		return false
	})
	h.tos("N4-2", c1, state.TOSHolds, "2026-11-28T10:06:00+08:00")
	var hist []state.JournalEntry
	h.eventually("command_confirmed journalled", func() bool {
		hist = h.itHistory(c1)
		for _, e := range hist {
			if e.Kind == state.JournalConfirmed {
				return true
			}
		}
		return false
	})
	want := []struct{ kind, event string }{
		{state.JournalAgencyEvent, "REL-1"},
		{state.JournalTOSEvent, "N4-1"},
		{state.JournalCommand, "REL-1"},
		{state.JournalCommandSent, "REL-1"},
		{state.JournalTOSEvent, "N4-2"},
		{state.JournalConfirmed, "REL-1"},
	}
	i := 0
	var kinds []string
	for _, e := range hist {
		kinds = append(kinds, e.Kind+":"+e.EventID)
		if i < len(want) && e.Kind == want[i].kind && e.EventID == want[i].event {
			if e.Kind == state.JournalCommand || e.Kind == state.JournalCommandSent || e.Kind == state.JournalConfirmed {
				if e.Command != cmd.ID || e.Action != state.ReleaseHold || e.Hold != "CUSTOMS" {
					t.Errorf("%s entry %+v, want command %s", e.Kind, e, cmd.ID)
				}
			}
			i++
		}
	}
	if i != len(want) {
		t.Errorf("history %v, want in order %v", kinds, want)
	}
	for j := 1; j < len(hist); j++ {
		if hist[j].At.Before(hist[j-1].At) || hist[j].Seq <= hist[j-1].Seq {
			t.Errorf("history not oldest first at %d: %+v after %+v", j, hist[j], hist[j-1])
		}
	}
	if code, body := h.itRequest(http.MethodGet, "/api/v1/containers/"+c3+"/history", "", nil); code != http.StatusNotFound || !itIsJSONError(body) {
		t.Errorf("history of unknown container: HTTP %d %s, want 404 with a JSON error", code, body)
	}
	for _, bad := range []string{"MSCU123", "MSCU1234567"} {
		if code, body := h.itRequest(http.MethodGet, "/api/v1/containers/"+bad+"/history", "", nil); code != http.StatusBadRequest || !itIsJSONError(body) {
			t.Errorf("history of %s: HTTP %d %s, want 400 with a JSON error", bad, code, body)
		}
	}
}

// ---------------------------------------------------------------------------
// HTTP API: token, sweep.

func TestBearerToken(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "api.token")
	if err := os.WriteFile(tokenFile, []byte("  s3cret-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, func(y string) string {
		return strings.Replace(y, `http: {listen: "127.0.0.1:0"}`,
			fmt.Sprintf(`http: {listen: "127.0.0.1:0", token_file: %s}`, tokenFile), 1)
	})
	if !strings.Contains(h.yaml, "token_file") {
		t.Fatal("could not set http.token_file")
	}
	for _, p := range []struct{ method, path string }{
		{http.MethodGet, "/api/v1/mismatches"},
		{http.MethodGet, "/api/v1/alerts"},
		{http.MethodGet, "/api/v1/deadletters"},
		{http.MethodPost, "/api/v1/sweep"},
		{http.MethodGet, "/"},
	} {
		if code, body := h.itRequest(p.method, p.path, "", nil); code != http.StatusUnauthorized || (p.path != "/" && !itIsJSONError(body)) {
			t.Errorf("%s %s without token: HTTP %d %s, want 401", p.method, p.path, code, body)
		}
		if code, _ := h.itRequest(p.method, p.path, "wrong", nil); code != http.StatusUnauthorized {
			t.Errorf("%s %s with a wrong token: HTTP %d, want 401", p.method, p.path, code)
		}
		if code, body := h.itRequest(p.method, p.path, "s3cret-token", nil); code != http.StatusOK {
			t.Errorf("%s %s with the token: HTTP %d %s, want 200", p.method, p.path, code, body)
		}
	}
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		if code, body := h.itRequest(http.MethodGet, p, "", nil); code != http.StatusOK {
			t.Errorf("GET %s without token: HTTP %d %s, want 200", p, code, body)
		}
	}
}

func TestSweepAnswersWithCount(t *testing.T) {
	h := newHarness(t, nil)
	h.tos("N4-1", c1, state.TOSArrived, "2026-11-28T10:00:00+08:00", "CUSTOMS")
	h.agency("REL-1", "customs", state.Released, "2026-11-28T10:05:00+08:00", c1)
	cmd := h.waitCommand(c1, state.ReleaseHold, "CUSTOMS")
	code, body := h.itRequest(http.MethodPost, "/api/v1/sweep", "", nil)
	if code != http.StatusOK {
		t.Fatalf("sweep: HTTP %d %s", code, body)
	}
	var ans struct {
		Containers *int `json:"containers"`
	}
	if err := json.Unmarshal(body, &ans); err != nil || ans.Containers == nil {
		t.Fatalf("sweep answer %s: want {\"containers\": N} (%v)", body, err)
	}
	if *ans.Containers < 1 {
		t.Errorf("sweep decided %d containers, want at least c1", *ans.Containers)
	}
	// The sweep leaves a consistent state: still one pending command, same id.
	d := h.container(c1)
	if len(d.PendingCommands) != 1 || d.PendingCommands[0].ID != cmd.ID {
		t.Errorf("after sweep: pending %+v, want %s", d.PendingCommands, cmd.ID)
	}
}

// ---------------------------------------------------------------------------
// Stop and restart.

func TestGracefulStopAndRestartKeepsState(t *testing.T) {
	h := newHarness(t, nil)
	h.tos("N4-1", c1, state.TOSArrived, "2026-11-28T10:00:00+08:00", "CUSTOMS", "PAYMENT")
	h.agency("REL-1", "customs", state.Released, "2026-11-28T10:05:00+08:00", c1, c2)
	h.agency("HLD-3", "customs", state.Held, "2026-11-28T10:05:00+08:00", c3)
	cmd := h.waitCommand(c1, state.ReleaseHold, "CUSTOMS")
	before := map[string]httpapi.ContainerDetail{}
	h.eventually("all three known", func() bool {
		for _, id := range []string{c1, c2, c3} {
			d, ok := h.itLookup(id)
			if !ok {
				return false
			}
			before[id] = d
		}
		return true
	})

	start := time.Now()
	h.stop()
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("stop took %v, want under 5s", took)
	}
	sent := len(h.commands(c1))
	h.start()

	for _, id := range []string{c1, c2, c3} {
		a, b := before[id], h.container(id)
		if a.Presence != b.Presence || a.Cleared != b.Cleared || a.Mismatch != b.Mismatch ||
			!slices.Equal(a.TOSHolds, b.TOSHolds) || fmt.Sprint(a.Agencies) != fmt.Sprint(b.Agencies) ||
			// c1's mismatch may outlive the SLA meanwhile, which updates it.
			!a.Mismatch && !a.UpdatedAt.Equal(b.UpdatedAt) {
			t.Errorf("%s after restart: %+v, before %+v", id, b.View, a.View)
		}
		var pa, pb []string
		for _, p := range a.PendingCommands {
			pa = append(pa, p.ID+"/"+p.Action+"/"+p.Hold)
		}
		for _, p := range b.PendingCommands {
			pb = append(pb, p.ID+"/"+p.Action+"/"+p.Hold)
		}
		if !slices.Equal(pa, pb) {
			t.Errorf("%s: pending %v after restart, before %v", id, pb, pa)
		}
		if len(a.Mismatches) != len(b.Mismatches) {
			t.Errorf("%s: mismatches %+v after restart, before %+v", id, b.Mismatches, a.Mismatches)
		}
		for i := range min(len(a.Mismatches), len(b.Mismatches)) {
			if !a.Mismatches[i].Since.Equal(b.Mismatches[i].Since) {
				t.Errorf("%s: mismatch since %v after restart, before %v", id, b.Mismatches[i].Since, a.Mismatches[i].Since)
			}
		}
	}
	// The outbox survived: the pending command goes out again with its id.
	h.eventually("pending command re-sent after restart", func() bool {
		cmds := h.commands(c1)
		return len(cmds) > sent && cmds[len(cmds)-1].ID == cmd.ID
	})
	// And the restarted daemon still works.
	h.tos("N4-2", c1, state.TOSHolds, "2026-11-28T10:06:00+08:00", "PAYMENT")
	h.eventually("confirmed after restart", func() bool {
		d := h.container(c1)
		return len(d.PendingCommands) == 0 && !d.Mismatch
	})
}

// ---------------------------------------------------------------------------
// Helpers of this file.

// itContainer returns a container number with a valid check digit.
func itContainer(owner string, serial int) string {
	p := fmt.Sprintf("%s%06d", owner, serial)
	return fmt.Sprintf("%s%d", p, state.CheckDigit(p))
}

var itBarrierSeq, itClientSeq atomic.Int64

// barrier returns once the daemon has applied everything published before
// it and the dispatcher has sent the commands that followed: it publishes
// the arrival of a fresh container, waits for the hold that the
// when_unknown policy asks for, and confirms it.
func (h *harness) itBarrier() {
	h.t.Helper()
	n := int(itBarrierSeq.Add(1))
	id := itContainer("BARU", n)
	// Sender times within the retention horizon whenever the test runs.
	now := time.Now().UTC().Truncate(time.Second)
	h.tos(fmt.Sprintf("BARRIER-%d-a", n), id, state.TOSArrived, now.Format(time.RFC3339))
	h.waitCommand(id, state.AddHold, "CUSTOMS")
	h.tos(fmt.Sprintf("BARRIER-%d-b", n), id, state.TOSHolds, now.Add(time.Second).Format(time.RFC3339), "CUSTOMS")
	h.eventually("barrier confirmed", func() bool {
		d, ok := h.itLookup(id)
		return ok && len(d.PendingCommands) == 0 && !d.Mismatch
	})
}

// request sends an HTTP request to the daemon, with a bearer token unless
// token is empty, and returns the status and the body.
func (h *harness) itRequest(method, path, token string, body []byte) (int, []byte) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.base()+path, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp.StatusCode, data
}

func itIsJSONError(body []byte) bool {
	var e map[string]any
	if err := json.Unmarshal(body, &e); err != nil {
		return false
	}
	s, ok := e["error"].(string)
	return ok && s != ""
}

// lookup fetches a container's detail, ok false while it is unknown.
func (h *harness) itLookup(id string) (httpapi.ContainerDetail, bool) {
	h.t.Helper()
	var d httpapi.ContainerDetail
	code, body := h.itRequest(http.MethodGet, "/api/v1/containers/"+id, "", nil)
	if code == http.StatusNotFound {
		return d, false
	}
	if code != http.StatusOK {
		h.t.Fatalf("GET container %s: HTTP %d %s", id, code, body)
	}
	if err := json.Unmarshal(body, &d); err != nil {
		h.t.Fatalf("GET container %s: %v: %s", id, err, body)
	}
	return d, true
}

func (h *harness) itHistory(id string) []state.JournalEntry {
	h.t.Helper()
	var ans struct {
		Container string               `json:"container"`
		History   []state.JournalEntry `json:"history"`
	}
	if code := h.get("/api/v1/containers/"+id+"/history", &ans); code != http.StatusOK {
		h.t.Fatalf("history of %s: HTTP %d", id, code)
	}
	return ans.History
}

func (h *harness) itMismatches() []state.Mismatch {
	h.t.Helper()
	var ans struct {
		Mismatches []state.Mismatch `json:"mismatches"`
	}
	if code := h.get("/api/v1/mismatches", &ans); code != http.StatusOK {
		h.t.Fatalf("mismatches: HTTP %d", code)
	}
	return ans.Mismatches
}

// rawMismatches returns the JSON text of the mismatches list.
func (h *harness) itRawMismatches() string {
	h.t.Helper()
	var ans map[string]json.RawMessage
	if code := h.get("/api/v1/mismatches", &ans); code != http.StatusOK {
		h.t.Fatalf("mismatches: HTTP %d", code)
	}
	return strings.Join(strings.Fields(string(ans["mismatches"])), "")
}

// firingAlerts returns GET /api/v1/alerts by id.
func (h *harness) itFiringAlerts() map[string]itAlert {
	h.t.Helper()
	var ans struct {
		Alerts []itAlert `json:"alerts"`
	}
	if code := h.get("/api/v1/alerts", &ans); code != http.StatusOK {
		h.t.Fatalf("alerts: HTTP %d", code)
	}
	out := map[string]itAlert{}
	for _, a := range ans.Alerts {
		if a.State != state.Firing {
			h.t.Errorf("GET /api/v1/alerts lists %s in state %s", a.ID, a.State)
		}
		out[a.ID] = a
	}
	return out
}

func (h *harness) itDeadLetters() []state.DeadLetter {
	h.t.Helper()
	var ans struct {
		DeadLetters []state.DeadLetter `json:"deadletters"`
	}
	if code := h.get("/api/v1/deadletters", &ans); code != http.StatusOK {
		h.t.Fatalf("deadletters: HTTP %d", code)
	}
	return ans.DeadLetters
}

var itMetricLabel = regexp.MustCompile(`(\w+)="((?:[^"\\]|\\.)*)"`)

// metric returns the value of the sample of name with exactly labels in
// /metrics, 0 if there is none.
func (h *harness) itMetric(name string, labels map[string]string) float64 {
	h.t.Helper()
	code, body := h.itRequest(http.MethodGet, "/metrics", "", nil)
	if code != http.StatusOK {
		h.t.Fatalf("metrics: HTTP %d", code)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		series, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		got := map[string]string{}
		metricName, rest, hasLabels := strings.Cut(series, "{")
		if metricName != name {
			continue
		}
		if hasLabels {
			for _, m := range itMetricLabel.FindAllStringSubmatch(rest, -1) {
				got[m[1]] = m[2]
			}
		}
		if len(got) != len(labels) {
			continue
		}
		match := true
		for k, v := range labels {
			if got[k] != v {
				match = false
			}
		}
		if match {
			f, err := strconv.ParseFloat(strings.Fields(value)[0], 64)
			if err != nil {
				h.t.Fatalf("metric line %q: %v", line, err)
			}
			return f
		}
	}
	return 0
}

// waitStatus waits until the watcher's retained status of container
// satisfies cond.
func (h *harness) itWaitStatus(container, what string, cond func(sync.View) bool) sync.View {
	h.t.Helper()
	var v sync.View
	h.eventually("status of "+container+": "+what, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		var ok bool
		v, ok = h.status[container]
		return ok && cond(v)
	})
	return v
}

// newClient connects an MQTT client of the test's own to the broker.
func (h *harness) itClient(name string) paho.Client {
	h.t.Helper()
	opts := paho.NewClientOptions().AddBroker(h.broker.URL()).
		SetClientID(fmt.Sprintf("%s-%d-%d", name, itClientSeq.Add(1), time.Now().UnixNano())).
		SetCleanSession(true).SetOrderMatters(true).SetAutoReconnect(false)
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		h.t.Fatalf("%s connect: %v", name, tok.Error())
	}
	h.t.Cleanup(func() { c.Disconnect(100) })
	return c
}

// itMsg is one message a tap received, with the time it arrived.
type itMsg struct {
	at      time.Time
	payload []byte
}

// itAlert is an alert as it goes over the wire (DESIGN 3.4).
type itAlert struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	Severity  string    `json:"severity"`
	State     string    `json:"state"`
	Terminal  string    `json:"terminal"`
	Container string    `json:"container"`
	Agency    string    `json:"agency"`
	Since     time.Time `json:"since"`
	Summary   string    `json:"summary"`
	At        time.Time `json:"at"`
}

func (m itMsg) alert(t *testing.T) itAlert {
	t.Helper()
	var a itAlert
	if err := json.Unmarshal(m.payload, &a); err != nil {
		t.Fatalf("alert %s: %v", m.payload, err)
	}
	return a
}

// tap records every message on a topic with its arrival time.
type itTapRec struct {
	mu   stdsync.Mutex
	msgs []itMsg
}

func (h *harness) itTap(topic string) *itTapRec {
	h.t.Helper()
	tp := &itTapRec{}
	c := h.itClient("tap")
	tok := c.Subscribe(topic, 1, func(_ paho.Client, m paho.Message) {
		tp.mu.Lock()
		tp.msgs = append(tp.msgs, itMsg{at: time.Now(), payload: slices.Clone(m.Payload())})
		tp.mu.Unlock()
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		h.t.Fatalf("tap %s: %v", topic, tok.Error())
	}
	return tp
}

func (tp *itTapRec) all() []itMsg {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return slices.Clone(tp.msgs)
}

// withID returns the messages whose JSON "id" is id.
func (tp *itTapRec) withID(id string) []itMsg {
	var out []itMsg
	for _, m := range tp.all() {
		var v struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(m.payload, &v) == nil && v.ID == id {
			out = append(out, m)
		}
	}
	return out
}

func (tp *itTapRec) commands(id string) []itMsg { return tp.withID(id) }
func (tp *itTapRec) alerts(id string) []itMsg   { return tp.withID(id) }
