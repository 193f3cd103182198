// Package jsonfmt decodes portsync's canonical JSON wire formats: the agency
// event (DESIGN 3.1) and the TOS event (DESIGN 3.2). It registers the format
// "json". Validation is strict and every rejection names the field and the
// value; unknown fields are ignored.
package jsonfmt

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/adapters/jsonstrict"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

// Format is the configuration name of the format.
const Format = "json"

func init() {
	adapters.RegisterFormat(Format, adapters.Format{New: newDecoder})
}

// MaxContainers is the most containers one agency event may name.
const MaxContainers = state.MaxEventContainers

func newDecoder(cfg config.Source) (adapters.Decoder, error) {
	if cfg.Kind == config.KindManifest {
		return decoderFunc(func(p []byte) (adapters.Record, error) {
			ev, err := DecodeManifestEvent(p)
			return adapters.Record{Manifest: ev}, err
		}), nil
	}
	if cfg.Kind == config.KindTOS {
		return decoderFunc(func(p []byte) (adapters.Record, error) {
			ev, err := DecodeTOSEvent(p)
			return adapters.Record{TOS: ev}, err
		}), nil
	}
	return decoderFunc(func(p []byte) (adapters.Record, error) {
		ev, err := DecodeAgencyEvent(p)
		return adapters.Record{Agency: ev}, err
	}), nil
}

type decoderFunc func([]byte) (adapters.Record, error)

func (f decoderFunc) Decode(payload []byte) []adapters.Record {
	r, err := f(payload)
	if err != nil {
		return []adapters.Record{{Err: err}}
	}
	return []adapters.Record{r}
}

// fields is a JSON object kept raw so each field is checked on its own and
// named in the error.
type fields map[string]json.RawMessage

func parseObject(payload []byte) (fields, error) {
	if !utf8.Valid(payload) {
		return nil, state.Reject(state.CodeMalformed, "payload is not valid UTF-8")
	}
	trimmed := bytes.TrimSpace(payload)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, state.Reject(state.CodeMalformed, "payload is not a JSON object: %s", quote(trimmed))
	}
	if err := jsonstrict.Check(trimmed); err != nil {
		return nil, Malformed(err)
	}
	f := make(fields, 10)
	jsonstrict.Members(trimmed, func(name string, value []byte) { f[name] = value })
	return f, nil
}

// Malformed is the rejection of a payload that jsonstrict.Check refused:
// a repeated name is named with its place, anything else is bad JSON.
func Malformed(err error) error {
	if dup := (*jsonstrict.DuplicateKeyError)(nil); errors.As(err, &dup) {
		return state.Reject(state.CodeMalformed, "%v", dup)
	}
	return state.Reject(state.CodeMalformed, "payload is not valid JSON: %v", err)
}

// quote shows a raw JSON value in a reason, cut to a readable length.
func quote(b []byte) string {
	const max = 80
	if len(b) > max {
		return string(b[:max]) + "..."
	}
	return string(b)
}

func (f fields) str(name string, required bool) (string, error) {
	raw, ok := f[name]
	if !ok || string(raw) == "null" {
		if required {
			return "", state.Reject(state.CodeInvalidField, "field %q is required", name)
		}
		return "", nil
	}
	s, ok := jsonstrict.String(raw)
	if !ok {
		return "", state.Reject(state.CodeInvalidField, "field %q: want a string, got %s", name, quote(raw))
	}
	s = strings.TrimSpace(s)
	if required && s == "" {
		return "", state.Reject(state.CodeInvalidField, "field %q: must not be empty", name)
	}
	return s, nil
}

func (f fields) id() (string, error) {
	id, err := f.str("id", true)
	if err == nil && len(id) > state.MaxIDLen {
		err = state.Reject(state.CodeInvalidField, "field \"id\": %q... is %d characters, longer than %d", id[:40], len(id), state.MaxIDLen)
	}
	return id, err
}

func (f fields) at() (time.Time, error) {
	s, err := f.str("at", true)
	if err != nil {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, state.Reject(state.CodeInvalidField, "field \"at\": want an RFC 3339 time with offset such as 2026-11-28T10:15:00+08:00, got %q", s)
	}
	// A zero or ancient time is a sender's bug, and would sort before
	// every real event.
	if t.Year() < 1970 {
		return time.Time{}, state.Reject(state.CodeInvalidField, "field \"at\": %q is before 1970", s)
	}
	// Go reads offsets up to +99:59 (and +23:60), which time.Time cannot
	// write back as JSON: the store could never commit such an event.
	if err := state.CheckOffset("at", t); err != nil {
		return time.Time{}, state.Reject(state.CodeInvalidField, "field \"at\": %q: %s", s, offsetReason(err))
	}
	return t, nil
}

