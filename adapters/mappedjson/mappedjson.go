// Package mappedjson decodes agency events from any JSON document a customs
// system sends, by a mapping in the source's configuration (format
// "mapped_json", DESIGN 4). The mapping names, for each field of the agency
// event (DESIGN 3.1), a path in the foreign document in gjson syntax
// (https://github.com/tidwall/gjson/blob/master/SYNTAX.md), a table of
// their status words, and the layout and zone of their time stamps:
//
//	format: mapped_json
//	mapping:
//	  records: data.items                  # optional: an array of records
//	  id: ref
//	  status: decision.code
//	  containers: equipment.#.containerNo  # a string or an array of strings
//	  at: decision.time
//	  at_layout: "2006-01-02 15:04:05"     # Go layout; default RFC 3339
//	  at_zone: Asia/Shanghai               # required when the layout has no offset
//	  bl: cargo.billOfLading               # optional
//	  declaration: cargo.entryNo           # optional
//	  reason: decision.text                # optional
//	  agency: authority                    # optional; default the source's agency
//	  hold: decision.holdType              # optional: the hold type of held and hold_removed
//	  hold_values: {XRAY: 7H}              # optional: their hold words -> hold types
//	  status_values: {R: released, H: held, X: hold_removed, D: revoked}
//
// Agency sources (kind agency) and manifest sources (kind manifest) may
// use it.
//
// # Manifests
//
// For a manifest source each record is a manifest (DESIGN 3.6): a bill of
// lading and its complete container list, which replaces the B/L's list
// when it is the newest (latest at per B/L). The mapping names id, bl,
// containers and at (with at_layout and at_zone as below); status,
// status_values, hold, hold_values, agency, declaration and reason are
// refused, since a manifest states no decision:
//
//	kind: manifest
//	format: mapped_json
//	mapping:
//	  records: bills
//	  id: msgRef
//	  bl: blNo                        # required, at most state.MaxRefLen bytes
//	  containers: equipment.#.cntrNo  # an array, 0 to MaxManifestContainers
//	  at: issued
//
// containers must find an array (an empty one is a B/L with no
// containers); a record without it, or without a bl, is rejected.
//
// # Records
//
// Without records, the document is one record and must be a JSON object.
// With records, the path must name an array in the document (for a document
// that is itself an array, records: "@this"); every element is one record and
// the other paths are relative to it. An empty array is a document with no
// events. Records are numbered from 1 in the dead letter: Position "record 1"
// is the element at gjson index 0. A document that is not JSON, whose
// records path is missing, null or not an array, or that holds more than
// MaxRecords records, gives one rejection without a position.
//
// # Validation
//
// Each record is checked as the canonical format checks an event
// (package jsonfmt), and a bad record is rejected alone: the others of the
// same document still decode. Every rejection names our field, their path
// and the value, e.g.
//
//	field "status" (path "decision.code"): "MAYBE" is not in status_values (known: "H", "R")
//
// A value that is missing or null is absent. Strings are trimmed of
// surrounding white space.
//
//   - id: a non-empty string of at most state.MaxIDLen (256) bytes, or a
//     JSON number (its text, as sent, is the id).
//   - status: a string, number or boolean, matched against the keys of
//     status_values by its text: exactly first, then ignoring case. Keys
//     that differ only in case must map to the same status (Check
//     refuses the mapping otherwise), so the match is never ambiguous. A
//     status word maps to released, held, hold_removed or revoked (DESIGN
//     3.1); held and hold_removed may name a hold type after ':'
//     ("EXAM: held:exam"), as the EDI formats' status_codes do.
//   - hold: optional, the hold type of a held or hold_removed record
//     (DESIGN 3.1): a string or a number (its text), at most
//     state.MaxHoldLen bytes; missing, null or blank is absent (the
//     general hold, or the type the status word names). With hold_values,
//     the word must be one of its keys (matched as status words are) and
//     becomes the type it maps to; a word it lacks rejects the record, as
//     an unknown status word does. A hold on a released or revoked record
//     is refused, as in the canonical format.
//   - containers: a container number or an array of them (1 to
//     MaxContainers), each checked with state.ParseContainer; repeats are
//     dropped, keeping order. A record with a bl and no containers
//     (missing, null or an empty array) is a decision on the whole B/L,
//     which the engine applies to every container linked to the B/L, now
//     and later; a record with neither is rejected. A path such as equipment.#.containerNo
//     collects the numbers of an array of objects; gjson skips elements
//     without the key, so such an element is not an error.
//   - at: a string in at_layout. A layout with a UTC offset (the default
//     RFC 3339 does) is read as such and at_zone must be empty; a layout
//     without one is read in at_zone, which is then required. Times before
//     1970, and offsets outside ±23:59 (Go reads up to +24:00 from a
//     layout's -0700), are refused.
//   - bl, declaration: optional strings or numbers of at most
//     state.MaxRefLen bytes; reason: an optional string, cut to
//     state.MaxReasonLen bytes with a marker.
//   - agency: when the mapping names a path, a required non-empty string,
//     which the engine checks against the source's agency as for any event;
//     otherwise the source's agency.
//
// Strings are unescaped by encoding/json, as in the canonical format, and
// a document must be valid JSON in encoding/json's sense. No object may
// repeat a name (package jsonstrict): gjson would read the first and the
// canonical format the last. A repeat inside a record rejects that record;
// anywhere else it rejects the document, whose records it makes
// uncertain. Time stamps as numbers (Unix seconds) are not supported.
package mappedjson

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tidwall/gjson"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/adapters/jsonfmt"
	"github.com/portsync/portsync/adapters/jsonstrict"
	"github.com/portsync/portsync/adapters/mapping"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

