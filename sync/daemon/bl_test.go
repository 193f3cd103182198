package daemon

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portsync/portsync/state"
)

// Bills of lading end to end: B/L decisions from customs over MQTT or a
// file drop, manifests from a manifest source over MQTT or a file drop,
// TOS events over MQTT.

const testBL = "MEDUSH123456"

// withManifestSources adds a manifest source on the MQTT topic manifests
// and one over a file drop in dir, and a customs file drop in cusDir.
func withManifestSources(dir, cusDir string) func(string) string {
	src := fmt.Sprintf("  - {name: manifest-mqtt, type: mqtt, broker: main, topic: manifests, kind: manifest}\n"+
		"  - {name: manifest-drop, type: file_drop, dir: %s, kind: manifest, format: json, rescan: 1s}\n"+
		"  - {name: customs-drop, type: file_drop, dir: %s, kind: agency, agency: customs, format: json, rescan: 1s}\n", dir, cusDir)
	return func(y string) string { return strings.Replace(y, "sources:\n", "sources:\n"+src, 1) }
}

func blDecision(id string, st state.Status, hold, at string, containers ...string) map[string]any {
	ev := map[string]any{"id": id, "agency": "customs", "status": st, "bl": testBL, "at": at}
	if hold != "" {
		ev["hold"] = hold
	}
	if containers != nil {
		ev["containers"] = containers
	}
	return ev
}

func manifestJSON(id, at string, containers ...string) string {
	if containers == nil {
		containers = []string{}
	}
	return fmt.Sprintf(`{"id":%q,"bl":%q,"containers":["%s"],"at":%q}`, id, testBL, strings.Join(containers, `","`), at)
}

// A B/L release before the manifest is kept; the manifest (from a file
// drop) links the containers and the one in the yard is freed, with the
// B/L decision as the command's cause.
func TestBLReleaseBeforeManifest(t *testing.T) {
	drop, cus := t.TempDir(), t.TempDir()
	h := newHarness(t, withManifestSources(drop, cus))
	h.tos("T1", c1, state.TOSArrived, "2026-11-28T06:00:00Z", "CUSTOMS")
	h.publish("customs/releases", blDecision("REL-BL", state.Released, "", "2026-11-28T07:00:00Z"))
	h.eventually("B/L release on the B/L's timeline", func() bool {
		var b blAnswer
		h.get("/api/v1/bls/"+testBL, &b)
		return len(b.History) == 1
	})
	waitStatus(h, c1, "customs", state.Unknown)
	dropWrite(t, filepath.Join(drop, "m1.json"), manifestJSON("CUSCAR-1", "2026-11-28T08:00:00Z", c1, c2))
	waitStatus(h, c1, "customs", state.Released)
	waitStatus(h, c2, "customs", state.Released)
	if cmd := h.waitCommand(c1, state.ReleaseHold, "CUSTOMS"); cmd.Cause != "REL-BL" {
		t.Fatalf("command %+v, want cause REL-BL", cmd)
	}
	var b blAnswer
	h.get("/api/v1/bls/"+testBL, &b)
	if len(b.Containers) != 2 || b.Containers[0].Agencies["customs"] != state.Released || b.Agencies["customs"] != state.Released {
		t.Fatalf("B/L page %+v", b)
	}
}

// A B/L release after the manifest (over MQTT) reaches every container;
// the release comes from a file drop.
func TestBLReleaseAfterManifest(t *testing.T) {
	drop, cus := t.TempDir(), t.TempDir()
	h := newHarness(t, withManifestSources(drop, cus))
	h.publish("manifests", manifestJSON("CUSCAR-1", "2026-11-28T05:00:00Z", c1, c2, c3))
	h.tos("T1", c2, state.TOSArrived, "2026-11-28T06:00:00Z", "CUSTOMS")
	waitStatus(h, c3, "customs", state.Unknown)
	dropWrite(t, filepath.Join(cus, "rel.json"),
		`{"id":"REL-BL","agency":"customs","status":"released","bl":"`+testBL+`","at":"2026-11-28T07:00:00Z"}`)
	for _, c := range []string{c1, c2, c3} {
		waitStatus(h, c, "customs", state.Released)
	}
	h.waitCommand(c2, state.ReleaseHold, "CUSTOMS")
}

// A B/L exam hold, then a container-level release: the container stays
// held under the ledger rules (a release never lifts a typed hold) until
// the B/L's hold is removed.
func TestBLHoldThenContainerRelease(t *testing.T) {
	drop, cus := t.TempDir(), t.TempDir()
	h := newHarness(t, withManifestSources(drop, cus))
	h.publish("manifests", manifestJSON("CUSCAR-1", "2026-11-28T05:00:00Z", c1, c2))
	h.tos("T1", c1, state.TOSArrived, "2026-11-28T06:00:00Z")
	h.publish("customs/releases", blDecision("EXAM-BL", state.Held, "exam", "2026-11-28T07:00:00Z"))
	h.waitCommand(c1, state.AddHold, "CUSTOMS")
	h.agency("REL-C1", "customs", state.Released, "2026-11-28T08:00:00Z", c1)
	h.eventually("container release journaled", func() bool {
		for _, e := range dropJournal(h, c1) {
			if e.EventID == "REL-C1" {
				return true
			}
		}
		return false
	})
	waitStatus(h, c1, "customs", state.Held)
	h.publish("customs/releases", blDecision("EXAM-OFF", state.HoldRemoved, "exam", "2026-11-28T09:00:00Z"))
	waitStatus(h, c1, "customs", state.Released)
	waitStatus(h, c2, "customs", state.Unknown)
}

