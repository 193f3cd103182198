package sync

import (
	"fmt"
	"slices"
	"time"

	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/internal/mapkeys"
	"github.com/portsync/portsync/state"
)

// policy is the part of the configuration that decisions depend on.
type policy struct {
	Terminal    string
	Agencies    map[string]config.Agency
	Required    []string
	ApplyWithin time.Duration
	// MaxClockSkew and Retention bound the sender times admit accepts.
	MaxClockSkew time.Duration
	Retention    time.Duration
	// names is Agencies' names in order, and owned each agency's TOS
	// codes (ownedCodes), kept because every decision walks them.
	names []string
	owned map[string][]string
}

// policyFrom extracts the decision policy from a configuration.
func policyFrom(c *config.Config) policy {
	return newPolicy(policy{
		Terminal:     c.Terminal,
		Agencies:     c.Agencies,
		Required:     c.ReleasePolicy.Required,
		ApplyWithin:  c.SLA.ApplyWithin,
		MaxClockSkew: c.MaxClockSkew,
		Retention:    c.Retention.Journal,
	})
}

// newPolicy is p with what it derives from its agencies worked out.
func newPolicy(p policy) policy {
	p.names = mapkeys.Sorted(p.Agencies)
	p.owned = make(map[string][]string, len(p.Agencies))
	for name, a := range p.Agencies {
		p.owned[name] = ownedCodes(a)
	}
	return p
}

// agencyNames is the configured agencies' names, in order. The slice is
// the policy's own: callers read it and do not change it.
func (p policy) agencyNames() []string { return p.names }

// ownedCodes is the TOS codes of the agency name, in order; the policy's own
// slice, as agencyNames's.
func (p policy) ownedCodes(name string) []string { return p.owned[name] }

