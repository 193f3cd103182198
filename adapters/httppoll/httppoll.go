// Package httppoll is the http_poll source: it GETs a URL on a cron
// schedule and hands what it gets to the engine, following a cursor from
// page to page.
//
// A round starts once when the source starts and then on every tick of its
// schedule (UTC; a round still running makes the next tick skip). It reads
// the source's stored cursor and sends it as the query parameter
// cursor.param (nothing the first time, when none is stored). The answer's
// cursor.field is the next cursor: a gjson path
// (https://github.com/tidwall/gjson/blob/master/SYNTAX.md), so a plain
// top-level name such as next_cursor, or a nested one such as paging.next.
//
// A page's records go to the engine with the next cursor attached to the
// page's last message, so the cursor is stored in the same transaction as
// the page's last event: the cursor moves when the page's last event is
// durable. The poller waits until every message of the page is
// acknowledged (committed) before it asks for the next page with the new
// cursor. A crash therefore neither loses a page (the cursor moves only
// when the page is durable) nor repeats one that was committed (the
// restarted poller asks with the stored cursor); the events of a page half
// committed before a crash come again and are duplicates.
//
// Page shape. With format json, an answer is
//
//	{"events": [<agency or TOS events, DESIGN 3.1/3.2>], "<cursor.field>": "..."}
//
// and each event is one message (the canonical decoder reads one event per
// message; with hmac_key_file each element is a signed envelope). Without a
// cursor the answer may also be a bare array of events. With any other
// format (mapped_json, ...) the whole body is one message; when a cursor is
// configured the body must be JSON so the cursor can be read.
//
// The end. A round follows pages until the answer is empty: with format
// json, an empty (or null) "events" array, or a next cursor equal to the
// one sent (the events of such a page are still delivered: dedupe makes a
// repeat harmless). With other formats, a next cursor equal to the one
// sent means nothing new and that answer is not delivered; with
// mapped_json and mapping.records, an empty array at that path is empty
// too. An empty page does not move the cursor. A round stops after 1000
// pages and goes on at the next tick. Without a cursor a round is one GET.
//
// A loop. A next cursor that is not the one sent but one sent earlier in
// the round (the server went backwards, or cycles) would fetch the same
// pages until the 1000-page stop, every round. The round stops at that
// answer instead, without delivering it or moving the cursor; it is logged,
// counted as a cursor_loop failure of the source, and handed to the engine
// as a rejected message (code cursor_loop, the reason naming the cursor and
// the page), which the engine dead-letters and which raises the source's
// invalid_input alert. Its payload names only the endpoint, so the report
// of every looping round is one dead letter whose count grows.
//
// Failures. A reply other than 2xx, a timeout, a body that is not JSON, or
// an answer without the cursor field (when one is configured) is logged
// with the source and the error, fails the round, counts against the
// source's circuit breaker (open after 5 failures in a row, probed again
// after 10s), and is retried at the next tick from the same cursor. The
// field must be a string or a number; null or "" are failures too: to say
// "nothing new", answer with the cursor you were sent.
package httppoll

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"
	"github.com/tidwall/gjson"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/adapters/httpout"
	"github.com/portsync/portsync/adapters/jsonstrict"
	"github.com/portsync/portsync/adapters/mappedjson"
	"github.com/portsync/portsync/adapters/scheduled"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

// Type is the source type this package registers.
const Type = "http_poll"

// CodeCursorLoop is the dead-letter code of a round stopped because the
// server's next cursor went back to one already sent in the round.
const CodeCursorLoop = "cursor_loop"

func init() {
	adapters.RegisterSource(Type, adapters.SourceWithConfig(newSource, Check))
}

