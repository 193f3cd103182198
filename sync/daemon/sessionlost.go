package daemon

import (
	"context"
	"fmt"
	"slices"
	stdsync "sync"
	"time"

	"github.com/portsync/portsync/state"
)

// A broker that comes back without the persistent session it held for
// portsync (restarted without persistence, its store lost, the session
// expired) has dropped every message it had queued for us, and nothing
// else would tell: the connection comes up, the subscriptions are
// acknowledged, /readyz is 200. The daemon learns it from the CONNACK
// session-present flag of each connection. "We had a session" is known
// from the store, not only from this process: a broker that lost its
// sessions while portsync was down has lost the queue just the same. The
// store remembers, per broker, the client id it last connected with;
// with another client id the session is a new one on purpose.

// sessionRetry is how soon a full sweep owed for a lost session is tried
// again after it failed.
const sessionRetry = time.Minute

// sessionReport is one connection a broker accepted.
type sessionReport struct {
	broker, clientID string
	present          bool
	at               time.Time
}

// sessionWatch is the daemon's account of lost sessions, from the broker
// connections' reports to the full sweep that resolves them.
type sessionWatch struct {
	mu      stdsync.Mutex
	reports []sessionReport
	// lost maps a broker whose session was lost to the number of that
	// loss, until a full sweep that began after it has completed.
	lost map[string]uint64
	seq  uint64
	wake chan struct{} // buffered: a reporter never waits
}

func newSessionWatch() *sessionWatch {
	return &sessionWatch{lost: map[string]uint64{}, wake: make(chan struct{}, 1)}
}

// reset forgets every report and loss, for a cluster node that begins to
// lead: what it must know of lost sessions is in the replicated store, and
// its connections report afresh.
func (w *sessionWatch) reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.reports, w.lost = nil, map[string]uint64{}
}

func (w *sessionWatch) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// brokerSession is every broker connection's adapters.SessionFunc. It
// runs on the connection's goroutine and only hands the report on: the
// store is the writer's, which may not be running yet.
func (d *Daemon) brokerSession(broker, clientID string, present bool) {
	w := d.sessions
	w.mu.Lock()
	w.reports = append(w.reports, sessionReport{broker: broker, clientID: clientID, present: present, at: time.Now()})
	w.mu.Unlock()
	w.poke()
}

// loadLostSessions takes up the lost sessions a previous run raised the
// alert for and did not sweep after: the sweep is still owed.
func (d *Daemon) loadLostSessions() error {
	return d.store.View(func(tx *state.Tx) error {
		alerts, err := tx.Alerts()
		if err != nil {
			return err
		}
		for _, a := range alerts {
			if a.Kind == state.KindSessionLost && a.State == state.Firing {
				d.sessions.markLost(a.Source)
			}
		}
		return nil
	})
}

// markLost records a loss; it reports whether the broker's session was
// already lost and not yet swept after.
func (w *sessionWatch) markLost(broker string) (already bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, already = w.lost[broker]
	w.seq++
	w.lost[broker] = w.seq
	w.poke()
	return already
}

// pending returns the losses now waiting for a sweep.
func (w *sessionWatch) pending() map[string]uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]uint64, len(w.lost))
	for b, n := range w.lost {
		out[b] = n
	}
	return out
}

// swept forgets the losses a completed sweep began after, and returns
// their brokers; a loss since then still waits for the next sweep.
func (w *sessionWatch) swept(before map[string]uint64) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var done []string
	for b, n := range before {
		if w.lost[b] == n {
			delete(w.lost, b)
			done = append(done, b)
		}
	}
	slices.Sort(done)
	return done
}

// readyReasons says which brokers' lost sessions still wait for a sweep.
func (w *sessionWatch) readyReasons() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for b := range w.lost {
		out = append(out, fmt.Sprintf("broker %s: session lost; waiting for the full sweep", b))
	}
	return out
}

// watchSessions checks each reported connection against the store and,
// while a lost session waits for it, runs the full sweep.
func (d *Daemon) watchSessions(ctx context.Context) {
	w := d.sessions
	for {
		w.mu.Lock()
		reports := w.reports
		w.reports = nil
		w.mu.Unlock()
		for _, r := range reports {
			d.checkSession(ctx, r)
		}
		var retry <-chan time.Time
		if len(w.pending()) > 0 && !d.sweep(ctx) {
			retry = time.After(sessionRetry)
		}
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		case <-retry:
		}
	}
}

// checkSession records that broker holds a session for clientID and, if
// it had one before and has not now, raises session_lost.
func (d *Daemon) checkSession(ctx context.Context, r sessionReport) {
	had, err := d.engine().RecordSession(ctx, r.broker, r.clientID)
	if err != nil {
		if ctx.Err() != nil {
			return // stopping
		}
		// Without the store nothing can be acknowledged either; /readyz
		// says so. The next connection is checked again.
		d.log.Error("cannot record the broker's session", "broker", r.broker, "err", err)
		return
	}
	if !had || r.present {
		return
	}
	d.log.Error("broker came back without portsync's persistent session: the messages it had queued for portsync are lost; running the full sweep",
		"broker", r.broker, "client_id", r.clientID)
	if d.sessions.markLost(r.broker) {
		return // the alert fires already, and the sweep is still owed
	}
	d.engine().SessionLost(r.broker, r.clientID, r.at)
}

// sessionsSwept resolves the session_lost alerts a completed full sweep
// began after.
func (d *Daemon) sessionsSwept(before map[string]uint64) {
	for _, b := range d.sessions.swept(before) {
		d.log.Info("full sweep after the lost session done", "broker", b)
		d.engine().SessionSwept(b)
	}
}
