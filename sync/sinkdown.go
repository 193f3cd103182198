package sync

import (
	"fmt"
	"time"

	"github.com/portsync/portsync/state"
)

// downTracker follows one outbound endpoint (the TOS sink, an alert
// channel) for sink_down: it fires once the endpoint has failed for longer
// than the SLA and resolves on its first success. Its owner holds the lock.
type downTracker struct {
	name    string
	what    string    // "TOS sink" or "alert channel", for the summary
	since   time.Time // when the failing began; zero while healthy
	alerted bool
}

// observe records an attempt that began at start and ended at now with
// err. It returns the sink_down alert to fire (firing) or resolve, and
// whether there is one.
func (t *downTracker) observe(err error, start, now time.Time, window time.Duration) (a state.Alert, firing, change bool) {
	if err == nil {
		t.since = time.Time{}
		if !t.alerted {
			return state.Alert{}, false, false
		}
		t.alerted = false
		return t.alert(now, nil), false, true
	}
	// Failing since the failed attempt began: a send that hangs for its
	// whole timeout has been failing all that time.
	if t.since.IsZero() {
		t.since = start
	}
	if t.alerted || now.Sub(t.since) < window {
		return state.Alert{}, false, false
	}
	t.alerted = true
	return t.alert(now, err), true, true
}

func (t *downTracker) alert(now time.Time, err error) state.Alert {
	a := state.Alert{
		ID: AlertID(state.KindSinkDown, t.name, ""), Kind: state.KindSinkDown, Severity: "critical",
		Source: t.name, Since: t.since.UTC(), At: now.UTC(),
	}
	if err != nil {
		a.Summary = fmt.Sprintf("%s %s has failed since %s: %v", t.what, t.name, t.since.UTC().Format(time.RFC3339), err)
	}
	return a
}
