package sync

// The TOS snapshot sweep: the safety net for lost TOS events. Package
// adapters/tossnapshot fetches and decodes the TOS's list of the
// containers in its yard with their holds; ApplySnapshot compares it with
// the store and repairs every difference as if the TOS had sent the event
// that was lost.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/portsync/portsync/adapters/tossnapshot"
	"github.com/portsync/portsync/state"
)

// snapshotSource is the journal source of the events a snapshot repair
// applies.
const snapshotSource = "tos-snapshot"

// snapshotGroup is how many containers one store transaction repairs.
const snapshotGroup = 500

// SnapshotResult is what ApplySnapshot did.
type SnapshotResult struct {
	Repaired int `json:"repaired"` // containers whose presence or holds were repaired, departures included
	Departed int `json:"departed"` // of which marked departed
}

// ApplySnapshot compares snap, taken by the TOS at at, with the store and
// repairs every difference, snapshotGroup containers per transaction, and
// returns what it repaired. A container in the snapshot
// that portsync does not have in the yard, or whose TOS holds differ, gets
// the TOS event that was lost: "holds" (or "arrived" for one that had
// departed) with the snapshot's holds. A container portsync has in the yard
// that a complete snapshot does not list gets "departed", keeping its last
// holds. Each repair is applied like any TOS event stamped at, so one
// newer than the snapshot wins; it is journalled as a tos_event of source
// tos-snapshot, and the container is decided again, so that its commands,
// mismatches and alerts follow.
func (e *Engine) ApplySnapshot(ctx context.Context, snap tossnapshot.Snapshot, at time.Time) (SnapshotResult, error) {
	var res SnapshotResult
	if at.IsZero() {
		return res, errors.New("snapshot: no time to apply it at")
	}
	// Repairs are TOS events stamped at: a time far ahead would make every
	// later real TOS event stale, as it would from any other source.
	if err := state.CheckClock("at", at, e.now(), e.policy.Load().MaxClockSkew, time.Time{}); err != nil {
		return res, fmt.Errorf("snapshot: %w", err)
	}
	for _, p := range snap.Problems {
		e.log.Warn("TOS snapshot entry skipped", "problem", p)
	}
	if more := snap.Skipped - len(snap.Problems); more > 0 {
		e.log.Warn("more TOS snapshot entries skipped", "count", more)
	}
	eventID := "snapshot:" + at.UTC().Format(time.RFC3339Nano)

	var gone []string
	if snap.Complete {
		inYard := 0
		err := e.store.View(func(tx *state.Tx) error {
			return tx.ForEachPresence(func(id string, p state.Presence) error {
				if p == state.InYard {
					inYard++
					if !snap.Listed(id) {
						gone = append(gone, id)
					}
				}
				return nil
			})
		})
		if err != nil {
			return res, fmt.Errorf("snapshot: %w", err)
		}
		// An empty "complete" list is far likelier a TOS glitch than an
		// empty yard; emptying the yard would fire an alert for every
		// container not cleared.
		if snap.Len() == 0 && inYard > 0 {
			e.log.Error("the TOS snapshot says it is complete but lists no container; no container is marked departed from it",
				"in_yard", inYard)
			gone = nil
		}
	}

	// In transactions of snapshotGroup containers, so that events go on
	// between them; each group is unpacked from the snapshot only when its
	// turn comes, so that a yard of a million containers is never held as
	// a million Entry values.
	for listed := range snap.Chunks(snapshotGroup) {
		r := &snapshotRepair{listed: listed, at: at, eventID: eventID}
		if err := e.do(ctx, r); err != nil {
			return res, fmt.Errorf("snapshot: %w", err)
		}
		res.Repaired += r.repaired
	}
	for gone := range slices.Chunk(gone, snapshotGroup) {
		r := &snapshotRepair{gone: gone, at: at, eventID: eventID}
		if err := e.do(ctx, r); err != nil {
			return res, fmt.Errorf("snapshot: %w", err)
		}
		res.Repaired += r.repaired
		res.Departed += r.repaired
	}
	return res, nil
}

