package sync

import (
	"cmp"
	"maps"
	"slices"

	"github.com/portsync/portsync/internal/mapkeys"
	"github.com/portsync/portsync/state"
)

// Bills of lading (DESIGN section 1). A decision that names a B/L and no
// containers goes into the B/L's own ledger, which applies to every
// container linked to the B/L, now and later. A container keeps its own
// ledger (its container-level decisions) and its links; what decide, the
// API and the dashboard see in c.Agencies is its effective ledger: its own
// with each linked B/L's ledger merged in. The merge replays the B/L's
// ledger entries as events onto a copy of the container's own ledger, in
// agency time order: the ledger's rules (stale when older, held over
// released on a tie, an untyped release lifting only an older general
// hold, a release never lifting a typed hold) then decide between a
// container's decision and its B/L's exactly as between two decisions on
// the container.

// maxBLContainers bounds the containers linked to one B/L: a large
// shipper's B/L has a few thousand.
const maxBLContainers = 10000

// effective merges the B/L ledgers bls into the container's own ledger and
// returns the result; own is not changed.
func effective(own map[string]state.AgencyState, bls []map[string]state.AgencyState) map[string]state.AgencyState {
	out := cloneLedgers(own)
	for _, bl := range bls {
		for _, name := range mapkeys.Sorted(bl) {
			a, had := out[name]
			changed := false
			for _, ev := range ledgerEvents(name, bl[name]) {
				e := ev.entry
				if applyLedger(&a, &ev.AgencyEvent, e.Source, e.ReceivedAt) {
					changed = true
				}
			}
			if changed || had {
				if out == nil {
					out = map[string]state.AgencyState{}
				}
				out[name] = a
			}
		}
	}
	return out
}

// ledgerEvent is one entry of a ledger as the event that set it.
type ledgerEvent struct {
	state.AgencyEvent
	entry state.LedgerEntry
}

// ledgerEvents turns a ledger back into events, in agency time order (on
// equal times the release first, then holds by type), so replaying them
// rebuilds it.
func ledgerEvents(agency string, a state.AgencyState) []ledgerEvent {
	fromLegacy(&a)
	var out []ledgerEvent
	add := func(st state.Status, hold string, e state.LedgerEntry) {
		out = append(out, ledgerEvent{
			AgencyEvent: state.AgencyEvent{ID: e.EventID, Agency: agency, Status: st, Hold: hold, At: e.At},
			entry:       e,
		})
	}
	switch a.Release.State {
	case state.ReleaseGranted:
		add(state.Released, "", a.Release)
	case state.ReleaseRevoked:
		add(state.Revoked, "", a.Release)
	}
	for _, typ := range mapkeys.Sorted(a.Holds) {
		h := a.Holds[typ]
		st := state.Held
		if h.State == state.HoldLifted {
			st = state.HoldRemoved
		}
		add(st, typ, h)
	}
	slices.SortStableFunc(out, func(x, y ledgerEvent) int { return x.At.Compare(y.At) })
	return out
}

func cloneLedgers(m map[string]state.AgencyState) map[string]state.AgencyState {
	if m == nil {
		return nil
	}
	out := make(map[string]state.AgencyState, len(m))
	for name, a := range m {
		a.Holds = maps.Clone(a.Holds)
		out[name] = a
	}
	return out
}

// ownLedger is the container's own ledger: Own while a B/L contributes,
// else Agencies.
func ownLedger(c *state.Container) map[string]state.AgencyState {
	if c.Own != nil {
		return c.Own
	}
	return c.Agencies
}

// setEffective sets c's effective ledger from its own and the ledgers of
// its linked B/Ls (those that have decided anything), and keeps Own only
// while one contributes.
func setEffective(c *state.Container, bls []map[string]state.AgencyState) {
	own := ownLedger(c)
	if len(bls) == 0 {
		c.Agencies, c.Own = own, nil
		return
	}
	if own == nil {
		own = map[string]state.AgencyState{}
	}
	c.Own = own
	c.Agencies = effective(own, bls)
}

// addLink adds a container to a B/L's sorted list; it reports false when
// the container was listed already or the list is full.
func addLink(list []string, id string) ([]string, bool) {
	i, found := slices.BinarySearch(list, id)
	if found || len(list) >= maxBLContainers {
		return list, false
	}
	return slices.Insert(list, i, id), true
}

// sortedUnique sorts a list of ids and drops repeats.
func sortedUnique(ids []string) []string {
	out := slices.Clone(ids)
	slices.SortFunc(out, cmp.Compare)
	return slices.Compact(out)
}
