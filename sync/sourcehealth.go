package sync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	stdsync "sync"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/internal/mapkeys"
	"github.com/portsync/portsync/state"
)

// sourceHealth follows each source for the dashboard and for two alerts:
// source_down, once a source's own transport (a poll) has failed for
// longer than sla.apply_within, resolved by its first success or message;
// and source_silent, once a source with silent_after has delivered no
// message for that long, resolved by its next message. A dead feed and a
// feed that has gone quiet both look, from the yard, like customs being
// slow; these alerts tell them apart. Sources report failures, successes
// and breaker changes through adapters.Env; the daemon reports messages.
type sourceHealth struct {
	engine *Engine
	log    *slog.Logger

	mu      stdsync.Mutex
	window  time.Duration
	sources map[string]*sourceState
	// resolve holds alerts of sources that are gone or no longer watched,
	// by id, for Run: the engine must not be waited for under mu.
	resolve []string
	wake    chan struct{}
}

type sourceState struct {
	silentAfter time.Duration
	breaker     string    // the source's own circuit breaker; "" if it has none
	since       time.Time // failing since; zero while healthy
	failures    int       // attempts failed in a row; refusals by the open breaker are not attempts
	lastErr     string
	lastMessage time.Time
	// quietSince is when the source last delivered, or when portsync began
	// to listen to it: silence is measured from there.
	quietSince time.Time

	downAlerted bool
	silentFrom  time.Time // quietSince when source_silent fired; zero when it does not fire
}

// newSourceHealth returns a tracker with no sources.
func newSourceHealth(e *Engine, log *slog.Logger) *sourceHealth {
	return &sourceHealth{engine: e, log: log, sources: map[string]*sourceState{}, wake: make(chan struct{}, 1)}
}

// get returns a source's state, new if it has none. The owner holds mu.
func (h *sourceHealth) get(name string) *sourceState {
	st, ok := h.sources[name]
	if !ok {
		st = &sourceState{quietSince: time.Now()}
		h.sources[name] = st
	}
	return st
}

func (h *sourceHealth) poke() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// SetSources sets the sources to follow, at start and after a reload. A
// source that keeps its name keeps its history; the alerts of one that is
// gone, or no longer has silent_after, resolve.
func (h *sourceHealth) SetSources(sources []config.Source, window time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.window = window
	keep := map[string]bool{}
	for _, sc := range sources {
		keep[sc.Name] = true
		st := h.get(sc.Name)
		st.silentAfter = sc.SilentAfter
		if st.silentAfter == 0 && !st.silentFrom.IsZero() {
			st.silentFrom = time.Time{}
			h.resolve = append(h.resolve, AlertID(state.KindSourceSilent, sc.Name, ""))
		}
	}
	for _, name := range mapkeys.Sorted(h.sources) {
		if keep[name] {
			continue
		}
		st := h.sources[name]
		if st.downAlerted {
			h.resolve = append(h.resolve, AlertID(state.KindSourceDown, name, ""))
		}
		if !st.silentFrom.IsZero() {
			h.resolve = append(h.resolve, AlertID(state.KindSourceSilent, name, ""))
		}
		delete(h.sources, name)
	}
	h.poke()
}

// Load takes over the source alerts still firing in the store, so that they
// resolve as they would have in the process that fired them, and keep
// their since while the source stays down or silent; the alerts of sources
// no longer followed resolve. Call after SetSources, before Run.
func (h *sourceHealth) Load(store *state.Store) error {
	return store.View(func(tx *state.Tx) error {
		alerts, err := tx.Alerts()
		if err != nil {
			return fmt.Errorf("read alerts: %w", err)
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, a := range alerts {
			if a.State != state.Firing || (a.Kind != state.KindSourceDown && a.Kind != state.KindSourceSilent) {
				continue
			}
			st, ok := h.sources[a.Source]
			switch {
			case ok && a.Kind == state.KindSourceDown:
				st.since, st.downAlerted = a.Since, true
			case ok && st.silentAfter > 0:
				st.quietSince, st.silentFrom = a.Since, a.Since
			default:
				h.resolve = append(h.resolve, a.ID)
			}
		}
		return nil
	})
}

// Failed records a failed attempt of a source's transport.
func (h *sourceHealth) Failed(source string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	st := h.get(source)
	if st.since.IsZero() {
		st.since = time.Now()
		h.poke()
	}
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return // no attempt was made; the streak goes on
	}
	st.failures++
	if err != nil {
		st.lastErr = err.Error()
	}
}

