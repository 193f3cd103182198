package sync

import (
	"time"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/state"
)

// admit checks a decoded record against the limits every stored record
// keeps, whichever decoder produced it, and cuts its free text to bound.
// Decoders check the same limits in their own words; this second look
// makes the class of "a record the store can never take" impossible, so a
// decoder that misses one cannot wedge the writer. Times further ahead
// than max_clock_skew would freeze a container's state (a release stamped
// 2099 could never be revoked), and times before the retention horizon
// could not be deduplicated; both are rejected.
func (p policy) admit(r *adapters.Record, now time.Time) error {
	notBefore := time.Time{}
	if p.Retention > 0 {
		notBefore = now.Add(-p.Retention)
	}
	switch {
	case r.Agency != nil:
		ev := r.Agency
		if err := checkID(ev.ID); err != nil {
			return err
		}
		if n := len(ev.Containers); n == 0 && ev.BL == "" || n > state.MaxEventContainers {
			return state.Reject(state.CodeInvalidField, "field \"containers\": want 1 to %d containers (or none and a bl), got %d", state.MaxEventContainers, n)
		}
		for _, id := range ev.Containers {
			if err := checkContainer(id); err != nil {
				return err
			}
		}
		if err := state.CheckRef("bl", ev.BL); err != nil {
			return err
		}
		if err := state.CheckRef("declaration", ev.Declaration); err != nil {
			return err
		}
		ev.Reason = state.CutText(ev.Reason, state.MaxReasonLen)
		return state.CheckClock("at", ev.At, now, p.MaxClockSkew, notBefore)
	case r.TOS != nil:
		ev := r.TOS
		if err := checkID(ev.ID); err != nil {
			return err
		}
		if err := checkContainer(ev.Container); err != nil {
			return err
		}
		if len(ev.Holds) > state.MaxHolds {
			return state.Reject(state.CodeInvalidField, "field \"holds\": %d hold codes, more than %d", len(ev.Holds), state.MaxHolds)
		}
		for _, h := range ev.Holds {
			if h == "" || len(h) > state.MaxHoldLen {
				return state.Reject(state.CodeInvalidField, "field \"holds\": hold code of %d bytes, want 1 to %d", len(h), state.MaxHoldLen)
			}
		}
		if err := state.CheckRef("bl", ev.BL); err != nil {
			return err
		}
		return state.CheckClock("at", ev.At, now, p.MaxClockSkew, notBefore)
	case r.Manifest != nil:
		ev := r.Manifest
		if err := checkID(ev.ID); err != nil {
			return err
		}
		if ev.BL == "" {
			return state.Reject(state.CodeInvalidField, "field \"bl\" is required in a manifest")
		}
		if err := state.CheckRef("bl", ev.BL); err != nil {
			return err
		}
		if n := len(ev.Containers); n > maxBLContainers {
			return state.Reject(state.CodeInvalidField, "field \"containers\": %d containers, more than %d on one B/L", n, maxBLContainers)
		}
		for _, id := range ev.Containers {
			if err := checkContainer(id); err != nil {
				return err
			}
		}
		return state.CheckClock("at", ev.At, now, p.MaxClockSkew, notBefore)
	}
	return nil
}

func checkID(id string) error {
	if id == "" || len(id) > state.MaxIDLen {
		return state.Reject(state.CodeInvalidField, "field \"id\": %d bytes, want 1 to %d", len(id), state.MaxIDLen)
	}
	return nil
}

// checkContainer insists on the normalised form the decoders produce, so
// only valid ISO 6346 numbers become store keys.
func checkContainer(id string) error {
	norm, err := state.ParseContainer(id)
	if err != nil {
		return err
	}
	if norm != id {
		return state.Reject(state.CodeInvalidField, "container %q is not in normalised form %q", id, norm)
	}
	return nil
}
