// Package mapping owns what the two mapped formats, mapped_json and
// mapped_xml, share: checking a config.Mapping's value tables
// (status_values, hold_values) and time settings (at_layout, at_zone),
// and turning a record's raw field values into an agency event, with
// reasons that name the field, its path and the value. Each format finds
// the values in its own way (gjson paths, XPaths); what it does with them
// is here.
package mapping

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/portsync/portsync/adapters/jsonfmt"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

// Fail records one problem of a mapping, keyed relative to the source
// ("mapping.status_values.MAYBE").
type Fail = func(key, format string, args ...any)

// DefaultLayout is the layout of at when the mapping names none.
const DefaultLayout = time.RFC3339Nano

// Field is one of our fields and the path the mapping finds it at.
type Field struct{ Name, Path string }

// Reject is a rejection of the field's value, worded with its name and
// path.
func (f Field) Reject(code, format string, args ...any) error {
	return state.Reject(code, "field %q (path %q): %s", f.Name, f.Path, fmt.Sprintf(format, args...))
}

// Status is what a status word maps to: a status and, for held and
// hold_removed, optionally a hold type ("held:exam").
type Status struct {
	St   state.Status
	Hold string
}

// Values is a mapping's checked value tables.
type Values struct {
	Statuses   map[string]Status
	Known      string            // the status words, quoted and sorted, for reasons
	Holds      map[string]string // hold_values; nil when the mapping has none
	KnownHolds string            // the hold words, for reasons
}

// CheckStatuses checks mapping.status_values and returns the table of
// status words and its words for reasons; example shows a table in the
// reason for a missing one.
func CheckStatuses(m *config.Mapping, example string, fail Fail) (map[string]Status, string) {
	statuses := map[string]Status{}
	words := slices.Sorted(maps.Keys(m.StatusValues))
	if len(words) == 0 {
		fail("mapping.status_values", "required: map each of their status words to released, held, hold_removed or revoked, e.g. %s", example)
	}
	for i, word := range words {
		spec := m.StatusValues[word]
		key := "mapping.status_values." + word
		switch {
		case strings.TrimSpace(word) == "":
			fail("mapping.status_values", "an empty status word never matches (empty statuses are refused)")
			continue
		case strings.TrimSpace(word) != word:
			fail(key, "status word %q has surrounding spaces and never matches: their values are trimmed", word)
			continue
		}
		st, hold, err := jsonfmt.ParseStatusSpec(spec)
		if err != nil {
			fail(key, "%v", err)
			continue
		}
		statuses[word] = Status{st, hold}
		for _, other := range words[i+1:] {
			if strings.EqualFold(word, other) && m.StatusValues[other] != spec {
				fail(key, "%q and %q differ only in case but map to %s and %s; a value such as %q would match both",
					word, other, spec, m.StatusValues[other], strings.ToLower(word))
			}
		}
	}
	quoted := make([]string, 0, len(statuses))
	for _, w := range words {
		if _, ok := statuses[w]; ok {
			quoted = append(quoted, fmt.Sprintf("%q", w))
		}
	}
	if len(quoted) > 12 {
		quoted = append(quoted[:12], "...")
	}
	return statuses, strings.Join(quoted, ", ")
}

// CheckHolds checks mapping.hold_values and returns the table of hold
// words (nil without hold_values) and its words for reasons; pathKind
// names the format's paths ("gjson path", "XPath"). Hold words match as
// status words do: exactly, then ignoring case.
func CheckHolds(m *config.Mapping, pathKind string, fail Fail) (map[string]string, string) {
	if len(m.HoldValues) == 0 {
		return nil, ""
	}
	if strings.TrimSpace(m.Hold) == "" {
		fail("mapping.hold_values", "needs mapping.hold, the %s of the hold words it translates", pathKind)
	}
	words := slices.Sorted(maps.Keys(m.HoldValues))
	holds := make(map[string]string, len(words))
	var quoted []string
	for i, word := range words {
		hold := m.HoldValues[word]
		key := "mapping.hold_values." + word
		switch {
		case strings.TrimSpace(word) == "":
			fail("mapping.hold_values", "an empty hold word never matches (an empty hold is the general hold)")
			continue
		case strings.TrimSpace(word) != word:
			fail(key, "hold word %q has surrounding spaces and never matches: their values are trimmed", word)
			continue
		}
		if err := jsonfmt.CheckHold(hold); err != nil {
			fail(key, "%v", err)
			continue
		}
		for _, other := range words[i+1:] {
			if strings.EqualFold(word, other) && m.HoldValues[other] != hold {
				fail(key, "%q and %q differ only in case but map to %s and %s", word, other, hold, m.HoldValues[other])
			}
		}
		holds[word] = hold
		if len(quoted) < 12 {
			quoted = append(quoted, fmt.Sprintf("%q", word))
		}
	}
	if len(holds) > 12 {
		quoted = append(quoted, "...")
	}
	return holds, strings.Join(quoted, ", ")
}

