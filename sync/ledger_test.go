package sync

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

// lev is a ledger event in a table: status, hold type and agency time in
// minutes after 10:00.
type lev struct {
	status state.Status
	hold   string
	at     int
}

func (e lev) String() string {
	if e.hold != "" {
		return fmt.Sprintf("%s:%s@%d", e.status, e.hold, e.at)
	}
	return fmt.Sprintf("%s@%d", e.status, e.at)
}

var ledgerT0 = time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)

func applyAll(events []lev) (state.AgencyState, []bool) {
	var a state.AgencyState
	var changed []bool
	for i, e := range events {
		ev := &state.AgencyEvent{ID: fmt.Sprintf("E%d", i+1), Agency: "customs", Status: e.status, Hold: e.hold,
			At: ledgerT0.Add(time.Duration(e.at) * time.Minute)}
		changed = append(changed, applyLedger(&a, ev, "src", ledgerT0))
	}
	return a, changed
}

func TestLedgerStatus(t *testing.T) {
	R, H, X, V := state.Released, state.Held, state.HoldRemoved, state.Revoked
	tests := []struct {
		name    string
		events  []lev
		status  state.Status
		changed string // one letter per event: a applied, s stale
	}{
		// The simple feed: latest wins, held on a tie.
		{"release", []lev{{R, "", 1}}, state.Released, "a"},
		{"hold", []lev{{H, "", 1}}, state.Held, "a"},
		{"release then later hold", []lev{{R, "", 1}, {H, "", 2}}, state.Held, "aa"},
		{"hold then later release", []lev{{H, "", 1}, {R, "", 2}}, state.Released, "aa"},
		{"release then older hold (out of order)", []lev{{R, "", 2}, {H, "", 1}}, state.Released, "as"},
		{"hold then older release (out of order)", []lev{{H, "", 2}, {R, "", 1}}, state.Held, "aa"},
		{"release and hold tie", []lev{{R, "", 1}, {H, "", 1}}, state.Held, "aa"},
		{"hold and release tie", []lev{{H, "", 1}, {R, "", 1}}, state.Held, "aa"},
		{"repeated release", []lev{{R, "", 1}, {R, "", 1}}, state.Released, "as"},
		{"older release after release", []lev{{R, "", 2}, {R, "", 1}}, state.Released, "as"},

		// CBP: a release stands, but a typed hold keeps the cargo.
		{"1H then 1C, no 1I", []lev{{H, "1H", 1}, {R, "", 2}}, state.Held, "aa"},
		{"1H, 1C, then 1I", []lev{{H, "1H", 1}, {R, "", 2}, {X, "1H", 3}}, state.Released, "aaa"},
		{"1C, 1H, 1I", []lev{{R, "", 1}, {H, "1H", 2}, {X, "1H", 3}}, state.Released, "aaa"},
		{"1I before its 1H (out of order)", []lev{{R, "", 1}, {X, "1H", 3}, {H, "1H", 2}}, state.Released, "aas"},
		{"1H and 1I tie: held wins", []lev{{R, "", 1}, {H, "1H", 2}, {X, "1H", 2}}, state.Held, "aas"},
		{"1I and 1H tie: held wins", []lev{{R, "", 1}, {X, "1H", 2}, {H, "1H", 2}}, state.Held, "aaa"},
		{"two types, one removed", []lev{{R, "", 1}, {H, "1H", 2}, {H, "7H", 2}, {X, "1H", 3}}, state.Held, "aaaa"},
		{"two types, both removed", []lev{{R, "", 1}, {H, "1H", 2}, {H, "7H", 2}, {X, "1H", 3}, {X, "7H", 4}}, state.Released, "aaaaa"},
		{"removing a hold never releases", []lev{{H, "1H", 1}, {X, "1H", 2}}, state.Unknown, "aa"},
		{"a release never lifts a typed hold", []lev{{H, "7H", 1}, {R, "", 5}}, state.Held, "aa"},
		{"a newer release lifts the general hold", []lev{{H, "", 1}, {R, "", 5}, {X, "7H", 6}}, state.Released, "aaa"},
		{"removal of the general hold", []lev{{R, "", 1}, {H, "", 2}, {X, "", 3}}, state.Released, "aaa"},

		// Revocation.
		{"release revoked", []lev{{R, "", 1}, {V, "", 2}}, state.Held, "aa"},
		{"revoked then released again", []lev{{R, "", 1}, {V, "", 2}, {R, "", 3}}, state.Released, "aaa"},
		{"release and revocation tie: revoked wins", []lev{{R, "", 1}, {V, "", 1}}, state.Held, "aa"},
		{"revocation and release tie: revoked wins", []lev{{V, "", 1}, {R, "", 1}}, state.Held, "as"},
		{"older release after revocation (out of order)", []lev{{V, "", 2}, {R, "", 1}}, state.Held, "as"},
		{"revocation before any release", []lev{{V, "", 1}}, state.Held, "a"},
		{"repeated revocation", []lev{{R, "", 1}, {V, "", 2}, {V, "", 2}}, state.Held, "aas"},
		{"revocation keeps typed holds", []lev{{R, "", 1}, {H, "7H", 2}, {V, "", 3}, {X, "7H", 4}}, state.Held, "aaaa"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, changed := applyAll(tt.events)
			if a.Status != tt.status {
				t.Errorf("%v: status %s, want %s (ledger %+v)", tt.events, a.Status, tt.status, a)
			}
			var got strings.Builder
			for _, c := range changed {
				got.WriteString(map[bool]string{true: "a", false: "s"}[c])
			}
			if got.String() != tt.changed {
				t.Errorf("%v: applied/stale %s, want %s", tt.events, got.String(), tt.changed)
			}
		})
	}
}

