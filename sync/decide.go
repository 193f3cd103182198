package sync

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

// Policy is the part of the configuration that decisions depend on.
type Policy struct {
	Terminal    string
	Agencies    map[string]config.Agency
	Required    []string
	ApplyWithin time.Duration
	// MaxClockSkew and Retention bound the sender times Admit accepts.
	MaxClockSkew time.Duration
	Retention    time.Duration
}

// PolicyFrom extracts the decision policy from a configuration.
func PolicyFrom(c *config.Config) Policy {
	return Policy{
		Terminal:     c.Terminal,
		Agencies:     c.Agencies,
		Required:     c.ReleasePolicy.Required,
		ApplyWithin:  c.SLA.ApplyWithin,
		MaxClockSkew: c.MaxClockSkew,
		Retention:    c.Retention.Journal,
	}
}

func (p Policy) agencyNames() []string { return slices.Sorted(maps.Keys(p.Agencies)) }

// CheckAgency enforces that an agency is configured and that the source
// may speak for it: a forged or misrouted release must not free cargo.
func (p Policy) CheckAgency(src *SourceInfo, ev *state.AgencyEvent) error {
	if _, ok := p.Agencies[ev.Agency]; !ok {
		return state.Reject(state.CodeInvalidField, "field \"agency\": %q is not a configured agency (configured: %v)", ev.Agency, p.agencyNames())
	}
	if src.Kind != config.KindAgency {
		return state.Reject(state.CodeForbiddenAgency, "source %s is a %s source and may not speak for agency %q", src.Name, src.Kind, ev.Agency)
	}
	if src.Agency != ev.Agency {
		return state.Reject(state.CodeForbiddenAgency, "source %s speaks for %s only, not for agency %q", src.Name, src.Agency, ev.Agency)
	}
	return nil
}

// Status returns an agency's status on c, unknown if it has not spoken.
func Status(c *state.Container, agency string) state.Status {
	if a, ok := c.Agencies[agency]; ok {
		return a.Status
	}
	return state.Unknown
}

// Cleared reports whether every required agency has released c and no
// agency holds it.
func Cleared(c *state.Container, p Policy) bool {
	for _, name := range p.Required {
		if Status(c, name) != state.Released {
			return false
		}
	}
	for _, a := range c.Agencies {
		if a.Status == state.Held {
			return false
		}
	}
	return true
}

// ApplyAgencyEvent folds an agency event into the agency's ledger on one
// of the containers it names (see applyLedger) and reports whether the
// container's state changed.
func ApplyAgencyEvent(c *state.Container, ev *state.AgencyEvent, source string, now time.Time) bool {
	if c.Agencies == nil {
		c.Agencies = map[string]state.AgencyState{}
	}
	a := c.Agencies[ev.Agency]
	if !applyLedger(&a, ev, source, now) {
		return false
	}
	c.Agencies[ev.Agency] = a
	c.BLs = addRef(c.BLs, ev.BL)
	c.Declarations = addRef(c.Declarations, ev.Declaration)
	return true
}

// maxRefs bounds the B/L and declaration numbers kept per container for
// search; a container rarely has more than a few.
const maxRefs = 16

func addRef(refs []string, ref string) []string {
	if ref == "" || slices.Contains(refs, ref) || len(refs) >= maxRefs {
		return refs
	}
	return append(refs, ref)
}

// ApplyTOSEvent folds a TOS event into c and reports whether presence or
// holds changed. A TOS event older than the last one applied is stale.
func ApplyTOSEvent(c *state.Container, ev *state.TOSEvent, p Policy) bool {
	if !c.TOSAt.IsZero() && ev.At.Before(c.TOSAt) {
		return false
	}
	before, beforeHolds := c.Presence, c.TOSHolds
	c.TOSAt = ev.At
	switch ev.Event {
	case state.TOSArrived:
		c.Presence = state.InYard
		c.TOSHolds = ev.Holds
		c.DepartedUncleared = false
	case state.TOSHolds:
		// A hold report means the TOS has the container; if we missed its
		// arrival (we started later), treat it as in the yard.
		if c.Presence == state.Expected || c.Presence == "" {
			c.Presence = state.InYard
		}
		c.TOSHolds = ev.Holds
	case state.TOSDeparted:
		if ev.HasHolds {
			c.TOSHolds = ev.Holds
		}
		if c.Presence != state.Departed {
			c.DepartedUncleared = !Cleared(c, p)
		}
		c.Presence = state.Departed
	}
	if c.TOSHolds == nil {
		c.TOSHolds = []string{}
	}
	return before != c.Presence || !slices.Equal(beforeHolds, c.TOSHolds)
}