// CheckAgency enforces that an agency is configured and that the source
// may speak for it: a forged or misrouted release must not free cargo.
func (p policy) CheckAgency(src *SourceInfo, ev *state.AgencyEvent) error {
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

// agencyStatus returns an agency's status on c, unknown if it has not spoken.
func agencyStatus(c *state.Container, agency string) state.Status {
	if a, ok := c.Agencies[agency]; ok {
		return a.Status
	}
	return state.Unknown
}

// isCleared reports whether every required agency has released c and no
// agency holds it.
func isCleared(c *state.Container, p policy) bool {
	for _, name := range p.Required {
		if agencyStatus(c, name) != state.Released {
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

// applyAgencyEvent folds an agency event into the agency's ledger on one
// of the containers it names (see applyLedger) and reports whether the
// container's state changed.
//
// On a container linked to a B/L that has decided, the event goes into
// the container's own ledger (c.Own) and the transaction merges the
// effective one afterwards (setEffective).
func applyAgencyEvent(c *state.Container, ev *state.AgencyEvent, source string, now time.Time) bool {
	ledger := &c.Agencies
	if c.Own != nil {
		ledger = &c.Own
	}
	if *ledger == nil {
		*ledger = map[string]state.AgencyState{}
	}
	a := (*ledger)[ev.Agency]
	if !applyLedger(&a, ev, source, now) {
		return false
	}
	(*ledger)[ev.Agency] = a
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

// applyTOSEvent folds a TOS event into c and reports whether presence or
// holds changed. A TOS event older than the last one applied is stale.
func applyTOSEvent(c *state.Container, ev *state.TOSEvent, p policy) bool {
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
			c.DepartedUncleared = !isCleared(c, p)
		}
		c.Presence = state.Departed
	}
	if c.TOSHolds == nil {
		c.TOSHolds = []string{}
	}
	return before != c.Presence || !slices.Equal(beforeHolds, c.TOSHolds)
}

// decision is what the engine must do after a container's state changed:
// commands to issue, pending commands that are confirmed or superseded,
// mismatches opened and closed, alerts that fire or resolve.
type decision struct {
	// Commands are new, without ids: the transaction numbers them
	// (numberCommands), and their entries in the container's pending
	// commands with them.
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

func (d *decision) empty() bool {
	return len(d.Commands)+len(d.Confirmed)+len(d.Superseded)+len(d.Opened)+len(d.Closed)+len(d.Fire)+len(d.Resolve) == 0
}

// decide computes the desired holds of c at time now and everything that
// follows from comparing them with the TOS holds. It returns c's new state
// and the decision; it does no I/O. New commands have no id yet.
func decide(in state.Container, p policy, now time.Time) (state.Container, decision) {
	k := decider{
		c: in.Clone(), p: p, now: now,
		want:       map[string]state.Alert{},
		pending:    map[string]state.PendingCommand{},
		mismatches: map[string]state.Mismatch{},
	}
	k.departure()
	if k.c.Presence == state.InYard {
		for _, name := range p.agencyNames() {
			k.agency(name)
		}
	}
	k.voidPending()
	k.diffMismatches()
	k.diffAlerts()
	return k.c, k.d
}

// decider is one run of decide: the container's new state and the
// decision so far, and what the container should have.
type decider struct {
	c   state.Container
	p   policy
	now time.Time
	d   decision

	want       map[string]state.Alert          // alerts that should be firing now, by id
	pending    map[string]state.PendingCommand // pending commands to keep or issue, by TOS code
	mismatches map[string]state.Mismatch       // open mismatches, by slot
}

// departure clears the departed-uncleared mark of a container cleared
// since, and wants the unauthorized_departure alert of one that is not.
func (k *decider) departure() {
	if k.c.DepartedUncleared && isCleared(&k.c, k.p) {
		k.c.DepartedUncleared = false
	}
	if k.c.Presence == state.Departed && k.c.DepartedUncleared {
		a := departureAlert(&k.c, k.p, k.now)
		k.want[a.ID] = a
	}
}

// agency compares each TOS code the agency owns with what it wants, for a
// container in the yard.
func (k *decider) agency(name string) {
	cfg := k.p.Agencies[name]
	st, known := k.c.Agencies[name]
	wants := wanted(st, known, cfg)
	for _, code := range k.p.ownedCodes(name) {
		w, opinion := wants[code]
		if !opinion || w.hold == k.c.HasHold(code) {
			k.settled(code, opinion)
			continue
		}
		k.mismatch(name, code)
		k.command(name, code, w, st.ReceivedAt)
	}
}

// settled retires the pending command of a code that is as the agency
// wants it, or that it has no opinion on: confirmed if it did what the
// code shows, superseded otherwise.
func (k *decider) settled(code string, opinion bool) {
	old, ok := k.c.Pending[code]
	switch {
	case !ok:
	case opinion && old.Action == actionFor(k.c.HasHold(code)):
		k.d.Confirmed = append(k.d.Confirmed, old)
	default:
		k.d.Superseded = append(k.d.Superseded, old)
	}
}

// mismatch keeps the agency's mismatch on code open (since when it
// began), wants its alert once it has outlived the SLA, and otherwise
// moves the deadline to when it will.
func (k *decider) mismatch(agency, code string) {
	kind := state.KindMissingHold
	if k.c.HasHold(code) {
		kind = state.KindStaleHold
	}
	slot := k.p.slot(agency, code)
	m, ok := k.c.Mismatches[slot]
	if !ok || m.Kind != kind {
		m = state.Mismatch{Container: k.c.ID, Agency: agency, Hold: code, Kind: kind, Since: k.now}
	}
	k.mismatches[slot] = m
	if due := m.Since.Add(k.p.ApplyWithin); !k.now.Before(due) {
		a := mismatchAlert(&k.c, m, slot, k.p, k.now)
		k.want[a.ID] = a
	} else if k.d.Deadline.IsZero() || due.Before(k.d.Deadline) {
		k.d.Deadline = due
	}
}

// command keeps a pending command that already does what the agency
// wants of code, or supersedes it and issues a new one. receivedAt is
// when the agency's latest event came, for the release-to-TOS metric.
func (k *decider) command(agency, code string, w want, receivedAt time.Time) {
	action := actionFor(w.hold)
	old, hasPending := k.c.Pending[code]
	if hasPending && old.Action == action {
		k.pending[code] = old
		return
	}
	if hasPending {
		k.d.Superseded = append(k.d.Superseded, old)
	}
	cmd := newCommand(&k.c, k.p, agency, code, action, w.cause, k.now)
	k.d.Commands = append(k.d.Commands, cmd)
	k.pending[code] = state.PendingCommand{
		Action: action, Hold: code, Agency: agency, Cause: w.cause, IssuedAt: k.now,
		CauseReceivedAt: receivedAt,
	}
}

// voidPending supersedes the pending commands for codes no longer
// configured, or of a container that left the yard, and sets the
// container's pending commands.
func (k *decider) voidPending() {
	d := &k.d
	var buf [8]string
	for _, code := range mapkeys.AppendSorted(buf[:0], k.c.Pending) {
		old := k.c.Pending[code]
		if _, kept := k.pending[code]; !kept && !containsID(d.Confirmed, old.ID) && !containsID(d.Superseded, old.ID) {
			d.Superseded = append(d.Superseded, old)
		}
	}
	k.c.Pending = nilIfEmpty(k.pending)
}

// diffMismatches closes the mismatches that are gone or changed kind,
// opens the new ones, and sets the container's.
func (k *decider) diffMismatches() {
	was, is := k.c.Mismatches, k.mismatches
	var buf [8]string
	for _, slot := range mapkeys.AppendSorted(buf[:0], was) {
		if m, ok := is[slot]; !ok || m.Kind != was[slot].Kind {
			k.d.Closed = append(k.d.Closed, was[slot])
		}
	}
	for _, slot := range mapkeys.AppendSorted(buf[:0], is) {
		if old, ok := was[slot]; !ok || old.Kind != is[slot].Kind {
			k.d.Opened = append(k.d.Opened, is[slot])
		}
	}
	k.c.Mismatches = nilIfEmpty(is)
}

// diffAlerts resolves the container's alerts no longer wanted, fires the
// wanted ones not yet firing, and sets the container's.
func (k *decider) diffAlerts() {
	var firing []string
	for _, id := range k.c.Alerts {
		if _, ok := k.want[id]; ok {
			firing = append(firing, id)
			delete(k.want, id)
		} else {
			k.d.Resolve = append(k.d.Resolve, id)
		}
	}
	var buf [8]string
	for _, id := range mapkeys.AppendSorted(buf[:0], k.want) {
		k.d.Fire = append(k.d.Fire, k.want[id])
		firing = append(firing, id)
	}
	slices.Sort(firing)
	k.c.Alerts = firing
}

// numberCommands gives each new command of a decision its id from nextID,
// in order, and the pending entry it left on c the same id.
func numberCommands(c *state.Container, cmds []state.Command, nextID func() (string, error)) error {
	for i := range cmds {
		id, err := nextID()
		if err != nil {
			return err
		}
		cmds[i].ID = id
		if p, ok := c.Pending[cmds[i].Hold]; ok && p.ID == "" && p.Agency == cmds[i].Agency {
			p.ID = id
			c.Pending[cmds[i].Hold] = p
		}
	}
	return nil
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
func (p policy) slot(agency, code string) string {
	if code == "" || code == p.Agencies[agency].TOSHold {
		return agency
	}
	return agency + "/" + code
}

// mismatchSlot is the key of m among its container's mismatches.
func (p policy) mismatchSlot(m state.Mismatch) string { return p.slot(m.Agency, m.Hold) }

func actionFor(hold bool) string {
	if hold {
		return state.AddHold
	}
	return state.ReleaseHold
}

func newCommand(c *state.Container, p policy, agency, hold, action, cause string, now time.Time) state.Command {
	return state.Command{
		Terminal: p.Terminal, Container: c.ID, Action: action, Hold: hold,
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
	for _, typ := range mapkeys.Sorted(st.Holds) {
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
