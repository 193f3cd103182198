package sync

import (
	"context"
	"fmt"
	"log/slog"
	stdsync "sync"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

// Options is what New needs: the open store, the configuration in force,
// the metrics, the log, the adapters the engine sends through and how to
// find a broker for the acknowledgements.
type Options struct {
	Store   *state.Store
	Config  *config.Config
	Metrics *Metrics
	Log     *slog.Logger
	// Adapters are the outputs Config describes; Reload swaps them.
	Adapters Adapters
	// Broker returns the broker of that name in the configuration in
	// force, nil if there is none: acknowledgements go out through it.
	Broker func(name string) adapters.Publisher
	// Replicate, set on a cluster's leader, commits each group's writes
	// through the replicated log (cluster.Node.Applier): it returns once a
	// quorum holds them and the local store has applied them.
	Replicate func(state.WriteSet) error
}

// Adapters are the outputs of one configuration the engine sends
// through: the TOS sink, the alert channels by name (in the order of
// alerts.channels) and where integrated status goes (nil without
// status_topic).
type Adapters struct {
	Sink     adapters.Sink
	Channels map[string]adapters.Notifier
	Status   adapters.Publisher
}

// New returns the engine over an open store with its workers (the command
// dispatcher, the alert manager, the acknowledgement publisher, the status
// publisher and source health), their state loaded from the store. Nothing
// runs until Run and RunWorkers.
func New(o Options) (*Engine, error) {
	e := newEngine(o.Store, o.Config, o.Metrics, o.Log)
	e.replicate = o.Replicate
	e.health = newSourceHealth(e, o.Log)
	e.health.SetSources(o.Config.Sources, o.Config.SLA.ApplyWithin)
	e.dispatcher = newDispatcher(o.Config.TOS.Sink.Name, o.Adapters.Sink, o.Config, e, o.Metrics, o.Log)
	e.alerts = newAlertManager(channelsOf(o.Config, o.Adapters), o.Config.Alerts.RepeatInterval, o.Config.SLA.ApplyWithin, e, o.Metrics, o.Log)
	e.status = newStatusPublisher(e, o.Log)
	e.status.SetTarget(o.Adapters.Status, o.Config.StatusTopic)
	e.addListener(e.dispatcher)
	e.addListener(e.alerts)
	e.addListener(e.status)
	e.acks = newAckPublisher(e, o.Broker, o.Metrics, o.Log)
	e.addListener(e.acks)
	e.cfg.Store(o.Config)
	if err := e.load(); err != nil {
		return nil, fmt.Errorf("load engine state: %w", err)
	}
	if err := e.dispatcher.Load(o.Store); err != nil {
		return nil, fmt.Errorf("load outbox: %w", err)
	}
	if err := e.acks.Load(o.Store); err != nil {
		return nil, fmt.Errorf("load acknowledgements: %w", err)
	}
	if err := e.alerts.Load(o.Store); err != nil {
		return nil, fmt.Errorf("load alerts: %w", err)
	}
	e.alerts.ReviveSinkDown(e.dispatcher)
	if err := e.health.Load(o.Store); err != nil {
		return nil, fmt.Errorf("load source alerts: %w", err)
	}
	return e, nil
}

// channelsOf lists a's channels in the order of cfg's alerts.channels.
func channelsOf(cfg *config.Config, a Adapters) []namedNotifier {
	var out []namedNotifier
	for _, cc := range cfg.Alerts.Channels {
		if n, ok := a.Channels[cc.Name]; ok {
			out = append(out, namedNotifier{Name: cc.Name, Notifier: n})
		}
	}
	return out
}

// Reload swaps the decision policy, the sources health watches, the sink,
// the channels and the status target for those of cfg. Pending commands,
// alerts and acknowledgements stay and go out through the new adapters.
func (e *Engine) Reload(cfg *config.Config, a Adapters) {
	e.health.SetSources(cfg.Sources, cfg.SLA.ApplyWithin)
	e.setPolicy(cfg)
	e.dispatcher.SetSink(cfg.TOS.Sink.Name, a.Sink, cfg)
	e.alerts.SetChannels(channelsOf(cfg, a), cfg.Alerts.RepeatInterval, cfg.SLA.ApplyWithin)
	e.status.SetTarget(a.Status, cfg.StatusTopic)
	e.cfg.Store(cfg)
}

// RunWorkers runs the workers until ctx is done. Run the writer (Run) with
// a context of its own that ends first, so that the group in flight is
// committed and its commands, alerts and acknowledgements handed over.
func (e *Engine) RunWorkers(ctx context.Context) {
	var wg stdsync.WaitGroup
	wg.Go(func() { e.dispatcher.Run(ctx) })
	wg.Go(func() { e.alerts.Run(ctx) })
	wg.Go(func() { e.acks.Run(ctx) })
	wg.Go(func() { e.status.Run(ctx) })
	wg.Go(func() { e.health.Run(ctx) })
	wg.Wait()
}

// runRounds runs round at once, then again whenever wake fires or the
// time round returned comes, never more often than every 10 ms, until ctx
// is done: the loop of every worker that sends something out.
func runRounds(ctx context.Context, wake <-chan struct{}, round func(context.Context) time.Time) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-timer.C:
		}
		timer.Reset(max(time.Until(round(ctx)), 10*time.Millisecond))
	}
}

