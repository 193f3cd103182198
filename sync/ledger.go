package sync

import (
	"maps"
	"slices"
	"time"

	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/internal/mapkeys"
	"github.com/portsync/portsync/state"
)

// The ledger (DESIGN section 1): per container and agency, a release that
// a revocation takes back, and holds by type that are placed and removed
// one by one. CBP's guide for the 350 says it plainly: after a 1C release
// "do not RELEASE the cargo until all HOLDS have been removed". Each entry
// keeps the agency time of the event that last set it; an older event is
// stale, and on equal times the stricter one wins (held over
// hold_removed, revoked over released).

// applyLedger folds ev into a and reports whether the ledger changed. An
// event that changes nothing (older than its entry, or a repeat) is stale.
func applyLedger(a *state.AgencyState, ev *state.AgencyEvent, source string, now time.Time) bool {
	fromLegacy(a)
	entry := func(st string) state.LedgerEntry {
		return state.LedgerEntry{State: st, At: ev.At, EventID: ev.ID, Source: source, ReceivedAt: now}
	}
	changed := false
	switch ev.Status {
	case state.Released:
		// Recorded even while an open general hold is as new or newer: the
		// status stays held (the latest wins, held on a tie), and a later
		// removal of that hold lets the release stand, whatever order the
		// events arrived in.
		if r := a.Release; r.State == "" || ev.At.After(r.At) {
			a.Release = entry(state.ReleaseGranted)
			changed = true
		}
		// An untyped release also lifts the general hold it is strictly
		// newer than, so a feed that only says released and held keeps its
		// meaning.
		if h, ok := a.Holds[""]; ok && h.State == state.HoldOpen && ev.At.After(h.At) {
			a.Holds[""] = entry(state.HoldLifted)
			changed = true
		}
	case state.Revoked:
		if r := a.Release; r.State == "" || ev.At.After(r.At) || ev.At.Equal(r.At) && r.State == state.ReleaseGranted {
			a.Release = entry(state.ReleaseRevoked)
			changed = true
		}
	case state.Held:
		if ev.Hold == "" && a.Release.State == state.ReleaseGranted && a.Release.At.After(ev.At) {
			return false // the newer release already lifted this general hold
		}
		if h, ok := a.Holds[ev.Hold]; !ok || ev.At.After(h.At) || ev.At.Equal(h.At) && h.State == state.HoldLifted {
			setHold(a, ev.Hold, entry(state.HoldOpen))
			changed = true
		}
	case state.HoldRemoved:
		// A removal of a hold not (yet) seen is kept too: the placement
		// that arrives late, stamped earlier, is then stale.
		if h, ok := a.Holds[ev.Hold]; !ok || ev.At.After(h.At) {
			setHold(a, ev.Hold, entry(state.HoldLifted))
			changed = true
		}
	}
	if changed {
		a.Status = ledgerStatus(a)
		a.At, a.EventID, a.Source, a.ReceivedAt = ev.At, ev.ID, source, now
	}
	return changed
}

func setHold(a *state.AgencyState, typ string, e state.LedgerEntry) {
	if a.Holds == nil {
		a.Holds = map[string]state.LedgerEntry{}
	}
	a.Holds[typ] = e
}

// fromLegacy fills the ledger of a state stored before it existed (one
// status per agency, the latest event winning) with the entry that status
// stands for.
func fromLegacy(a *state.AgencyState) {
	if a.Release.State != "" || a.Holds != nil {
		return
	}
	e := state.LedgerEntry{At: a.At, EventID: a.EventID, Source: a.Source, ReceivedAt: a.ReceivedAt}
	switch a.Status {
	case state.Released:
		e.State = state.ReleaseGranted
		a.Release = e
	case state.Held:
		e.State = state.HoldOpen
		a.Holds = map[string]state.LedgerEntry{"": e}
	}
}

// ledgerStatus derives an agency's status: held while any hold is open or
// its release was revoked; else released while a release stands; else
// unknown.
func ledgerStatus(a *state.AgencyState) state.Status {
	if a.Release.State == state.ReleaseRevoked {
		return state.Held
	}
	for _, h := range a.Holds {
		if h.State == state.HoldOpen {
			return state.Held
		}
	}
	if a.Release.State == state.ReleaseGranted {
		return state.Released
	}
	return state.Unknown
}

// want is whether an agency wants one TOS hold code on a container, and
// the event to cite in the command.
type want struct {
	hold  bool
	cause string
}

// wanted says, for each TOS hold code the agency owns (its tos_hold and the
// codes of its hold_codes), whether it wants the code on the container. A
// code missing from the answer is one the agency has no opinion on: its
// tos_hold while its status is unknown under when_unknown: ignore, and
// its typed codes until it has spoken. An open hold whose type hold_codes
// maps wants that code; any other open hold, a revoked release, or no
// release under when_unknown: hold want tos_hold. So a standing release
// plus an open 7H mapped to CBP_EXAM wants CBP_EXAM alone.
func wanted(a state.AgencyState, known bool, cfg config.Agency) map[string]want {
	out := map[string]want{}
	put := func(code string, w want) {
		if cur, ok := out[code]; ok && cur.hold && !w.hold {
			return // one reason to hold is enough
		}
		out[code] = w
	}
	if known {
		fromLegacy(&a)
		for _, typ := range mapkeys.Sorted(a.Holds) {
			h := a.Holds[typ]
			code, mapped := cfg.HoldCodes[typ]
			if !mapped {
				if h.State == state.HoldOpen {
					put(cfg.TOSHold, want{true, h.EventID})
				}
				continue
			}
			put(code, want{h.State == state.HoldOpen, h.EventID})
		}
		for _, code := range slices.Sorted(maps.Values(cfg.HoldCodes)) {
			if _, ok := out[code]; !ok {
				put(code, want{false, a.EventID})
			}
		}
		if a.Release.State == state.ReleaseRevoked {
			put(cfg.TOSHold, want{true, a.Release.EventID})
		}
	}
	if _, decided := out[cfg.TOSHold]; !decided || !out[cfg.TOSHold].hold {
		switch {
		case known && a.Release.State == state.ReleaseGranted:
			put(cfg.TOSHold, want{false, a.Release.EventID})
		case cfg.WhenUnknown == config.WhenUnknownIgnore:
			// no opinion: neither add nor remove
		default:
			put(cfg.TOSHold, want{true, state.CausePolicyUnknown})
		}
	}
	return out
}
