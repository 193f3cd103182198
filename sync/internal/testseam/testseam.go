// Package testseam holds the seams through which the tests of the daemon
// and the API, which run the engine from outside its package, reach into
// it. Production code never sets them; package sync is the only one that
// reads them.
package testseam

import (
	"log/slog"
	"strings"
	"time"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

// Admitted, when a test sets it, sees every record after the engine
// admitted it, and may change it: a test hands the store a record that
// can never commit.
var Admitted func(*adapters.Record)

// Remember adds entries to the recent journal of engine (a *sync.Engine)
// that the dashboard shows, as if they had been committed. Package sync
// sets it.
var Remember func(engine any, entries []state.JournalEntry)

// Committed registers fn on engine (a *sync.Engine) to hear of every
// commit after it: the new commands and the containers whose state
// changed. Call before the engine runs. Package sync sets it.
var Committed func(engine any, fn func(commands []state.Command, containers []state.Container))

// CommandsCommitted registers fn on engine (a *sync.Engine) to hear of
// the new commands of every commit after it. Unlike Committed it does not
// ask for the changed containers, which the engine copies only for a
// listener that reads them: a benchmark that counts commands measures the
// engine as it runs without status_topic. Call before the engine runs.
// Package sync sets it.
var CommandsCommitted func(engine any, fn func(commands []state.Command))

// Writer returns the writer alone over store (a *sync.Engine, its state
// loaded), without the workers New builds, for benchmarks of the writer;
// metrics is a *sync.Metrics. Package sync sets it.
var Writer func(store *state.Store, cfg *config.Config, metrics any, log *slog.Logger) (engine any, err error)

// unencodable is a time that parses but that encoding/json refuses to
// write: a zone offset of 24 hours.
var unencodable = time.Date(2026, 11, 28, 10, 15, 0, 0, time.FixedZone("", 24*3600))

// PoisonIDs sets Admitted so that every record whose event id starts with
// POISON is one the store can never take, after the engine's own checks
// passed it. The function it returns clears Admitted (t.Cleanup).
func PoisonIDs() (undo func()) {
	Admitted = func(r *adapters.Record) {
		// Copies: the message's own records stay as decoded, so every
		// attempt meets the same poison.
		switch {
		case r.Agency != nil && strings.HasPrefix(r.Agency.ID, "POISON"):
			ev := *r.Agency
			ev.At = unencodable
			r.Agency = &ev
		case r.TOS != nil && strings.HasPrefix(r.TOS.ID, "POISON"):
			ev := *r.TOS
			ev.At = unencodable
			r.TOS = &ev
		}
	}
	return func() { Admitted = nil }
}