// Config is an http_poll source's own keys; the common ones (token_file
// among them) are in config.Source.
type Config struct {
	URL      string `yaml:"url"`
	Schedule string `yaml:"schedule"`
	// Cursor says how the source pages.
	Cursor config.Cursor `yaml:"cursor"`
	// Headers are sent with every poll.
	Headers map[string]string `yaml:"headers"`
	// Timeout bounds one poll; default 30s.
	Timeout time.Duration `yaml:"timeout"`
}

// ConfigOf decodes the own keys of an http_poll source.
func ConfigOf(src config.Source) (*Config, error) { return adapters.DecodeConfig[Config](src) }

const (
	// DefaultTimeout bounds one request, body included, when the
	// configuration sets no timeout.
	DefaultTimeout = 30 * time.Second
	// maxPage bounds a json page, which carries many events; each event is
	// still at most adapters.MaxPayload. Other formats deliver the body as
	// one message and are bounded by adapters.MaxPayload.
	maxPage = 16 << 20
	// maxPagesPerRound stops a server that never says "empty" from keeping
	// a round going for ever; the next tick goes on from the stored cursor.
	maxPagesPerRound = 1000
	// stopGrace is how long Stop waits for the engine to acknowledge a
	// page already delivered before it gives up on the acknowledgement
	// (the page then comes again after the restart, as duplicates).
	stopGrace = 5 * time.Second
	// maxErrBody is how much of an answer an error quotes.
	maxErrBody = 200
)

// Check checks an http_poll source's keys: its own, in c, and the common
// keys of cfg.
func Check(cfg config.Source, c *Config) []config.KeyError {
	errs := httpout.Check(clientConfig(cfg, c), "http_poll sources")
	if c.Schedule == "" {
		errs = append(errs, config.KeyError{Key: "schedule", Msg: `required for http_poll sources, e.g. "@every 30s"`})
	} else if _, err := config.CronParser.Parse(c.Schedule); err != nil {
		errs = append(errs, config.KeyError{Key: "schedule", Msg: fmt.Sprintf("bad cron expression %q: %v", c.Schedule, err)})
	}
	if (c.Cursor.Param == "") != (c.Cursor.Field == "") {
		errs = append(errs, config.KeyError{Key: "cursor", Msg: "param and field go together"})
	}
	unused := []struct {
		key string
		set bool
	}{
		{"broker", cfg.Broker != ""},
	}
	for _, u := range unused {
		if u.set {
			errs = append(errs, config.KeyError{Key: u.key, Msg: "not used by http_poll sources"})
		}
	}
	return errs
}

// clientConfig is the part of a source's configuration its HTTP client
// takes, with the source's default timeout.
func clientConfig(cfg config.Source, own *Config) httpout.Config {
	c := httpout.Config{URL: own.URL, Headers: own.Headers, TokenFile: cfg.TokenFile, Timeout: own.Timeout}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	return c
}

// source polls one URL.
type source struct {
	name     string
	url      *url.URL
	spec     string
	param    string
	field    string
	perEvent bool   // format json: one message per event of a page
	records  string // mapped_json: gjson path of the records array, for "empty"
	cursorOf func(string) (string, error)
	env      *adapters.Env
	log      *slog.Logger
	client   *httpout.Client
	breaker  *gobreaker.CircuitBreaker[page]
	openLog  httpout.Throttle

	mu     sync.Mutex
	memCur string // the cursor, where the environment stores none (tests)

	runner  *scheduled.Runner
	deliver adapters.Deliver
	ctx     context.Context // canceled by Stop: ends a request in flight
	kill    <-chan struct{} // closed stopGrace after Stop: ends a wait for acks
}

