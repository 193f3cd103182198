// Package httppush registers the http_push source type: agency events
// (DESIGN 3.1) POSTed to the daemon's own API, POST /api/v1/events. The
// daemon's HTTP server is the transport, and it answers each request only
// once the event is durable (202) or dead-lettered (4xx, with the same code
// and reason as the dead letter), so the source holds no connection of its
// own: this package checks the type's settings, gives the daemon the
// source, and owns the request handler, which the API server mounts at
// Path.
package httppush

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

// Path is where the daemon's API serves Handler (POST only).
const Path = "/api/v1/events"

// Type is the source type name.
const Type = "http_push"

func init() {
	adapters.RegisterSource(Type, adapters.SourceType{New: newSource, Check: Check})
}

func Check(cfg config.Source) []config.KeyError {
	var errs []config.KeyError
	if cfg.Kind != config.KindAgency {
		errs = append(errs, config.KeyError{Key: "kind", Msg: "an http_push source takes agency events only"})
	}
	for key, set := range map[string]bool{"broker": cfg.Broker != ""} {
		if set {
			errs = append(errs, config.KeyError{Key: key, Msg: "not used by http_push sources"})
		}
	}
	return errs
}

// source is passive: requests reach the engine through the daemon's API.
type source struct{}

func newSource(*adapters.Env, config.Source) (adapters.Source, error) { return source{}, nil }

func (source) Start(context.Context, adapters.Deliver) error { return nil }
func (source) Stop()                                         {}

// Config is what a request is checked against and handed to: the
// configuration in force when it arrives.
type Config struct {
	// Sources are the http_push sources, by name.
	Sources []string
	// Tokens maps the token of each source that has one to its name.
	Tokens map[string]string
	// APIToken, "" if none, may push for any source, named with ?source=
	// (which may be left out when there is only one).
	APIToken string
	// BodyTimeout is how long the server lets a body take to arrive; the
	// 408 answer names it.
	BodyTimeout time.Duration
	// Submit hands a message of the named source to the engine and waits
	// until it is durable or dead-lettered.
	Submit func(ctx context.Context, source string, m adapters.Message) Result
}

// Result is what became of a pushed event.
type Result struct {
	Results []string         // the results of its records, for the 202 answer
	Reject  *state.Rejection // the first rejection: the dead letter's code and reason
	Ack     state.AckBody    // the processing acknowledgement (DESIGN 3.7), the answer's body
	Err     error            // the store failed or the engine stopped; nothing is durable
}

// Handler serves POST Path with the Config it returns for each request.
// It ingests one agency event (DESIGN 3.1) for an http_push source: 202
// once it is durable (applied, stale or a duplicate), or the dead letter's
// code and reason with a 4xx. The sender is identified from the headers
// alone, before a byte of the body is read, so that nobody without a token
// can make the server wait for one.
type Handler func() Config

func (h Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cfg := h()
	src, code, msg := cfg.source(r)
	if src == "" {
		if code == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="portsync"`)
		}
		refuse(w, r, code, msg)
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, adapters.MaxPayload+1))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		refuse(w, r, http.StatusRequestTimeout, fmt.Sprintf("the request body did not arrive within %s", cfg.BodyTimeout))
		return
	case err != nil && !errors.As(err, &tooLarge):
		refuse(w, r, http.StatusBadRequest, "reading the request: "+err.Error())
		return
	}
	m := adapters.Message{Payload: data, ReceivedAt: time.Now()}
	if len(data) > adapters.MaxPayload || tooLarge != nil {
		m.Payload, m.TooLarge = data[:min(len(data), 1024)], true
	}
	o := cfg.Submit(r.Context(), src, m)
	switch {
	case o.Err != nil:
		writeError(w, http.StatusServiceUnavailable, "not stored: "+o.Err.Error())
	case o.Reject != nil:
		writeJSON(w, RejectStatus(o.Reject.Code), answer(src, o, map[string]any{"error": o.Reject.Reason}))
	default:
		writeJSON(w, http.StatusAccepted, answer(src, o, nil))
	}
}

// answer is the body of a durable answer: the processing acknowledgement
// an mqtt source's ack_topic would carry (id, source, result, code,
// reason, at), the result of each record (results), and extra.
func answer(src string, o Result, extra map[string]any) map[string]any {
	body := map[string]any{"source": src, "results": o.Results}
	ack := o.Ack
	ack.Source = src
	if data, err := json.Marshal(ack); err == nil {
		json.Unmarshal(data, &body)
	}
	maps.Copy(body, extra)
	return body
}

// RejectStatus is the HTTP status that answers a rejected event: 403 for
// an event its sender may not send, 413 for one too large, else 422. The
// API's other writes (an override) answer the same way.
func RejectStatus(code string) int {
	switch code {
	case state.CodeForbiddenAgency, adapters.CodeBadSignature:
		return http.StatusForbidden
	case state.CodeTooLarge:
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusUnprocessableEntity
}

// source finds the http_push source a request speaks for, or the answer's
// status and message. A source's own token (its token_file) names it; the
// API token may name any with ?source=NAME, which may be left out when
// there is only one.
func (c Config) source(r *http.Request) (string, int, string) {
	if len(c.Sources) == 0 {
		return "", http.StatusNotFound, "no http_push source is configured"
	}
	got := []byte(r.Header.Get("Authorization"))
	asked := r.URL.Query().Get("source")
	for token, name := range c.Tokens {
		if subtle.ConstantTimeCompare(got, []byte("Bearer "+token)) == 1 {
			if asked != "" && asked != name {
				return "", http.StatusForbidden, fmt.Sprintf("this token is source %s's, not %s's", name, asked)
			}
			return name, 0, ""
		}
	}
	if c.APIToken == "" || subtle.ConstantTimeCompare(got, []byte("Bearer "+c.APIToken)) != 1 {
		return "", http.StatusUnauthorized, "missing or wrong bearer token"
	}
	switch {
	case asked == "" && len(c.Sources) == 1:
		return c.Sources[0], 0, ""
	case asked == "":
		return "", http.StatusBadRequest, "several http_push sources: name one with ?source= (" + strings.Join(c.Sources, ", ") + ")"
	}
	for _, name := range c.Sources {
		if name == asked {
			return name, 0, ""
		}
	}
	return "", http.StatusNotFound, fmt.Sprintf("no http_push source %q", asked)
}

// refuse answers with an error before the request's body is read, as the
// API server does: the connection is then closed rather than kept, so
// that a client that announces a body and never sends it cannot hold its
// answer and the connection.
func refuse(w http.ResponseWriter, r *http.Request, code int, msg string) {
	if r.ContentLength != 0 {
		w.Header().Set("Connection", "close")
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	writeError(w, code, msg)
}

// writeJSON and writeError answer in the API server's shape.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}
