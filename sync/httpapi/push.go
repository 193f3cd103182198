package httpapi

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/adapters/httppush"
	"github.com/portsync/portsync/state"
	"github.com/portsync/portsync/sync"
)

// handleEvents ingests one agency event (DESIGN 3.1) for an http_push
// source: 202 once it is durable (applied, stale or a duplicate), or the
// dead letter's code and reason with a 4xx. The sender is identified from
// the headers alone, before a byte of the body is read, so that nobody
// without a token can make the server wait for one.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	src, code, msg := s.pushSource(r)
	if src == nil {
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
		refuse(w, r, http.StatusRequestTimeout, fmt.Sprintf("the request body did not arrive within %s", s.BodyTimeout))
		return
	case err != nil && !errors.As(err, &tooLarge):
		refuse(w, r, http.StatusBadRequest, "reading the request: "+err.Error())
		return
	}
	m := adapters.Message{Payload: data, ReceivedAt: time.Now()}
	if len(data) > adapters.MaxPayload || tooLarge != nil {
		m.Payload, m.TooLarge = data[:min(len(data), 1024)], true
	}
	s.Health.Received(src.Name)
	o := s.Engine.Submit(r.Context(), src, m)
	switch {
	case o.Err != nil:
		writeError(w, http.StatusServiceUnavailable, "not stored: "+o.Err.Error())
	case o.Reject != nil:
		writeJSON(w, rejectStatus(o.Reject.Code), map[string]string{"error": o.Reject.Reason, "code": o.Reject.Code})
	default:
		writeJSON(w, http.StatusAccepted, map[string]any{"source": src.Name, "results": o.Results})
	}
}

func rejectStatus(code string) int {
	switch code {
	case state.CodeForbiddenAgency, adapters.CodeBadSignature:
		return http.StatusForbidden
	case state.CodeTooLarge:
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusUnprocessableEntity
}

// pushSource finds the http_push source a request speaks for. A source's
// own token (its token_file) names it; the API token may name any with
// ?source=NAME, which may be left out when there is only one.
func (s *Server) pushSource(r *http.Request) (*sync.SourceInfo, int, string) {
	set := s.Backend.Current()
	var push []string
	for _, sc := range set.Config.Sources {
		if sc.Type == httppush.Type {
			push = append(push, sc.Name)
		}
	}
	if len(push) == 0 {
		return nil, http.StatusNotFound, "no http_push source is configured"
	}
	got := []byte(r.Header.Get("Authorization"))
	asked := r.URL.Query().Get("source")
	for token, name := range set.PushTokens {
		if subtle.ConstantTimeCompare(got, []byte("Bearer "+token)) == 1 {
			if asked != "" && asked != name {
				return nil, http.StatusForbidden, fmt.Sprintf("this token is source %s's, not %s's", name, asked)
			}
			return set.Sources[name], 0, ""
		}
	}
	if set.Token == "" || subtle.ConstantTimeCompare(got, []byte("Bearer "+set.Token)) != 1 {
		return nil, http.StatusUnauthorized, "missing or wrong bearer token"
	}
	switch {
	case asked == "" && len(push) == 1:
		return set.Sources[push[0]], 0, ""
	case asked == "":
		return nil, http.StatusBadRequest, "several http_push sources: name one with ?source= (" + strings.Join(push, ", ") + ")"
	}
	for _, name := range push {
		if name == asked {
			return set.Sources[name], 0, ""
		}
	}
	return nil, http.StatusNotFound, fmt.Sprintf("no http_push source %q", asked)
}
