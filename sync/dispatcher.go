package sync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	stdsync "sync"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/internal/failpoint"
	"github.com/portsync/portsync/internal/mapkeys"
	"github.com/portsync/portsync/state"
)

// sendChunk bounds the commands handed to a sink in one call, unless the
// sink says otherwise (adapters.Batcher).
const sendChunk = 512

// batchOf is how many commands sink takes in one call.
func batchOf(sink adapters.Sink) int {
	if b, ok := sink.(adapters.Batcher); ok && b.MaxBatch() > 0 {
		return b.MaxBatch()
	}
	return sendChunk
}

// sendTimeout bounds one call to a sink or channel.
const sendTimeout = 10 * time.Second

// newBreaker returns the breaker portsync puts in front of every outbound
// endpoint: it opens after five failures in a row, probes again after ten
// seconds, and reports its state as portsync_breaker_state{name}.
func newBreaker(name string, m *Metrics, log *slog.Logger) *gobreaker.CircuitBreaker[struct{}] {
	m.Breaker.WithLabelValues(name).Set(0)
	return gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        name,
		MaxRequests: 1,
		Timeout:     10 * time.Second,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= 5 },
		// An endpoint that answered every request, if only to reject some
		// commands, works: the rejections must not open the breaker and
		// hold back every other container's commands.
		IsSuccessful: func(err error) bool { return err == nil || adapters.OnlyRejected(err) },
		OnStateChange: func(name string, from, to gobreaker.State) {
			m.SetBreaker(name, to)
			// Debug only: an open breaker probes every ten seconds, and
			// the endpoint's tracker logs the outage as a whole.
			log.Debug("circuit breaker changed state", "breaker", name, "from", from.String(), "to", to.String())
		},
	})
}

// dispatcher sends the outbox to the TOS sink and re-sends each command,
// with the same id, until the TOS confirms it: first after sla.retry_after,
// then doubling up to five minutes. The outbox is durable in the store; the
// schedule of re-sends is not, so after a restart every pending command is
// sent once more at once, which is harmless because commands are idempotent.
type dispatcher struct {
	name        string
	sink        adapters.Sink
	breaker     *gobreaker.CircuitBreaker[struct{}]
	engine      *Engine
	metrics     *Metrics
	log         *slog.Logger
	retryAfter  time.Duration
	applyWithin time.Duration

	mu      stdsync.Mutex
	outbox  *outbox
	wake    chan struct{}
	resolve []string // alerts to resolve, by id: command_rejected, or sink_down of a renamed sink

	down downTracker
}

// newDispatcher returns a dispatcher for the TOS sink named name.
func newDispatcher(name string, sink adapters.Sink, cfg *config.Config, e *Engine, m *Metrics, log *slog.Logger) *dispatcher {
	return &dispatcher{
		name: name, sink: sink, engine: e, metrics: m, log: log,
		breaker:     newBreaker("sink:"+name, m, log),
		down:        sinkTracker(name, log),
		retryAfter:  cfg.SLA.RetryAfter,
		applyWithin: cfg.SLA.ApplyWithin,
		outbox:      newOutbox(),
		wake:        make(chan struct{}, 1),
	}
}

// Load reads the outbox from the store. Call before Run.
func (d *dispatcher) Load(store *state.Store) error {
	return store.View(func(tx *state.Tx) error {
		cmds, err := tx.Commands()
		if err != nil {
			return err
		}
		alerts, err := tx.Alerts()
		if err != nil {
			return err
		}
		rejected := map[string]bool{}
		for _, a := range alerts {
			if a.Kind == state.KindCommandRejected && a.State == state.Firing {
				rejected[a.ID] = true
			}
		}
		now := time.Now()
		d.mu.Lock()
		defer d.mu.Unlock()
		for _, c := range cmds {
			id := AlertID(state.KindCommandRejected, c.Container, c.Agency)
			d.outbox.put(&outboxEntry{cmd: c, next: now, rejected: rejected[id]})
			delete(rejected, id)
		}
		// A rejected command that left the outbox just before a crash:
		// its alert is resolved once Run starts.
		d.resolve = append(d.resolve, mapkeys.Sorted(rejected)...)
		d.metrics.OutboxCommands.Set(float64(d.outbox.len()))
		return nil
	})
}