// A newer manifest takes a container off the B/L: it leaves the B/L's
// release; an older manifest is stale.
func TestBLManifestChange(t *testing.T) {
	drop, cus := t.TempDir(), t.TempDir()
	h := newHarness(t, withManifestSources(drop, cus))
	h.publish("manifests", manifestJSON("CUSCAR-1", "2026-11-28T05:00:00Z", c1, c2))
	h.publish("customs/releases", blDecision("REL-BL", state.Released, "", "2026-11-28T07:00:00Z"))
	waitStatus(h, c2, "customs", state.Released)
	dropWrite(t, filepath.Join(drop, "m2.json"), manifestJSON("CUSCAR-2", "2026-11-28T08:00:00Z", c1, c3))
	waitStatus(h, c2, "customs", state.Unknown)
	waitStatus(h, c3, "customs", state.Released)
	waitStatus(h, c1, "customs", state.Released)
	h.publish("manifests", manifestJSON("CUSCAR-0", "2026-11-28T04:00:00Z", c2))
	h.eventually("old manifest on the timeline as stale", func() bool {
		var b blAnswer
		h.get("/api/v1/bls/"+testBL, &b)
		n := len(b.History)
		return n > 0 && b.History[n-1].EventID == "CUSCAR-0" && b.History[n-1].Result == "stale"
	})
	waitStatus(h, c2, "customs", state.Unknown)
}

// A container in the yard that a B/L's release freed, dropped from the
// B/L by a newer manifest after a restart, is held again: the store keeps
// the B/L's release apart from the container's own decisions, so the
// container does not keep the release it only had through the B/L.
func TestBLDroppedAfterRestartHeldAgain(t *testing.T) {
	drop, cus := t.TempDir(), t.TempDir()
	h := newHarness(t, withManifestSources(drop, cus))
	h.tos("T1", c2, state.TOSArrived, "2026-11-28T06:00:00Z", "CUSTOMS")
	h.publish("manifests", manifestJSON("CUSCAR-1", "2026-11-28T05:00:00Z", c1, c2))
	h.publish("customs/releases", blDecision("REL-BL", state.Released, "", "2026-11-28T07:00:00Z"))
	h.waitCommand(c2, state.ReleaseHold, "CUSTOMS")
	h.tos("T2", c2, state.TOSHolds, "2026-11-28T07:05:00Z")
	h.eventually(c2+" without a pending command", func() bool { return len(h.container(c2).PendingCommands) == 0 })
	h.stop()
	h.start()
	dropWrite(t, filepath.Join(drop, "m2.json"), manifestJSON("CUSCAR-2", "2026-11-28T08:00:00Z", c1))
	waitStatus(h, c2, "customs", state.Unknown)
	if cmd := h.waitCommand(c2, state.AddHold, "CUSTOMS"); cmd.Cause != state.CausePolicyUnknown {
		t.Fatalf("command %+v, want cause %s", cmd, state.CausePolicyUnknown)
	}
	waitStatus(h, c1, "customs", state.Released)
}

// An event that names the B/L and some of its containers decides those
// only.
func TestBLPartialRelease(t *testing.T) {
	drop, cus := t.TempDir(), t.TempDir()
	h := newHarness(t, withManifestSources(drop, cus))
	h.publish("manifests", manifestJSON("CUSCAR-1", "2026-11-28T05:00:00Z", c1, c2, c3))
	h.publish("customs/releases", blDecision("HOLD-BL", state.Held, "", "2026-11-28T06:00:00Z"))
	waitStatus(h, c3, "customs", state.Held)
	dropWrite(t, filepath.Join(cus, "part.json"),
		`{"id":"REL-PART","agency":"customs","status":"released","bl":"`+testBL+`","containers":["`+c1+`","`+c2+`"],"at":"2026-11-28T07:00:00Z"}`)
	waitStatus(h, c1, "customs", state.Released)
	waitStatus(h, c2, "customs", state.Released)
	waitStatus(h, c3, "customs", state.Held)
}

// blAnswer is the API's B/L page.
type blAnswer struct {
	BL         string                  `json:"bl"`
	Agencies   map[string]state.Status `json:"agencies"`
	Containers []struct {
		Container string                  `json:"container"`
		Agencies  map[string]state.Status `json:"agencies"`
	} `json:"containers"`
	History []state.JournalEntry `json:"history"`
}