// Format is the format's configuration name.
const Format = "mapped_json"

func init() {
	adapters.RegisterFormat(Format, adapters.FormatKeys[Config](adapters.Format{New: newDecoder, Check: Check}, true))
}

// Config is the keys of a mapped_json source's own; the common ones are in
// config.Source.
type Config struct {
	// Mapping says where an event's fields are in the document, as gjson
	// paths.
	Mapping *config.Mapping `yaml:"mapping"`
}

// ConfigOf decodes the own keys of a mapped_json source.
func ConfigOf(src config.Source) (*Config, error) { return adapters.DecodeConfig[Config](src) }

// MaxContainers is the most containers one record may name, as in the
// canonical format.
const MaxContainers = jsonfmt.MaxContainers

// MaxRecords is the most records one document may hold. Every rejected
// record is a dead letter of its own, so the limit bounds what one bad
// document can write.
const MaxRecords = 10000

// Check checks the mapped_json settings of a source and returns one
// error for each problem, keyed relative to the source ("mapping.id",
// "mapping.status_values.MAYBE"). It may be called for any source: for a
// source of another format it only refuses a stray mapping.
func Check(cfg config.Source) []config.KeyError {
	if cfg.Format != Format {
		if slices.Contains(cfg.Keys.Names(), "mapping") {
			return []config.KeyError{{Key: "mapping", Msg: fmt.Sprintf("only used by format %s, and this source's format is %q", Format, cfg.Format)}}
		}
		return nil
	}
	errs, _ := check(cfg)
	return errs
}

// settings is a checked mapping, ready to decode with.
type settings struct {
	manifest bool // a manifest source: records are manifests, not agency events
	mapping.Clock
	mapping.Values
}

