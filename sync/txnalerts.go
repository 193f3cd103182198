package sync

import (
	"time"

	"github.com/portsync/portsync/state"
)

// The writer's alert bookkeeping inside a transaction: alerts are stored,
// journalled on their container, and handed to the alert manager after the
// commit. What each alert says is the catalogue's (alertcatalogue.go).

// invalidInput fires or refreshes the source's invalid_input alert; it
// resolves once the source has sent nothing invalid for a repeat interval.
func (t *txn) invalidInput(source string, rej *state.Rejection) error {
	a, ok, err := t.tx.Alert(invalidInputID(source))
	if err != nil {
		return err
	}
	if !ok || a.State != state.Firing {
		a = invalidInputAlert(source, t.policy.Terminal, t.now)
	}
	renotify := countInvalid(&a, rej)
	t.c.srcDue[source] = t.now.Add(time.Duration(t.e.repeat.Load()))
	if a.At.IsZero() || renotify {
		a.At = t.now.UTC()
		return t.putAlert(a)
	}
	// Already firing: the repeat carries the new count; a notice per bad
	// message would flood the channels.
	if err := t.tx.PutAlert(a); err != nil {
		return err
	}
	t.c.changes.Alerts = append(t.c.changes.Alerts, a)
	return nil
}

// fire journals a on its container and stores it, firing.
func (t *txn) fire(a state.Alert) error {
	if err := t.journalAlert(a, state.JournalAlertFiring); err != nil {
		return err
	}
	return t.putAlert(a)
}

// putAlert stores a and reports it to the alert manager. A changed alert
// is delivered again on every channel.
func (t *txn) putAlert(a state.Alert) error {
	a.Notified = nil
	if err := t.tx.PutAlert(a); err != nil {
		return err
	}
	t.c.changes.Alerts = append(t.c.changes.Alerts, a)
	return nil
}

func (t *txn) resolveAlert(id string) error {
	a, ok, err := t.tx.Alert(id)
	if err != nil || !ok || a.State == state.Resolved {
		return err
	}
	a.State = state.Resolved
	a.At = t.now.UTC()
	if err := t.journalAlert(a, state.JournalAlertResolve); err != nil {
		return err
	}
	return t.putAlert(a)
}

func (t *txn) journalAlert(a state.Alert, kind string) error {
	if a.Container == "" {
		return nil // a system alert has no container journal to go in
	}
	return t.journal(state.JournalEntry{
		Kind: kind, Container: a.Container, Agency: a.Agency, Status: a.Kind, Detail: a.Summary,
	})
}