// Committed adds new commands to the schedule and drops confirmed and
// superseded ones.
func (d *dispatcher) Committed(c *changes) {
	if len(c.Commands) == 0 && len(c.Removed) == 0 {
		return
	}
	now := time.Now()
	d.mu.Lock()
	for _, cmd := range c.Commands {
		d.outbox.put(&outboxEntry{cmd: cmd, next: now})
	}
	for _, id := range c.Removed {
		if e, ok := d.outbox.remove(id); ok {
			if e.attempts > 0 {
				d.metrics.Commands.WithLabelValues(d.name, e.cmd.Action, "confirmed").Inc()
			}
			if e.rejected {
				d.resolve = append(d.resolve, AlertID(state.KindCommandRejected, e.cmd.Container, e.cmd.Agency))
			}
		}
	}
	d.metrics.OutboxCommands.Set(float64(d.outbox.len()))
	d.mu.Unlock()
	d.poke()
}

// EndpointStatus is the health of an outbound endpoint, for the dashboard.
type EndpointStatus struct {
	Name         string    `json:"name"`
	Role         string    `json:"role"` // source, sink, channel or broker
	Type         string    `json:"type"`
	Detail       string    `json:"detail,omitempty"`
	Breaker      string    `json:"breaker,omitempty"` // closed, half-open, open
	Healthy      bool      `json:"healthy"`
	FailingSince time.Time `json:"failing_since,omitzero"`
	Failures     int       `json:"consecutive_failures,omitempty"` // attempts failed in a row
	LastError    string    `json:"last_error,omitempty"`           // the last failed attempt's, while failing
	LastMessage  time.Time `json:"last_message,omitzero"`          // sources: when the last message came
	// Detail's parts, for a dashboard that words it in another language.
	Kind    string `json:"kind,omitempty"`    // sources: agency or tos
	Agency  string `json:"agency,omitempty"`  // sources: the agency it speaks for
	Pending int    `json:"pending,omitempty"` // the sink: commands awaiting confirmation
}

// SetSink swaps the sink after a reload. Pending commands stay and go to
// the new sink; a renamed sink gets a breaker of its own, and the old
// name's sink_down resolves.
func (d *dispatcher) SetSink(name string, sink adapters.Sink, cfg *config.Config) {
	d.mu.Lock()
	if name != d.name {
		if d.down.alerted {
			d.resolve = append(d.resolve, AlertID(state.KindSinkDown, d.name, ""))
		}
		d.breaker = newBreaker("sink:"+name, d.metrics, d.log)
		d.down = sinkTracker(name, d.log)
	}
	d.name, d.sink = name, sink
	d.retryAfter, d.applyWithin = cfg.SLA.RetryAfter, cfg.SLA.ApplyWithin
	d.mu.Unlock()
	d.ResendAll()
}

// Status reports the sink's breaker, failures and outbox.
func (d *dispatcher) Status() EndpointStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.breaker.State()
	return EndpointStatus{
		Name: d.name, Role: "sink", Breaker: st.String(), Healthy: st == gobreaker.StateClosed && d.down.since.IsZero(),
		FailingSince: d.down.since, Failures: d.down.failures, LastError: d.down.lastError(),
		Detail: fmt.Sprintf("%d commands awaiting confirmation", d.outbox.len()), Pending: d.outbox.len(),
	}
}

// Pending is the number of commands awaiting confirmation.
func (d *dispatcher) Pending() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.outbox.len()
}

// ResendAll makes every pending command due now, for a sweep, including
// those the TOS rejected: the sweep may have changed what the TOS knows.
func (d *dispatcher) ResendAll() {
	d.mu.Lock()
	d.outbox.resendAll(time.Now())
	d.mu.Unlock()
	d.poke()
}

func (d *dispatcher) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Attempts returns how often each pending command has been sent.
func (d *dispatcher) Attempts(ids []string) map[string]int {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string]int, len(ids))
	for _, id := range ids {
		if e, ok := d.outbox.get(id); ok {
			out[id] = e.attempts
		}
	}
	return out
}

// Run sends due commands until ctx is done.
func (d *dispatcher) Run(ctx context.Context) { runRounds(ctx, d.wake, d.round) }

func (d *dispatcher) round(ctx context.Context) time.Time {
	d.resolveQueued()
	d.mu.Lock()
	due := d.outbox.take(time.Now(), sendTimeout)
	batch := batchOf(d.sink)
	d.mu.Unlock()
	for chunk := range slices.Chunk(due, batch) {
		d.send(ctx, chunk)
	}
	now := time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.outbox.nextDue(now)
}

