package sync

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

// The fixed clock and container of the decision tests.
var dtT0 = time.Date(2026, 11, 28, 2, 20, 0, 0, time.UTC)

const (
	dtBox      = "MSCU1234566"
	dtTerminal = "CNSHA-T1"
	dtSLA      = 2 * time.Minute
)

// dtPolicy has two required agencies that hold while unknown and one
// optional agency (port) that has no opinion while unknown.
func dtPolicy() policy {
	return newPolicy(policy{
		Terminal: dtTerminal,
		Agencies: map[string]config.Agency{
			"customs":    {TOSHold: "CUSTOMS", WhenUnknown: config.WhenUnknownHold},
			"quarantine": {TOSHold: "QUARANTINE", WhenUnknown: config.WhenUnknownHold},
			"port":       {TOSHold: "PORT", WhenUnknown: config.WhenUnknownIgnore},
		},
		Required:    []string{"customs", "quarantine"},
		ApplyWithin: dtSLA,
	})
}

// dtIDs returns a newID that counts cmd-1, cmd-2, ..., as the store's
// NextCommandID numbers the commands of a decision in the engine.
func dtIDs() func() (string, error) {
	n := 0
	return func() (string, error) { n++; return fmt.Sprintf("cmd-%d", n), nil }
}

// dtDecide decides c at now and numbers the new commands with newID, as
// the engine's transaction does.
func dtDecide(t *testing.T, c state.Container, p policy, now time.Time, newID func() (string, error)) (state.Container, decision) {
	t.Helper()
	out, d := decide(c, p, now)
	for _, cmd := range d.Commands {
		if cmd.ID != "" {
			t.Errorf("decide gave new command %+v an id; the transaction numbers them", cmd)
		}
	}
	if err := numberCommands(&out, d.Commands, newID); err != nil {
		t.Fatalf("numberCommands: %v", err)
	}
	return out, d
}

// dtAg is an agency state set by event id at agency time at.
func dtAg(st state.Status, id string, at time.Time) state.AgencyState {
	return state.AgencyState{Status: st, At: at, EventID: id, Source: "src-" + id, ReceivedAt: at.Add(time.Second)}
}

type dtAgencies = map[string]state.AgencyState

// Agency times: the agencies decided an hour before the clock.
var (
	dtAt   = dtT0.Add(-time.Hour)
	dtRelC = dtAg(state.Released, "REL-C", dtAt)
	dtRelQ = dtAg(state.Released, "REL-Q", dtAt)
	dtRelP = dtAg(state.Released, "REL-P", dtAt)
	dtHldC = dtAg(state.Held, "HLD-C", dtAt.Add(time.Minute))
	dtHldQ = dtAg(state.Held, "HLD-Q", dtAt)
	dtHldP = dtAg(state.Held, "HLD-P", dtAt)
)

// dtBoxIn is the test container in the given presence with the given TOS
// holds and agency statuses.
func dtBoxIn(p state.Presence, holds []string, ag dtAgencies) state.Container {
	if holds == nil {
		holds = []string{}
	}
	return state.Container{ID: dtBox, Presence: p, TOSHolds: holds, Agencies: ag, TOSAt: dtT0.Add(-time.Hour)}
}

func dtPending(id, action, hold, agency, cause string) state.PendingCommand {
	return state.PendingCommand{ID: id, Action: action, Hold: hold, Agency: agency, Cause: cause, IssuedAt: dtT0.Add(-time.Minute)}
}

func dtMismatch(agency, kind string, since time.Time) state.Mismatch {
	return state.Mismatch{Container: dtBox, Agency: agency, Kind: kind, Since: since}
}

func dtAlertID(kind, agency string) string {
	if agency == "" {
		return kind + "/" + dtBox
	}
	return kind + "/" + dtBox + "/" + agency
}

// ---------------------------------------------------------------------------
// applyAgencyEvent

func TestApplyAgencyEvent(t *testing.T) {
	now := dtT0
	ev := func(agency string, st state.Status, id string, at time.Time) *state.AgencyEvent {
		return &state.AgencyEvent{ID: id, Agency: agency, Status: st, Containers: []string{dtBox}, At: at}
	}
	tests := []struct {
		name        string
		start       dtAgencies
		ev          *state.AgencyEvent
		wantChanged bool
		// wantID is the event id that must have set the agency's status
		// afterwards, and wantStatus the status.
		wantID     string
		wantStatus state.Status
	}{
		{
			name:  "first event sets the status",
			start: nil, ev: ev("customs", state.Released, "E1", dtAt),
			wantChanged: true, wantID: "E1", wantStatus: state.Released,
		},
		{
			name:  "first held event sets the status",
			start: dtAgencies{}, ev: ev("customs", state.Held, "E1", dtAt),
			wantChanged: true, wantID: "E1", wantStatus: state.Held,
		},
		{
			name:  "latest agency at wins: later release replaces held",
			start: dtAgencies{"customs": dtAg(state.Held, "E1", dtAt)}, ev: ev("customs", state.Released, "E2", dtAt.Add(time.Second)),
			wantChanged: true, wantID: "E2", wantStatus: state.Released,
		},
		{
			name:  "latest agency at wins: later release replaces an earlier release",
			start: dtAgencies{"customs": dtAg(state.Released, "E1", dtAt)}, ev: ev("customs", state.Released, "E2", dtAt.Add(time.Second)),
			wantChanged: true, wantID: "E2", wantStatus: state.Released,
		},
		{
			name:  "older event is stale: older held does not revoke a release",
			start: dtAgencies{"customs": dtAg(state.Released, "E2", dtAt)}, ev: ev("customs", state.Held, "E1", dtAt.Add(-time.Second)),
			wantChanged: false, wantID: "E2", wantStatus: state.Released,
		},
		{
			// The ledger keeps the release (a later removal of the hold lets
			// it stand), but the newer hold still holds.
			name:  "an older release does not undo a hold",
			start: dtAgencies{"customs": dtAg(state.Held, "E2", dtAt)}, ev: ev("customs", state.Released, "E1", dtAt.Add(-time.Nanosecond)),
			wantChanged: true, wantID: "E1", wantStatus: state.Held,
		},
		{
			name:  "equal at: held wins over an earlier-received release",
			start: dtAgencies{"customs": dtAg(state.Released, "E1", dtAt)}, ev: ev("customs", state.Held, "E2", dtAt),
			wantChanged: true, wantID: "E2", wantStatus: state.Held,
		},
		{
			name:  "equal at: held wins over a release received after it",
			start: dtAgencies{"customs": dtAg(state.Held, "E1", dtAt)}, ev: ev("customs", state.Released, "E2", dtAt),
			wantChanged: true, wantID: "E2", wantStatus: state.Held,
		},
		{
			name:  "equal at in another time zone is still equal: held wins",
			start: dtAgencies{"customs": dtAg(state.Held, "E1", dtAt)}, ev: ev("customs", state.Released, "E2", dtAt.In(time.FixedZone("CST", 8*3600))),
			wantChanged: true, wantID: "E2", wantStatus: state.Held,
		},
		{
			name:  "later held revokes a release",
			start: dtAgencies{"customs": dtAg(state.Released, "E1", dtAt)}, ev: ev("customs", state.Held, "E2", dtAt.Add(time.Minute)),
			wantChanged: true, wantID: "E2", wantStatus: state.Held,
		},
		{
			name:  "agencies are independent: a newer customs status does not make an older quarantine event stale",
			start: dtAgencies{"customs": dtAg(state.Released, "E1", dtAt.Add(time.Hour))}, ev: ev("quarantine", state.Released, "E2", dtAt),
			wantChanged: true, wantID: "E2", wantStatus: state.Released,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dtBoxIn(state.Expected, nil, tt.start)
			before := c.Clone()
			changed := applyAgencyEvent(&c, tt.ev, "customs-mqtt", now)
			if changed != tt.wantChanged {
				t.Errorf("applyAgencyEvent changed = %v, want %v", changed, tt.wantChanged)
			}
			got := agencyStatus(&c, tt.ev.Agency)
			if got != tt.wantStatus {
				t.Errorf("status of %s = %s, want %s", tt.ev.Agency, got, tt.wantStatus)
			}
			if id := c.Agencies[tt.ev.Agency].EventID; id != tt.wantID {
				t.Errorf("status of %s set by %q, want %q", tt.ev.Agency, id, tt.wantID)
			}
			if !tt.wantChanged {
				// A stale event changes nothing at all.
				if !reflect.DeepEqual(c, before) {
					t.Errorf("stale event changed the container\n got %+v\nwant %+v", c, before)
				}
				return
			}
			st := c.Agencies[tt.ev.Agency]
			if !st.At.Equal(tt.ev.At) || st.Source != "customs-mqtt" || !st.ReceivedAt.Equal(now) {
				t.Errorf("agency state = %+v, want at %v, source customs-mqtt, received %v", st, tt.ev.At, now)
			}
			// Other agencies are untouched.
			for name, old := range before.Agencies {
				if name != tt.ev.Agency && !reflect.DeepEqual(c.Agencies[name], old) {
					t.Errorf("agency %s changed from %+v to %+v", name, old, c.Agencies[name])
				}
			}
		})
	}
}