func newSource(env *adapters.Env, cfg config.Source, c *Config) (adapters.Source, error) {
	u, err := url.Parse(c.URL)
	if err != nil {
		return nil, fmt.Errorf("source %s: url: %w", cfg.Name, err)
	}
	if _, err := config.CronParser.Parse(c.Schedule); err != nil {
		return nil, fmt.Errorf("source %s: schedule %q: %w", cfg.Name, c.Schedule, err)
	}
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &source{
		name: cfg.Name, url: u, spec: c.Schedule,
		param: c.Cursor.Param, field: c.Cursor.Field,
		perEvent: cfg.Format == "" || cfg.Format == config.DefaultFormat,
		cursorOf: env.Cursor, env: env, log: log.With("source", cfg.Name),
	}
	s.runner = scheduled.New(cfg.Name, c.Schedule, stopGrace, s.log)
	s.kill = s.runner.Kill()
	if cfg.Format == mappedjson.Format {
		m, err := mappedjson.ConfigOf(cfg)
		if err != nil {
			return nil, err
		}
		if m.Mapping != nil {
			s.records = m.Mapping.Records
		}
	}
	if s.client, err = httpout.New(clientConfig(cfg, c), s.log); err != nil {
		return nil, fmt.Errorf("source %s: %w", cfg.Name, err)
	}
	s.breaker = scheduled.NewBreaker[page](cfg.Name, env, s.log)
	return s, nil
}

// Start begins polling: one round now, then one per tick.
func (s *source) Start(ctx context.Context, deliver adapters.Deliver) error {
	s.deliver = deliver
	rctx, err := s.runner.Start(ctx)
	if err != nil {
		return err
	}
	s.ctx = rctx
	return s.runner.Run(s.round)
}

// Stop stops the schedule and waits for a round in flight: a request in
// flight is cancelled; a page already delivered is waited for until the
// engine acknowledges it (the engine runs until the sources have stopped),
// at most stopGrace.
func (s *source) Stop() {
	s.runner.Stop()
	s.client.CloseIdle()
}

// round is one scheduled poll.
func (s *source) round() {
	pages, err := s.poll(s.ctx)
	switch {
	case err == nil:
		s.env.ReportOK(s.name)
		if pages > 0 {
			s.log.Debug("poll done", "pages", pages)
		}
	case s.ctx.Err() != nil || errors.Is(err, errStopped):
		s.log.Debug("poll stopped", "pages", pages, "err", err)
	case errors.Is(err, gobreaker.ErrOpenState):
		s.env.ReportFailure(s.name, "breaker_open", err)
		if s.openLog.Allow(time.Now()) {
			s.log.Warn("poll skipped: circuit breaker open after repeated failures", "err", err)
		}
	default:
		s.env.ReportFailure(s.name, failureReason(err), err)
		s.log.Error("poll failed; the cursor stays and the next round retries", "err", err, "pages", pages)
	}
}

// failureReason is the reason label of a failed poll.
func failureReason(err error) string {
	if _, ok := errors.AsType[*MalformedError](err); ok {
		return "malformed"
	}
	return httpout.FailureReason(err)
}

var errStopped = errors.New("source stopped before the engine acknowledged the page")

// page is one answer, ready to deliver.
type page struct {
	msgs []adapters.Message
	next string // the cursor the answer gave ("" without a cursor)
	more bool   // ask for the next page after this one is durable
}

// poll follows pages from the stored cursor until the answer is empty, a
// page fails, or the source stops. It returns the number of pages
// delivered.
func (s *source) poll(ctx context.Context) (int, error) {
	cur, err := s.storedCursor()
	if err != nil {
		return 0, fmt.Errorf("read the stored cursor: %w", err)
	}
	pages := 0
	// sentFor maps each cursor sent this round to the request it was
	// sent with, to tell a loop from progress.
	sentFor := map[string]int{cur: 1}
	for req := 1; pages < maxPagesPerRound; req++ {
		if ctx.Err() != nil {
			return pages, ctx.Err()
		}
		p, err := s.breaker.Execute(func() (page, error) {
			body, err := s.fetch(ctx, cur)
			if err != nil {
				return page{}, err
			}
			return s.parse(body, cur)
		})
		if err != nil {
			return pages, err
		}
		if first, seen := sentFor[p.next]; p.more && seen {
			s.cursorLoop(p.next, req, first)
			return pages, nil
		}
		if len(p.msgs) > 0 {
			if err := s.deliverPage(p); err != nil {
				return pages, err
			}
			pages++
		}
		if !p.more {
			return pages, nil
		}
		cur = p.next
		sentFor[cur] = req + 1
	}
	s.log.Warn("poll stopped after the most pages one round takes; the next round goes on", "pages", pages)
	return pages, nil
}