// Clock is how a mapping reads the time of a record.
type Clock struct {
	Layout   string         // at_layout, or DefaultLayout
	Loc      *time.Location // at_zone, or UTC
	AtLayout string         // at_layout as configured; "" for the default
}

// layoutInfo says what a Go time layout holds, by formatting a reference
// time with it and parsing the text back.
type layoutInfo struct {
	date   bool // year, month and day survive the round trip
	offset bool // a numeric UTC offset survives the round trip
	abbrev bool // a zone abbreviation (MST) is in it
}

func inspectLayout(layout string) layoutInfo {
	// The zone name is one no real zone uses, to spot MST in the layout.
	ref := time.Date(2026, 11, 28, 10, 15, 30, 0, time.FixedZone("QQXT", 8*3600))
	text := ref.Format(layout)
	info := layoutInfo{abbrev: strings.Contains(text, "QQXT")}
	t, err := time.Parse(layout, text)
	if err != nil {
		return info
	}
	info.date = t.Year() == 2026 && t.Month() == time.November && t.Day() == 28
	_, off := t.Zone()
	info.offset = !info.abbrev && off == 8*3600
	return info
}

// CheckTime checks at_layout and at_zone and returns the clock they
// describe; examples is the reason's example layouts.
func CheckTime(m *config.Mapping, examples string, fail Fail) Clock {
	c := Clock{Layout: m.AtLayout, AtLayout: m.AtLayout}
	if c.Layout == "" {
		c.Layout = DefaultLayout
	}
	info := inspectLayout(c.Layout)
	switch {
	case info.abbrev:
		fail("mapping.at_layout", "%q holds a zone abbreviation (MST), which Go reads as UTC unless the host knows it (CST is China, Cuba or US Central): "+
			"use a numeric offset (-07:00) or write their abbreviation as text and set at_zone", m.AtLayout)
	case !info.date:
		fail("mapping.at_layout", "%q is not a Go time layout with a year, month and day: write the reference time "+
			"Mon Jan 2 15:04:05 -0700 MST 2006 as they would, e.g. %s", m.AtLayout, examples)
	}
	switch zone := m.AtZone; {
	case zone == "" && !info.offset && !info.abbrev && info.date:
		fail("mapping.at_zone", "required: at_layout %q has no UTC offset, so name the zone of their clock, e.g. Asia/Shanghai", m.AtLayout)
	case zone == "":
		c.Loc = time.UTC
	case info.offset:
		layout := "(default RFC 3339)"
		if m.AtLayout != "" {
			layout = strconv.Quote(m.AtLayout)
		}
		fail("mapping.at_zone", "not used: at_layout %s carries its own UTC offset; remove at_zone", layout)
	case strings.EqualFold(zone, "local"):
		fail("mapping.at_zone", "name an IANA zone such as Asia/Shanghai; Local depends on the host")
	default:
		loc, err := time.LoadLocation(zone)
		if err != nil {
			fail("mapping.at_zone", "unknown time zone %q: want an IANA name such as Asia/Shanghai or UTC", zone)
		}
		c.Loc = loc
	}
	return c
}

// Time reads s, the trimmed text of field f, as the time of a record.
func (c Clock) Time(f Field, s string) (time.Time, error) {
	t, err := time.ParseInLocation(c.Layout, s, c.Loc)
	if err != nil {
		if c.AtLayout == "" {
			return time.Time{}, f.Reject(state.CodeInvalidField, "want an RFC 3339 time with offset such as 2026-11-28T10:15:00+08:00, got %s", QuoteStr(s))
		}
		return time.Time{}, f.Reject(state.CodeInvalidField, "%s does not match at_layout %q", QuoteStr(s), c.AtLayout)
	}
	// A zero or ancient time is a sender's bug, and would sort before
	// every real event.
	if t.Year() < 1970 {
		return time.Time{}, f.Reject(state.CodeInvalidField, "%s is before 1970", QuoteStr(s))
	}
	// The reason quotes the value as sent: Go shows +23:60 as +24:00.
	if err := state.CheckOffset(f.Name, t); err != nil {
		return time.Time{}, f.Reject(state.CodeInvalidField, "%s: %s", QuoteStr(s), Detail(err))
	}
	return t, nil
}