func TestApplyAgencyEventRecordsReferences(t *testing.T) {
	c := dtBoxIn(state.Expected, nil, nil)
	ev := &state.AgencyEvent{ID: "E1", Agency: "customs", Status: state.Released, BL: "MEDUSH123456", Declaration: "220120261000123456", At: dtAt}
	if !applyAgencyEvent(&c, ev, "s", dtT0) {
		t.Fatal("first event not applied")
	}
	ev2 := &state.AgencyEvent{ID: "E2", Agency: "quarantine", Status: state.Released, BL: "MEDUSH123456", At: dtAt}
	applyAgencyEvent(&c, ev2, "s", dtT0)
	if !slices.Equal(c.BLs, []string{"MEDUSH123456"}) || !slices.Equal(c.Declarations, []string{"220120261000123456"}) {
		t.Errorf("refs = %v / %v, want one B/L and one declaration, no duplicates", c.BLs, c.Declarations)
	}
}

// ---------------------------------------------------------------------------
// ApplyTOSEvent

func TestApplyTOSEvent(t *testing.T) {
	p := dtPolicy()
	at := dtT0.Add(-time.Hour) // the TOS time of the starting state
	tos := func(kind string, when time.Time, holds ...string) *state.TOSEvent {
		return &state.TOSEvent{ID: "N4", Container: dtBox, Event: kind, Holds: holds, HasHolds: holds != nil, At: when}
	}
	noHolds := func(kind string, when time.Time) *state.TOSEvent {
		return &state.TOSEvent{ID: "N4", Container: dtBox, Event: kind, At: when}
	}
	empty := func(kind string, when time.Time) *state.TOSEvent {
		return &state.TOSEvent{ID: "N4", Container: dtBox, Event: kind, Holds: []string{}, HasHolds: true, At: when}
	}
	cleared := dtAgencies{"customs": dtRelC, "quarantine": dtRelQ}
	notCleared := dtAgencies{"customs": dtHldC, "quarantine": dtRelQ}
	withTOSAt := func(c state.Container, t time.Time) state.Container { c.TOSAt = t; return c }
	departedUncleared := func(c state.Container) state.Container { c.DepartedUncleared = true; return c }
	newBox := state.Container{ID: dtBox} // known from nothing yet: no presence, no TOS time

	tests := []struct {
		name                  string
		start                 state.Container
		ev                    *state.TOSEvent
		wantChanged           bool
		wantPresence          state.Presence
		wantHolds             []string
		wantDepartedUncleared bool
	}{
		{
			name:  "arrived: expected container becomes in_yard with the reported holds",
			start: dtBoxIn(state.Expected, nil, cleared), ev: tos(state.TOSArrived, at.Add(time.Second), "CUSTOMS", "PAYMENT"),
			wantChanged: true, wantPresence: state.InYard, wantHolds: []string{"CUSTOMS", "PAYMENT"},
		},
		{
			name:  "arrived: a container first heard of from the TOS is in_yard",
			start: newBox, ev: tos(state.TOSArrived, at, "CUSTOMS"),
			wantChanged: true, wantPresence: state.InYard, wantHolds: []string{"CUSTOMS"},
		},
		{
			name:  "arrived with no holds: in_yard with an empty hold set",
			start: dtBoxIn(state.Expected, nil, nil), ev: empty(state.TOSArrived, at.Add(time.Second)),
			wantChanged: true, wantPresence: state.InYard, wantHolds: []string{},
		},
		{
			name:  "holds event for an expected container makes it in_yard",
			start: dtBoxIn(state.Expected, nil, nil), ev: tos(state.TOSHolds, at.Add(time.Second), "CUSTOMS"),
			wantChanged: true, wantPresence: state.InYard, wantHolds: []string{"CUSTOMS"},
		},
		{
			name:  "holds event for a container never seen makes it in_yard",
			start: newBox, ev: tos(state.TOSHolds, at, "QUARANTINE"),
			wantChanged: true, wantPresence: state.InYard, wantHolds: []string{"QUARANTINE"},
		},
		{
			name:  "holds event is a snapshot: it replaces the holds, not adds to them",
			start: dtBoxIn(state.InYard, []string{"CUSTOMS", "PAYMENT"}, nil), ev: tos(state.TOSHolds, at.Add(time.Second), "QUARANTINE"),
			wantChanged: true, wantPresence: state.InYard, wantHolds: []string{"QUARANTINE"},
		},
		{
			name:  "holds event with an empty set clears the holds",
			start: dtBoxIn(state.InYard, []string{"CUSTOMS"}, nil), ev: empty(state.TOSHolds, at.Add(time.Second)),
			wantChanged: true, wantPresence: state.InYard, wantHolds: []string{},
		},
		{
			name:  "holds event repeating the same holds changes nothing",
			start: dtBoxIn(state.InYard, []string{"CUSTOMS"}, nil), ev: tos(state.TOSHolds, at.Add(time.Second), "CUSTOMS"),
			wantChanged: false, wantPresence: state.InYard, wantHolds: []string{"CUSTOMS"},
		},
		{
			name:  "TOS event at the same time as the last one is applied",
			start: dtBoxIn(state.InYard, []string{"CUSTOMS"}, nil), ev: empty(state.TOSHolds, at),
			wantChanged: true, wantPresence: state.InYard, wantHolds: []string{},
		},
		{
			name:  "older TOS event is stale: holds unchanged",
			start: dtBoxIn(state.InYard, []string{"CUSTOMS"}, nil), ev: empty(state.TOSHolds, at.Add(-time.Second)),
			wantChanged: false, wantPresence: state.InYard, wantHolds: []string{"CUSTOMS"},
		},
		{
			name:  "older TOS event is stale: an old departure does not depart a container",
			start: dtBoxIn(state.InYard, []string{"CUSTOMS"}, notCleared), ev: noHolds(state.TOSDeparted, at.Add(-time.Minute)),
			wantChanged: false, wantPresence: state.InYard, wantHolds: []string{"CUSTOMS"},
		},
		{
			name:  "older TOS event is stale: an old arrival does not bring a departed container back",
			start: dtBoxIn(state.Departed, []string{}, cleared), ev: tos(state.TOSArrived, at.Add(-time.Minute), "CUSTOMS"),
			wantChanged: false, wantPresence: state.Departed, wantHolds: []string{},
		},
		{
			name:  "departed with holds replaces the holds",
			start: dtBoxIn(state.InYard, []string{"CUSTOMS"}, cleared), ev: tos(state.TOSDeparted, at.Add(time.Second), "PAYMENT"),
			wantChanged: true, wantPresence: state.Departed, wantHolds: []string{"PAYMENT"},
		},
		{
			name:  "departed with an empty hold list clears the holds",
			start: dtBoxIn(state.InYard, []string{"CUSTOMS"}, cleared), ev: empty(state.TOSDeparted, at.Add(time.Second)),
			wantChanged: true, wantPresence: state.Departed, wantHolds: []string{},
		},
		{
			name:  "departed without holds keeps the last known holds",
			start: dtBoxIn(state.InYard, []string{"CUSTOMS", "PAYMENT"}, cleared), ev: noHolds(state.TOSDeparted, at.Add(time.Second)),
			wantChanged: true, wantPresence: state.Departed, wantHolds: []string{"CUSTOMS", "PAYMENT"},
		},
		{
			name:  "departure while not cleared (an agency holds) is marked",
			start: dtBoxIn(state.InYard, []string{"CUSTOMS"}, notCleared), ev: noHolds(state.TOSDeparted, at.Add(time.Second)),
			wantChanged: true, wantPresence: state.Departed, wantHolds: []string{"CUSTOMS"}, wantDepartedUncleared: true,
		},
		{
			name:  "departure while not cleared (a required agency unknown) is marked",
			start: dtBoxIn(state.InYard, nil, dtAgencies{"customs": dtRelC}), ev: noHolds(state.TOSDeparted, at.Add(time.Second)),
			wantChanged: true, wantPresence: state.Departed, wantHolds: []string{}, wantDepartedUncleared: true,
		},
		{
			name:  "departure while cleared is not marked",
			start: dtBoxIn(state.InYard, nil, cleared), ev: noHolds(state.TOSDeparted, at.Add(time.Second)),
			wantChanged: true, wantPresence: state.Departed, wantHolds: []string{},
		},
		{
			name:  "a second departure report keeps the departure mark",
			start: departedUncleared(dtBoxIn(state.Departed, []string{"CUSTOMS"}, notCleared)), ev: noHolds(state.TOSDeparted, at.Add(time.Second)),
			wantChanged: false, wantPresence: state.Departed, wantHolds: []string{"CUSTOMS"}, wantDepartedUncleared: true,
		},
		{
			name:  "arriving again clears the departure mark",
			start: departedUncleared(dtBoxIn(state.Departed, []string{"CUSTOMS"}, notCleared)), ev: tos(state.TOSArrived, at.Add(time.Second), "CUSTOMS"),
			wantChanged: true, wantPresence: state.InYard, wantHolds: []string{"CUSTOMS"},
		},
		{
			name:  "departed container first heard of from a departure is departed",
			start: withTOSAt(state.Container{ID: dtBox, Presence: state.Expected, Agencies: cleared}, time.Time{}), ev: noHolds(state.TOSDeparted, at),
			wantChanged: true, wantPresence: state.Departed, wantHolds: []string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.start.Clone()
			before := c.Clone()
			changed := applyTOSEvent(&c, tt.ev, p)
			if changed != tt.wantChanged {
				t.Errorf("ApplyTOSEvent changed = %v, want %v", changed, tt.wantChanged)
			}
			if c.Presence != tt.wantPresence {
				t.Errorf("presence = %q, want %q", c.Presence, tt.wantPresence)
			}
			if c.TOSHolds == nil || !slices.Equal(c.TOSHolds, tt.wantHolds) {
				t.Errorf("TOS holds = %#v, want %#v", c.TOSHolds, tt.wantHolds)
			}
			if c.DepartedUncleared != tt.wantDepartedUncleared {
				t.Errorf("DepartedUncleared = %v, want %v", c.DepartedUncleared, tt.wantDepartedUncleared)
			}
			stale := !before.TOSAt.IsZero() && tt.ev.At.Before(before.TOSAt)
			if stale {
				if !reflect.DeepEqual(c, before) {
					t.Errorf("stale TOS event changed the container\n got %+v\nwant %+v", c, before)
				}
			} else if !c.TOSAt.Equal(tt.ev.At) {
				t.Errorf("TOSAt = %v, want %v", c.TOSAt, tt.ev.At)
			}
			if !reflect.DeepEqual(c.Agencies, before.Agencies) {
				t.Errorf("a TOS event changed agency statuses: %+v", c.Agencies)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// Cleared

func TestCleared(t *testing.T) {
	p := dtPolicy()
	tests := []struct {
		name string
		ag   dtAgencies
		req  []string // overrides the policy's required agencies when not nil
		want bool
	}{
		{name: "all required released, optional agency unknown: cleared", ag: dtAgencies{"customs": dtRelC, "quarantine": dtRelQ}, want: true},
		{name: "all required released, optional agency released: cleared", ag: dtAgencies{"customs": dtRelC, "quarantine": dtRelQ, "port": dtRelP}, want: true},
		{name: "a required agency unknown: not cleared", ag: dtAgencies{"customs": dtRelC}, want: false},
		{name: "no agency has spoken: not cleared", ag: nil, want: false},
		{name: "a required agency held: not cleared", ag: dtAgencies{"customs": dtHldC, "quarantine": dtRelQ}, want: false},
		{name: "every agency held: not cleared", ag: dtAgencies{"customs": dtHldC, "quarantine": dtHldQ, "port": dtHldP}, want: false},
		{name: "required released but a non-required agency holds: not cleared", ag: dtAgencies{"customs": dtRelC, "quarantine": dtRelQ, "port": dtHldP}, want: false},
		{name: "required released but an unconfigured agency holds: not cleared", ag: dtAgencies{"customs": dtRelC, "quarantine": dtRelQ, "police": dtAg(state.Held, "X", dtAt)}, want: false},
		{name: "nothing required and nobody holds: cleared", req: []string{}, ag: nil, want: true},
		{name: "nothing required but an agency holds: not cleared", req: []string{}, ag: dtAgencies{"port": dtHldP}, want: false},
		{name: "only customs required and released, quarantine unknown: cleared", req: []string{"customs"}, ag: dtAgencies{"customs": dtRelC}, want: true},
		{name: "only customs required and released, quarantine held: not cleared", req: []string{"customs"}, ag: dtAgencies{"customs": dtRelC, "quarantine": dtHldQ}, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pol := p
			if tt.req != nil {
				pol.Required = tt.req
			}
			c := dtBoxIn(state.InYard, nil, tt.ag)
			if got := isCleared(&c, pol); got != tt.want {
				t.Errorf("Cleared = %v, want %v (required %v, agencies %+v)", got, tt.want, pol.Required, tt.ag)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// Decide

// dtCmd is an expected command; status is the word its reason must use
// besides the agency's name.
type dtCmd struct {
	action, hold, agency, cause, status string
}

type dtAlert struct {
	kind, agency, severity string
	since                  time.Time
}

type dtDecideCase struct {
	name   string
	policy func(*policy) // edits the policy when not nil
	in     state.Container
	now    time.Time // dtT0 when zero

	wantCommands   []dtCmd           // in order; ids are cmd-1, cmd-2, ...
	wantPending    map[string]string // hold -> command id, in the new state
	wantConfirmed  []string          // pending command ids
	wantSuperseded []string          // pending command ids
	wantOpened     []state.Mismatch
	wantClosed     []state.Mismatch
	wantMismatches []state.Mismatch // in the new state, by agency order
	wantFire       []dtAlert
	wantResolve    []string
	wantAlerts     []string // firing alert ids in the new state
	wantDeadline   time.Time
	// wantDepartedUncleared is the departure mark in the new state.
	wantDepartedUncleared bool
}

func TestDecide(t *testing.T) {
	stale := func(agency string, since time.Time) state.Mismatch {
		return dtMismatch(agency, state.KindStaleHold, since)
	}
	missing := func(agency string, since time.Time) state.Mismatch {
		return dtMismatch(agency, state.KindMissingHold, since)
	}
	with := func(c state.Container, f func(*state.Container)) state.Container { f(&c); return c }
	relC, relQ := dtRelC, dtRelQ
	cleared := func() dtAgencies { return dtAgencies{"customs": relC, "quarantine": relQ} }
	t0 := dtT0

	tests := []dtDecideCase{
		// Desired holds per agency.
		{
			name:           "released -> release_hold",
			in:             dtBoxIn(state.InYard, []string{"CUSTOMS"}, cleared()),
			wantCommands:   []dtCmd{{state.ReleaseHold, "CUSTOMS", "customs", "REL-C", "released"}},
			wantPending:    map[string]string{"CUSTOMS": "cmd-1"},
			wantOpened:     []state.Mismatch{stale("customs", t0)},
			wantMismatches: []state.Mismatch{stale("customs", t0)},
			wantDeadline:   t0.Add(dtSLA),
		},
		{
			name:           "held -> add_hold",
			in:             dtBoxIn(state.InYard, nil, dtAgencies{"customs": dtHldC, "quarantine": relQ}),
			wantCommands:   []dtCmd{{state.AddHold, "CUSTOMS", "customs", "HLD-C", "held"}},
			wantPending:    map[string]string{"CUSTOMS": "cmd-1"},
			wantOpened:     []state.Mismatch{missing("customs", t0)},
			wantMismatches: []state.Mismatch{missing("customs", t0)},
			wantDeadline:   t0.Add(dtSLA),
		},
		{
			name:           "held and TOS holds it -> nothing to do",
			in:             dtBoxIn(state.InYard, []string{"CUSTOMS"}, dtAgencies{"customs": dtHldC, "quarantine": relQ}),
			wantCommands:   nil,
			wantMismatches: nil,
		},
		{
			name:           "released and TOS has no hold -> nothing to do",
			in:             dtBoxIn(state.InYard, nil, cleared()),
			wantMismatches: nil,
		},
		{
			name:           "unknown + when_unknown hold -> add_hold with cause policy:when_unknown",
			in:             dtBoxIn(state.InYard, nil, dtAgencies{"customs": relC}),
			wantCommands:   []dtCmd{{state.AddHold, "QUARANTINE", "quarantine", state.CausePolicyUnknown, "unknown"}},
			wantPending:    map[string]string{"QUARANTINE": "cmd-1"},
			wantOpened:     []state.Mismatch{missing("quarantine", t0)},
			wantMismatches: []state.Mismatch{missing("quarantine", t0)},
			wantDeadline:   t0.Add(dtSLA),
		},
		{
			name: "unknown + when_unknown hold, no agency has spoken -> add both holds",
			in:   dtBoxIn(state.InYard, nil, nil),
			wantCommands: []dtCmd{
				{state.AddHold, "CUSTOMS", "customs", state.CausePolicyUnknown, "unknown"},
				{state.AddHold, "QUARANTINE", "quarantine", state.CausePolicyUnknown, "unknown"},
			},
			wantPending:    map[string]string{"CUSTOMS": "cmd-1", "QUARANTINE": "cmd-2"},
			wantOpened:     []state.Mismatch{missing("customs", t0), missing("quarantine", t0)},
			wantMismatches: []state.Mismatch{missing("customs", t0), missing("quarantine", t0)},
			wantDeadline:   t0.Add(dtSLA),
		},
		{
			name: "unknown + when_unknown hold keeps an existing hold",
			in:   dtBoxIn(state.InYard, []string{"QUARANTINE"}, dtAgencies{"customs": relC}),
		},
		{
			name: "unknown + when_unknown ignore -> does not remove the hold",
			in:   dtBoxIn(state.InYard, []string{"PORT"}, cleared()),
		},
		{
			name: "unknown + when_unknown ignore -> does not add the hold",
			in:   dtBoxIn(state.InYard, nil, cleared()),
		},
		{
			name: "unknown + when_unknown ignore -> a pending command for its hold is void",
			in: with(dtBoxIn(state.InYard, []string{"PORT"}, cleared()), func(c *state.Container) {
				c.Pending = map[string]state.PendingCommand{"PORT": dtPending("cmd-old", state.ReleaseHold, "PORT", "port", "X")}
			}),
			wantSuperseded: []string{"cmd-old"},
		},
		{
			name:           "when_unknown ignore applies only while unknown: released -> release_hold",
			in:             dtBoxIn(state.InYard, []string{"PORT"}, dtAgencies{"customs": relC, "quarantine": relQ, "port": dtRelP}),
			wantCommands:   []dtCmd{{state.ReleaseHold, "PORT", "port", "REL-P", "released"}},
			wantPending:    map[string]string{"PORT": "cmd-1"},
			wantOpened:     []state.Mismatch{stale("port", t0)},
			wantMismatches: []state.Mismatch{stale("port", t0)},
			wantDeadline:   t0.Add(dtSLA),
		},
		{
			name:           "when_unknown ignore applies only while unknown: held -> add_hold",
			in:             dtBoxIn(state.InYard, nil, dtAgencies{"customs": relC, "quarantine": relQ, "port": dtHldP}),
			wantCommands:   []dtCmd{{state.AddHold, "PORT", "port", "HLD-P", "held"}},
			wantPending:    map[string]string{"PORT": "cmd-1"},
			wantOpened:     []state.Mismatch{missing("port", t0)},
			wantMismatches: []state.Mismatch{missing("port", t0)},
			wantDeadline:   t0.Add(dtSLA),
		},
		{
			name: "holds not mapped to an agency (PAYMENT) are never touched",
			in:   dtBoxIn(state.InYard, []string{"DAMAGE", "PAYMENT"}, cleared()),
		},
		{
			name:           "holds not mapped to an agency are left alone while a mapped one is released",
			in:             dtBoxIn(state.InYard, []string{"PAYMENT", "CUSTOMS"}, cleared()),
			wantCommands:   []dtCmd{{state.ReleaseHold, "CUSTOMS", "customs", "REL-C", "released"}},
			wantPending:    map[string]string{"CUSTOMS": "cmd-1"},
			wantOpened:     []state.Mismatch{stale("customs", t0)},
			wantMismatches: []state.Mismatch{stale("customs", t0)},
			wantDeadline:   t0.Add(dtSLA),
		},
		{
			name: "every agency differs: one command each, in agency order",
			in:   dtBoxIn(state.InYard, []string{"CUSTOMS", "PORT"}, dtAgencies{"customs": relC, "quarantine": dtHldQ, "port": dtRelP}),
			wantCommands: []dtCmd{
				{state.ReleaseHold, "CUSTOMS", "customs", "REL-C", "released"},
				{state.ReleaseHold, "PORT", "port", "REL-P", "released"},
				{state.AddHold, "QUARANTINE", "quarantine", "HLD-Q", "held"},
			},
			wantPending:    map[string]string{"CUSTOMS": "cmd-1", "PORT": "cmd-2", "QUARANTINE": "cmd-3"},
			wantOpened:     []state.Mismatch{stale("customs", t0), stale("port", t0), missing("quarantine", t0)},
			wantMismatches: []state.Mismatch{stale("customs", t0), stale("port", t0), missing("quarantine", t0)},
			wantDeadline:   t0.Add(dtSLA),
		},

		// Presence.
		{
			name: "release kept before arrival: expected container gets no command",
			in:   dtBoxIn(state.Expected, []string{"CUSTOMS"}, cleared()),
		},
		{
			name: "expected container: no commands even while an agency holds",
			in:   dtBoxIn(state.Expected, nil, dtAgencies{"customs": dtHldC}),
		},
		{
			name: "departed container: no commands",
			in:   dtBoxIn(state.Departed, []string{"CUSTOMS"}, cleared()),
		},
		{
			name: "departed container: pending commands are void, mismatches close, their alerts resolve",
			in: with(dtBoxIn(state.Departed, []string{"CUSTOMS"}, cleared()), func(c *state.Container) {
				c.Pending = map[string]state.PendingCommand{"CUSTOMS": dtPending("cmd-old", state.ReleaseHold, "CUSTOMS", "customs", "REL-C")}
				c.Mismatches = map[string]state.Mismatch{"customs": stale("customs", t0.Add(-5*time.Minute))}
				c.Alerts = []string{dtAlertID(state.KindStaleHold, "customs")}
			}),
			wantSuperseded: []string{"cmd-old"},
			wantClosed:     []state.Mismatch{stale("customs", t0.Add(-5*time.Minute))},
			wantResolve:    []string{dtAlertID(state.KindStaleHold, "customs")},
		},

		// Pending commands.
		{
			name: "pending command kept (not re-issued) while still needed",
			in: with(dtBoxIn(state.InYard, []string{"CUSTOMS"}, cleared()), func(c *state.Container) {
				c.Pending = map[string]state.PendingCommand{"CUSTOMS": dtPending("cmd-old", state.ReleaseHold, "CUSTOMS", "customs", "REL-C")}
				c.Mismatches = map[string]state.Mismatch{"customs": stale("customs", t0.Add(-30*time.Second))}
			}),
			wantPending:    map[string]string{"CUSTOMS": "cmd-old"},
			wantMismatches: []state.Mismatch{stale("customs", t0.Add(-30*time.Second))},
			wantDeadline:   t0.Add(-30 * time.Second).Add(dtSLA),
		},
		{
			name: "pending release confirmed when TOS holds match",
			in: with(dtBoxIn(state.InYard, []string{"PAYMENT"}, cleared()), func(c *state.Container) {
				c.Pending = map[string]state.PendingCommand{"CUSTOMS": dtPending("cmd-old", state.ReleaseHold, "CUSTOMS", "customs", "REL-C")}
				c.Mismatches = map[string]state.Mismatch{"customs": stale("customs", t0.Add(-30*time.Second))}
			}),
			wantConfirmed: []string{"cmd-old"},
			wantClosed:    []state.Mismatch{stale("customs", t0.Add(-30*time.Second))},
		},
		{
			name: "pending add_hold confirmed when TOS shows the hold",
			in: with(dtBoxIn(state.InYard, []string{"CUSTOMS"}, dtAgencies{"customs": dtHldC, "quarantine": relQ}), func(c *state.Container) {
				c.Pending = map[string]state.PendingCommand{"CUSTOMS": dtPending("cmd-old", state.AddHold, "CUSTOMS", "customs", "HLD-C")}
				c.Mismatches = map[string]state.Mismatch{"customs": missing("customs", t0.Add(-30*time.Second))}
			}),
			wantConfirmed: []string{"cmd-old"},
			wantClosed:    []state.Mismatch{missing("customs", t0.Add(-30*time.Second))},
		},
		{
			name: "pending superseded when the decision flips back to what the TOS has",
			in: with(dtBoxIn(state.InYard, []string{"CUSTOMS"}, dtAgencies{"customs": dtHldC, "quarantine": relQ}), func(c *state.Container) {
				c.Pending = map[string]state.PendingCommand{"CUSTOMS": dtPending("cmd-old", state.ReleaseHold, "CUSTOMS", "customs", "REL-C")}
				c.Mismatches = map[string]state.Mismatch{"customs": stale("customs", t0.Add(-30*time.Second))}
			}),
			wantSuperseded: []string{"cmd-old"},
			wantClosed:     []state.Mismatch{stale("customs", t0.Add(-30*time.Second))},
		},
		{
			name: "pending superseded and replaced when the decision flips while still mismatched; kind change resets since",
			in: with(dtBoxIn(state.InYard, nil, dtAgencies{"customs": dtHldC, "quarantine": relQ}), func(c *state.Container) {
				c.Pending = map[string]state.PendingCommand{"CUSTOMS": dtPending("cmd-old", state.ReleaseHold, "CUSTOMS", "customs", "REL-C")}
				c.Mismatches = map[string]state.Mismatch{"customs": stale("customs", t0.Add(-5*time.Minute))}
				c.Alerts = []string{dtAlertID(state.KindStaleHold, "customs")}
			}),
			wantCommands:   []dtCmd{{state.AddHold, "CUSTOMS", "customs", "HLD-C", "held"}},
			wantPending:    map[string]string{"CUSTOMS": "cmd-1"},
			wantSuperseded: []string{"cmd-old"},
			wantClosed:     []state.Mismatch{stale("customs", t0.Add(-5*time.Minute))},
			wantOpened:     []state.Mismatch{missing("customs", t0)},
			wantMismatches: []state.Mismatch{missing("customs", t0)},
			wantResolve:    []string{dtAlertID(state.KindStaleHold, "customs")},
			wantDeadline:   t0.Add(dtSLA),
		},
		{
			name: "pending command for a hold no longer configured is void",
			in: with(dtBoxIn(state.InYard, nil, cleared()), func(c *state.Container) {
				c.Pending = map[string]state.PendingCommand{"POLICE": dtPending("cmd-old", state.AddHold, "POLICE", "police", "X")}
			}),
			wantSuperseded: []string{"cmd-old"},
		},

		// Mismatch kinds and since.
		{
			name: "mismatch since kept across decisions (not reset)",
			in: with(dtBoxIn(state.InYard, []string{"CUSTOMS"}, cleared()), func(c *state.Container) {
				c.Mismatches = map[string]state.Mismatch{"customs": stale("customs", t0.Add(-time.Minute))}
			}),
			wantCommands:   []dtCmd{{state.ReleaseHold, "CUSTOMS", "customs", "REL-C", "released"}},
			wantPending:    map[string]string{"CUSTOMS": "cmd-1"},
			wantMismatches: []state.Mismatch{stale("customs", t0.Add(-time.Minute))},
			wantDeadline:   t0.Add(-time.Minute).Add(dtSLA),
		},
		{
			name: "mismatch kind stale_hold -> missing_hold resets since",
			in: with(dtBoxIn(state.InYard, nil, dtAgencies{"customs": dtHldC, "quarantine": relQ}), func(c *state.Container) {
				c.Mismatches = map[string]state.Mismatch{"customs": stale("customs", t0.Add(-time.Minute))}
			}),
			wantCommands:   []dtCmd{{state.AddHold, "CUSTOMS", "customs", "HLD-C", "held"}},
			wantPending:    map[string]string{"CUSTOMS": "cmd-1"},
			wantClosed:     []state.Mismatch{stale("customs", t0.Add(-time.Minute))},
			wantOpened:     []state.Mismatch{missing("customs", t0)},
			wantMismatches: []state.Mismatch{missing("customs", t0)},
			wantDeadline:   t0.Add(dtSLA),
		},
		{
			name: "mismatch kind missing_hold -> stale_hold resets since",
			in: with(dtBoxIn(state.InYard, []string{"QUARANTINE"}, cleared()), func(c *state.Container) {
				c.Mismatches = map[string]state.Mismatch{"quarantine": missing("quarantine", t0.Add(-time.Minute))}
			}),
			wantCommands:   []dtCmd{{state.ReleaseHold, "QUARANTINE", "quarantine", "REL-Q", "released"}},
			wantPending:    map[string]string{"QUARANTINE": "cmd-1"},
			wantClosed:     []state.Mismatch{missing("quarantine", t0.Add(-time.Minute))},
			wantOpened:     []state.Mismatch{stale("quarantine", t0)},
			wantMismatches: []state.Mismatch{stale("quarantine", t0)},
			wantDeadline:   t0.Add(dtSLA),
		},

		// SLA.
		{
			name: "SLA: no alert before since+ApplyWithin, Deadline is since+ApplyWithin",
			in: with(dtBoxIn(state.InYard, []string{"CUSTOMS"}, cleared()), func(c *state.Container) {
				c.Pending = map[string]state.PendingCommand{"CUSTOMS": dtPending("cmd-old", state.ReleaseHold, "CUSTOMS", "customs", "REL-C")}
				c.Mismatches = map[string]state.Mismatch{"customs": stale("customs", t0.Add(-dtSLA).Add(time.Nanosecond))}
			}),
			wantPending:    map[string]string{"CUSTOMS": "cmd-old"},
			wantMismatches: []state.Mismatch{stale("customs", t0.Add(-dtSLA).Add(time.Nanosecond))},
			wantDeadline:   t0.Add(time.Nanosecond),
		},
		{
			name: "SLA: stale_hold alert fires once now >= since+ApplyWithin",
			in: with(dtBoxIn(state.InYard, []string{"CUSTOMS"}, cleared()), func(c *state.Container) {
				c.Pending = map[string]state.PendingCommand{"CUSTOMS": dtPending("cmd-old", state.ReleaseHold, "CUSTOMS", "customs", "REL-C")}
				c.Mismatches = map[string]state.Mismatch{"customs": stale("customs", t0.Add(-dtSLA))}
			}),
			wantPending:    map[string]string{"CUSTOMS": "cmd-old"},
			wantMismatches: []state.Mismatch{stale("customs", t0.Add(-dtSLA))},
			wantFire:       []dtAlert{{state.KindStaleHold, "customs", "warning", t0.Add(-dtSLA)}},
			wantAlerts:     []string{dtAlertID(state.KindStaleHold, "customs")},
		},
		{
			name: "SLA: missing_hold alert fires once now >= since+ApplyWithin",
			in: with(dtBoxIn(state.InYard, nil, dtAgencies{"customs": dtHldC, "quarantine": relQ}), func(c *state.Container) {
				c.Pending = map[string]state.PendingCommand{"CUSTOMS": dtPending("cmd-old", state.AddHold, "CUSTOMS", "customs", "HLD-C")}
				c.Mismatches = map[string]state.Mismatch{"customs": missing("customs", t0.Add(-time.Hour))}
			}),
			wantPending:    map[string]string{"CUSTOMS": "cmd-old"},
			wantMismatches: []state.Mismatch{missing("customs", t0.Add(-time.Hour))},
			wantFire:       []dtAlert{{state.KindMissingHold, "customs", "warning", t0.Add(-time.Hour)}},
			wantAlerts:     []string{dtAlertID(state.KindMissingHold, "customs")},
		},
		{
			name: "SLA: missing_hold alert for the when_unknown hold policy",
			in: with(dtBoxIn(state.InYard, nil, dtAgencies{"customs": relC}), func(c *state.Container) {
				c.Pending = map[string]state.PendingCommand{"QUARANTINE": dtPending("cmd-old", state.AddHold, "QUARANTINE", "quarantine", state.CausePolicyUnknown)}
				c.Mismatches = map[string]state.Mismatch{"quarantine": missing("quarantine", t0.Add(-time.Hour))}
			}),
			wantPending:    map[string]string{"QUARANTINE": "cmd-old"},
			wantMismatches: []state.Mismatch{missing("quarantine", t0.Add(-time.Hour))},
			wantFire:       []dtAlert{{state.KindMissingHold, "quarantine", "warning", t0.Add(-time.Hour)}},
			wantAlerts:     []string{dtAlertID(state.KindMissingHold, "quarantine")},
		},
		{
			name: "SLA: alert fires only once (already firing: not fired again)",
			in: with(dtBoxIn(state.InYard, []string{"CUSTOMS"}, cleared()), func(c *state.Container) {
				c.Pending = map[string]state.PendingCommand{"CUSTOMS": dtPending("cmd-old", state.ReleaseHold, "CUSTOMS", "customs", "REL-C")}
				c.Mismatches = map[string]state.Mismatch{"customs": stale("customs", t0.Add(-time.Hour))}
				c.Alerts = []string{dtAlertID(state.KindStaleHold, "customs")}
			}),
			wantPending:    map[string]string{"CUSTOMS": "cmd-old"},
			wantMismatches: []state.Mismatch{stale("customs", t0.Add(-time.Hour))},
			wantAlerts:     []string{dtAlertID(state.KindStaleHold, "customs")},
		},
		{
			name: "SLA: Deadline is the earliest of several open mismatches",
			in: with(dtBoxIn(state.InYard, []string{"CUSTOMS"}, dtAgencies{"customs": relC, "quarantine": dtHldQ}), func(c *state.Container) {
				c.Pending = map[string]state.PendingCommand{
					"CUSTOMS":    dtPending("cmd-c", state.ReleaseHold, "CUSTOMS", "customs", "REL-C"),
					"QUARANTINE": dtPending("cmd-q", state.AddHold, "QUARANTINE", "quarantine", "HLD-Q"),
				}
				c.Mismatches = map[string]state.Mismatch{
					"customs":    stale("customs", t0.Add(-30*time.Second)),
					"quarantine": missing("quarantine", t0.Add(-time.Minute)),
				}
			}),
			wantPending:    map[string]string{"CUSTOMS": "cmd-c", "QUARANTINE": "cmd-q"},
			wantMismatches: []state.Mismatch{stale("customs", t0.Add(-30*time.Second)), missing("quarantine", t0.Add(-time.Minute))},
			wantDeadline:   t0.Add(-time.Minute).Add(dtSLA),
		},
		{
			name: "SLA: one mismatch overdue fires, the other sets the Deadline",
			in: with(dtBoxIn(state.InYard, []string{"CUSTOMS"}, dtAgencies{"customs": relC, "quarantine": dtHldQ}), func(c *state.Container) {
				c.Pending = map[string]state.PendingCommand{
					"CUSTOMS":    dtPending("cmd-c", state.ReleaseHold, "CUSTOMS", "customs", "REL-C"),
					"QUARANTINE": dtPending("cmd-q", state.AddHold, "QUARANTINE", "quarantine", "HLD-Q"),
				}
				c.Mismatches = map[string]state.Mismatch{
					"customs":    stale("customs", t0.Add(-3*time.Minute)),
					"quarantine": missing("quarantine", t0.Add(-30*time.Second)),
				}
			}),
			wantPending:    map[string]string{"CUSTOMS": "cmd-c", "QUARANTINE": "cmd-q"},
			wantMismatches: []state.Mismatch{stale("customs", t0.Add(-3*time.Minute)), missing("quarantine", t0.Add(-30*time.Second))},
			wantFire:       []dtAlert{{state.KindStaleHold, "customs", "warning", t0.Add(-3 * time.Minute)}},
			wantAlerts:     []string{dtAlertID(state.KindStaleHold, "customs")},
			wantDeadline:   t0.Add(-30 * time.Second).Add(dtSLA),
		},
		{
			name: "SLA: alert resolves when the mismatch closes",
			in: with(dtBoxIn(state.InYard, nil, cleared()), func(c *state.Container) {
				c.Pending = map[string]state.PendingCommand{"CUSTOMS": dtPending("cmd-old", state.ReleaseHold, "CUSTOMS", "customs", "REL-C")}
				c.Mismatches = map[string]state.Mismatch{"customs": stale("customs", t0.Add(-time.Hour))}
				c.Alerts = []string{dtAlertID(state.KindStaleHold, "customs")}
			}),
			wantConfirmed: []string{"cmd-old"},
			wantClosed:    []state.Mismatch{stale("customs", t0.Add(-time.Hour))},
			wantResolve:   []string{dtAlertID(state.KindStaleHold, "customs")},
		},

		// Departure.
		{
			name: "unauthorized_departure fires at departure while not cleared (an agency holds)",
			in: with(dtBoxIn(state.Departed, []string{"CUSTOMS"}, dtAgencies{"customs": dtHldC, "quarantine": relQ}), func(c *state.Container) {
				c.DepartedUncleared = true
			}),
			wantFire:              []dtAlert{{state.KindUnauthorizedDeparture, "", "critical", t0}},
			wantAlerts:            []string{dtAlertID(state.KindUnauthorizedDeparture, "")},
			wantDepartedUncleared: true,
		},
		{
			name: "unauthorized_departure fires at departure while not cleared (a required agency unknown)",
			in: with(dtBoxIn(state.Departed, nil, dtAgencies{"customs": relC}), func(c *state.Container) {
				c.DepartedUncleared = true
			}),
			wantFire:              []dtAlert{{state.KindUnauthorizedDeparture, "", "critical", t0}},
			wantAlerts:            []string{dtAlertID(state.KindUnauthorizedDeparture, "")},
			wantDepartedUncleared: true,
		},
		{
			name: "unauthorized_departure fires at departure while not cleared (a non-required agency holds)",
			in: with(dtBoxIn(state.Departed, nil, dtAgencies{"customs": relC, "quarantine": relQ, "port": dtHldP}), func(c *state.Container) {
				c.DepartedUncleared = true
			}),
			wantFire:              []dtAlert{{state.KindUnauthorizedDeparture, "", "critical", t0}},
			wantAlerts:            []string{dtAlertID(state.KindUnauthorizedDeparture, "")},
			wantDepartedUncleared: true,
		},
		{
			name: "unauthorized_departure keeps firing, not fired again, while not cleared",
			in: with(dtBoxIn(state.Departed, nil, dtAgencies{"customs": dtHldC}), func(c *state.Container) {
				c.DepartedUncleared = true
				c.Alerts = []string{dtAlertID(state.KindUnauthorizedDeparture, "")}
			}),
			wantAlerts:            []string{dtAlertID(state.KindUnauthorizedDeparture, "")},
			wantDepartedUncleared: true,
		},
		{
			name: "unauthorized_departure resolves when the container becomes cleared",
			in: with(dtBoxIn(state.Departed, nil, cleared()), func(c *state.Container) {
				c.DepartedUncleared = true
				c.Alerts = []string{dtAlertID(state.KindUnauthorizedDeparture, "")}
			}),
			wantResolve: []string{dtAlertID(state.KindUnauthorizedDeparture, "")},
		},
		{
			name: "departure while cleared: no unauthorized_departure",
			in:   dtBoxIn(state.Departed, []string{"PAYMENT"}, cleared()),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { dtRunDecide(t, tt) })
	}
}

// dtRunDecide runs one Decide case and checks every part of the decision
// and of the new state.
func dtRunDecide(t *testing.T, tt dtDecideCase) {
	t.Helper()
	p := dtPolicy()
	if tt.policy != nil {
		tt.policy(&p)
		p = newPolicy(p)
	}
	now := tt.now
	if now.IsZero() {
		now = dtT0
	}
	in := tt.in.Clone()
	out, d := dtDecide(t, in, p, now, dtIDs())

	// decide is pure: it does not change its input.
	if !reflect.DeepEqual(in, tt.in) {
		t.Errorf("decide changed its input\n got %+v\nwant %+v", in, tt.in)
	}

	// Commands.
	if len(d.Commands) != len(tt.wantCommands) {
		t.Errorf("commands = %d %+v, want %d %+v", len(d.Commands), d.Commands, len(tt.wantCommands), tt.wantCommands)
	}
	for i, cmd := range d.Commands {
		if i >= len(tt.wantCommands) {
			break
		}
		w := tt.wantCommands[i]
		if cmd.ID != fmt.Sprintf("cmd-%d", i+1) {
			t.Errorf("command %d id = %q, want cmd-%d (from newID)", i, cmd.ID, i+1)
		}
		if cmd.Action != w.action || cmd.Hold != w.hold || cmd.Agency != w.agency || cmd.Cause != w.cause {
			t.Errorf("command %d = %s %s agency %s cause %s, want %s %s agency %s cause %s",
				i, cmd.Action, cmd.Hold, cmd.Agency, cmd.Cause, w.action, w.hold, w.agency, w.cause)
		}
		if cmd.Container != dtBox || cmd.Terminal != dtTerminal {
			t.Errorf("command %d container %q terminal %q, want %q %q", i, cmd.Container, cmd.Terminal, dtBox, dtTerminal)
		}
		if !cmd.IssuedAt.Equal(now) {
			t.Errorf("command %d issued at %v, want %v", i, cmd.IssuedAt, now)
		}
		if !strings.Contains(cmd.Reason, w.agency) || !strings.Contains(cmd.Reason, w.status) {
			t.Errorf("command %d reason %q does not mention %q and %q", i, cmd.Reason, w.agency, w.status)
		}
		// The new command is pending under its hold with the same fields.
		pc, ok := out.Pending[cmd.Hold]
		if !ok {
			t.Errorf("command %s not pending under %s", cmd.ID, cmd.Hold)
		} else if pc.ID != cmd.ID || pc.Action != cmd.Action || pc.Hold != cmd.Hold || pc.Agency != cmd.Agency || pc.Cause != cmd.Cause || !pc.IssuedAt.Equal(now) {
			t.Errorf("pending %+v does not match command %+v", pc, cmd)
		} else if st, known := in.Agencies[cmd.Agency]; known && !pc.CauseReceivedAt.Equal(st.ReceivedAt) {
			t.Errorf("pending CauseReceivedAt = %v, want the agency event's %v", pc.CauseReceivedAt, st.ReceivedAt)
		}
	}

	// Pending in the new state.
	gotPending := map[string]string{}
	for hold, pc := range out.Pending {
		gotPending[hold] = pc.ID
		if pc.Hold != hold {
			t.Errorf("pending under %s is for hold %s", hold, pc.Hold)
		}
	}
	if len(gotPending) != len(tt.wantPending) || (len(tt.wantPending) > 0 && !reflect.DeepEqual(gotPending, tt.wantPending)) {
		t.Errorf("pending = %v, want %v", gotPending, tt.wantPending)
	}
	for hold, id := range tt.wantPending {
		if old, ok := in.Pending[hold]; ok && old.ID == id && !reflect.DeepEqual(out.Pending[hold], old) {
			t.Errorf("kept pending %s changed: %+v, was %+v", hold, out.Pending[hold], old)
		}
	}

	ids := func(list []state.PendingCommand) []string {
		var out []string
		for _, p := range list {
			out = append(out, p.ID)
		}
		return out
	}
	if got := ids(d.Confirmed); !slices.Equal(got, tt.wantConfirmed) {
		t.Errorf("confirmed = %v, want %v", got, tt.wantConfirmed)
	}
	if got := ids(d.Superseded); !slices.Equal(got, tt.wantSuperseded) {
		t.Errorf("superseded = %v, want %v", got, tt.wantSuperseded)
	}

	// Mismatches.
	dtEqualMismatches(t, "opened", d.Opened, tt.wantOpened)
	dtEqualMismatches(t, "closed", d.Closed, tt.wantClosed)
	var gotM []state.Mismatch
	for _, name := range slices.Sorted(maps.Keys(out.Mismatches)) {
		m := out.Mismatches[name]
		if m.Agency != name {
			t.Errorf("mismatch under %s is for agency %s", name, m.Agency)
		}
		gotM = append(gotM, m)
	}
	dtEqualMismatches(t, "mismatches in new state", gotM, tt.wantMismatches)

	// Alerts.
	if len(d.Fire) != len(tt.wantFire) {
		t.Errorf("fire = %+v, want %+v", d.Fire, tt.wantFire)
	}
	for i, a := range d.Fire {
		if i >= len(tt.wantFire) {
			break
		}
		w := tt.wantFire[i]
		if a.ID != dtAlertID(w.kind, w.agency) || a.Kind != w.kind || a.Agency != w.agency || a.Severity != w.severity {
			t.Errorf("fire[%d] = id %s kind %s agency %q severity %s, want id %s kind %s agency %q severity %s",
				i, a.ID, a.Kind, a.Agency, a.Severity, dtAlertID(w.kind, w.agency), w.kind, w.agency, w.severity)
		}
		if a.State != state.Firing || a.Container != dtBox || a.Terminal != dtTerminal {
			t.Errorf("fire[%d] state %q container %q terminal %q", i, a.State, a.Container, a.Terminal)
		}
		if !a.Since.Equal(w.since) {
			t.Errorf("fire[%d] since %v, want %v", i, a.Since, w.since)
		}
		if !a.At.Equal(now) {
			t.Errorf("fire[%d] at %v, want %v", i, a.At, now)
		}
		if !strings.Contains(a.Summary, dtBox) {
			t.Errorf("fire[%d] summary %q does not name the container", i, a.Summary)
		}
		if w.agency != "" && !strings.Contains(a.Summary, w.agency) {
			t.Errorf("fire[%d] summary %q does not name the agency", i, a.Summary)
		}
	}
	if !slices.Equal(d.Resolve, tt.wantResolve) {
		t.Errorf("resolve = %v, want %v", d.Resolve, tt.wantResolve)
	}
	if !slices.Equal(out.Alerts, tt.wantAlerts) {
		t.Errorf("firing alerts in new state = %v, want %v", out.Alerts, tt.wantAlerts)
	}

	if !d.Deadline.Equal(tt.wantDeadline) {
		t.Errorf("deadline = %v, want %v", d.Deadline, tt.wantDeadline)
	}
	if out.DepartedUncleared != tt.wantDepartedUncleared {
		t.Errorf("DepartedUncleared = %v, want %v", out.DepartedUncleared, tt.wantDepartedUncleared)
	}

	// Everything else is carried over unchanged.
	if out.ID != in.ID || out.Presence != in.Presence || !slices.Equal(out.TOSHolds, in.TOSHolds) || !reflect.DeepEqual(out.Agencies, in.Agencies) {
		t.Errorf("Decide changed identity, presence, holds or agencies: %+v", out)
	}
}

func dtEqualMismatches(t *testing.T, what string, got, want []state.Mismatch) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s = %+v, want %+v", what, got, want)
		return
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Container != w.Container || g.Agency != w.Agency || g.Kind != w.Kind || !g.Since.Equal(w.Since) {
			t.Errorf("%s[%d] = %+v, want %+v", what, i, g, w)
		}
	}
}

// ---------------------------------------------------------------------------
// Sequences of events and decisions.

// dtDecideAt decides c at now; the engine would store the new state it
// returns and decide again on the next change.
func dtDecideAt(t *testing.T, c state.Container, p policy, now time.Time, newID func() (string, error)) (state.Container, decision) {
	t.Helper()
	return dtDecide(t, c, p, now, newID)
}

func TestDecideReleaseBeforeArrivalAppliedOnArrival(t *testing.T) {
	for _, arrival := range []string{state.TOSArrived, state.TOSHolds} {
		t.Run(arrival, func(t *testing.T) {
			p := dtPolicy()
			newID := dtIDs()
			c := state.Container{ID: dtBox, Presence: state.Expected, TOSHolds: []string{}}
			for _, ev := range []*state.AgencyEvent{
				{ID: "REL-C", Agency: "customs", Status: state.Released, Containers: []string{dtBox}, At: dtAt},
				{ID: "REL-Q", Agency: "quarantine", Status: state.Released, Containers: []string{dtBox}, At: dtAt},
			} {
				if !applyAgencyEvent(&c, ev, "agency", dtT0) {
					t.Fatalf("release %s not applied", ev.ID)
				}
			}
			c, d := dtDecideAt(t, c, p, dtT0, newID)
			if len(d.Commands) != 0 || len(d.Opened) != 0 || len(d.Fire) != 0 {
				t.Fatalf("decision before arrival = %+v, want nothing", d)
			}
			if agencyStatus(&c, "customs") != state.Released || agencyStatus(&c, "quarantine") != state.Released {
				t.Fatalf("release not kept before arrival: %+v", c.Agencies)
			}

			arrive := &state.TOSEvent{ID: "N4-1", Container: dtBox, Event: arrival, Holds: []string{"CUSTOMS", "PAYMENT", "QUARANTINE"}, HasHolds: true, At: dtT0}
			now := dtT0.Add(time.Hour)
			if !applyTOSEvent(&c, arrive, p) {
				t.Fatal("arrival not applied")
			}
			if c.Presence != state.InYard {
				t.Fatalf("presence after %s = %s, want in_yard", arrival, c.Presence)
			}
			c, d = dtDecideAt(t, c, p, now, newID)
			var got []string
			for _, cmd := range d.Commands {
				got = append(got, cmd.Action+" "+cmd.Hold+" "+cmd.Cause)
			}
			want := []string{"release_hold CUSTOMS REL-C", "release_hold QUARANTINE REL-Q"}
			if !slices.Equal(got, want) {
				t.Errorf("commands on arrival = %v, want %v", got, want)
			}
			if len(c.Pending) != 2 {
				t.Errorf("pending after arrival = %+v, want two", c.Pending)
			}
		})
	}
}

func TestDecideSLAAlertLifecycle(t *testing.T) {
	p := dtPolicy()
	newID := dtIDs()
	c := dtBoxIn(state.InYard, []string{"CUSTOMS"}, dtAgencies{"customs": dtRelC, "quarantine": dtRelQ})
	alertID := dtAlertID(state.KindStaleHold, "customs")

	// First sight of the mismatch: a command, since = now, deadline = now + SLA.
	c, d := dtDecideAt(t, c, p, dtT0, newID)
	if len(d.Commands) != 1 || len(d.Opened) != 1 || len(d.Fire) != 0 {
		t.Fatalf("first decision = %+v", d)
	}
	if !d.Deadline.Equal(dtT0.Add(dtSLA)) {
		t.Errorf("first deadline = %v, want %v", d.Deadline, dtT0.Add(dtSLA))
	}
	// Re-decided before the SLA: nothing new, same since, same deadline.
	for _, now := range []time.Time{dtT0.Add(time.Second), dtT0.Add(dtSLA - time.Nanosecond)} {
		c, d = dtDecideAt(t, c, p, now, newID)
		if len(d.Commands)+len(d.Opened)+len(d.Closed)+len(d.Fire)+len(d.Resolve)+len(d.Superseded) != 0 {
			t.Errorf("decision at %v = %+v, want nothing new", now, d)
		}
		if !c.Mismatches["customs"].Since.Equal(dtT0) {
			t.Errorf("since at %v = %v, want %v", now, c.Mismatches["customs"].Since, dtT0)
		}
		if !d.Deadline.Equal(dtT0.Add(dtSLA)) {
			t.Errorf("deadline at %v = %v, want %v", now, d.Deadline, dtT0.Add(dtSLA))
		}
	}
	// At the deadline the alert fires.
	c, d = dtDecideAt(t, c, p, dtT0.Add(dtSLA), newID)
	if len(d.Fire) != 1 || d.Fire[0].ID != alertID || !d.Fire[0].Since.Equal(dtT0) {
		t.Fatalf("decision at deadline fires %+v, want %s since %v", d.Fire, alertID, dtT0)
	}
	if !d.Deadline.IsZero() {
		t.Errorf("deadline after the alert fired = %v, want zero", d.Deadline)
	}
	// Later decisions do not fire it again.
	c, d = dtDecideAt(t, c, p, dtT0.Add(time.Hour), newID)
	if len(d.Fire) != 0 || len(d.Resolve) != 0 || !slices.Equal(c.Alerts, []string{alertID}) {
		t.Errorf("later decision fire %+v resolve %v alerts %v; want it to keep firing silently", d.Fire, d.Resolve, c.Alerts)
	}
	if len(d.Commands) != 0 {
		t.Errorf("pending command re-issued: %+v", d.Commands)
	}
	// The TOS confirms: the command is confirmed, the mismatch closes and
	// the alert resolves.
	if !applyTOSEvent(&c, &state.TOSEvent{ID: "N4-2", Container: dtBox, Event: state.TOSHolds, Holds: []string{}, HasHolds: true, At: dtT0.Add(time.Hour)}, p) {
		t.Fatal("holds event not applied")
	}
	c, d = dtDecideAt(t, c, p, dtT0.Add(time.Hour+time.Second), newID)
	if len(d.Confirmed) != 1 || d.Confirmed[0].ID != "cmd-1" {
		t.Errorf("confirmed = %+v, want cmd-1", d.Confirmed)
	}
	if len(d.Closed) != 1 || !slices.Equal(d.Resolve, []string{alertID}) {
		t.Errorf("closed %+v resolve %v, want the mismatch closed and %s resolved", d.Closed, d.Resolve, alertID)
	}
	if len(c.Alerts) != 0 || len(c.Mismatches) != 0 || len(c.Pending) != 0 {
		t.Errorf("state after confirmation: alerts %v mismatches %v pending %v; want none", c.Alerts, c.Mismatches, c.Pending)
	}
}

func TestDecideUnauthorizedDepartureLifecycle(t *testing.T) {
	p := dtPolicy()
	newID := dtIDs()
	c := dtBoxIn(state.InYard, []string{"CUSTOMS"}, dtAgencies{"customs": dtHldC, "quarantine": dtRelQ})
	c, d := dtDecideAt(t, c, p, dtT0, newID)
	if len(d.Commands) != 0 || len(d.Fire) != 0 {
		t.Fatalf("in yard and held as it should be: %+v", d)
	}

	// Departs while customs holds: critical alert at once.
	if !applyTOSEvent(&c, &state.TOSEvent{ID: "N4-9", Container: dtBox, Event: state.TOSDeparted, At: dtT0}, p) {
		t.Fatal("departure not applied")
	}
	if !slices.Equal(c.TOSHolds, []string{"CUSTOMS"}) {
		t.Errorf("departed without holds lost the holds: %v", c.TOSHolds)
	}
	now := dtT0.Add(time.Second)
	c, d = dtDecideAt(t, c, p, now, newID)
	id := dtAlertID(state.KindUnauthorizedDeparture, "")
	if len(d.Fire) != 1 || d.Fire[0].ID != id || d.Fire[0].Severity != "critical" || d.Fire[0].Kind != state.KindUnauthorizedDeparture {
		t.Fatalf("fire at departure = %+v, want critical %s", d.Fire, id)
	}
	if !strings.Contains(d.Fire[0].Summary, "customs") {
		t.Errorf("departure summary %q does not say which agency holds", d.Fire[0].Summary)
	}
	if len(d.Commands) != 0 {
		t.Errorf("commands for a departed container: %+v", d.Commands)
	}

	// Still held: keeps firing without firing again.
	c, d = dtDecideAt(t, c, p, now.Add(time.Minute), newID)
	if len(d.Fire) != 0 || len(d.Resolve) != 0 {
		t.Errorf("second decision fire %+v resolve %v", d.Fire, d.Resolve)
	}

	// Customs releases after departure: cleared, the alert resolves.
	if !applyAgencyEvent(&c, &state.AgencyEvent{ID: "REL-C2", Agency: "customs", Status: state.Released, At: dtHldC.At.Add(time.Hour)}, "agency", now) {
		t.Fatal("release not applied")
	}
	c, d = dtDecideAt(t, c, p, now.Add(2*time.Minute), newID)
	if !slices.Equal(d.Resolve, []string{id}) {
		t.Errorf("resolve after clearing = %v, want %s", d.Resolve, id)
	}
	if c.DepartedUncleared || len(c.Alerts) != 0 {
		t.Errorf("after clearing: departed uncleared %v alerts %v", c.DepartedUncleared, c.Alerts)
	}
}
