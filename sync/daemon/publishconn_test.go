package daemon

import (
	"net/http"
	"strings"
	"testing"

	"github.com/portsync/portsync/state"
)

// TestPublishClientIDCarriesCommands runs the daemon with a connection of
// its own for publishing: it is ready only once both connections are up,
// and commands reach the TOS over it.
func TestPublishClientIDCarriesCommands(t *testing.T) {
	h := newHarness(t, func(yaml string) string {
		i := strings.Index(yaml, "    client_id: ")
		if i < 0 {
			t.Fatal("the harness's configuration has no client_id line")
		}
		return yaml[:i] + "    publish_client_id: portsync-test-publishing\n" + yaml[i:]
	})
	if got := h.cfg.Brokers["main"].PublishClientID; got != "portsync-test-publishing" {
		t.Fatalf("brokers.main.publish_client_id = %q after the edit", got)
	}
	if code := h.getStatus("/readyz"); code != http.StatusOK {
		t.Fatalf("readyz: HTTP %d, want 200", code)
	}
	h.agency("REL-1", "customs", state.Released, "2026-11-28T10:00:00+08:00", c1)
	h.agency("REL-2", "quarantine", state.Released, "2026-11-28T10:00:00+08:00", c1)
	h.tos("N4-1", c1, state.TOSArrived, "2026-11-28T10:05:00+08:00", "CUSTOMS")
	if cmd := h.waitCommand(c1, state.ReleaseHold, "CUSTOMS"); cmd.Agency != "customs" {
		t.Fatalf("release_hold command %+v, want customs's", cmd)
	}
}