// hold reads the optional hold type (DESIGN 3.1): a string of at most
// state.MaxHoldLen bytes, meaningful only for held and hold_removed. An
// empty or absent hold is the agency's general hold; a hold on released or
// revoked is refused, since a release is not per hold type and taking it
// for one would read the sender wrongly.
func (f fields) hold(status state.Status) (string, error) {
	h, err := f.str("hold", false)
	switch {
	case err != nil:
		return "", err
	case h == "":
		return "", nil
	case len(h) > state.MaxHoldLen:
		return "", state.Reject(state.CodeInvalidField, "field \"hold\": %s is %d bytes, longer than %d", quote([]byte(h)), len(h), state.MaxHoldLen)
	case !TakesHold(status):
		return "", state.Reject(state.CodeInvalidField, "field \"hold\": %q is a hold type, but status %q is not about one hold (only held and hold_removed take a hold)", h, status)
	}
	return h, nil
}

// ref reads an optional reference (B/L, declaration): it becomes a store
// key, so its length is bounded.
func (f fields) ref(name string) (string, error) {
	v, err := f.str(name, false)
	if err == nil {
		err = state.CheckRef(name, v)
	}
	return v, err
}

// offsetReason is what state.CheckOffset found, without its field prefix,
// for a reason that quotes the value as sent (Go shows +23:60 as +24:00).
func offsetReason(err error) string {
	rej := err.(*state.Rejection)
	_, after, _ := strings.Cut(rej.Reason, ": ")
	return after
}

func (f fields) strings(name string) ([]string, bool, error) {
	raw, ok := f[name]
	if !ok || string(raw) == "null" {
		return nil, false, nil
	}
	if raw[0] != '[' {
		return nil, true, state.Reject(state.CodeInvalidField, "field %q: want a list of strings, got %s", name, quote(raw))
	}
	var out []string
	var err error
	jsonstrict.Elements(raw, func(item []byte) {
		s, ok := jsonstrict.String(item)
		// A null item is an empty string, as json.Unmarshal reads it;
		// the list's own checks refuse it with their reason.
		if !ok && string(item) != "null" && err == nil {
			err = state.Reject(state.CodeInvalidField, "field %q: item %d: want a string, got %s", name, len(out), quote(item))
		}
		out = append(out, s)
	})
	if err != nil {
		return nil, true, err
	}
	return out, true, nil
}

// DecodeAgencyEvent decodes and validates an agency event (DESIGN 3.1).
// The error is a *state.Rejection. Whether the agency is configured, and
// whether the source may speak for it, is the engine's to check.
func DecodeAgencyEvent(payload []byte) (*state.AgencyEvent, error) {
	f, err := parseObject(payload)
	if err != nil {
		return nil, err
	}
	ev := &state.AgencyEvent{}
	if ev.ID, err = f.id(); err != nil {
		return nil, err
	}
	if ev.Agency, err = f.str("agency", true); err != nil {
		return nil, err
	}
	status, err := f.str("status", true)
	if err != nil {
		return nil, err
	}
	ev.Status = state.Status(status)
	if !IsStatus(ev.Status) {
		return nil, state.Reject(state.CodeInvalidField, "field \"status\": want \"released\", \"held\", \"hold_removed\" or \"revoked\", got %q", status)
	}
	if ev.Hold, err = f.hold(ev.Status); err != nil {
		return nil, err
	}
	list, _, err := f.strings("containers")
	if err != nil {
		return nil, err
	}
	if len(list) > MaxContainers {
		return nil, state.Reject(state.CodeInvalidField, "field \"containers\": want 1 to %d container numbers, got %d", MaxContainers, len(list))
	}
	if ev.Containers, err = parseContainers(list); err != nil {
		return nil, err
	}
	if ev.BL, err = f.ref("bl"); err != nil {
		return nil, err
	}
	// A decision on a whole B/L names the B/L and no containers.
	if len(ev.Containers) == 0 && ev.BL == "" {
		return nil, state.Reject(state.CodeInvalidField, "field \"containers\": want 1 to %d container numbers (or a \"bl\"), got none", MaxContainers)
	}

	if ev.Declaration, err = f.ref("declaration"); err != nil {
		return nil, err
	}
	if ev.Reason, err = f.str("reason", false); err != nil {
		return nil, err
	}
	ev.Reason = state.CutText(ev.Reason, state.MaxReasonLen)
	if ev.At, err = f.at(); err != nil {
		return nil, err
	}
	return ev, nil
}

