package sync

import (
	"testing"

	"github.com/portsync/portsync/state"
)

func TestReleaseBeforeArrivalIsAppliedOnArrival(t *testing.T) {
	h := newHarness(t, nil)
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
