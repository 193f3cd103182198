package daemon

import (
	"testing"

	"github.com/portsync/portsync/state"
	"github.com/portsync/portsync/sync"
)

// A sender that reuses an entry number for a new decision (customs entry
// CNSHA-2612-000201 going from H to R) must be heard: the same id with
// other content is applied and journaled as such; the same id with the
// same content stays a duplicate.
func TestReusedIDWithNewContentIsApplied(t *testing.T) {
	h := newHarness(t, nil)
	h.tos("T1", c1, state.TOSArrived, "2026-11-28T10:00:00+08:00", "CUSTOMS")
	h.agency("CNSHA-2612-000201", "customs", state.Held, "2026-11-28T10:05:00+08:00", c1)
	waitStatus(h, c1, "customs", state.Held)
	h.agency("CNSHA-2612-000201", "customs", state.Held, "2026-11-28T10:05:00+08:00", c1) // re-delivery
	h.agency("CNSHA-2612-000201", "customs", state.Released, "2026-11-28T11:30:00+08:00", c1)
	waitStatus(h, c1, "customs", state.Released)
	h.waitCommand(c1, state.ReleaseHold, "CUSTOMS")

	h.eventually("one duplicate counted", func() bool {
		return counterSum(h.daemon.metrics, "portsync_events_total", map[string]string{"source": "customs-mqtt", "result": sync.ResultDuplicate}) == 1
	})
	if n := counterSum(h.daemon.metrics, "portsync_events_total", map[string]string{"source": "customs-mqtt", "result": sync.ResultApplied}); n != 2 {
		t.Errorf("applied = %v, want 2", n)
	}
	var reused int
	for _, e := range dropJournal(h, c1) {
		if e.Kind == state.JournalAgencyEvent && e.ReusedID {
			reused++
			if e.Status != string(state.Released) {
				t.Errorf("reused id marked on %+v", e)
			}
		}
	}
	if reused != 1 {
		t.Errorf("%d journal entries marked reused_id, want 1", reused)
	}
}
