package sync

import (
	"log/slog"

	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
	"github.com/portsync/portsync/sync/internal/testseam"
)

func init() {
	testseam.Remember = func(e any, entries []state.JournalEntry) { e.(*Engine).remember(entries) }
	testseam.Writer = func(store *state.Store, cfg *config.Config, m any, log *slog.Logger) (any, error) {
		e := newEngine(store, cfg, m.(*Metrics), log)
		return e, e.load()
	}
	testseam.Committed = func(e any, fn func([]state.Command, []state.Container)) {
		e.(*Engine).addListener(listenerFunc(func(c *changes) { fn(c.Commands, c.Containers) }))
		e.(*Engine).containerListeners.Add(1)
	}
	testseam.CommandsCommitted = func(e any, fn func([]state.Command)) {
		e.(*Engine).addListener(listenerFunc(func(c *changes) { fn(c.Commands) }))
	}
}

// listenerFunc is a function that listens to commits.
type listenerFunc func(*changes)

func (f listenerFunc) Committed(c *changes) { f(c) }
