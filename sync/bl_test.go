package sync

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/portsync/portsync/state"
)

// ledgerOf folds events into one agency's ledger, in the order given,
// with ids prefixed so two ledgers' events differ.
func ledgerOf(prefix string, events []lev) map[string]state.AgencyState {
	if len(events) == 0 {
		return nil
	}
	var a state.AgencyState
	for i, e := range events {
		ev := &state.AgencyEvent{ID: fmt.Sprintf("%s%d", prefix, i+1), Agency: "customs", Status: e.status, Hold: e.hold,
			At: ledgerT0.Add(time.Duration(e.at) * time.Minute)}
		applyLedger(&a, ev, "src", ledgerT0)
	}
	return map[string]state.AgencyState{"customs": a}
}

// The effective ledger of a container is its own with its B/Ls' merged:
// the same status as if the B/L's decisions had been made on the
// container itself, in time order. The untyped release against a general
// hold keeps its rule across the two ledgers (latest wins, held on a
// tie), and a release never lifts a typed hold.
func TestBLEffectiveLedger(t *testing.T) {
	R, H, X, V := state.Released, state.Held, state.HoldRemoved, state.Revoked
	tests := []struct {
		name    string
		own, bl []lev
		status  state.Status
	}{
		{"B/L release alone", nil, []lev{{R, "", 1}}, state.Released},
		{"B/L hold alone", nil, []lev{{H, "", 1}}, state.Held},
		{"B/L hold, newer container release", []lev{{R, "", 2}}, []lev{{H, "", 1}}, state.Released},
		{"B/L hold, older container release", []lev{{R, "", 1}}, []lev{{H, "", 2}}, state.Held},
		{"B/L hold, container release on a tie", []lev{{R, "", 1}}, []lev{{H, "", 1}}, state.Held},
		{"B/L release, container hold on a tie", []lev{{H, "", 1}}, []lev{{R, "", 1}}, state.Held},
		{"B/L release, older container hold", []lev{{H, "", 1}}, []lev{{R, "", 2}}, state.Released},
		{"B/L release, newer container hold", []lev{{H, "", 2}}, []lev{{R, "", 1}}, state.Held},
		{"B/L release, container typed hold", []lev{{H, "7H", 1}}, []lev{{R, "", 2}}, state.Held},
		{"B/L typed hold, container release", []lev{{R, "", 2}}, []lev{{H, "7H", 1}}, state.Held},
		{"B/L typed hold removed, container release", []lev{{R, "", 2}}, []lev{{H, "7H", 1}, {X, "7H", 3}}, state.Released},
		{"B/L release revoked", []lev{{R, "", 1}}, []lev{{V, "", 2}}, state.Held},
		{"container revocation older than B/L release", []lev{{V, "", 1}}, []lev{{R, "", 2}}, state.Released},
		{"B/L hold then container-level removal", []lev{{X, "", 2}}, []lev{{H, "", 1}}, state.Unknown},
		{"B/L hold then B/L release, container nothing", nil, []lev{{H, "", 1}, {R, "", 2}}, state.Released},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			own := ledgerOf("C", tt.own)
			bl := ledgerOf("B", tt.bl)
			var bls []map[string]state.AgencyState
			if bl != nil {
				bls = append(bls, bl)
			}
			got := effective(own, bls)["customs"].Status
			// The same events on one ledger, in time order (B/L first on a
			// tie: the tie rule is symmetric).
			all := append(slices.Clone(tt.bl), tt.own...)
			slices.SortStableFunc(all, func(a, b lev) int { return a.at - b.at })
			want := ledgerOf("X", all)["customs"].Status
			if got != tt.status || want != tt.status {
				t.Fatalf("effective %q, one ledger %q, want %q", got, want, tt.status)
			}
			if own != nil && own["customs"].Status != ledgerOf("C", tt.own)["customs"].Status {
				t.Fatal("effective changed the container's own ledger")
			}
		})
	}
}

// Merging in any order of B/Ls gives the same statuses, and a container
// without B/L decisions keeps no separate own ledger.
func TestBLSetEffective(t *testing.T) {
	R, H := state.Released, state.Held
	a := ledgerOf("A", []lev{{R, "", 1}})
	b := ledgerOf("B", []lev{{H, "exam", 2}})
	own := ledgerOf("C", []lev{{R, "", 3}})
	x := effective(own, []map[string]state.AgencyState{a, b})["customs"]
	y := effective(own, []map[string]state.AgencyState{b, a})["customs"]
	if x.Status != state.Held || y.Status != state.Held || !slices.Equal(openHolds(x), openHolds(y)) {
		t.Fatalf("merge order matters: %+v vs %+v", x, y)
	}
	c := state.Container{ID: c1, Agencies: own}
	setEffective(&c, []map[string]state.AgencyState{b})
	if c.Own == nil || c.Agencies["customs"].Status != state.Held || c.Own["customs"].Status != state.Released {
		t.Fatalf("linked: own %+v effective %+v", c.Own, c.Agencies)
	}
	setEffective(&c, nil)
	if c.Own != nil || c.Agencies["customs"].Status != state.Released {
		t.Fatalf("unlinked: own %+v effective %+v", c.Own, c.Agencies)
	}
}
