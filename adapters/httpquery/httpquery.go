// Package httpquery is the http_query source: it heals the agency side by
// asking an agency's status API about the containers it has not heard of
// for too long, as the sweep heals the TOS side from its snapshot.
//
// An agency message lost upstream (CBP admits its queue can drop older
// messages) leaves a container held that the agency released. On every
// tick of its schedule (UTC; one cycle also runs when the source starts, a
// cycle still running makes the next tick skip), the source asks the
// daemon's store for candidates (adapters.Env.Candidates): first the
// containers with a mismatch of its agency open for query_after (default
// 30m), then, walking the containers in id order, those in the yard that
// are neither cleared nor released by its agency and have not changed for
// query_after, and again those with such a mismatch (a fresh mismatch is
// the TOS's to settle; one that lasts may be an agency message lost).
//
// For each candidate it GETs url, with {container} replaced by the
// container number or {bl} by each of its bills of lading (each B/L once
// per cycle; a container without one is skipped), percent-encoded. A 2xx
// answer is handed to the engine as one message of the source, decoded by
// the source's format (mapped_json, or json: one agency event, DESIGN
// 3.1), so that it enters as any agency event from this source would: bound
// to the source's agency, deduplicated by its id, ordered by its time in
// the agency's ledger (an answer that only repeats what was applied is a
// duplicate or stale, and changes nothing). A 404 or an empty answer says
// the agency has nothing on the container, and is not a failure.
//
// Rate. Requests are spaced evenly at rate per minute (default 60), across
// cycles. A cycle stops taking new requests when the next one could not
// go before the next tick; the next cycle resumes the walk after the last
// container asked. A cycle that has gone once round the yard ends there.
// The walk reads the store in pages of bounded size, each in a short read
// transaction.
//
// Failures. A reply other than 2xx (and 404), a timeout or a connection
// failure is logged, counted against the source (source_down follows a
// long streak), and counts against its circuit breaker (open after 5
// failures in a row, probed again after 10s); the cycle goes on with the
// next candidate. While the breaker is open the cycle stops, and the next
// one resumes where it stopped.
package httpquery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/sony/gobreaker/v2"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/adapters/httpout"
	"github.com/portsync/portsync/adapters/scheduled"
	"github.com/portsync/portsync/config"
)

// Type is the source type this package registers.
const Type = "http_query"

// Placeholders of the url template.
const (
	PlaceContainer = "{container}"
	PlaceBL        = "{bl}"
)

const (
	// DefaultRate is rate's default, in requests per minute.
	DefaultRate = 60
	// DefaultQueryAfter is query_after's default.
	DefaultQueryAfter = 30 * time.Minute
	// DefaultTimeout bounds one request when the configuration sets none.
	DefaultTimeout = 30 * time.Second
	// pageSize is how many candidates one read of the store returns.
	pageSize = 100
	// stopGrace is how long Stop (and the end of a cycle) waits for the
	// engine to acknowledge answers already delivered.
	stopGrace = 5 * time.Second
)

func init() {
	adapters.RegisterSource(Type, adapters.SourceWithConfig(newSource, Check))
}

// Config is an http_query source's own keys; the common ones are in
// config.Source.
type Config struct {
	// URL names the container or the bill of lading asked about with a
	// placeholder.
	URL      string `yaml:"url"`
	Schedule string `yaml:"schedule"`
	// Headers are sent with every request.
	Headers map[string]string `yaml:"headers"`
	// Timeout bounds one request; default 30s.
	Timeout time.Duration `yaml:"timeout"`
	// Rate bounds the requests per minute; default 60.
	Rate int `yaml:"rate"`
	// QueryAfter is how long a container must have been in the yard
	// unchanged and not cleared before the agency is asked about it;
	// default 30m.
	QueryAfter time.Duration `yaml:"query_after"`
}

// ConfigOf decodes the own keys of an http_query source.
func ConfigOf(src config.Source) (*Config, error) { return adapters.DecodeConfig[Config](src) }