func (d *dispatcher) send(ctx context.Context, cmds []state.Command) {
	d.mu.Lock()
	name, sink, breaker, retryAfter := d.name, d.sink, d.breaker, d.retryAfter
	d.mu.Unlock()
	start := time.Now()
	_, err := breaker.Execute(func() (struct{}, error) {
		sctx, cancel := context.WithTimeout(ctx, sendTimeout)
		defer cancel()
		return struct{}{}, sink.Send(sctx, cmds)
	})
	if err == nil {
		failpoint.Hit("dispatch.sent")
	}
	now := time.Now()
	// A sink that can say what became of each command (the http sink)
	// returns a *adapters.SendError; any other error is the whole batch's.
	se, perCommand := errors.AsType[*adapters.SendError](err)
	d.mu.Lock()
	var sent []outboxEntry
	var rejected []rejection
	for _, c := range cmds {
		e, ok := d.outbox.get(c.ID)
		if !ok {
			continue // confirmed or superseded meanwhile
		}
		cerr := err
		if perCommand {
			cerr = se.Outcome(c.ID)
		}
		switch {
		case cerr == nil:
			e.attempts++
			d.outbox.reschedule(e, now.Add(backoff(retryAfter, e.attempts)))
			d.metrics.Commands.WithLabelValues(name, c.Action, "sent").Inc()
			sent = append(sent, *e)
		case errors.Is(cerr, adapters.ErrRejected):
			// Not retried blindly: parked until the next sweep.
			e.attempts++
			e.rejected = true
			d.outbox.park(e)
			d.metrics.Commands.WithLabelValues(name, c.Action, "rejected").Inc()
			rejected = append(rejected, rejection{cmd: c, why: cerr})
		default:
			d.outbox.reschedule(e, now.Add(min(retryAfter, time.Second)))
			d.metrics.Commands.WithLabelValues(name, c.Action, "failed").Inc()
		}
	}
	d.mu.Unlock()
	healthErr := err
	if adapters.OnlyRejected(err) {
		healthErr = nil // the TOS answered: the sink is up
	}
	if healthErr == nil || ctx.Err() == nil { // a send cut short by shutdown says nothing of the sink
		d.health(healthErr, start, now)
	}
	if len(rejected) > 0 {
		d.log.Warn("the TOS rejected commands; they stay in the outbox but are not sent again until the next sweep",
			"sink", name, "rejected", len(rejected), "first", rejected[0].why)
		d.engine.enqueue(&commandsRejected{sink: name, rejected: rejected})
	}
	if len(sent) == 0 {
		return
	}
	for _, e := range sent {
		d.log.Debug("command sent", "sink", name, "container", e.cmd.Container, "command", e.cmd.ID, "action", e.cmd.Action, "hold", e.cmd.Hold, "attempt", e.attempts)
	}
	d.engine.enqueue(&commandsSent{sink: name, sent: sent})
}

// resolveQueued resolves the command_rejected alerts of commands that left
// the outbox, and a renamed sink's sink_down. It runs on the dispatcher's
// goroutine: Committed runs on the writer's, which must not wait for
// itself.
func (d *dispatcher) resolveQueued() {
	d.mu.Lock()
	ids := d.resolve
	d.resolve = nil
	d.mu.Unlock()
	for _, id := range ids {
		d.engine.systemAlert(state.Alert{ID: id}, false)
	}
}

// backoff is the wait after the n-th send of a command: retryAfter,
// doubling, at most config.MaxRetryAfter.
func backoff(retryAfter time.Duration, n int) time.Duration {
	wait := retryAfter
	for i := 1; i < n && wait < config.MaxRetryAfter; i++ {
		wait *= 2
	}
	return min(wait, config.MaxRetryAfter)
}

// health raises sink_down when the sink has failed for longer than the
// SLA, and resolves it on the first success.
func (d *dispatcher) health(err error, start, now time.Time) {
	d.mu.Lock()
	alert, firing, change := d.down.observe(err, start, now, d.applyWithin)
	d.mu.Unlock()
	// Outside the lock: the engine calls Committed, which takes it.
	if change {
		d.engine.systemAlert(alert, firing)
	}
}
