// Package state owns portsync's persistent model and its store: containers
// with their agency statuses, presence and TOS holds, the journal that is the
// audit trail, the command outbox, alerts, dead letters, dedupe keys and
// cursors, all in one bbolt file.
//
// The store is written by a single goroutine (the engine); every method on
// Tx runs inside one bbolt transaction, so a group of events, their
// decisions, commands and alerts become durable together or not at all.
package state
