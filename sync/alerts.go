package sync

import (
	"cmp"
	"context"
	"log/slog"
	"maps"
	"slices"
	stdsync "sync"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/internal/mapkeys"
	"github.com/portsync/portsync/state"
)

// alertManager delivers alerts to every channel: once when an alert fires,
// again every repeat interval while it fires, and once when it resolves,
// as Prometheus Alertmanager does. Alerts and the time each channel last
// had them are in the store, so a notice for a channel that is down waits
// there across restarts.
type alertManager struct {
	engine  *Engine
	metrics *Metrics
	log     *slog.Logger
	repeat  time.Duration
	window  time.Duration // a channel failing this long raises sink_down

	channels []*alertChannel

	mu     stdsync.Mutex
	alerts map[string]state.Alert
	wake   chan struct{}
	// resolve holds the sink_down alerts of channels that are gone, by
	// id, for Run to resolve: the engine calls Committed, which takes mu.
	resolve []string
}

type alertChannel struct {
	name     string
	notifier adapters.Notifier
	breaker  *gobreaker.CircuitBreaker[struct{}]
	retryAt  time.Time
	down     downTracker
}

func newAlertChannel(name string, m *Metrics, log *slog.Logger) *alertChannel {
	return &alertChannel{
		name: name, breaker: newBreaker("channel:"+name, m, log),
		down: channelTracker(name, log),
	}
}

// namedNotifier is an alert channel with the name it is known by.
type namedNotifier struct {
	Name     string
	Notifier adapters.Notifier
}

// newAlertManager returns a manager for the given channels.
func newAlertManager(channels []namedNotifier, repeat, window time.Duration, e *Engine, m *Metrics, log *slog.Logger) *alertManager {
	am := &alertManager{
		engine: e, metrics: m, log: log, repeat: repeat, window: window,
		alerts: map[string]state.Alert{}, wake: make(chan struct{}, 1),
	}
	for _, ch := range channels {
		am.channels = append(am.channels, newAlertChannel(ch.Name, m, log))
		am.channels[len(am.channels)-1].notifier = ch.Notifier
	}
	return am
}

// Load reads stored alerts. Call before Run.
func (am *alertManager) Load(store *state.Store) error {
	return store.View(func(tx *state.Tx) error {
		alerts, err := tx.Alerts()
		if err != nil {
			return err
		}
		am.mu.Lock()
		defer am.mu.Unlock()
		for _, a := range alerts {
			am.alerts[a.ID] = a
		}
		am.setGauge()
		return nil
	})
}

func (am *alertManager) setGauge() {
	n := 0
	for _, a := range am.alerts {
		if a.State == state.Firing {
			n++
		}
	}
	am.metrics.AlertsFiring.Set(float64(n))
}

// SetChannels swaps the channels after a reload. A channel that keeps its
// name keeps its breaker and failure history; a new one gets every firing
// alert, since it has had none of them. The sink_down of a channel that is
// gone resolves: nothing is left to recover.
func (am *alertManager) SetChannels(channels []namedNotifier, repeat, window time.Duration) {
	am.mu.Lock()
	old := map[string]*alertChannel{}
	for _, ch := range am.channels {
		old[ch.name] = ch
	}
	am.channels = nil
	for _, nn := range channels {
		ch, ok := old[nn.Name]
		if !ok {
			ch = newAlertChannel(nn.Name, am.metrics, am.log)
		}
		delete(old, nn.Name)
		ch.notifier = nn.Notifier
		am.channels = append(am.channels, ch)
	}
	for _, name := range mapkeys.Sorted(old) {
		if old[name].down.alerted {
			am.resolve = append(am.resolve, AlertID(state.KindSinkDown, name, ""))
		}
	}
	am.repeat, am.window = repeat, window
	am.mu.Unlock()
	select {
	case am.wake <- struct{}{}:
	default:
	}
}

// Status reports each channel's breaker and failures.
func (am *alertManager) Status() []EndpointStatus {
	am.mu.Lock()
	defer am.mu.Unlock()
	var out []EndpointStatus
	for _, ch := range am.channels {
		st := ch.breaker.State()
		out = append(out, EndpointStatus{
			Name: ch.name, Role: "channel", Breaker: st.String(),
			Healthy: st == gobreaker.StateClosed && ch.down.since.IsZero(), FailingSince: ch.down.since,
			Failures: ch.down.failures, LastError: ch.down.lastError(),
		})
	}
	return out
}

// Committed takes alerts in their new state from a commit.
func (am *alertManager) Committed(c *changes) {
	if len(c.Alerts) == 0 && len(c.Deleted) == 0 {
		return
	}
	am.mu.Lock()
	for _, a := range c.Alerts {
		cur, known := am.alerts[a.ID]
		if known && cur.State == a.State && cur.At.Equal(a.At) {
			// The same alert refreshed (a new count): deliveries recorded
			// in memory may not have reached the store yet, keep them.
			a.Notified = mergeNotified(a.Notified, cur.Notified)
		} else {
			am.log.Info("alert "+a.State, "alert", a.ID, "kind", a.Kind, "container", a.Container, "agency", a.Agency, "summary", a.Summary)
		}
		am.alerts[a.ID] = a
	}
	for _, id := range c.Deleted {
		delete(am.alerts, id)
	}
	am.setGauge()
	am.mu.Unlock()
	select {
	case am.wake <- struct{}{}:
	default:
	}
}

