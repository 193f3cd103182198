package sync

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

// customsSource is a real customs source delivering one event.
func customsEvent(t *testing.T, e *Engine, id string, st state.Status, hold string, at time.Time) Outcome {
	t.Helper()
	src := &SourceInfo{Name: "customs-mqtt", Kind: config.KindAgency, Agency: "customs", Decoder: records{
		{Agency: &state.AgencyEvent{ID: id, Agency: "customs", Status: st, Hold: hold, Containers: []string{c1}, At: at}},
	}}
	o := e.Submit(context.Background(), src, adapters.Message{Payload: []byte(id)})
	if o.Err != nil || o.Reject != nil {
		t.Fatalf("%s: %+v", id, o)
	}
	return o
}

func readAlert(t *testing.T, e *Engine, id string) (state.Alert, bool) {
	t.Helper()
	var a state.Alert
	var ok bool
	err := e.store.View(func(tx *state.Tx) (err error) {
		a, ok, err = tx.Alert(id)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return a, ok
}

func readContainer(t *testing.T, e *Engine, id string) (state.Container, []state.JournalEntry) {
	t.Helper()
	var c state.Container
	var h []state.JournalEntry
	err := e.store.View(func(tx *state.Tx) (err error) {
		if c, _, err = tx.Container(id); err != nil {
			return err
		}
		h, err = tx.History(id)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return c, h
}

// An operator's override is an agency event like any other, from a
// source named for who made it: it changes the ledger, is journaled with
// who and why, and fires manual_override; an older decision of the agency
// arriving late is stale against it, and a newer one wins and resolves
// the alert.
func TestOverrideIsAnAgencyEventAndRaisesManualOverride(t *testing.T) {
	e, _ := startEngine(t)
	base := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	customsEvent(t, e, "H-1", state.Held, "", base)

	ev, o, err := e.Override(context.Background(), Override{
		Container: c1, Agency: "customs", Action: state.Released, By: "Li Wei", Reason: "officer Zhang confirmed the release by e-mail",
	})
	if err != nil || o.Err != nil || o.Reject != nil {
		t.Fatalf("override: %v %+v", err, o)
	}
	if len(o.Results) != 1 || o.Results[0] != ResultApplied {
		t.Fatalf("override results %v, want applied", o.Results)
	}
	if !strings.HasPrefix(ev.ID, "override/"+c1+"/customs/") || time.Since(ev.At) > time.Minute {
		t.Fatalf("override event %+v: want id override/%s/customs/NANOS stamped now", ev, c1)
	}
	c, history := readContainer(t, e, c1)
	if got := agencyStatus(&c, "customs"); got != state.Released {
		t.Fatalf("customs status %s after the override, want released", got)
	}
	if src := c.Agencies["customs"].Release.Source; src != "override:Li Wei" {
		t.Errorf("release source %q, want override:Li Wei", src)
	}
	last := history[len(history)-1]
	var entry *state.JournalEntry
	for i := range history {
		if history[i].EventID == ev.ID && history[i].Kind == state.JournalAgencyEvent {
			entry = &history[i]
		}
	}
	if entry == nil || entry.Source != "override:Li Wei" || entry.Detail != "officer Zhang confirmed the release by e-mail" {
		t.Fatalf("journal of the override: %+v (last %+v), want source override:Li Wei and the reason", entry, last)
	}
	id := AlertID(state.KindManualOverride, c1, "customs")
	a, ok := readAlert(t, e, id)
	if !ok || a.State != state.Firing || a.Kind != state.KindManualOverride || a.Severity != "warning" {
		t.Fatalf("alert %s: %+v (found %v), want a firing warning", id, a, ok)
	}
	for _, want := range []string{"Li Wei", "customs", "released", c1, "officer Zhang"} {
		if !strings.Contains(a.Summary, want) {
			t.Errorf("summary %q does not name %q", a.Summary, want)
		}
	}

	// A customs hold stamped before the override arrives late: stale.
	if o := customsEvent(t, e, "H-2", state.Held, "", base.Add(time.Minute)); o.Results[0] != ResultStale {
		t.Fatalf("older hold after the override: %v, want stale", o.Results)
	}
	if a, _ := readAlert(t, e, id); a.State != state.Firing {
		t.Fatalf("a stale agency event resolved the override alert: %+v", a)
	}
	// A newer customs decision outranks the override.
	customsEvent(t, e, "H-3", state.Held, "", time.Now().Add(time.Minute))
	c, _ = readContainer(t, e, c1)
	if got := agencyStatus(&c, "customs"); got != state.Held {
		t.Fatalf("customs status %s after a newer hold, want held", got)
	}
	if a, _ := readAlert(t, e, id); a.State != state.Resolved {
		t.Fatalf("override alert %+v after a newer agency decision, want resolved", a)
	}
}

// Overrides are checked before anything is stored: every field named.
func TestOverrideChecksItsFields(t *testing.T) {
	e, _ := startEngine(t)
	good := Override{Container: c1, Agency: "customs", Action: state.Released, By: "ops", Reason: "e-mail"}
	cases := []struct {
		name string
		edit func(*Override)
		want []string
	}{
		{"no by", func(o *Override) { o.By = " " }, []string{`"by"`}},
		{"no reason", func(o *Override) { o.Reason = "" }, []string{`"reason"`}},
		{"bad action", func(o *Override) { o.Action = state.Revoked }, []string{`"action"`, "revoked"}},
		{"hold with released", func(o *Override) { o.Hold = "7H" }, []string{`"hold"`, "7H", "released"}},
		{"unknown agency", func(o *Override) { o.Agency = "police" }, []string{`"agency"`, "police"}},
		{"bad container", func(o *Override) { o.Container = "MSCU1234567" }, []string{"MSCU1234567"}},
		{"by with a newline", func(o *Override) { o.By = "a\nb" }, []string{`"by"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := good
			tc.edit(&o)
			_, out, err := e.Override(context.Background(), o)
			if err == nil {
				t.Fatalf("override %+v accepted: %+v", o, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %s", err, w)
				}
			}
		})
	}
	o := good
	o.Reason = strings.Repeat("x", state.MaxReasonLen+100)
	ev, out, err := e.Override(context.Background(), o)
	if err != nil || out.Reject != nil || len(ev.Reason) > state.MaxReasonLen+64 || !strings.Contains(ev.Reason, "cut") {
		t.Fatalf("long reason: %v %+v, reason of %d bytes; want it cut and applied", err, out, len(ev.Reason))
	}
}