// SourceFailed records that a source failed (source health).
func (e *Engine) SourceFailed(source string, err error) { e.health.Failed(source, err) }

// SourceOK records that a source works again (source health).
func (e *Engine) SourceOK(source string) { e.health.OK(source) }

// BreakerChanged records a source breaker's new state (source health).
func (e *Engine) BreakerChanged(name string, to gobreaker.State) { e.health.Breaker(name, to) }

// SourceStatus is a source's health for the dashboard, and whether the
// source itself is healthy: not failing, its breaker (if any) closed, not
// silent. Its broker's health is the caller's to add.
func (e *Engine) SourceStatus(source string) (EndpointStatus, bool) { return e.health.Status(source) }

// OutputStatus is the health of the sink, then of each alert channel,
// with their types.
func (e *Engine) OutputStatus() []EndpointStatus {
	cfg := e.cfg.Load()
	sink := e.dispatcher.Status()
	sink.Type = cfg.TOS.Sink.Type
	out := []EndpointStatus{sink}
	types := map[string]string{}
	for _, ch := range cfg.Alerts.Channels {
		types[ch.Name] = ch.Type
	}
	for _, ch := range e.alerts.Status() {
		ch.Type = types[ch.Name]
		out = append(out, ch)
	}
	return out
}

// PendingCommands is the number of commands awaiting the TOS's
// confirmation.
func (e *Engine) PendingCommands() int { return e.dispatcher.Pending() }

// CommandAttempts returns how often each of the commands ids (the
// pending ones) has been sent.
func (e *Engine) CommandAttempts(ids []string) map[string]int { return e.dispatcher.Attempts(ids) }

// PendingAcks is the number of acknowledgements awaiting delivery.
func (e *Engine) PendingAcks() int { return e.acks.Pending() }

// View is the integrated status of c under the policy in force.
func (e *Engine) View(c *state.Container) View { return newView(c, e.policyNow()) }

// Status is c's status for agency.
func (e *Engine) Status(c *state.Container, agency string) state.Status {
	return agencyStatus(c, agency)
}

// Cleared reports whether c is cleared under the policy in force.
func (e *Engine) Cleared(c *state.Container) bool { return isCleared(c, e.policyNow()) }

// Ledger returns a with its ledger filled in, also for a state stored
// before the ledger existed (one status, the latest event winning), for
// those who show it.
func (e *Engine) Ledger(a state.AgencyState) state.AgencyState { return ledger(a) }

// ClearedInYard reads the store's count of cleared containers in the yard,
// which the writer keeps, in tx.
func (e *Engine) ClearedInYard(tx *state.Tx) int64 { return tx.Count(countClearedInYard) }
