package sync

import (
	"context"
	"fmt"
	"time"

	"github.com/portsync/portsync/adapters/tossnapshot"
	"github.com/portsync/portsync/state"
)

// A request is work another goroutine hands the writer to do in one of its
// transactions: the dispatcher's and the alert manager's reports, system
// alerts, and the chunks of the sweeps, the snapshot repair and
// retention. The set is closed; each request applies itself here. A
// request may be applied more than once (a trial in Engine.isolate, a
// commit retried), so apply sets its results afresh each time.
type request interface {
	apply(t *txn) error
}

var (
	_ request = (*commandsSent)(nil)
	_ request = (*commandsRejected)(nil)
	_ request = (*alertsNotified)(nil)
	_ request = (*alertsForgotten)(nil)
	_ request = (*systemAlert)(nil)
	_ request = (*snapshotRepair)(nil)
	_ request = (*pruneChunk)(nil)
	_ request = (*sweepGroup)(nil)
	_ request = (*brokerSession)(nil)
)

// commandsSent journals the commands a sink accepted, each with the
// attempt it was.
type commandsSent struct {
	sink string
	sent []outboxEntry
}

func (r *commandsSent) apply(t *txn) error {
	for _, e := range r.sent {
		err := t.journal(state.JournalEntry{
			Kind: state.JournalCommandSent, Container: e.cmd.Container, EventID: e.cmd.Cause,
			Agency: e.cmd.Agency, Command: e.cmd.ID, Action: e.cmd.Action, Hold: e.cmd.Hold,
			Detail: fmt.Sprintf("attempt %d via %s", e.attempts, r.sink),
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// commandsRejected journals the commands the TOS rejected and fires each
// container's command_rejected alert, unless it fires already (a command
// sent again after a sweep and rejected again is not news).
type commandsRejected struct {
	sink     string
	rejected []rejection
}

type rejection struct {
	cmd state.Command
	why error
}

func (r *commandsRejected) apply(t *txn) error {
	for _, rej := range r.rejected {
		cmd := rej.cmd
		err := t.journal(state.JournalEntry{
			Kind: state.JournalRejected, Container: cmd.Container, EventID: cmd.Cause, Agency: cmd.Agency,
			Command: cmd.ID, Action: cmd.Action, Hold: cmd.Hold, Detail: rej.why.Error(),
		})
		if err != nil {
			return err
		}
		id := AlertID(state.KindCommandRejected, cmd.Container, cmd.Agency)
		a, ok, err := t.tx.Alert(id)
		if err != nil {
			return err
		}
		if ok && a.State == state.Firing {
			continue
		}
		if err := t.fire(commandRejectedAlert(cmd, r.sink, rej.why, t.policy.Terminal, t.now)); err != nil {
			return err
		}
	}
	return nil
}

// alertsNotified records in the store that channel had alerts at time at,
// each in the state it was sent in.
type alertsNotified struct {
	channel string
	alerts  []state.Alert
	at      time.Time
}

func (r *alertsNotified) apply(t *txn) error {
	for _, sent := range r.alerts {
		a, ok, err := t.tx.Alert(sent.ID)
		if err != nil {
			return err
		}
		if !ok || a.State != sent.State || !a.At.Equal(sent.At) {
			continue
		}
		if a.Notified == nil {
			a.Notified = map[string]time.Time{}
		}
		a.Notified[r.channel] = r.at
		if err := t.tx.PutAlert(a); err != nil {
			return err
		}
	}
	return nil
}

// alertsForgotten deletes resolved alerts whose resolution every channel
// has had, unless they fired again meanwhile.
type alertsForgotten struct {
	alerts []state.Alert
}

func (r *alertsForgotten) apply(t *txn) error {
	for _, done := range r.alerts {
		a, ok, err := t.tx.Alert(done.ID)
		if err != nil {
			return err
		}
		if !ok || a.State != state.Resolved || !a.At.Equal(done.At) {
			continue
		}
		if err := t.tx.DeleteAlert(a.ID); err != nil {
			return err
		}
		t.c.changes.Deleted = append(t.c.changes.Deleted, a.ID)
	}
	return nil
}

// systemAlert fires or resolves an alert about portsync itself rather
// than a container: sink_down, source_down, session_lost; a resolution
// needs the id alone.
type systemAlert struct {
	alert  state.Alert
	firing bool
}

func (r *systemAlert) apply(t *txn) error {
	if !r.firing {
		return t.resolveAlert(r.alert.ID)
	}
	a := r.alert
	a.State = state.Firing
	a.Terminal = t.policy.Terminal
	return t.putAlert(a)
}

// snapshotRepair repairs one group of a TOS snapshot: the listed
// containers that differ from it, and the containers a complete snapshot
// does not list (gone). repaired counts the containers it changed.
type snapshotRepair struct {
	listed  []tossnapshot.Entry
	gone    []string
	at      time.Time
	eventID string

	repaired int
}

func (r *snapshotRepair) apply(t *txn) error {
	r.repaired = 0
	for _, s := range r.listed {
		ok, err := t.snapshotEntry(s, r.at, r.eventID)
		if err != nil {
			return err
		}
		if ok {
			r.repaired++
		}
	}
	for _, id := range r.gone {
		ok, err := t.snapshotMissing(id, r.at, r.eventID)
		if err != nil {
			return err
		}
		if ok {
			r.repaired++
		}
	}
	return nil
}

// pruneChunk deletes one chunk of what retention prunes: journal entries
// older than before, or dedupe keys or dead letters from the key after
// after on. It never fails the transaction: a problem is handed back in
// err, and what was deleted before it commits.
type pruneChunk struct {
	what   string // prunedJournal, prunedDedupe or prunedDeadLetters
	before time.Time
	after  []byte
	chunk  int

	n    int
	more bool   // the journal: entries older than before remain
	next []byte // dedupe keys, dead letters: where to go on, nil at the end
	err  error
}

func (r *pruneChunk) apply(t *txn) error {
	r.n, r.more, r.next, r.err = 0, false, nil, nil
	switch r.what {
	case prunedJournal:
		r.n, r.more, r.err = t.tx.PruneJournal(r.before, r.chunk)
	case prunedDedupe:
		r.n, r.next, r.err = t.tx.PruneDedupe(r.before, r.after, r.chunk)
	case prunedDeadLetters:
		r.n, r.next, r.err = t.tx.PruneDeadLetters(r.before, r.after, r.chunk)
	default:
		r.err = fmt.Errorf("prune: nothing called %q", r.what)
	}
	return nil
}

// sweepGroup marks for deciding again, of up to size containers after
// after in key order, those that are in the yard or have anything open.
type sweepGroup struct {
	after string
	size  int

	last    string // the last key read; "" when the group was the end
	decided int
}

func (r *sweepGroup) apply(t *txn) error {
	r.last, r.decided = "", 0
	ids := t.tx.ContainerIDs(r.after, r.size)
	for _, id := range ids {
		w, err := t.load(id)
		if err != nil {
			return err
		}
		c := &w.c
		if c.Presence == state.InYard || len(c.Pending) > 0 || len(c.Alerts) > 0 || len(c.Mismatches) > 0 {
			t.dirty[id] = true
			r.decided++
		} else if w.cached {
			// Read, not decided, so not stored: it goes back to the
			// cache it was taken from, as it was.
			t.c.stored = append(t.c.stored, w.c)
		}
	}
	if len(ids) == r.size {
		r.last = ids[len(ids)-1]
	}
	return nil
}

// brokerSession records that broker holds a persistent session for
// clientID; had says whether it held one for that client id before.
type brokerSession struct {
	broker, clientID string

	had bool
}

func (r *brokerSession) apply(t *txn) error {
	key := "broker_session/" + r.broker
	if r.had = t.tx.Meta(key) == r.clientID; r.had {
		return nil
	}
	return t.tx.PutMeta(key, r.clientID)
}

// RecordSession records, in a transaction of the writer, that broker
// holds a persistent session for clientID, and reports whether it held one
// for that client id before.
func (e *Engine) RecordSession(ctx context.Context, broker, clientID string) (had bool, err error) {
	r := &brokerSession{broker: broker, clientID: clientID}
	if err := e.do(ctx, r); err != nil {
		// The writer may still be applying r (do gave up waiting): its
		// result is not ours to read.
		return false, err
	}
	return r.had, nil
}

// systemAlert fires or resolves an alert that is about portsync itself
// rather than a container (sink_down, session_lost), without waiting.
func (e *Engine) systemAlert(a state.Alert, firing bool) {
	e.enqueue(&systemAlert{alert: a, firing: firing})
}

// SessionLost fires broker's session_lost: it came back at at without the
// persistent session portsync held with clientID.
func (e *Engine) SessionLost(broker, clientID string, at time.Time) {
	e.systemAlert(sessionLostAlert(broker, clientID, at), true)
}

// SessionSwept resolves broker's session_lost once a full sweep that began
// after the loss has completed.
func (e *Engine) SessionSwept(broker string) {
	e.systemAlert(state.Alert{ID: AlertID(state.KindSessionLost, broker, "")}, false)
}
