package httpapi

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/portsync/portsync/adapters/httppush"
	"github.com/portsync/portsync/state"
	"github.com/portsync/portsync/sync"
)

// OverrideRequest is the body of POST /api/v1/containers/{id}/override
// (portsync override): an operator's decision for an agency.
type OverrideRequest struct {
	Agency string `json:"agency"`
	Action string `json:"action"` // released, held or hold_removed
	Hold   string `json:"hold,omitempty"`
	By     string `json:"by"`
	Reason string `json:"reason"`
}

// OverrideAnswer is the 202 answer to an override, once it is durable.
type OverrideAnswer struct {
	EventID   string       `json:"event_id"`
	Container string       `json:"container"`
	Agency    string       `json:"agency"`
	Action    string       `json:"action"`
	Hold      string       `json:"hold,omitempty"`
	By        string       `json:"by"`
	At        time.Time    `json:"at"`
	Result    string       `json:"result"` // applied, or stale: it changed nothing
	Status    state.Status `json:"status"` // the agency's status on the container now
	Note      string       `json:"note,omitempty"`
}

// handleOverride applies an operator's override as an agency event: 202
// once durable. It takes the override token (http.override_token_file)
// and no other: the API token, which every dashboard user holds, is
// refused with 403, as is a push token. The token is checked before a
// byte of the body is read.
func (s *Server) handleOverride(w http.ResponseWriter, r *http.Request) {
	if code, msg := s.overrideAuthorized(r); code != 0 {
		if code == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="portsync override"`)
		}
		refuse(w, r, code, msg)
		return
	}
	var req OverrideRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			refuse(w, r, http.StatusRequestTimeout, fmt.Sprintf("the request body did not arrive within %s", s.BodyTimeout))
			return
		}
		writeError(w, http.StatusBadRequest, "the body is not an override {\"agency\",\"action\",\"hold\",\"by\",\"reason\"}: "+err.Error())
		return
	}
	ev, o, err := s.Engine().Override(r.Context(), sync.Override{
		Container: r.PathValue("id"), Agency: req.Agency, Action: state.Status(req.Action),
		Hold: req.Hold, By: req.By, Reason: req.Reason,
	})
	switch {
	case err != nil:
		rej := state.AsRejection(err)
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": rej.Reason, "code": rej.Code})
		return
	case o.Err != nil:
		writeError(w, http.StatusServiceUnavailable, "not stored: "+o.Err.Error())
		return
	case o.Reject != nil:
		writeJSON(w, httppush.RejectStatus(o.Reject.Code), map[string]string{"error": o.Reject.Reason, "code": o.Reject.Code})
		return
	}
	answer := OverrideAnswer{
		EventID: ev.ID, Container: ev.Containers[0], Agency: ev.Agency, Action: string(ev.Status), Hold: ev.Hold,
		By: strings.TrimSpace(req.By), At: ev.At.UTC(), Result: sync.ResultStale, Status: state.Unknown,
	}
	if len(o.Results) == 1 {
		answer.Result = o.Results[0]
	}
	if answer.Result != sync.ResultApplied {
		answer.Note = "changed nothing: the agency's ledger already says so, or holds a newer decision, which an override never outranks"
	}
	err = s.Store.View(func(tx *state.Tx) error {
		c, ok, err := tx.Container(answer.Container)
		if ok {
			answer.Status = s.Engine().Status(&c, answer.Agency)
		}
		return err
	})
	if err != nil {
		s.Log.Warn("override stored; reading the container back failed", "container", answer.Container, "err", err)
	}
	writeJSON(w, http.StatusAccepted, answer)
}

// overrideAuthorized checks the override token in constant time: 0 when
// it is the one, else the status and message to refuse with.
func (s *Server) overrideAuthorized(r *http.Request) (int, string) {
	cur := s.Backend.Current()
	got := []byte(r.Header.Get("Authorization"))
	is := func(token string) bool {
		return token != "" && subtle.ConstantTimeCompare(got, []byte("Bearer "+token)) == 1
	}
	switch {
	case len(got) == 0:
		return http.StatusUnauthorized, "an override needs the override token (http.override_token_file) as Authorization: Bearer"
	case cur.OverrideToken == "":
		return http.StatusForbidden, "manual overrides are off: set http.override_token_file"
	case is(cur.OverrideToken):
		return 0, ""
	case is(cur.Token):
		return http.StatusForbidden, "the API token cannot override: use the override token (http.override_token_file)"
	}
	for token := range cur.PushTokens {
		if is(token) {
			return http.StatusForbidden, "a push token cannot override: use the override token (http.override_token_file)"
		}
	}
	return http.StatusUnauthorized, "wrong bearer token: an override needs the override token (http.override_token_file)"
}
