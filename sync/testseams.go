package sync

import (
	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/state"
)

// Seams for the tests of the daemon and the API, which run the engine from
// outside its package. Production code never calls them.

// SetTestHookAdmitted sets a function that sees every record after Admit
// (and may change it); nil removes it.
func SetTestHookAdmitted(f func(*adapters.Record)) { testHookAdmitted = f }

// RememberForTest adds entries to the recent journal the dashboard shows,
// as if they had been committed.
func (e *Engine) RememberForTest(entries []state.JournalEntry) { e.remember(entries) }