// cursorLoop reports an answer, to request req, whose next cursor is one
// the round already sent with request first: following it would ask for
// the same pages again until maxPagesPerRound. The answer is not
// delivered and the cursor stays where the last good page left it. The
// engine dead-letters the report as cursor_loop (raising the source's
// invalid_input alert); its payload names the endpoint only, so that the
// report of every round is the same dead letter, counted.
func (s *source) cursorLoop(next string, req, first int) {
	shown := next
	if len(shown) > maxErrBody {
		shown = shown[:maxErrBody] + "..."
	}
	s.env.ReportFailure(s.name, CodeCursorLoop, fmt.Errorf("next cursor %q of page %d was already sent this round", shown, req))
	s.log.Warn("poll stopped: the answer's next cursor was already sent this round; the cursor stays", "cursor", shown, "page", req, "sent_for_page", first)
	endpoint := url.URL{Scheme: s.url.Scheme, Host: s.url.Host, Path: s.url.Path}
	s.deliver(adapters.Message{
		Payload:    []byte(fmt.Sprintf("cursor loop: GET %s answered with a next cursor already sent in the same round", endpoint.String())),
		ReceivedAt: time.Now(),
		Reject: &state.Rejection{Code: CodeCursorLoop, Reason: fmt.Sprintf(
			"page %d answered next cursor %q, which this round already sent for page %d; the round stopped there", req, shown, first)},
	})
}

func (s *source) storedCursor() (string, error) {
	if s.cursorOf == nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.memCur, nil
	}
	return s.cursorOf(s.name)
}

// deliverPage hands a page's messages to the engine and waits until every
// one is durable.
func (s *source) deliverPage(p page) error {
	acks := make(chan struct{}, len(p.msgs))
	now := time.Now()
	for _, m := range p.msgs {
		m.ReceivedAt = now
		m.Done = func(adapters.Outcome) { acks <- struct{}{} }
		s.deliver(m)
	}
	for range p.msgs {
		select {
		case <-acks:
		case <-s.kill:
			return errStopped
		}
	}
	if s.cursorOf == nil && p.next != "" {
		s.mu.Lock()
		s.memCur = p.next
		s.mu.Unlock()
	}
	return nil
}

// fetch GETs the URL with the cursor and returns the body of a 2xx reply.
func (s *source) fetch(ctx context.Context, cur string) ([]byte, error) {
	u := *s.url
	if s.param != "" && cur != "" {
		q := u.Query()
		q.Set(s.param, cur)
		u.RawQuery = q.Encode()
	}
	limit := int64(adapters.MaxPayload)
	if s.perEvent {
		limit = maxPage
	}
	reply, err := s.client.Get(ctx, u.String(), limit)
	if err != nil {
		return nil, err
	}
	body := reply.Body
	if int64(len(body)) > limit {
		if s.field == "" && !s.perEvent {
			// One message without a cursor: the engine dead-letters it
			// as too_large, as it would an MQTT message.
			return body, nil
		}
		return nil, fmt.Errorf("GET %s: the answer is larger than %d bytes; ask the server for smaller pages", u.Redacted(), limit)
	}
	return body, nil
}