// Every order of the same events ends in the same ledger: the agency time,
// not the arrival order, decides.
func TestLedgerOrderIndependent(t *testing.T) {
	R, H, X, V := state.Released, state.Held, state.HoldRemoved, state.Revoked
	sets := [][]lev{
		{{H, "1H", 1}, {R, "", 2}, {X, "1H", 3}, {V, "", 4}},
		{{R, "", 1}, {H, "", 2}, {R, "", 3}, {H, "7H", 3}},
		{{R, "", 2}, {V, "", 2}, {H, "", 2}, {X, "", 2}},
		{{H, "7H", 1}, {X, "7H", 1}, {R, "", 1}},
		{{R, "", 1}, {X, "1H", 2}, {H, "1H", 2}, {H, "1H", 3}, {X, "1H", 3}},
		// A release older than a general hold that is later removed.
		{{H, "", 2}, {R, "", 1}, {X, "", 3}},
		{{R, "", 3}, {H, "", 2}, {R, "", 1}, {X, "", 4}},
	}
	for _, set := range sets {
		var first state.Status
		var firstOpen []string
		permute(set, func(order []lev) {
			a, _ := applyAll(order)
			open := openTypes(a)
			if first == "" {
				first, firstOpen = a.Status, open
				return
			}
			if a.Status != first || !slices.Equal(open, firstOpen) {
				t.Errorf("%v: status %s, open %v; another order gave %s, %v", order, a.Status, open, first, firstOpen)
			}
		})
	}
}

func openTypes(a state.AgencyState) []string {
	var out []string
	for _, typ := range slices.Sorted(maps.Keys(a.Holds)) {
		if a.Holds[typ].State == state.HoldOpen {
			out = append(out, typ)
		}
	}
	return out
}

func permute(xs []lev, fn func([]lev)) {
	var rec func(k int)
	rec = func(k int) {
		if k == len(xs) {
			fn(slices.Clone(xs))
			return
		}
		for i := k; i < len(xs); i++ {
			xs[k], xs[i] = xs[i], xs[k]
			rec(k + 1)
			xs[k], xs[i] = xs[i], xs[k]
		}
	}
	rec(0)
}

func TestLedgerWanted(t *testing.T) {
	R, H, X, V := state.Released, state.Held, state.HoldRemoved, state.Revoked
	customs := config.Agency{TOSHold: "CUSTOMS", WhenUnknown: config.WhenUnknownHold, HoldCodes: map[string]string{"7H": "CBP_EXAM"}}
	ignore := config.Agency{TOSHold: "CIQ", WhenUnknown: config.WhenUnknownIgnore}
	tests := []struct {
		name   string
		cfg    config.Agency
		events []lev
		want   string // code=hold/cause, sorted
	}{
		{"unknown, policy hold", customs, nil, "CUSTOMS=hold/policy:when_unknown"},
		{"unknown, policy ignore", ignore, nil, ""},
		{"released", customs, []lev{{R, "", 1}}, "CBP_EXAM=free/E1 CUSTOMS=free/E1"},
		{"release plus open 7H wants CBP_EXAM alone", customs, []lev{{R, "", 1}, {H, "7H", 2}}, "CBP_EXAM=hold/E2 CUSTOMS=free/E1"},
		{"7H removed", customs, []lev{{R, "", 1}, {H, "7H", 2}, {X, "7H", 3}}, "CBP_EXAM=free/E3 CUSTOMS=free/E1"},
		{"unmapped 1H open wants tos_hold", customs, []lev{{R, "", 1}, {H, "1H", 2}}, "CBP_EXAM=free/E2 CUSTOMS=hold/E2"},
		{"revoked wants tos_hold", customs, []lev{{R, "", 1}, {V, "", 2}}, "CBP_EXAM=free/E2 CUSTOMS=hold/E2"},
		{"7H open, no release, policy hold", customs, []lev{{H, "7H", 1}}, "CBP_EXAM=hold/E1 CUSTOMS=hold/policy:when_unknown"},
		{"ignore: hold removed, no release", ignore, []lev{{H, "", 1}, {X, "", 2}}, ""},
		{"ignore: revoked", ignore, []lev{{V, "", 1}}, "CIQ=hold/E1"},
		{"ignore: held", ignore, []lev{{H, "", 1}}, "CIQ=hold/E1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, _ := applyAll(tt.events)
			w := wanted(a, len(tt.events) > 0, tt.cfg)
			var got []string
			for _, code := range slices.Sorted(maps.Keys(w)) {
				got = append(got, fmt.Sprintf("%s=%s/%s", code, map[bool]string{true: "hold", false: "free"}[w[code].hold], w[code].cause))
			}
			if s := strings.Join(got, " "); s != tt.want {
				t.Errorf("%v: wanted %s, want %s", tt.events, s, tt.want)
			}
		})
	}
}

// A state stored before the ledger existed reads as the ledger it stands
// for.
func TestLedgerFromLegacy(t *testing.T) {
	a := state.AgencyState{Status: state.Held, At: ledgerT0, EventID: "OLD"}
	ev := &state.AgencyEvent{ID: "NEW", Agency: "customs", Status: state.Released, At: ledgerT0.Add(time.Minute)}
	if !applyLedger(&a, ev, "src", ledgerT0) || a.Status != state.Released {
		t.Fatalf("legacy held then newer release: %+v", a)
	}
	b := state.AgencyState{Status: state.Released, At: ledgerT0, EventID: "OLD"}
	ev = &state.AgencyEvent{ID: "NEW", Agency: "customs", Status: state.Held, At: ledgerT0.Add(-time.Minute)}
	if applyLedger(&b, ev, "src", ledgerT0) || b.Status != state.Released {
		t.Fatalf("legacy release then older hold: %+v", b)
	}
}
