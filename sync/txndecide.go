package sync

import (
	"github.com/portsync/portsync/internal/mapkeys"
	"github.com/portsync/portsync/state"
)

// decideAll decides every container this transaction touched and writes
// the outcome: commands, confirmations, mismatches, alerts, state.
func (t *txn) decideAll() error {
	if err := t.mergeBLs(); err != nil {
		return err
	}
	for _, id := range mapkeys.Sorted(t.dirty) {
		if err := t.decide(t.work[id]); err != nil {
			return err
		}
	}
	t.c.presence = t.tx.PresenceCounts()
	return nil
}

// touch loads a container to be decided again although nothing happened
// to it: its SLA deadline passed.
func (t *txn) touch(id string) error {
	if _, err := t.load(id); err != nil {
		return err
	}
	t.dirty[id] = true
	return nil
}

// decide decides one container and writes what follows, step by step.
func (t *txn) decide(w *work) error {
	next, d := decide(w.c, *t.policy, t.now)
	if err := numberCommands(&next, d.Commands, t.tx.NextCommandID); err != nil {
		return err
	}
	if err := t.issue(next.ID, d.Commands); err != nil {
		return err
	}
	if err := t.retire(next.ID, d.Confirmed, state.JournalConfirmed); err != nil {
		return err
	}
	if err := t.retire(next.ID, d.Superseded, state.JournalSuperseded); err != nil {
		return err
	}
	t.c.confirmed = append(t.c.confirmed, d.Confirmed...)
	if err := t.mismatches(next.ID, &d); err != nil {
		return err
	}
	if err := t.alerts(&d); err != nil {
		return err
	}
	return t.store(w, next, !d.empty())
}

// issue puts new commands in the outbox and journals them.
func (t *txn) issue(container string, cmds []state.Command) error {
	for _, cmd := range cmds {
		if err := t.tx.PutCommand(cmd); err != nil {
			return err
		}
		err := t.journal(state.JournalEntry{
			Kind: state.JournalCommand, Container: container, EventID: cmd.Cause, Agency: cmd.Agency,
			Command: cmd.ID, Action: cmd.Action, Hold: cmd.Hold, Detail: cmd.Reason,
		})
		if err != nil {
			return err
		}
		t.c.changes.Commands = append(t.c.changes.Commands, cmd)
	}
	return nil
}

// retire takes pending commands out of the outbox and journals them as
// kind: confirmed or superseded.
func (t *txn) retire(container string, cmds []state.PendingCommand, kind string) error {
	for _, p := range cmds {
		if err := t.tx.DeleteCommand(p.ID); err != nil {
			return err
		}
		err := t.journal(state.JournalEntry{
			Kind: kind, Container: container, EventID: p.Cause, Agency: p.Agency,
			Command: p.ID, Action: p.Action, Hold: p.Hold,
		})
		if err != nil {
			return err
		}
		t.c.changes.Removed = append(t.c.changes.Removed, p.ID)
	}
	return nil
}

// mismatches stores the mismatches opened and deletes those closed, and
// sets the container's SLA deadline.
func (t *txn) mismatches(container string, d *decision) error {
	for _, m := range d.Closed {
		if err := t.tx.DeleteMismatch(m.Container, t.policy.mismatchSlot(m)); err != nil {
			return err
		}
	}
	for _, m := range d.Opened {
		if err := t.tx.PutMismatch(t.policy.mismatchSlot(m), m); err != nil {
			return err
		}
	}
	t.c.closed = append(t.c.closed, d.Closed...)
	t.c.opened += len(d.Opened)
	t.c.due[container] = d.Deadline
	return nil
}

// alerts fires and resolves the container's alerts.
func (t *txn) alerts(d *decision) error {
	for _, a := range d.Fire {
		if err := t.fire(a); err != nil {
			return err
		}
	}
	for _, id := range d.Resolve {
		if err := t.resolveAlert(id); err != nil {
			return err
		}
	}
	return nil
}

// store writes the container's new state, if anything changed it
// (decided is whether the decision did anything), keeps the
// cleared_in_yard count, and hands the state on to the cache and the
// listeners.
func (t *txn) store(w *work, next state.Container, decided bool) error {
	changed := w.changed || w.old == "" || decided
	if changed {
		next.UpdatedAt = t.now.UTC()
		// Listeners get a copy: the cached container's maps are changed in
		// place by the next transaction that touches it.
		if t.listContainers {
			t.c.changes.Containers = append(t.c.changes.Containers, next.Clone())
		}
	}
	if now := clearedInYard(&next, *t.policy); now != w.cleared {
		delta := int64(1)
		if !now {
			delta = -1
		}
		if err := t.tx.AddCount(countClearedInYard, delta); err != nil {
			return err
		}
		w.cleared = now
	}
	// A container the transaction only read goes back to the cache only if
	// it came from there: a sweep reads every container once, and caching
	// them would push out the ones the events are working on, and churn
	// the cache, for containers it will not read again.
	if changed || w.cached {
		t.c.stored = append(t.c.stored, next)
	}
	// A TOS event that changed nothing for people still moves the TOS time
	// that orders the next one; otherwise an unchanged container (a sweep,
	// an SLA check that fired nothing) is not rewritten.
	if !changed && next.TOSAt.Equal(w.tosAt) {
		return nil
	}
	return t.tx.PutContainer(next, w.old)
}