// placeholder returns the placeholder the url template names, "" for none
// and both for a template naming both.
func placeholder(tmpl string) (p string, both bool) {
	c, b := strings.Contains(tmpl, PlaceContainer), strings.Contains(tmpl, PlaceBL)
	switch {
	case c && b:
		return "", true
	case c:
		return PlaceContainer, false
	case b:
		return PlaceBL, false
	}
	return "", false
}

// Check checks an http_query source's keys: its own, in c, and the
// common keys of cfg.
func Check(cfg config.Source, c *Config) []config.KeyError {
	var errs []config.KeyError
	fail := func(key, format string, args ...any) {
		errs = append(errs, config.KeyError{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	if c.URL != "" {
		switch p, both := placeholder(c.URL); {
		case both:
			fail("url", "names both %s and %s; name one: each request asks about one container or one bill of lading", PlaceContainer, PlaceBL)
		case p == "":
			fail("url", "names neither %s nor %s: say where the container number or the bill of lading goes, e.g. https://customs.example/api/status/%s", PlaceContainer, PlaceBL, PlaceContainer)
		}
	}
	errs = append(errs, httpout.Check(clientConfig(cfg, c, "X"), "http_query sources")...)
	if c.Schedule == "" {
		fail("schedule", `required for http_query sources, e.g. "*/10 * * * *"`)
	} else if _, err := config.CronParser.Parse(c.Schedule); err != nil {
		fail("schedule", "bad cron expression %q: %v", c.Schedule, err)
	}
	if cfg.Kind != config.KindAgency {
		fail("kind", "an http_query source asks an agency; want kind %q, got %q", config.KindAgency, cfg.Kind)
	}
	if cfg.Format != "" && cfg.Format != config.DefaultFormat && cfg.Format != "mapped_json" && cfg.Format != "mapped_xml" {
		fail("format", "an http_query source reads answers as json (one agency event), mapped_json or mapped_xml, not %q", cfg.Format)
	}
	if c.Rate < 0 {
		fail("rate", "must be positive (requests per minute; 0 is the default, %d)", DefaultRate)
	}
	if c.QueryAfter < 0 {
		fail("query_after", "must not be negative (0 is the default, %s)", DefaultQueryAfter)
	}
	unused := []struct {
		key string
		set bool
	}{
		{"broker", cfg.Broker != ""},
	}
	for _, u := range unused {
		if u.set {
			fail(u.key, "not used by http_query sources")
		}
	}
	return errs
}

// clientConfig is the part of a source's configuration its HTTP client
// takes, with the url's placeholder filled with fill.
func clientConfig(cfg config.Source, own *Config, fill string) httpout.Config {
	u := strings.NewReplacer(PlaceContainer, fill, PlaceBL, fill).Replace(own.URL)
	c := httpout.Config{URL: u, Headers: own.Headers, TokenFile: cfg.TokenFile, Timeout: own.Timeout}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	return c
}

// source asks one agency's status API.
type source struct {
	name       string
	agency     string
	tmpl       string // the url template
	place      string // the placeholder it names
	queryAfter time.Duration
	schedule   cron.Schedule
	spec       string
	limit      limiter
	env        *adapters.Env
	log        *slog.Logger
	client     *httpout.Client
	breaker    *gobreaker.CircuitBreaker[[]byte]
	openLog    httpout.Throttle

	// resume is the container the walk goes on after ("" from the first);
	// only the cycle, one at a time, reads and writes it.
	resume string

	runner  *scheduled.Runner
	deliver adapters.Deliver
	ctx     context.Context // canceled by Stop: ends a request in flight
	kill    <-chan struct{} // closed stopGrace after Stop: ends a wait for acks
}

func newSource(env *adapters.Env, cfg config.Source, c *Config) (adapters.Source, error) {
	place, both := placeholder(c.URL)
	if place == "" || both {
		return nil, fmt.Errorf("source %s: url must name one of %s and %s", cfg.Name, PlaceContainer, PlaceBL)
	}
	sched, err := config.CronParser.Parse(c.Schedule)
	if err != nil {
		return nil, fmt.Errorf("source %s: schedule %q: %w", cfg.Name, c.Schedule, err)
	}
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rate := c.Rate
	if rate <= 0 {
		rate = DefaultRate
	}
	after := c.QueryAfter
	if after <= 0 {
		after = DefaultQueryAfter
	}
	s := &source{
		name: cfg.Name, agency: cfg.Agency, tmpl: c.URL, place: place, queryAfter: after,
		schedule: sched, spec: c.Schedule, limit: limiter{every: time.Minute / time.Duration(rate)},
		env: env, log: log.With("source", cfg.Name),
	}
	s.runner = scheduled.New(cfg.Name, c.Schedule, stopGrace, s.log)
	s.kill = s.runner.Kill()
	if s.client, err = httpout.New(clientConfig(cfg, c, "X"), s.log); err != nil {
		return nil, fmt.Errorf("source %s: %w", cfg.Name, err)
	}
	s.breaker = scheduled.NewBreaker[[]byte](cfg.Name, env, s.log)
	return s, nil
}

// Start begins asking: one cycle now, then one per tick.
func (s *source) Start(ctx context.Context, deliver adapters.Deliver) error {
	if s.env.Candidates == nil {
		return fmt.Errorf("source %s: no store to read candidates from", s.name)
	}
	s.deliver = deliver
	rctx, err := s.runner.Start(ctx)
	if err != nil {
		return err
	}
	s.ctx = rctx
	return s.runner.Run(s.cycle)
}

// Stop stops the schedule and waits for a cycle in flight: a request in
// flight is cancelled; answers already delivered are waited for until the
// engine acknowledges them, at most stopGrace.
func (s *source) Stop() {
	s.runner.Stop()
	s.client.CloseIdle()
}

// cycle is one scheduled round of questions.
func (s *source) cycle() {
	c := &round{s: s, deadline: s.schedule.Next(time.Now()), asked: map[string]bool{}, acks: ackGroup{kill: s.kill}}
	err := c.run()
	c.acks.Wait()
	switch {
	case err == nil, errors.Is(err, errBudget):
		s.log.Debug("query cycle done", "asked", c.requests, "answers", c.answers, "resume_after", s.resume, "budget_used", err != nil)
	case s.ctx.Err() != nil:
		s.log.Debug("query cycle stopped", "asked", c.requests)
	case errors.Is(err, gobreaker.ErrOpenState):
		s.env.ReportFailure(s.name, "breaker_open", err)
		if s.openLog.Allow(time.Now()) {
			s.log.Warn("query cycle stopped: circuit breaker open after repeated failures; the next cycle resumes", "err", err)
		}
	default:
		s.log.Error("query cycle failed; the next cycle resumes", "err", err, "asked", c.requests)
	}
}

// errBudget ends a cycle whose next request could not go before the next
// tick.
var errBudget = errors.New("the rate allows no more requests before the next tick")

// round is the state of one cycle.
type round struct {
	s        *source
	deadline time.Time
	asked    map[string]bool // containers or B/Ls asked this cycle
	acks     ackGroup
	requests int
	answers  int
}

func (c *round) run() error {
	s := c.s
	ctx := s.ctx
	// Open mismatches first: a hold the TOS lacks, or one it should drop,
	// is what the agency's word settles soonest.
	page, err := s.env.Candidates(ctx, adapters.CandidateQuery{Agency: s.agency, Mismatched: true, Limit: pageSize})
	if err != nil {
		return fmt.Errorf("read candidates: %w", err)
	}
	for _, cand := range page.Candidates {
		if err := c.ask(cand); err != nil {
			return err
		}
	}
	// Then the walk of the yard, from where the last cycle stopped, once
	// round.
	start := s.resume
	after, wrapped := start, false
	for {
		page, err := s.env.Candidates(ctx, adapters.CandidateQuery{Agency: s.agency, OlderThan: s.queryAfter, After: after, Limit: pageSize})
		if err != nil {
			return fmt.Errorf("read candidates: %w", err)
		}
		for _, cand := range page.Candidates {
			if wrapped && cand.Container > start {
				s.resume = ""
				return nil
			}
			if err := c.ask(cand); err != nil {
				return err
			}
			s.resume = cand.Container
		}
		switch {
		case wrapped && (page.Next == "" || page.Next >= start), page.Next == "" && start == "":
			s.resume = "" // once round: the next cycle starts from the first
			return nil
		case page.Next == "":
			wrapped, after = true, ""
		default:
			after = page.Next
		}
	}
}

// ask asks the agency about one candidate: once for its container, or
// once for each of its B/Ls not yet asked this cycle. A failed request is
// reported and the cycle goes on; an open breaker, the budget or Stop end
// the cycle.
func (c *round) ask(cand adapters.Candidate) error {
	s := c.s
	keys := []string{cand.Container}
	if s.place == PlaceBL {
		keys = cand.BLs
	}
	for _, key := range keys {
		if key == "" || c.asked[key] {
			continue
		}
		c.asked[key] = true
		if !s.limit.wait(s.ctx, c.deadline) {
			if err := s.ctx.Err(); err != nil {
				return err
			}
			return errBudget
		}
		c.requests++
		body, err := s.breaker.Execute(func() ([]byte, error) { return s.fetch(s.ctx, key) })
		switch {
		case err == nil:
			s.env.ReportOK(s.name)
			if body != nil {
				c.answers++
				c.deliver(body)
			}
		case errors.Is(err, gobreaker.ErrOpenState), s.ctx.Err() != nil:
			return err
		default:
			s.env.ReportFailure(s.name, httpout.FailureReason(err), err)
			s.log.Error("query failed; the cycle goes on", "err", err, "about", key)
		}
	}
	return nil
}

// deliver hands an answer to the engine; the cycle waits for it to be
// durable before it ends, so that the next cycle does not ask again about
// a container the answer healed.
func (c *round) deliver(body []byte) {
	m := adapters.Message{Payload: body, ReceivedAt: time.Now()}
	if len(body) > adapters.MaxPayload {
		m.Payload, m.TooLarge = body[:adapters.MaxPayload], true
	}
	done := c.acks.add()
	m.Done = func(adapters.Outcome) { done() }
	c.s.deliver(m)
}

// fetch GETs the url for key and returns the body of a 2xx answer, nil for
// a 404 or an empty answer (the agency has nothing on it).
func (s *source) fetch(ctx context.Context, key string) ([]byte, error) {
	u := strings.ReplaceAll(s.tmpl, s.place, escape(key))
	reply, err := s.client.Get(ctx, u, adapters.MaxPayload)
	var status *httpout.StatusError
	if errors.As(err, &status) && status.Status == http.StatusNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if len(strings.TrimSpace(string(reply.Body))) == 0 {
		return nil, nil
	}
	return reply.Body, nil
}

// escape percent-encodes every byte of s but the unreserved characters of
// RFC 3986, so that a value is one path segment or one query value
// wherever the template puts it.
func escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch >= 'A' && ch <= 'Z' || ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || strings.IndexByte("-._~", ch) >= 0 {
			b.WriteByte(ch)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", ch)
	}
	return b.String()
}

// limiter spaces requests evenly, every apart, across cycles.
type limiter struct {
	every time.Duration
	next  time.Time
}

// wait blocks until the next request may go and reports true, or reports
// false at once when that is after deadline, or when ctx ends first.
func (l *limiter) wait(ctx context.Context, deadline time.Time) bool {
	now := time.Now()
	at := l.next
	if at.Before(now) {
		at = now
	}
	if !deadline.IsZero() && at.After(deadline) {
		return false
	}
	l.next = at.Add(l.every)
	t := time.NewTimer(at.Sub(now))
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// ackGroup waits for the acknowledgements of a cycle's answers, at most
// until the source is killed.
type ackGroup struct {
	wg   sync.WaitGroup
	kill <-chan struct{}
}

func (g *ackGroup) add() func() {
	g.wg.Add(1)
	var once sync.Once
	return func() { once.Do(g.wg.Done) }
}

// Wait waits for every acknowledgement, or until kill is closed.
func (g *ackGroup) Wait() {
	done := make(chan struct{})
	go func() { g.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-g.kill:
	}
}
