package sync

import (
	"errors"
	"log/slog"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/portsync/portsync/internal/mapkeys"
	"github.com/portsync/portsync/state"
)

// outageLogEvery is how often an endpoint that stays down is logged again:
// retries come every second, and a line each would bury everything else.
const outageLogEvery = time.Minute

// downTracker follows one outbound endpoint (the TOS sink, an alert
// channel) for sink_down: it fires once the endpoint has failed for longer
// than the SLA and resolves on its first success. It logs the endpoint's
// state changes (down, recovered) and, while it stays down, a summary at
// most every outageLogEvery, rather than each failed attempt. Its owner
// holds the lock.
type downTracker struct {
	name    string
	what    string // "TOS sink" or "alert channel", for the summary and the log
	key     string // the log key that names the endpoint: sink or channel
	waits   string // what becomes of the work while the endpoint is down, for the log
	log     *slog.Logger
	since   time.Time // when the failing began; zero while healthy
	alerted bool

	failures int   // attempts failed since since; refusals by the open breaker are not attempts
	lastErr  error // the last attempt's error
	logged   time.Time
}

// observe records an attempt that began at start and ended at now with
// err. It returns the sink_down alert to fire (firing) or resolve, and
// whether there is one.
func (t *downTracker) observe(err error, start, now time.Time, window time.Duration) (a state.Alert, firing, change bool) {
	if err == nil {
		if !t.since.IsZero() {
			t.log.Info(t.what+" recovered", t.key, t.name, "down_for", now.Sub(t.since).Round(time.Second), "failures", t.failures)
		}
		t.since, t.failures, t.lastErr, t.logged = time.Time{}, 0, nil, time.Time{}
		if !t.alerted {
			return state.Alert{}, false, false
		}
		t.alerted = false
		return t.alert(now, nil), false, true
	}
	if !errors.Is(err, gobreaker.ErrOpenState) && !errors.Is(err, gobreaker.ErrTooManyRequests) {
		t.failures++
		t.lastErr = err
	}
	// Failing since the failed attempt began: a send that hangs for its
	// whole timeout has been failing all that time.
	if t.since.IsZero() {
		t.since, t.logged = start, now
		t.log.Warn(t.what+" down; "+t.waits, t.key, t.name, "err", err)
	} else if now.Sub(t.logged) >= outageLogEvery {
		t.logged = now
		t.log.Warn(t.what+" still down; "+t.waits, t.key, t.name,
			"since", t.since.UTC(), "failures", t.failures, "err", t.lastErr)
	}
	if t.alerted || now.Sub(t.since) < window {
		return state.Alert{}, false, false
	}
	t.alerted = true
	cause := t.lastErr
	if cause == nil {
		cause = err
	}
	return t.alert(now, cause), true, true
}

// lastError is the last attempt's error for the dashboard, "" while the
// endpoint works.
func (t *downTracker) lastError() string {
	if t.lastErr == nil {
		return ""
	}
	return t.lastErr.Error()
}

func sinkTracker(name string, log *slog.Logger) downTracker {
	return downTracker{name: name, what: "TOS sink", key: "sink", waits: "commands stay in the outbox and are retried", log: log}
}

func channelTracker(name string, log *slog.Logger) downTracker {
	return downTracker{name: name, what: "alert channel", key: "channel", waits: "notices wait in the store and are retried", log: log}
}

// revive takes over a sink_down alert a process before this one fired: the
// endpoint counts as failing since the alert's since, so that its first
// success resolves the alert and a failure keeps it firing unchanged.
func (t *downTracker) revive(a state.Alert) {
	t.since, t.alerted = a.Since, true
}

// ReviveSinkDown hands each sink_down alert still firing in the store to
// the tracker of the endpoint it is about, one of am's channels or disp's
// sink. Trackers live in memory, so without this an alert firing at
// shutdown would never resolve: the next process has no failure to recover
// from. An alert about an endpoint that no longer exists resolves. Call
// after the alerts are loaded, before Run.
func (am *alertManager) ReviveSinkDown(disp *dispatcher) {
	am.mu.Lock()
	defer am.mu.Unlock()
	byID := map[string]*downTracker{}
	for _, ch := range am.channels {
		byID[AlertID(state.KindSinkDown, ch.name, "")] = &ch.down
	}
	disp.mu.Lock()
	defer disp.mu.Unlock()
	byID[AlertID(state.KindSinkDown, disp.name, "")] = &disp.down
	for _, id := range mapkeys.Sorted(am.alerts) {
		a := am.alerts[id]
		if a.Kind != state.KindSinkDown || a.State != state.Firing {
			continue
		}
		if t, ok := byID[id]; ok {
			t.revive(a)
		} else {
			am.resolve = append(am.resolve, id)
		}
	}
}

func (t *downTracker) alert(now time.Time, err error) state.Alert {
	return sinkDownAlert(t.what, t.name, t.since, now, err)
}
