package daemon

import (
	"testing"

	"github.com/portsync/portsync/adapters/httppoll"
	"github.com/portsync/portsync/state"
	"github.com/portsync/portsync/sync"
)

// TestHTTPPollCursorLoopIsOneCountedDeadLetter: a customs API whose
// cursor goes back (c2 answers c1 again) no longer makes every round fetch
// 1000 pages. Each round stops at the repeat; the reports of the rounds
// are one cursor_loop dead letter with a count, and the source's
// invalid_input alert fires.
func TestHTTPPollCursorLoopIsOneCountedDeadLetter(t *testing.T) {
	srv := newPollServer(t, map[string]string{
		"":   pollPage("c1", pollEvent("LOOP-1", "released", "2026-11-28T10:00:00+08:00", c1)),
		"c1": pollPage("c2", pollEvent("LOOP-2", "released", "2026-11-28T10:01:00+08:00", c2)),
		"c2": pollPage("c1", pollEvent("LOOP-3", "released", "2026-11-28T10:02:00+08:00", c3)),
	})
	h := newHarness(t, withPollSource(t, srv))
	loops := func() float64 {
		return h.metricValue("portsync_source_failures_total", "source", "customs-poll", "reason", httppoll.CodeCursorLoop)
	}
	h.eventually("three looping rounds", func() bool { return loops() >= 3 })
	rounds := int(loops())
	// The first round starts with no cursor and needs a third request to
	// come back to one it sent; every later round starts on the loop and
	// stops at its second request. A round may be under way.
	if n, most := len(srv.requests()), 3+2*rounds; n > most {
		t.Errorf("%d requests in %d rounds, want at most %d", n, rounds, most)
	}
	var loopDLs []state.DeadLetter
	for _, d := range h.deadLetters() {
		if d.Source == "customs-poll" && d.Code == httppoll.CodeCursorLoop {
			loopDLs = append(loopDLs, d)
		}
	}
	if len(loopDLs) != 1 || loopDLs[0].Count < 3 {
		t.Fatalf("cursor_loop dead letters %+v, want one counting at least 3 rounds", loopDLs)
	}
	var a state.Alert
	var ok bool
	if err := h.daemon.store.View(func(tx *state.Tx) (err error) {
		a, ok, err = tx.Alert(sync.AlertID(state.KindInvalidInput, "customs-poll", ""))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if !ok || a.State != state.Firing || a.Count < 3 {
		t.Errorf("invalid_input alert of customs-poll = %+v (found %v), want firing with a count of at least 3", a, ok)
	}
	// The events of the pages before each loop are applied as ever.
	for _, c := range []string{c1, c2, c3} {
		if st := h.container(c).Agencies["customs"]; st != state.Released {
			t.Errorf("customs status of %s: %s, want released", c, st)
		}
	}
}
