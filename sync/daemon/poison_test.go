package daemon

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portsync/portsync/adapters/tossnapshot"
	"github.com/portsync/portsync/internal/testtos"
	"github.com/portsync/portsync/state"
	"github.com/portsync/portsync/sync"
	"github.com/portsync/portsync/sync/internal/testseam"
)

func deadLetters(h *harness) []state.DeadLetter {
	h.t.Helper()
	var dl struct {
		DeadLetters []state.DeadLetter `json:"deadletters"`
	}
	h.get("/api/v1/deadletters", &dl)
	return dl.DeadLetters
}

// waitDeadLetter waits for a dead letter of code ("" for any) whose
// payload carries the event id ("" for any) and whose reason says want.
// Matching the id keeps an earlier dead letter from answering for a later
// message.
func waitDeadLetter(h *harness, code, id, want string) state.DeadLetter {
	h.t.Helper()
	var found state.DeadLetter
	h.eventually(fmt.Sprintf("dead letter %s of %s with %q", code, id, want), func() bool {
		for _, d := range deadLetters(h) {
			if (code == "" || d.Code == code) && (id == "" || strings.Contains(d.Payload, `"id":"`+id+`"`)) &&
				strings.Contains(d.Reason, want) {
				found = d
				return true
			}
		}
		return false
	})
	return found
}

func waitStatus(h *harness, container, agency string, want state.Status) {
	h.t.Helper()
	h.eventually(fmt.Sprintf("%s %s %s", container, agency, want), func() bool {
		var v sync.View
		return h.get("/api/v1/containers/"+container, &v) == http.StatusOK && v.Agencies[agency] == want
	})
}

// A record the store refuses must be dead-lettered as unstorable and must
// not stop the records after it, from any source, nor after a restart.
func TestPoisonRecordDoesNotWedgeWriter(t *testing.T) {
	t.Cleanup(testseam.PoisonIDs())
	drop := t.TempDir()
	h := newHarness(t, withDropSource(drop))

	h.agency("POISON-1", "customs", state.Released, "2026-11-28T10:15:00+08:00", c1)
	h.agency("GOOD-1", "customs", state.Released, "2026-11-28T10:15:00+08:00", c2)
	d := waitDeadLetter(h, state.CodeUnstorable, "POISON-1", "POISON-1")
	if !strings.Contains(d.Reason, "timezone") {
		t.Errorf("reason should carry the store's error: %s", d.Reason)
	}
	waitStatus(h, c2, "customs", state.Released)

	h.tos("POISON-TOS", c3, state.TOSArrived, "2026-11-28T10:20:00+08:00", "CUSTOMS")
	h.tos("GOOD-TOS", c2, state.TOSArrived, "2026-11-28T10:20:00+08:00", "CUSTOMS")
	waitDeadLetter(h, state.CodeUnstorable, "POISON-TOS", "POISON-TOS")
	h.waitCommand(c2, state.ReleaseHold, "CUSTOMS")

	dropWrite(t, filepath.Join(drop, "poison.json"), dropEvent("POISON-FILE", "released", c3))
	dropWrite(t, filepath.Join(drop, "good.json"), dropEvent("GOOD-FILE", "released", c3))
	waitDeadLetter(h, state.CodeUnstorable, "POISON-FILE", "POISON-FILE")
	waitStatus(h, c3, "customs", state.Released)
	h.eventually("poison file filed as rejected", func() bool {
		return dropExists(filepath.Join(drop, "rejected", "poison.json"))
	})

	// Acknowledged, so the broker does not deliver it again after a
	// restart: the dead letters stay as they are.
	before := deadLetters(h)
	h.stop()
	h.start()
	h.agency("GOOD-2", "quarantine", state.Released, "2026-11-28T10:16:00+08:00", c2)
	waitStatus(h, c2, "quarantine", state.Released)
	if after := deadLetters(h); len(after) != len(before) || after[0].Count != before[0].Count {
		t.Errorf("dead letters after the restart %+v, before %+v: a poison message came back", after, before)
	}
	if code := h.getStatus("/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz = %d after poison records", code)
	}
}