// parseContainers validates each number and drops repeats, keeping order.
func parseContainers(list []string) ([]string, error) {
	out := make([]string, 0, len(list))
	for i, raw := range list {
		id, err := state.ParseContainer(raw)
		if err != nil {
			rej := err.(*state.Rejection)
			return nil, state.Reject(rej.Code, "field \"containers\": item %d: %s", i, rej.Reason)
		}
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out, nil
}

// DecodeTOSEvent decodes and validates a TOS event (DESIGN 3.2).
func DecodeTOSEvent(payload []byte) (*state.TOSEvent, error) {
	f, err := parseObject(payload)
	if err != nil {
		return nil, err
	}
	ev := &state.TOSEvent{}
	if ev.ID, err = f.id(); err != nil {
		return nil, err
	}
	c, err := f.str("container", true)
	if err != nil {
		return nil, err
	}
	if ev.Container, err = state.ParseContainer(c); err != nil {
		rej := err.(*state.Rejection)
		return nil, state.Reject(rej.Code, "field \"container\": %s", rej.Reason)
	}
	if ev.Event, err = f.str("event", true); err != nil {
		return nil, err
	}
	switch ev.Event {
	case state.TOSArrived, state.TOSHolds, state.TOSDeparted:
	default:
		return nil, state.Reject(state.CodeInvalidField, "field \"event\": want \"arrived\", \"holds\" or \"departed\", got %q", ev.Event)
	}
	holds, present, err := f.strings("holds")
	if err != nil {
		return nil, err
	}
	if !present && ev.Event != state.TOSDeparted {
		return nil, state.Reject(state.CodeInvalidField, "field \"holds\" is required for event %q (send [] for no holds)", ev.Event)
	}
	ev.HasHolds = present
	if ev.Holds, err = NormaliseHolds(holds); err != nil {
		return nil, err
	}
	if ev.BL, err = f.ref("bl"); err != nil {
		return nil, err
	}
	if ev.At, err = f.at(); err != nil {
		return nil, err
	}
	return ev, nil
}

// MaxManifestContainers is the most containers one manifest may link to
// its B/L.
const MaxManifestContainers = 10000

// DecodeManifestEvent decodes and validates a manifest event (DESIGN
// 3.6): a B/L and its complete container list.
func DecodeManifestEvent(payload []byte) (*state.ManifestEvent, error) {
	f, err := parseObject(payload)
	if err != nil {
		return nil, err
	}
	ev := &state.ManifestEvent{}
	if ev.ID, err = f.id(); err != nil {
		return nil, err
	}
	if ev.BL, err = f.ref("bl"); err != nil {
		return nil, err
	}
	if ev.BL == "" {
		return nil, state.Reject(state.CodeInvalidField, "field \"bl\" is required")
	}
	list, present, err := f.strings("containers")
	if err != nil {
		return nil, err
	}
	if !present {
		return nil, state.Reject(state.CodeInvalidField, "field \"containers\" is required (send [] for a B/L with no containers)")
	}
	if len(list) > MaxManifestContainers {
		return nil, state.Reject(state.CodeInvalidField, "field \"containers\": want at most %d container numbers, got %d", MaxManifestContainers, len(list))
	}
	if ev.Containers, err = parseContainers(list); err != nil {
		return nil, err
	}
	if ev.At, err = f.at(); err != nil {
		return nil, err
	}
	return ev, nil
}

// NormaliseHolds trims, upper-cases, de-duplicates and sorts hold codes, so
// that two snapshots of the same holds compare equal. A list longer than
// state.MaxHolds is refused as sent, repeats included, so the work done
// on it is bounded.
func NormaliseHolds(holds []string) ([]string, error) {
	if len(holds) > state.MaxHolds {
		return nil, state.Reject(state.CodeInvalidField, "field \"holds\": %d hold codes, more than %d", len(holds), state.MaxHolds)
	}
	out := make([]string, 0, len(holds))
	for i, h := range holds {
		code := strings.ToUpper(strings.TrimSpace(h))
		if code == "" || len(code) > state.MaxHoldLen {
			return nil, state.Reject(state.CodeInvalidField, "field \"holds\": item %d: want a hold code of 1 to %d characters, got %q", i, state.MaxHoldLen, h)
		}
		out = append(out, code)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