// CheckID checks the length of an event id read from field f.
func CheckID(f Field, id string) error {
	if len(id) > state.MaxIDLen {
		return f.Reject(state.CodeInvalidField, "%s is %d characters, longer than %d", QuoteStr(id), len(id), state.MaxIDLen)
	}
	return nil
}

// Status maps their status word, read from field f, to ours: an exact
// match first, then one ignoring case (CheckStatuses makes every such
// match agree).
func (v *Values) Status(f Field, word string) (Status, error) {
	st, ok := LookupFold(v.Statuses, word)
	if !ok {
		return Status{}, f.Reject(state.CodeInvalidField, "%s is not in status_values (known: %s)", QuoteStr(word), v.Known)
	}
	return st, nil
}

// Hold sets the event's hold from word, the record's hold type read from
// field f, translated by hold_values when the mapping has them; a hold in
// the record wins over one its status word implies. A hold is meaningful
// for held and hold_removed only: on released or revoked it is refused,
// as in the canonical format. An empty word leaves the event as it is.
func (v *Values) Hold(f Field, word string, ev *state.AgencyEvent) error {
	if word == "" {
		return nil
	}
	hold := word
	if v.Holds != nil {
		h, ok := LookupFold(v.Holds, word)
		if !ok {
			return f.Reject(state.CodeInvalidField, "%s is not in hold_values (known: %s)", QuoteStr(word), v.KnownHolds)
		}
		hold = h
	}
	if len(hold) > state.MaxHoldLen {
		return f.Reject(state.CodeInvalidField, "%s is %d bytes, longer than %d", QuoteStr(hold), len(hold), state.MaxHoldLen)
	}
	if !jsonfmt.TakesHold(ev.Status) {
		return f.Reject(state.CodeInvalidField, "%s is a hold type, but status %q is not about one hold (only held and hold_removed take a hold)", QuoteStr(hold), ev.Status)
	}
	ev.Hold = hold
	return nil
}

// Ref checks an optional reference (B/L, declaration) read from field f,
// which becomes a store key and so is bounded.
func Ref(f Field, v string) (string, error) {
	if err := state.CheckRef(f.Name, v); err != nil {
		return "", f.Reject(state.CodeInvalidField, "%s", Detail(err))
	}
	return v, nil
}

// Containers parses the container numbers read from field f and drops
// repeats, keeping order. item names the i'th value in a reason ("item
// 0"), or is "" when the field holds one value only.
func Containers(f Field, raws []string, item func(i int) string) ([]string, error) {
	out := make([]string, 0, len(raws))
	for i, raw := range raws {
		id, err := state.ParseContainer(raw)
		if err != nil {
			rej := err.(*state.Rejection)
			if name := item(i); name != "" {
				return nil, f.Reject(rej.Code, "%s: %s", name, rej.Reason)
			}
			return nil, f.Reject(rej.Code, "%s", rej.Reason)
		}
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out, nil
}

// LookupFold finds word in m: an exact match first, then one ignoring
// case.
func LookupFold[V any](m map[string]V, word string) (V, bool) {
	if v, ok := m[word]; ok {
		return v, true
	}
	for w, v := range m {
		if strings.EqualFold(w, word) {
			return v, true
		}
	}
	var zero V
	return zero, false
}

// Detail is the reason of a shared check's rejection (state.CheckRef and
// the like) without its 'field "name": ' prefix, to be worded with the
// field's path.
func Detail(err error) string {
	_, d, _ := strings.Cut(err.(*state.Rejection).Reason, ": ")
	return d
}

// MaxShown is how much of a value a reason shows.
const MaxShown = 80

// QuoteStr quotes a value for a reason, cut to a readable length on a
// character boundary.
func QuoteStr(s string) string {
	if len(s) <= MaxShown {
		return fmt.Sprintf("%q", s)
	}
	cut := MaxShown
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%q...", s[:cut])
}