// Decision is what the engine must do after a container's state changed:
// commands to issue, pending commands that are confirmed or superseded,
// mismatches opened and closed, alerts that fire or resolve.
type Decision struct {
	Commands   []state.Command
	Confirmed  []state.PendingCommand
	Superseded []state.PendingCommand
	Opened     []state.Mismatch
	Closed     []state.Mismatch
	Fire       []state.Alert
	Resolve    []string // alert ids
	// Deadline is the earliest time at which an open mismatch outlives the
	// SLA and must be decided again; zero if none.
	Deadline time.Time
}

func (d *Decision) empty() bool {
	return len(d.Commands)+len(d.Confirmed)+len(d.Superseded)+len(d.Opened)+len(d.Closed)+len(d.Fire)+len(d.Resolve) == 0
}

// Decide computes the desired holds of c at time now and everything that
// follows from comparing them with the TOS holds. It returns c's new state
// and the decision; it does no I/O. newID names new commands.
func Decide(in state.Container, p Policy, now time.Time, newID func() string) (state.Container, Decision) {
	c := in.Clone()
	var d Decision
	cleared := Cleared(&c, p)
	if c.DepartedUncleared && cleared {
		c.DepartedUncleared = false
	}
	want := map[string]state.Alert{} // alerts that should be firing now, by id
	if c.Presence == state.Departed && c.DepartedUncleared {
		a := departureAlert(&c, p, now)
		want[a.ID] = a
	}

	mismatches := map[string]state.Mismatch{}
	pending := map[string]state.PendingCommand{}
	if c.Presence == state.InYard {
		for _, name := range p.agencyNames() {
			cfg := p.Agencies[name]
			st, known := c.Agencies[name]
			wants := wanted(st, known, cfg)
			for _, hold := range ownedCodes(cfg) {
				w, opinion := wants[hold]
				old, hasPending := c.Pending[hold]
				have := c.HasHold(hold)
				if !opinion || w.hold == have {
					if hasPending && opinion && old.Action == actionFor(have) {
						d.Confirmed = append(d.Confirmed, old)
					} else if hasPending {
						d.Superseded = append(d.Superseded, old)
					}
					continue
				}
				kind := state.KindMissingHold
				if have {
					kind = state.KindStaleHold
				}
				slot := p.slot(name, hold)
				m, ok := c.Mismatches[slot]
				if !ok || m.Kind != kind {
					m = state.Mismatch{Container: c.ID, Agency: name, Hold: hold, Kind: kind, Since: now}
				}
				mismatches[slot] = m
				if due := m.Since.Add(p.ApplyWithin); !now.Before(due) {
					a := mismatchAlert(&c, m, slot, p, now)
					want[a.ID] = a
				} else if d.Deadline.IsZero() || due.Before(d.Deadline) {
					d.Deadline = due
				}

				action := actionFor(w.hold)
				if hasPending && old.Action == action {
					pending[hold] = old
					continue
				}
				if hasPending {
					d.Superseded = append(d.Superseded, old)
				}
				cmd := newCommand(&c, p, name, hold, action, w.cause, newID(), now)
				d.Commands = append(d.Commands, cmd)
				pending[hold] = state.PendingCommand{
					ID: cmd.ID, Action: action, Hold: hold, Agency: name, Cause: w.cause, IssuedAt: now,
					CauseReceivedAt: st.ReceivedAt,
				}
			}
		}
	}
	// Pending commands for holds no longer configured, or for a container
	// that left the yard, are void.
	for _, hold := range slices.Sorted(maps.Keys(c.Pending)) {
		old := c.Pending[hold]
		if _, kept := pending[hold]; !kept && !containsID(d.Confirmed, old.ID) && !containsID(d.Superseded, old.ID) {
			d.Superseded = append(d.Superseded, old)
		}
	}

	for _, slot := range slices.Sorted(maps.Keys(c.Mismatches)) {
		if m, ok := mismatches[slot]; !ok || m.Kind != c.Mismatches[slot].Kind {
			d.Closed = append(d.Closed, c.Mismatches[slot])
		}
	}
	for _, slot := range slices.Sorted(maps.Keys(mismatches)) {
		if old, ok := c.Mismatches[slot]; !ok || old.Kind != mismatches[slot].Kind {
			d.Opened = append(d.Opened, mismatches[slot])
		}
	}

	var firing []string
	for _, id := range c.Alerts {
		if _, ok := want[id]; ok {
			firing = append(firing, id)
			delete(want, id)
		} else {
			d.Resolve = append(d.Resolve, id)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(want)) {
		d.Fire = append(d.Fire, want[id])
		firing = append(firing, id)
	}
	slices.Sort(firing)

	c.Mismatches = nilIfEmpty(mismatches)
	c.Pending = nilIfEmpty(pending)
	c.Alerts = firing
	return c, d
}

func nilIfEmpty[V any](m map[string]V) map[string]V {
	if len(m) == 0 {
		return nil
	}
	return m
}

func containsID(list []state.PendingCommand, id string) bool {
	return slices.ContainsFunc(list, func(p state.PendingCommand) bool { return p.ID == id })
}

// ownedCodes are the TOS hold codes an agency owns: its tos_hold and the
// codes its hold_codes map types to, sorted, each once.
func ownedCodes(a config.Agency) []string {
	codes := []string{a.TOSHold}
	for _, code := range a.HoldCodes {
		if !slices.Contains(codes, code) {
			codes = append(codes, code)
		}
	}
	slices.Sort(codes)
	return codes
}

// slot names an agency's TOS code among a container's mismatches and in
// alert ids: the agency alone for its tos_hold (as before typed holds
// existed), agency/CODE for a code of its hold_codes.
func (p Policy) slot(agency, code string) string {
	if code == "" || code == p.Agencies[agency].TOSHold {
		return agency
	}
	return agency + "/" + code
}

// MismatchSlot is the key of m among its container's mismatches.
func (p Policy) MismatchSlot(m state.Mismatch) string { return p.slot(m.Agency, m.Hold) }

func actionFor(hold bool) string {
	if hold {
		return state.AddHold
	}
	return state.ReleaseHold
}

func newCommand(c *state.Container, p Policy, agency, hold, action, cause, id string, now time.Time) state.Command {
	return state.Command{
		ID: id, Terminal: p.Terminal, Container: c.ID, Action: action, Hold: hold,
		Agency: agency, Cause: cause, Reason: describeCause(c, agency, cause), IssuedAt: now.UTC(),
	}
}

// describeCause says in words what the agency did that a command follows.
func describeCause(c *state.Container, agency, cause string) string {
	st := c.Agencies[agency]
	if cause == state.CausePolicyUnknown || cause == "" {
		return fmt.Sprintf("%s has not decided; its policy when unknown is to hold", agency)
	}
	fromLegacy(&st)
	if st.Release.EventID == cause {
		if st.Release.State == state.ReleaseRevoked {
			return fmt.Sprintf("%s revoked its release at %s", agency, st.Release.At.Format(time.RFC3339))
		}
		return fmt.Sprintf("%s released at %s", agency, st.Release.At.Format(time.RFC3339))
	}
	for _, typ := range slices.Sorted(maps.Keys(st.Holds)) {
		h := st.Holds[typ]
		if h.EventID != cause {
			continue
		}
		what := "its hold"
		if typ != "" {
			what = "hold " + typ
		}
		if h.State == state.HoldOpen {
			return fmt.Sprintf("%s held (%s) at %s", agency, what, h.At.Format(time.RFC3339))
		}
		return fmt.Sprintf("%s removed %s at %s", agency, what, h.At.Format(time.RFC3339))
	}
	return fmt.Sprintf("%s %s at %s", agency, st.Status, st.At.Format(time.RFC3339))
}
