package daemon

import (
	"net/http"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/portsync/portsync/state"
)

// TestPublishClientIDCarriesCommands runs the daemon with a connection of
// its own for publishing: commands reach the TOS, and the daemon is not
// ready while that connection is down (another client took its id),
// which shows the daemon's broker has it.
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

	// The broker drops a client when another connects with its id.
	opts := paho.NewClientOptions().AddBroker(h.broker.URL()).SetClientID("portsync-test-publishing").SetAutoReconnect(false)
	intruder := paho.NewClient(opts)
	if tok := intruder.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("intruder connect: %v", tok.Error())
	}
	var reasons []string
	brWaitFor(t, 10*time.Second, "readyz 503 naming the publishing connection", func() bool {
		var code int
		code, reasons = brReady(h)
		return code == http.StatusServiceUnavailable && strings.Contains(strings.Join(reasons, " "), "publishing connection")
	})
	intruder.Disconnect(0)
	brWaitFor(t, 10*time.Second, "readyz 200 once the publishing connection is back", func() bool {
		code, _ := brReady(h)
		return code == http.StatusOK
	})
}
