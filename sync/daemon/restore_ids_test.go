package daemon

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/portsync/portsync/state"
)

// A store restored from a backup must never issue a command id again: the
// HTTP sink sends it as Idempotency-Key, and a TOS that honours it would
// drop a different command under a reused id in silence.
func TestRestoredBackupNeverReusesCommandIDs(t *testing.T) {
	h := newHarness(t, nil)
	h.tos("T0", c3, state.TOSArrived, "2026-11-28T10:00:00+08:00", "CUSTOMS")
	h.agency("R0", "customs", state.Released, "2026-11-28T10:01:00+08:00", c3)
	h.waitCommand(c3, state.ReleaseHold, "CUSTOMS")

	resp, err := h.httpc.Get(h.base() + "/api/v1/backup")
	if err != nil {
		t.Fatal(err)
	}
	backup, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("backup: HTTP %d, %v", resp.StatusCode, err)
	}

	h.tos("T1", c1, state.TOSArrived, "2026-11-28T10:00:00+08:00", "CUSTOMS")
	h.agency("R1", "customs", state.Released, "2026-11-28T10:01:00+08:00", c1)
	first := h.waitCommand(c1, state.ReleaseHold, "CUSTOMS")

	h.stop()
	if err := os.WriteFile(filepath.Join(h.dir, state.FileName), backup, 0o600); err != nil {
		t.Fatal(err)
	}
	h.start()
	h.tos("T2", c2, state.TOSArrived, "2026-11-28T10:00:00+08:00", "CUSTOMS")
	h.agency("R2", "customs", state.Released, "2026-11-28T10:01:00+08:00", c2)
	second := h.waitCommand(c2, state.ReleaseHold, "CUSTOMS")
	if first.ID == second.ID {
		t.Fatalf("after the restore, %s's command reused id %s of %s's", c2, second.ID, c1)
	}
}
