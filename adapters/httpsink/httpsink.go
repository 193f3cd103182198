// Package httpsink owns the TOS command sink of type "http": it POSTs each
// command, as the JSON of DESIGN 3.3, to the TOS API at url, one request per
// command, with Content-Type application/json and an Idempotency-Key header
// carrying the command id (a re-sent command keeps its id, so a TOS that
// honours the header can drop the repeat).
//
// The TOS's answer decides what became of a command:
//
//   - 2xx: sent. The command stays pending until a TOS event shows the
//     holds it asked for.
//   - 409 Conflict or 422 Unprocessable Entity: the TOS rejected the
//     command itself (unknown container, hold owned by someone else, ...).
//     Sending it again will not help; the error wraps ErrRejected and the
//     rejection is logged with the TOS's reply.
//   - anything else (5xx, 408, 429, other 4xx, redirects), a timeout or a
//     connection failure: not delivered; the dispatcher re-sends it with
//     backoff behind its circuit breaker.
//
// Keys: url (required, http or https), headers, token_file (sent as
// "Authorization: Bearer <token>", read again before every request, see
// package httpout), timeout (per request, default 10s) and tls
// (ca_file, cert_file and key_file for mutual TLS).
package httpsink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/adapters/httpout"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

// Parallel is how many commands are posted at once. Commands for one
// container go one after another, in the order given, so the TOS never
// sees a container's commands overtake each other.
const Parallel = 8

// rejectLogEvery bounds how often one command's rejection is logged while
// the dispatcher keeps the command.
const rejectLogEvery = 10 * time.Minute

// Type is the configuration type name of the adapter.
const Type = "http"

func init() {
	adapters.RegisterSink(Type, adapters.SinkWithConfig(New, Check, unused))
}

// unused is the message of a key of another sink or channel type's.
const unused = "not used by the http TOS sink"

// Check checks an http sink's keys: its own, in c, and the common ones of
// cfg.
func Check(cfg config.Sink, c *httpout.Config) []config.KeyError {
	return append(httpout.Check(*c, "an http TOS sink"), httpout.BrokerUnused(cfg, unused)...)
}

// Sink posts TOS commands to an HTTP API.
type Sink struct {
	name   string
	url    string
	client *httpout.Client
	log    *slog.Logger
	now    func() time.Time

	refusedLog httpout.Throttle

	mu         sync.Mutex
	rejectSeen map[string]time.Time // command id -> when its rejection was last logged
}

// New builds the http sink cfg describes; it reads token_file and the TLS
// files now, and token_file again before every request.
func New(env *adapters.Env, cfg config.Sink, c *httpout.Config) (adapters.Sink, error) {
	s := &Sink{
		name: cfg.Name, url: c.URL, now: time.Now,
		log:        slog.New(slog.DiscardHandler),
		rejectSeen: map[string]time.Time{},
	}
	if env != nil && env.Logger != nil {
		s.log = env.Logger.With("sink", cfg.Name)
	}
	client, err := httpout.New(*c, s.log)
	if err != nil {
		return nil, fmt.Errorf("sink %s: %w", cfg.Name, err)
	}
	s.client = client
	return s, nil
}

// Rejection is one command the TOS rejected. It wraps adapters.ErrRejected.
type Rejection struct {
	Command state.Command
	Status  int
	Reply   string // the start of the TOS's reply body, on one line
}

func (r *Rejection) Error() string {
	msg := fmt.Sprintf("command %s (%s %s on %s): %v: HTTP %d %s", r.Command.ID, r.Command.Action, r.Command.Hold,
		r.Command.Container, adapters.ErrRejected, r.Status, http.StatusText(r.Status))
	if r.Reply != "" {
		msg += ": " + r.Reply
	}
	return msg
}

// Unwrap makes errors.Is(r, adapters.ErrRejected) hold.
func (r *Rejection) Unwrap() error { return adapters.ErrRejected }

// Send posts every command, Parallel at a time, commands for one
// container in order. It returns nil when the TOS accepted them all, else
// a *SendError saying what became of each.
func (s *Sink) Send(ctx context.Context, cmds []state.Command) error {
	if len(cmds) == 0 {
		return nil
	}
	// One lane per container, in the order the containers first appear.
	var lanes [][]int
	laneOf := map[string]int{}
	for i, c := range cmds {
		l, ok := laneOf[c.Container]
		if !ok {
			l = len(lanes)
			laneOf[c.Container] = l
			lanes = append(lanes, nil)
		}
		lanes[l] = append(lanes[l], i)
	}
	errs := make([]error, len(cmds))
	next := make(chan []int)
	var wg sync.WaitGroup
	for range min(Parallel, len(lanes)) {
		wg.Go(func() {
			for lane := range next {
				for _, i := range lane {
					if err := ctx.Err(); err != nil {
						errs[i] = fmt.Errorf("command %s not sent: %w", cmds[i].ID, err)
						continue
					}
					errs[i] = s.post(ctx, cmds[i])
				}
			}
		})
	}
	for _, lane := range lanes {
		next <- lane
	}
	close(next)
	wg.Wait()

	se := adapters.NewSendError(cmds, errs)
	if se == nil {
		return nil
	}
	if first := se.FirstFailure(); first != nil && httpout.IsRefused(first) && s.refusedLog.Allow(s.now()) {
		s.log.Error("the TOS API refused the request; portsync keeps retrying, but the sink's url, token or headers probably need fixing",
			"url", s.url, "err", first)
	}
	return se
}

// post sends one command and classifies the answer.
func (s *Sink) post(ctx context.Context, cmd state.Command) error {
	body, err := json.Marshal(cmd)
	if err != nil {
		return fmt.Errorf("encode command %s: %w", cmd.ID, err)
	}
	_, err = s.client.Post(ctx, s.url, "application/json", body, http.Header{"Idempotency-Key": {cmd.ID}})
	if err == nil {
		return nil
	}
	var st *httpout.StatusError
	if errors.As(err, &st) && (st.Status == http.StatusConflict || st.Status == http.StatusUnprocessableEntity) {
		rej := &Rejection{Command: cmd, Status: st.Status, Reply: st.Body}
		s.logRejected(rej)
		return rej
	}
	return fmt.Errorf("command %s: %w", cmd.ID, err)
}

// logRejected logs a rejection, each command at most once per
// rejectLogEvery however often it is sent again.
func (s *Sink) logRejected(r *Rejection) {
	now := s.now()
	s.mu.Lock()
	last, seen := s.rejectSeen[r.Command.ID]
	logIt := !seen || now.Sub(last) >= rejectLogEvery
	if logIt {
		s.rejectSeen[r.Command.ID] = now
	}
	if len(s.rejectSeen) > 10000 {
		for id, at := range s.rejectSeen {
			if now.Sub(at) >= rejectLogEvery {
				delete(s.rejectSeen, id)
			}
		}
	}
	s.mu.Unlock()
	if !logIt {
		return
	}
	s.log.Error("the TOS rejected a command; sending it again unchanged will not help: check the container and hold in the TOS",
		"container", r.Command.Container, "command", r.Command.ID, "action", r.Command.Action, "hold", r.Command.Hold,
		"agency", r.Command.Agency, "cause", r.Command.Cause, "status", r.Status, "reply", r.Reply)
}
