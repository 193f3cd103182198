// Package testseam holds the seams through which the tests of the daemon
// and the API, which run the engine from outside its package, reach into
// it. Production code never sets them; package sync is the only one that
// reads them.
package testseam

import (
	"github.com/portsync/portsync/adapters"
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
