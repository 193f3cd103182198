package sync

import (
	"github.com/portsync/portsync/state"
	"github.com/portsync/portsync/sync/internal/testseam"
)

func init() {
	testseam.Remember = func(e any, entries []state.JournalEntry) { e.(*Engine).remember(entries) }
}
