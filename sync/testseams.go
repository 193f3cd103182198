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
		e := NewEngine(store, cfg, m.(*Metrics), log)
		return e, e.Load()
	}
	testseam.Committed = func(e any, fn func([]state.Command, []state.Container)) {
		e.(*Engine).AddListener(listenerFunc(func(c *Changes) { fn(c.Commands, c.Containers) }))
	}
}

// listenerFunc is a function that listens to commits.
type listenerFunc func(*Changes)

func (f listenerFunc) Committed(c *Changes) { f(c) }