// peek returns a container as this transaction sees it without taking it
// into the working set (which would drop it from the writer's cache).
func (t *txn) peek(id string) (state.Container, bool, error) {
	if w, ok := t.work[id]; ok {
		return w.c, true, nil
	}
	if c, ok := t.e.cache[id]; ok {
		return c, true, nil
	}
	return t.tx.Container(id)
}

// sameHolds compares hold sets, whatever their order.
func sameHolds(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// snapshotEntry repairs one listed container if it differs from the
// snapshot, and reports whether it did.
func (t *txn) snapshotEntry(s tossnapshot.Entry, at time.Time, eventID string) (bool, error) {
	c, ok, err := t.peek(s.Container)
	if err != nil {
		return false, err
	}
	presence := state.Presence("")
	if ok {
		presence = c.Presence
		if presence == state.InYard && (s.HoldsUnknown || sameHolds(c.TOSHolds, s.Holds)) {
			return false, nil
		}
	}
	if s.HoldsUnknown {
		// Listed, so in the yard, but with holds we could not read: an
		// arrival with made-up holds would do more harm than waiting for
		// the TOS's next event.
		return false, nil
	}
	ev := &state.TOSEvent{
		ID: eventID, Container: s.Container, Event: state.TOSHolds,
		Holds: slices.Clone(s.Holds), HasHolds: true, At: at,
	}
	if presence == state.Departed {
		// A hold report leaves a departed container departed; the TOS has
		// it again, so the event that was lost is its arrival.
		ev.Event = state.TOSArrived
	}
	detail := fmt.Sprintf("repaired from the TOS snapshot: portsync had it %s with holds [%s], the TOS lists it with holds [%s]",
		presenceText(presence), strings.Join(c.TOSHolds, " "), strings.Join(s.Holds, " "))
	return t.snapshotEvent(ev, detail)
}

// snapshotMissing marks departed a container that a complete snapshot
// does not list, if it is still in the yard.
func (t *txn) snapshotMissing(id string, at time.Time, eventID string) (bool, error) {
	c, ok, err := t.peek(id)
	if err != nil || !ok || c.Presence != state.InYard {
		return false, err
	}
	ev := &state.TOSEvent{ID: eventID, Container: id, Event: state.TOSDeparted, At: at}
	return t.snapshotEvent(ev, "repaired from the TOS snapshot: portsync had it in the yard, the complete TOS list does not name it")
}

// snapshotEvent applies a synthetic TOS event like tosEvent does, without
// dedupe (its id is not unique per container, and not marked seen), and
// journals it only if it changed the container: a difference that a newer
// TOS event already explains is left alone, silently.
func (t *txn) snapshotEvent(ev *state.TOSEvent, detail string) (bool, error) {
	w, err := t.load(ev.Container)
	if err != nil {
		return false, err
	}
	if !applyTOSEvent(&w.c, ev, *t.policy) {
		t.e.log.Debug("TOS snapshot difference left alone: a TOS event newer than the snapshot explains it",
			"container", ev.Container, "snapshot_at", ev.At, "tos_at", w.c.TOSAt)
		if w.old == "" {
			delete(t.work, ev.Container) // never stored: leave no trace
		}
		return false, nil
	}
	w.changed = true
	t.dirty[ev.Container] = true
	err = t.journal(state.JournalEntry{
		Kind: state.JournalTOSEvent, Container: ev.Container, Source: snapshotSource, EventID: ev.ID,
		Status: ev.Event, EventAt: ev.At, Holds: ev.Holds, Result: ResultApplied, Detail: detail,
	})
	return err == nil, err
}

func presenceText(p state.Presence) string {
	if p == "" {
		return "unknown"
	}
	return strings.ReplaceAll(string(p), "_", " ")
}