// parse turns an answer into a page (see the package comment).
func (s *source) parse(body []byte, cur string) (page, error) {
	if s.perEvent {
		return s.parseEvents(body, cur)
	}
	if s.field == "" {
		msg := adapters.Message{Payload: body}
		if len(body) > adapters.MaxPayload {
			msg = adapters.Message{Payload: body[:adapters.MaxPayload], TooLarge: true}
		}
		return page{msgs: []adapters.Message{msg}}, nil
	}
	if _, err := object(body); err != nil {
		return page{}, err
	}
	next, err := s.cursorIn(body)
	if err != nil {
		return page{}, err
	}
	if next == cur {
		return page{next: next}, nil // nothing new
	}
	if s.records != "" {
		if r := gjson.GetBytes(body, s.records); r.IsArray() && len(r.Array()) == 0 {
			return page{next: next}, nil
		}
	}
	return page{msgs: []adapters.Message{{Payload: body, Cursor: next}}, next: next, more: true}, nil
}

func (s *source) parseEvents(body []byte, cur string) (page, error) {
	var events []json.RawMessage
	next := ""
	trimmed := bytes.TrimSpace(body)
	switch {
	case s.field == "" && len(trimmed) > 0 && trimmed[0] == '[':
		if err := json.Unmarshal(trimmed, &events); err != nil {
			return page{}, malformed("the answer is not valid JSON: %v", err)
		}
	default:
		obj, err := object(body)
		if err != nil {
			return page{}, err
		}
		// The page's own names must not repeat; each event is checked by
		// its decoder, so one bad event is a dead letter, not a page that
		// fails (and is retried from the same cursor) for ever.
		var dup *jsonstrict.DuplicateKeyError
		if errors.As(jsonstrict.CheckExcept(trimmed, "events"), &dup) {
			return page{}, malformed("%v", dup)
		}
		raw, ok := obj["events"]
		if !ok {
			return page{}, malformed(`the answer has no "events" array`)
		}
		if err := json.Unmarshal(raw, &events); err != nil {
			return page{}, malformed(`"events" is not an array: %s`, snippet(raw))
		}
		if s.field != "" {
			if next, err = s.cursorIn(body); err != nil {
				return page{}, err
			}
		}
	}
	if len(events) == 0 {
		return page{next: next}, nil
	}
	p := page{next: next, more: s.field != "" && next != cur}
	for _, ev := range events {
		m := adapters.Message{Payload: ev}
		if len(ev) > adapters.MaxPayload {
			m = adapters.Message{Payload: ev[:adapters.MaxPayload], TooLarge: true}
		}
		p.msgs = append(p.msgs, m)
	}
	if p.more {
		// The cursor moves with the page's last event: it is stored in
		// that event's transaction, after the page's other events.
		p.msgs[len(p.msgs)-1].Cursor = next
	}
	return p, nil
}

// MalformedError is an answer that is not what the source expects.
type MalformedError struct{ Msg string }

func (e *MalformedError) Error() string { return "malformed answer: " + e.Msg }

func malformed(format string, args ...any) error {
	return &MalformedError{Msg: fmt.Sprintf(format, args...)}
}

func object(body []byte) (map[string]json.RawMessage, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, malformed("the answer is not a JSON object: %s", snippet(trimmed))
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &obj); err != nil {
		return nil, malformed("the answer is not valid JSON: %v", err)
	}
	return obj, nil
}

// cursorIn reads the next cursor at the gjson path cursor.field of a
// valid JSON answer.
func (s *source) cursorIn(body []byte) (string, error) {
	r := gjson.GetBytes(body, s.field)
	if !r.Exists() {
		return "", malformed("the answer has no cursor field %q", s.field)
	}
	var str string
	switch r.Type {
	case gjson.String:
		str = r.Str
	case gjson.Number:
		str = r.Raw
	default:
		return "", malformed("cursor field %q is %s, want a string or a number", s.field, snippet([]byte(r.Raw)))
	}
	if str == "" {
		return "", malformed("cursor field %q is empty; to say nothing is new, answer with the cursor sent", s.field)
	}
	return str, nil
}

func snippet(b []byte) string { return httpout.Snippet(b, maxErrBody) }
