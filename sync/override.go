package sync

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

// Override is an operator's manual decision for an agency on one
// container (portsync override): a customs officer confirms by e-mail that
// a hold the feed never lifted is lifted. It enters the engine as an
// ordinary agency event, stamped with the daemon's clock, from a source
// named override:BY and bound to the agency, so it is deduplicated,
// journaled (with who as the source and why as the detail) and decided
// like any other; a newer decision of the agency outranks it by the
// ledger's rules.
type Override struct {
	Container string
	Agency    string
	Action    state.Status // released, held or hold_removed
	Hold      string       // the hold type, with held and hold_removed only
	By        string       // who, required
	Reason    string       // why, required; cut to state.MaxReasonLen
}

// maxOverrideBy is the longest name an override's By may carry, in bytes.
const maxOverrideBy = 64

// overrideActions are the actions an override may take.
var overrideActions = []state.Status{state.Released, state.Held, state.HoldRemoved}

// Check validates o under policy p and normalises it (the container's
// form, trimmed names, the reason cut). The error is a *state.Rejection
// (invalid_field or bad_check_digit) that names the field and the value.
func (o *Override) Check(p policy) error {
	id, err := state.ParseContainer(o.Container)
	if err != nil {
		return err
	}
	o.Container = id
	if _, ok := p.Agencies[o.Agency]; !ok {
		return state.Reject(state.CodeInvalidField, "field \"agency\": %q is not a configured agency (configured: %v)", o.Agency, p.agencyNames())
	}
	if !slices.Contains(overrideActions, o.Action) {
		return state.Reject(state.CodeInvalidField, "field \"action\": %q is not one of released, held, hold_removed", o.Action)
	}
	o.Hold = strings.TrimSpace(o.Hold)
	switch {
	case o.Hold != "" && o.Action == state.Released:
		return state.Reject(state.CodeInvalidField, "field \"hold\": %q goes with held or hold_removed, not released (a release is not of a hold type)", o.Hold)
	case len(o.Hold) > state.MaxHoldLen || !printable(o.Hold):
		return state.Reject(state.CodeInvalidField, "field \"hold\": %q is not a hold type of at most %d printable bytes", state.CutText(o.Hold, 80), state.MaxHoldLen)
	}
	o.By = strings.TrimSpace(o.By)
	switch {
	case o.By == "":
		return state.Reject(state.CodeInvalidField, "field \"by\": required: who makes the override")
	case len(o.By) > maxOverrideBy || !printable(o.By):
		return state.Reject(state.CodeInvalidField, "field \"by\": %q is not a name of at most %d printable bytes", state.CutText(o.By, 80), maxOverrideBy)
	}
	if strings.TrimSpace(o.Reason) == "" {
		return state.Reject(state.CodeInvalidField, "field \"reason\": required: why (the officer's message, its reference)")
	}
	if !utf8.ValidString(o.Reason) {
		return state.Reject(state.CodeInvalidField, "field \"reason\": not valid UTF-8")
	}
	o.Reason = state.CutText(strings.TrimSpace(o.Reason), state.MaxReasonLen)
	return nil
}

func printable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) })
}

// isOverride reports whether a source name is an operator's override, and
// who made it.
func isOverride(source string) (by string, ok bool) {
	return strings.CutPrefix(source, config.OverridePrefix)
}

// Override checks o and applies it as an agency event through the same
// path as any source's, waiting until it is durable. It returns the
// event it made and its outcome; an error is o's rejection, before
// anything was stored.
func (e *Engine) Override(ctx context.Context, o Override) (state.AgencyEvent, Outcome, error) {
	if err := o.Check(e.policyNow()); err != nil {
		return state.AgencyEvent{}, Outcome{}, err
	}
	now := e.now()
	ev := state.AgencyEvent{
		ID:     fmt.Sprintf("override/%s/%s/%d", o.Container, o.Agency, now.UnixNano()),
		Agency: o.Agency, Status: o.Action, Hold: o.Hold, Containers: []string{o.Container},
		Reason: o.Reason, At: now,
	}
	payload, err := json.Marshal(ev)
	if err != nil {
		return ev, Outcome{}, err
	}
	src := &SourceInfo{Name: config.OverridePrefix + o.By, Kind: config.KindAgency, Agency: o.Agency, Decoder: overrideDecoder{}}
	return ev, e.submit(ctx, inbound{src: src, msg: adapters.Message{Payload: payload, ReceivedAt: now}}), nil
}

// overrideDecoder reads back the agency event Override encoded.
type overrideDecoder struct{}

func (overrideDecoder) Decode(payload []byte) []adapters.Record {
	var ev state.AgencyEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return []adapters.Record{{Err: state.Reject(state.CodeMalformed, "override: %v", err)}}
	}
	return []adapters.Record{{Agency: &ev}}
}