// Hostile times and lengths from every kind of source are rejected with
// a reason, and the good events after them apply.
func TestHostileTimesAndLengths(t *testing.T) {
	drop := t.TempDir()
	h := newHarness(t, func(y string) string {
		return strings.Replace(withDropSource(drop)(y), harnessRetention, "retention: {journal: 2160h}\n", 1)
	})
	now := time.Now()
	farFuture := "2099-01-01T00:00:00Z"
	ancient := now.Add(-200 * 24 * time.Hour).Format(time.RFC3339) // before the 90-day retention horizon
	cases := []struct {
		name, topic, payload, code, want string
	}{
		{"agency offset +24:00", "customs/releases",
			`{"id":"H1","agency":"customs","status":"released","containers":["` + c1 + `"],"at":"2026-11-28T10:15:00+24:00"}`,
			state.CodeInvalidField, "+24:00"},
		{"tos offset -24:00", "tos/events",
			`{"id":"H2","container":"` + c1 + `","event":"arrived","holds":[],"at":"2026-11-28T10:15:00-24:00"}`,
			state.CodeInvalidField, "-24:00"},
		{"bl of 40 KiB", "customs/releases",
			`{"id":"H3","agency":"customs","status":"held","containers":["` + c1 + `"],"bl":"` + strings.Repeat("B", 40<<10) + `","at":"2026-11-28T10:15:00+08:00"}`,
			state.CodeInvalidField, `"bl"`},
		{"declaration of 40 KiB", "customs/releases",
			`{"id":"H4","agency":"customs","status":"held","containers":["` + c1 + `"],"declaration":"` + strings.Repeat("7", 40<<10) + `","at":"2026-11-28T10:15:00+08:00"}`,
			state.CodeInvalidField, `"declaration"`},
		{"release stamped 2099", "customs/releases",
			`{"id":"H5","agency":"customs","status":"released","containers":["` + c1 + `"],"at":"` + farFuture + `"}`,
			state.CodeInvalidField, "max_clock_skew"},
		{"arrival stamped 2099", "tos/events",
			`{"id":"H6","container":"` + c1 + `","event":"arrived","holds":[],"at":"` + farFuture + `"}`,
			state.CodeInvalidField, "max_clock_skew"},
		{"release before the retention horizon", "customs/releases",
			`{"id":"H7","agency":"customs","status":"released","containers":["` + c1 + `"],"at":"` + ancient + `"}`,
			state.CodeInvalidField, "retention horizon"},
	}
	for _, c := range cases {
		h.publish(c.topic, c.payload)
		id := c.payload[len(`{"id":"`):strings.Index(c.payload, `",`)]
		d := waitDeadLetter(h, c.code, id, c.want)
		if len(d.Reason) > 2000 {
			t.Errorf("%s: reason of %d bytes", c.name, len(d.Reason))
		}
	}
	dropWrite(t, filepath.Join(drop, "offset.json"),
		`{"id":"H8","agency":"customs","status":"released","containers":["`+c1+`"],"at":"2026-11-28T10:15:00+24:00"}`)
	waitDeadLetter(h, state.CodeInvalidField, "H8", "+24:00")

	h.agency("GOOD", "customs", state.Held, now.Add(-time.Minute).Format(time.RFC3339), c1)
	h.tos("GOOD-TOS", c1, state.TOSArrived, now.Format(time.RFC3339))
	h.waitCommand(c1, state.AddHold, "CUSTOMS")
	waitStatus(h, c1, "customs", state.Held)
	if code := h.getStatus("/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz = %d", code)
	}
	var a struct {
		Alerts []state.Alert `json:"alerts"`
	}
	h.get("/api/v1/alerts", &a)
	found := false
	for _, al := range a.Alerts {
		found = found || al.ID == "invalid_input/customs-mqtt"
	}
	if !found {
		t.Errorf("no invalid_input alert for customs-mqtt among %+v", a.Alerts)
	}
}

// A reason of a megabyte is kept cut to its bound, not copied whole into
// the journal of every container the event names.
func TestLongReasonIsCut(t *testing.T) {
	h := newHarness(t, nil)
	containers := []string{c1, c2, c3}
	h.publish("customs/releases", map[string]any{
		"id": "LONG", "agency": "customs", "status": "held", "containers": containers,
		"reason": strings.Repeat("x", 1<<20-300), "at": "2026-11-28T10:15:00+08:00",
	})
	for _, c := range containers {
		waitStatus(h, c, "customs", state.Held)
		for _, e := range dropJournal(h, c) {
			if len(e.Detail) > state.MaxReasonLen+100 {
				t.Errorf("%s: journal detail of %d bytes", c, len(e.Detail))
			}
			if e.Kind == state.JournalAgencyEvent && !strings.Contains(e.Detail, "cut") {
				t.Errorf("%s: detail not marked as cut: %.60q", c, e.Detail)
			}
		}
	}
}

// A snapshot stamped far ahead is refused whole: its repairs would make
// every real TOS event after them stale.
func TestSnapshotFromTheFutureIsRefused(t *testing.T) {
	h := newHarness(t, nil)
	tos, cfg := newSnapTOS(t)
	tos.Serve(http.StatusOK, testtos.JSON(true, "2099-01-01T00:00:00Z", map[string][]string{c1: {"CUSTOMS"}}))
	snap, err := tossnapshot.Fetch(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.daemon.engine().ApplySnapshot(context.Background(), snap, snap.At)
	if err == nil || !strings.Contains(err.Error(), "max_clock_skew") {
		t.Fatalf("ApplySnapshot from 2099 = %v, want a max_clock_skew refusal", err)
	}
	if _, ok := h.snapLookup(c1); ok {
		t.Fatalf("%s was repaired from a snapshot stamped 2099", c1)
	}
}