// check checks cfg as a mapped_json source and, if it is sound, returns
// what a decoder needs.
func check(cfg config.Source) ([]config.KeyError, *settings) {
	var errs []config.KeyError
	fail := func(key, format string, args ...any) {
		errs = append(errs, config.KeyError{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	if cfg.Kind != config.KindAgency && cfg.Kind != config.KindManifest {
		fail("kind", "format %s decodes agency events and manifests; want kind %q or %q, got %q", Format, config.KindAgency, config.KindManifest, cfg.Kind)
	}
	// What did not decode is reported, and what is under it is left out
	// (adapters.FormatKeys); the rest is checked.
	c := new(Config)
	errs = append(errs, cfg.Keys.Decode(c)...)
	m := c.Mapping
	if m == nil {
		if cfg.Kind == config.KindManifest {
			fail("mapping", "required for format %s: the gjson paths of id, bl, containers and at", Format)
		} else {
			fail("mapping", "required for format %s: the gjson paths of id, status, containers and at, and status_values", Format)
		}
		return errs, nil
	}
	if cfg.Kind == config.KindManifest {
		s := checkManifest(m, fail)
		if len(errs) > 0 {
			return errs, nil
		}
		return nil, s
	}
	for _, p := range []struct{ key, path, what string }{
		{"id", m.ID, "the event id, unique per source"},
		{"status", m.Status, "their status word"},
		{"containers", m.Containers, "a container number or an array of them"},
		{"at", m.At, "the time of the decision"},
	} {
		if strings.TrimSpace(p.path) == "" {
			fail("mapping."+p.key, "required: the gjson path of %s in a record", p.what)
		}
	}

	s := &settings{}
	s.Statuses, s.Known = mapping.CheckStatuses(m, "{RELEASED: released, HOLD: held}", fail)
	checkHold(m, fail)
	s.Holds, s.KnownHolds = mapping.CheckHolds(m, "gjson path", fail)
	s.Clock = mapping.CheckTime(m, layoutExamples, fail)
	if len(errs) > 0 {
		return errs, nil
	}
	return nil, s
}

// checkManifest checks the mapping of a manifest source (kind manifest):
// id, bl, containers and at are required, and the keys of an agency
// event (status and its tables, hold, agency, declaration, reason) are
// refused, since a manifest has no such field.
func checkManifest(m *config.Mapping, fail func(key, format string, args ...any)) *settings {
	for _, p := range []struct{ key, path, what string }{
		{"id", m.ID, "the manifest id, unique per source"},
		{"bl", m.BL, "the bill of lading"},
		{"containers", m.Containers, "the array of the B/L's container numbers"},
		{"at", m.At, "the time of the manifest"},
	} {
		if strings.TrimSpace(p.path) == "" {
			fail("mapping."+p.key, "required for a manifest source: the gjson path of %s in a record", p.what)
		}
	}
	for _, p := range []struct {
		key string
		set bool
	}{
		{"status", m.Status != ""}, {"status_values", len(m.StatusValues) > 0},
		{"hold", m.Hold != ""}, {"hold_values", len(m.HoldValues) > 0},
		{"agency", m.Agency != ""}, {"declaration", m.Declaration != ""}, {"reason", m.Reason != ""},
	} {
		if p.set {
			fail("mapping."+p.key, "not used by a manifest source (kind manifest), which links a B/L to its containers and states no decision; remove it")
		}
	}
	return &settings{manifest: true, Clock: mapping.CheckTime(m, layoutExamples, fail)}
}

// layoutExamples are the layouts a reason for a wrong at_layout shows.
const layoutExamples = `"2006-01-02 15:04:05" or "02/01/2006 15:04"`

// checkHold refuses a blank mapping.hold.
func checkHold(m *config.Mapping, fail mapping.Fail) {
	if m.Hold != "" && strings.TrimSpace(m.Hold) == "" {
		fail("mapping.hold", "blank: name the gjson path of the hold type, or leave hold out")
	}
}

// decoder decodes one source's documents.
type decoder struct {
	m      config.Mapping
	agency string // the source's agency, when the mapping names no path
	*settings
}

func newDecoder(cfg config.Source) (adapters.Decoder, error) {
	errs, s := check(cfg)
	c, _ := ConfigOf(cfg) // check reported what did not decode, and then s is nil
	if s != nil && !s.manifest && c.Mapping.Agency == "" && cfg.Agency == "" {
		errs = append(errs, config.KeyError{Key: "agency", Msg: "required: the agency this source speaks for (or mapping.agency)"})
	}
	if len(errs) > 0 {
		list := make([]error, len(errs))
		for i, e := range errs {
			list[i] = fmt.Errorf("source %s: format %s: %s: %s", cfg.Name, Format, e.Key, e.Msg)
		}
		return nil, errors.Join(list...)
	}
	return &decoder{m: *c.Mapping, agency: cfg.Agency, settings: s}, nil
}

// Decode decodes a document into one record per record of the document, or
// one rejection for a document that cannot be read at all. A panic in the
// JSON path library is turned into a rejection of the document, so that one
// poisoned message cannot stop the daemon over and over.
func (d *decoder) Decode(payload []byte) (recs []adapters.Record) {
	defer func() {
		if p := recover(); p != nil {
			recs = []adapters.Record{{Err: state.Reject(state.CodeMalformed, "internal error: the decoder failed on this document: %v", p)}}
		}
	}()
	if !utf8.Valid(payload) {
		return reject(state.Reject(state.CodeMalformed, "payload is not valid UTF-8"))
	}
	if !json.Valid(payload) {
		var v json.RawMessage // for encoding/json's account of the mistake
		err := json.Unmarshal(payload, &v)
		return reject(state.Reject(state.CodeMalformed, "payload is not valid JSON: %v", err))
	}
	doc := string(payload)

	if d.m.Records == "" {
		if !gjson.Parse(doc).IsObject() {
			return reject(state.Reject(state.CodeMalformed, "payload is not a JSON object: %s (set mapping.records for a list of records)", quoteRaw(strings.TrimSpace(doc))))
		}
		if err := jsonstrict.Check(payload); err != nil {
			return reject(jsonfmt.Malformed(err))
		}
		return []adapters.Record{d.decodeRecord(doc)}
	}

	list := gjson.Get(doc, d.m.Records)
	switch {
	case !list.Exists():
		return reject(state.Reject(state.CodeMalformed, "records (path %q): not found in the document", d.m.Records))
	case !list.IsArray():
		return reject(state.Reject(state.CodeMalformed, "records (path %q): want an array, got %s", d.m.Records, quoteRaw(list.Raw)))
	}
	// The document around the records is checked with the records left
	// out, as an empty array in their place; each record is checked on its
	// own below. A list gjson computed (a modifier, a query) has no place
	// in the document (Index 0), so then the whole document is checked.
	shell := payload
	if list.Index > 0 {
		shell = []byte(doc[:list.Index] + "[]" + doc[list.Index+len(list.Raw):])
	}
	if list.Raw != doc {
		if err := jsonstrict.Check(shell); err != nil {
			return reject(jsonfmt.Malformed(err))
		}
	}
	items := list.Array()
	if len(items) > MaxRecords {
		return reject(state.Reject(state.CodeMalformed, "records (path %q): %d records, more than %d in one document", d.m.Records, len(items), MaxRecords))
	}
	recs = make([]adapters.Record, len(items))
	for i, item := range items {
		recs[i].Position = fmt.Sprintf("record %d", i+1)
		if !item.IsObject() {
			recs[i].Err = state.Reject(state.CodeMalformed, "record is not a JSON object: %s", quoteRaw(item.Raw))
			continue
		}
		if err := jsonstrict.Check([]byte(item.Raw)); err != nil {
			recs[i].Err = state.Reject(state.CodeMalformed, "record: %v", err)
			continue
		}
		r := d.decodeRecord(item.Raw)
		r.Position = recs[i].Position
		recs[i] = r
	}
	return recs
}

func reject(err error) []adapters.Record { return []adapters.Record{{Err: err}} }

// field is one of our fields and where the mapping finds it.
type field struct{ name, path string }

// m is the field as the shared mapping code names it in reasons.
func (f field) m() mapping.Field { return mapping.Field{Name: f.name, Path: f.path} }

func (f field) reject(code, format string, args ...any) error {
	return f.m().Reject(code, format, args...)
}

// get returns the field's value in a record; ok is false when the mapping
// names no path or the value is missing or null.
func (f field) get(rec string) (gjson.Result, bool) {
	if f.path == "" {
		return gjson.Result{}, false
	}
	r := gjson.Get(rec, f.path)
	return r, r.Exists() && r.Type != gjson.Null
}

// Value kinds a text field accepts besides strings.
const (
	onlyStrings = iota
	numbers     // JSON numbers, as their text
	scalars     // numbers and booleans, as their text
)

// text returns a field as trimmed text.
func (f field) text(rec string, required bool, accept int) (string, error) {
	r, ok := f.get(rec)
	if !ok {
		if required {
			return "", f.reject(state.CodeInvalidField, "required, not found in the record")
		}
		return "", nil
	}
	var s string
	switch {
	case r.Type == gjson.String:
		s = str(r)
	case r.Type == gjson.Number && accept >= numbers:
		s = r.Raw
	case (r.Type == gjson.True || r.Type == gjson.False) && accept >= scalars:
		s = r.Raw
	default:
		want := [...]string{"a string", "a string or a number", "a string, a number or a boolean"}[accept]
		return "", f.reject(state.CodeInvalidField, "want %s, got %s", want, quoteRaw(r.Raw))
	}
	s = strings.TrimSpace(s)
	if required && s == "" {
		return "", f.reject(state.CodeInvalidField, "must not be empty")
	}
	return s, nil
}

// ref reads an optional reference (B/L, declaration), which becomes a
// store key and so is bounded.
func (f field) ref(rec string) (string, error) {
	v, err := f.text(rec, false, numbers)
	if err != nil {
		return "", err
	}
	return mapping.Ref(f.m(), v)
}

// str unescapes a string result as encoding/json does, so that mapped and
// canonical events read the same text from the same JSON string.
func str(r gjson.Result) string {
	var s string
	if err := json.Unmarshal([]byte(r.Raw), &s); err != nil {
		return r.Str
	}
	return s
}

// decodeRecord decodes one record, a JSON object: a manifest for a
// manifest source, else an agency event.
func (d *decoder) decodeRecord(rec string) adapters.Record {
	if d.manifest {
		ev, err := d.manifestRecord(rec)
		return adapters.Record{Manifest: ev, Err: err}
	}
	ev, err := d.record(rec)
	return adapters.Record{Agency: ev, Err: err}
}

// MaxManifestContainers is the most containers one manifest record may
// link to its B/L, as in the canonical format.
const MaxManifestContainers = jsonfmt.MaxManifestContainers

// manifestRecord decodes one record of a manifest source (DESIGN 3.6): a
// B/L and its complete container list, which replaces the B/L's list when
// it is the newest.
func (d *decoder) manifestRecord(rec string) (*state.ManifestEvent, error) {
	ev := &state.ManifestEvent{}
	var err error
	idf := field{"id", d.m.ID}
	if ev.ID, err = idf.text(rec, true, numbers); err != nil {
		return nil, err
	}
	if err := mapping.CheckID(idf.m(), ev.ID); err != nil {
		return nil, err
	}
	blf := field{"bl", d.m.BL}
	if ev.BL, err = blf.ref(rec); err != nil {
		return nil, err
	}
	if ev.BL == "" {
		return nil, blf.reject(state.CodeInvalidField, "required in a manifest, not found in the record")
	}
	f := field{"containers", d.m.Containers}
	r, ok := f.get(rec)
	switch {
	case !ok:
		return nil, f.reject(state.CodeInvalidField, "required in a manifest, not found in the record (an empty array is a B/L with no containers)")
	case !r.IsArray():
		return nil, f.reject(state.CodeInvalidField, "want an array of container numbers, got %s", quoteRaw(r.Raw))
	}
	items := r.Array()
	if len(items) > MaxManifestContainers {
		return nil, f.reject(state.CodeInvalidField, "want at most %d container numbers, got %d", MaxManifestContainers, len(items))
	}
	if ev.Containers, err = parseList(f, r, items); err != nil {
		return nil, err
	}
	if ev.At, err = d.at(rec); err != nil {
		return nil, err
	}
	return ev, nil
}

// record decodes one record of an agency source, a JSON object.
func (d *decoder) record(rec string) (*state.AgencyEvent, error) {
	ev := &state.AgencyEvent{Agency: d.agency}
	var err error

	idf := field{"id", d.m.ID}
	if ev.ID, err = idf.text(rec, true, numbers); err != nil {
		return nil, err
	}
	if err := mapping.CheckID(idf.m(), ev.ID); err != nil {
		return nil, err
	}

	if d.m.Agency != "" {
		if ev.Agency, err = (field{"agency", d.m.Agency}).text(rec, true, onlyStrings); err != nil {
			return nil, err
		}
	}

	sf := field{"status", d.m.Status}
	word, err := sf.text(rec, true, scalars)
	if err != nil {
		return nil, err
	}
	st, err := d.Status(sf.m(), word)
	if err != nil {
		return nil, err
	}
	ev.Status, ev.Hold = st.St, st.Hold
	if err := d.hold(rec, ev); err != nil {
		return nil, err
	}

	if ev.Containers, err = d.containers(rec); err != nil {
		return nil, err
	}
	if ev.BL, err = (field{"bl", d.m.BL}).ref(rec); err != nil {
		return nil, err
	}
	// A decision on a whole B/L names the B/L and no containers.
	if len(ev.Containers) == 0 && ev.BL == "" {
		f := field{"containers", d.m.Containers}
		return nil, f.reject(state.CodeInvalidField, "want 1 to %d container numbers (or a bl, for a decision on the whole B/L), got none", MaxContainers)
	}
	if ev.Declaration, err = (field{"declaration", d.m.Declaration}).ref(rec); err != nil {
		return nil, err
	}
	if ev.Reason, err = (field{"reason", d.m.Reason}).text(rec, false, onlyStrings); err != nil {
		return nil, err
	}
	ev.Reason = state.CutText(ev.Reason, state.MaxReasonLen)
	if ev.At, err = d.at(rec); err != nil {
		return nil, err
	}
	return ev, nil
}

// hold reads the record's hold type (mapping.hold), translated by
// hold_values when the mapping has them; a hold in the record wins over
// one its status word implies. A hold is meaningful for held and
// hold_removed only: on released or revoked it is refused, as in the
// canonical format.
func (d *decoder) hold(rec string, ev *state.AgencyEvent) error {
	f := field{"hold", strings.TrimSpace(d.m.Hold)}
	word, err := f.text(rec, false, numbers)
	if err != nil {
		return err
	}
	return d.Hold(f.m(), word, ev)
}

func (d *decoder) containers(rec string) ([]string, error) {
	f := field{"containers", d.m.Containers}
	r, ok := f.get(rec)
	if !ok {
		return nil, nil // a B/L-level decision, if the record names a bl
	}
	switch {
	case r.Type == gjson.String:
		return parseList(f, r, []gjson.Result{r})
	case r.IsArray():
		items := r.Array()
		if len(items) > MaxContainers {
			return nil, f.reject(state.CodeInvalidField, "want 1 to %d container numbers, got %d", MaxContainers, len(items))
		}
		return parseList(f, r, items)
	}
	return nil, f.reject(state.CodeInvalidField, "want a container number or an array of them, got %s", quoteRaw(r.Raw))
}

// parseList checks each container number of items (the elements of r, or
// r itself when it is a string) and drops repeats, keeping order.
func parseList(f field, r gjson.Result, items []gjson.Result) ([]string, error) {
	list := make([]string, len(items))
	for i, it := range items {
		if it.Type != gjson.String {
			return nil, f.reject(state.CodeInvalidField, "item %d: want a string, got %s", i, quoteRaw(it.Raw))
		}
		list[i] = str(it)
	}
	return mapping.Containers(f.m(), list, func(i int) string {
		if r.IsArray() {
			return fmt.Sprintf("item %d", i)
		}
		return ""
	})
}

func (d *decoder) at(rec string) (time.Time, error) {
	f := field{"at", d.m.At}
	s, err := f.text(rec, true, onlyStrings)
	if err != nil {
		return time.Time{}, err
	}
	return d.Time(f.m(), s)
}

const maxShown = mapping.MaxShown

// quoteRaw shows raw JSON in a reason, cut to a readable length.
func quoteRaw(raw string) string {
	if raw == "" {
		return "nothing"
	}
	if len(raw) <= maxShown {
		return raw
	}
	cut := maxShown
	for cut > 0 && !utf8.RuneStart(raw[cut]) {
		cut--
	}
	return raw[:cut] + "..."
}
