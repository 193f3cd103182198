// Package scheduled owns the lifecycle that the polling sources
// (http_poll, http_query) share: one round at start, then one per tick of
// the source's cron schedule (UTC), never two at once; Stop cancels the
// round's requests and gives it a grace period to collect the engine's
// acknowledgements of what it already delivered. It also builds their
// circuit breaker.
package scheduled

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/sony/gobreaker/v2"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/config"
)

// Runner runs one source's rounds.
type Runner struct {
	name, spec string
	grace      time.Duration
	log        *slog.Logger
	kill       chan struct{}

	mu               sync.Mutex
	started, stopped bool
	cron             *cron.Cron
	cancel           context.CancelFunc
	first            sync.WaitGroup
}

// New returns a runner for the named source's schedule spec. grace is how
// long Stop waits before it closes Kill.
func New(name, spec string, grace time.Duration, log *slog.Logger) *Runner {
	return &Runner{name: name, spec: spec, grace: grace, log: log, kill: make(chan struct{})}
}

// Kill is closed grace after Stop: a round waiting for acknowledgements
// gives up then.
func (r *Runner) Kill() <-chan struct{} { return r.kill }

// Start returns the context Stop cancels, which the rounds' requests run
// under. Set it where the rounds read it before Run starts them.
func (r *Runner) Start(parent context.Context) (context.Context, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		return nil, fmt.Errorf("source %s: started twice", r.name)
	}
	r.started = true
	ctx, cancel := context.WithCancel(parent)
	r.cancel = cancel
	return ctx, nil
}

// Run runs round once now and then at every tick. Call it after Start.
func (r *Runner) Run(round func()) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := cronLogger{r.log}
	c := cron.New(cron.WithParser(config.CronParser), cron.WithLocation(time.UTC),
		cron.WithChain(cron.SkipIfStillRunning(l), cron.Recover(l)))
	id, err := c.AddFunc(r.spec, round)
	if err != nil {
		return fmt.Errorf("source %s: schedule %q: %w", r.name, r.spec, err)
	}
	r.cron = c
	// The first round runs the entry's wrapped job, so that a tick while
	// it runs is skipped like any other.
	job := c.Entry(id).WrappedJob
	r.first.Go(job.Run)
	c.Start()
	return nil
}

// Stop stops the schedule, cancels the round in flight and waits for it.
func (r *Runner) Stop() {
	r.mu.Lock()
	if !r.started || r.stopped {
		r.stopped = true
		r.mu.Unlock()
		return
	}
	r.stopped = true
	c := r.cron
	r.mu.Unlock()
	r.cancel()
	if c == nil {
		return // started, never run
	}
	done := c.Stop()
	grace := time.AfterFunc(r.grace, func() { close(r.kill) })
	defer grace.Stop()
	<-done.Done()
	r.first.Wait()
}

// cronLogger sends cron's own messages (skipped ticks, recovered panics) to
// the source's logger.
type cronLogger struct{ log *slog.Logger }

func (l cronLogger) Info(msg string, kv ...any) { l.log.Debug("cron: "+msg, kv...) }

func (l cronLogger) Error(err error, msg string, kv ...any) {
	l.log.Error("cron: "+msg, append([]any{"err", err}, kv...)...)
}

// NewBreaker returns the circuit breaker of the named source's requests:
// open after five failures in a row, one trial request after 10 s. A
// request cut short by Stop says nothing about the server and does not
// count. The breaker is reported from the start, not only on a change:
// the gauge and the dashboard show the breaker of a source that has never
// failed, and a reload's new breaker replaces the old one's state.
func NewBreaker[T any](source string, env *adapters.Env, log *slog.Logger) *gobreaker.CircuitBreaker[T] {
	b := gobreaker.NewCircuitBreaker[T](gobreaker.Settings{
		Name:        "source:" + source,
		MaxRequests: 1,
		Timeout:     10 * time.Second,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= 5 },
		IsExcluded:  func(err error) bool { return errors.Is(err, context.Canceled) },
		OnStateChange: func(name string, from, to gobreaker.State) {
			log.Warn("circuit breaker changed state", "breaker", name, "from", from.String(), "to", to.String())
			env.ReportBreaker(name, to)
		},
	})
	env.ReportBreaker(b.Name(), gobreaker.StateClosed)
	return b
}