// OK records that a source's transport worked: its failure streak ends.
func (h *sourceHealth) OK(source string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ok(source, h.get(source))
}

func (h *sourceHealth) ok(name string, st *sourceState) {
	if st.since.IsZero() {
		return
	}
	if st.downAlerted {
		h.log.Info("source recovered", "source", name, "down_for", time.Since(st.since).Round(time.Second), "failures", st.failures)
	}
	st.since, st.failures, st.lastErr = time.Time{}, 0, ""
	h.poke()
}

// Received records a message from a source, which also proves its
// transport works.
func (h *sourceHealth) Received(source string) {
	now := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	st := h.get(source)
	st.lastMessage, st.quietSince = now, now
	h.ok(source, st)
	if !st.silentFrom.IsZero() {
		h.poke()
	}
}

// Breaker records a change of an adapter's own circuit breaker; only
// sources' breakers (named source:<name>) concern it.
func (h *sourceHealth) Breaker(name string, to gobreaker.State) {
	source, ok := strings.CutPrefix(name, "source:")
	if !ok {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.get(source).breaker = to.String()
}

// Status fills in a source's health for the dashboard, and whether the
// source itself is healthy: not failing, its breaker (if any) closed, not
// silent. Its broker's health is the caller's to add.
func (h *sourceHealth) Status(source string) (EndpointStatus, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	st, ok := h.sources[source]
	if !ok {
		return EndpointStatus{}, true
	}
	es := EndpointStatus{
		Breaker: st.breaker, FailingSince: st.since, Failures: st.failures,
		LastError: st.lastErr, LastMessage: st.lastMessage,
	}
	closed := st.breaker == "" || st.breaker == gobreaker.StateClosed.String()
	return es, st.since.IsZero() && closed && st.silentFrom.IsZero()
}

// sourceAlert is a source_down or source_silent to fire or resolve.
type sourceAlert struct {
	alert  state.Alert
	firing bool
}

// Run raises and resolves the alerts until ctx is done.
func (h *sourceHealth) Run(ctx context.Context) { runRounds(ctx, h.wake, h.round) }

func (h *sourceHealth) round(context.Context) time.Time {
	changes, next := h.evaluate(time.Now())
	// Outside the lock: the engine may be busy, and reports must not
	// wait for it.
	for _, c := range changes {
		h.engine.systemAlert(c.alert, c.firing)
	}
	return next
}

// evaluate returns the alerts to fire or resolve at now, and when to look
// again.
func (h *sourceHealth) evaluate(now time.Time) ([]sourceAlert, time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []sourceAlert
	for _, id := range h.resolve {
		out = append(out, sourceAlert{alert: state.Alert{ID: id}})
	}
	h.resolve = nil
	next := now.Add(time.Minute)
	for _, name := range mapkeys.Sorted(h.sources) {
		st := h.sources[name]
		down := AlertID(state.KindSourceDown, name, "")
		switch {
		case st.since.IsZero() && st.downAlerted:
			st.downAlerted = false
			out = append(out, sourceAlert{alert: state.Alert{ID: down}})
		case !st.since.IsZero() && !st.downAlerted && !now.Before(st.since.Add(h.window)):
			st.downAlerted = true
			out = append(out, sourceAlert{firing: true, alert: sourceDownAlert(name, st.since, now, st.failures, st.lastErr)})
			h.log.Warn("source down", "source", name, "since", st.since.UTC(), "failures", st.failures, "err", st.lastErr)
		case !st.since.IsZero() && !st.downAlerted:
			next = earliest(next, st.since.Add(h.window))
		}
		if st.silentAfter == 0 {
			continue
		}
		silent := AlertID(state.KindSourceSilent, name, "")
		if !st.silentFrom.IsZero() && st.quietSince.After(st.silentFrom) {
			st.silentFrom = time.Time{}
			out = append(out, sourceAlert{alert: state.Alert{ID: silent}})
			h.log.Info("source delivers again", "source", name)
		}
		if !st.silentFrom.IsZero() {
			continue
		}
		if due := st.quietSince.Add(st.silentAfter); now.Before(due) {
			next = earliest(next, due)
			continue
		}
		st.silentFrom = st.quietSince
		out = append(out, sourceAlert{firing: true, alert: sourceSilentAlert(name, st.quietSince, now, st.silentAfter)})
		h.log.Warn("source silent", "source", name, "since", st.quietSince.UTC(), "silent_after", st.silentAfter)
	}
	return out, next
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