// mergeNotified returns the later delivery time per channel of a and b.
func mergeNotified(a, b map[string]time.Time) map[string]time.Time {
	out := maps.Clone(a)
	if out == nil {
		out = map[string]time.Time{}
	}
	for ch, t := range b {
		if t.After(out[ch]) {
			out[ch] = t
		}
	}
	return out
}

// Run delivers alerts until ctx is done.
func (am *alertManager) Run(ctx context.Context) { runRounds(ctx, am.wake, am.round) }

func (am *alertManager) round(ctx context.Context) time.Time {
	am.mu.Lock()
	channels, resolve := slices.Clone(am.channels), am.resolve
	am.resolve = nil
	am.mu.Unlock()
	for _, id := range resolve {
		am.engine.systemAlert(state.Alert{ID: id}, false)
	}
	now := time.Now()
	next := now.Add(time.Minute)
	for _, ch := range channels {
		if at := am.deliver(ctx, ch, now); at.Before(next) {
			next = at
		}
	}
	am.forgetDelivered()
	return next
}

// deliver sends ch every alert it is due and returns when it is next due.
func (am *alertManager) deliver(ctx context.Context, ch *alertChannel, now time.Time) time.Time {
	if now.Before(ch.retryAt) {
		return ch.retryAt
	}
	due, next := am.due(ch.name, now)
	if len(due) == 0 {
		return next
	}
	am.mu.Lock()
	notifier := ch.notifier
	am.mu.Unlock()
	_, err := ch.breaker.Execute(func() (struct{}, error) {
		sctx, cancel := context.WithTimeout(ctx, sendTimeout)
		defer cancel()
		return struct{}{}, notifier.Notify(sctx, due)
	})
	if err == nil || ctx.Err() == nil { // a send cut short by shutdown says nothing of the channel
		am.channelHealth(ch, err, now, time.Now())
	}
	if err != nil {
		am.metrics.Notifications.WithLabelValues(ch.name, "failed").Add(float64(len(due)))
		ch.retryAt = now.Add(time.Second)
		return ch.retryAt
	}
	am.metrics.Notifications.WithLabelValues(ch.name, "sent").Add(float64(len(due)))
	am.mu.Lock()
	for _, a := range due {
		cur, ok := am.alerts[a.ID]
		if !ok || cur.State != a.State || !cur.At.Equal(a.At) {
			continue // changed meanwhile; the new state is due anyway
		}
		cur.Notified = maps.Clone(cur.Notified)
		if cur.Notified == nil {
			cur.Notified = map[string]time.Time{}
		}
		cur.Notified[ch.name] = now
		am.alerts[a.ID] = cur
	}
	am.mu.Unlock()
	name := ch.name
	am.engine.enqueue(&alertsNotified{channel: name, alerts: due, at: now})
	return now
}

// due returns the alerts channel is due at now, and when the next falls
// due.
func (am *alertManager) due(channel string, now time.Time) ([]state.Alert, time.Time) {
	am.mu.Lock()
	defer am.mu.Unlock()
	next := now.Add(am.repeat)
	var due []state.Alert
	for _, a := range am.alerts {
		last, sent := a.Notified[channel]
		switch {
		case !sent:
			due = append(due, a)
		case a.State == state.Firing && !now.Before(last.Add(am.repeat)):
			due = append(due, a)
		case a.State == state.Firing && last.Add(am.repeat).Before(next):
			next = last.Add(am.repeat)
		}
	}
	slices.SortFunc(due, func(a, b state.Alert) int { return cmp.Compare(a.ID, b.ID) })
	return due, next
}

// forgetDelivered asks the engine to delete resolved alerts that every
// channel has had.
func (am *alertManager) forgetDelivered() {
	am.mu.Lock()
	var done []state.Alert
	for _, a := range am.alerts {
		if a.State == state.Resolved && am.deliveredEverywhere(a) {
			done = append(done, a)
			delete(am.alerts, a.ID)
		}
	}
	am.mu.Unlock()
	if len(done) > 0 {
		am.engine.enqueue(&alertsForgotten{alerts: done})
	}
}

func (am *alertManager) deliveredEverywhere(a state.Alert) bool {
	for _, ch := range am.channels {
		if _, ok := a.Notified[ch.name]; !ok {
			return false
		}
	}
	return true
}

func (am *alertManager) channelHealth(ch *alertChannel, err error, start, now time.Time) {
	am.mu.Lock()
	alert, firing, change := ch.down.observe(err, start, now, am.window)
	am.mu.Unlock()
	// Outside the lock: the engine calls Committed, which takes it.
	if change {
		am.engine.systemAlert(alert, firing)
	}
}
