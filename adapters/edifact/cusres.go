// Package edifact decodes UN/EDIFACT CUSRES (customs response) messages,
// the release and hold notices customs, port community systems and
// terminals exchange, into agency events (DESIGN 3.1), and, for a manifest
// source (kind manifest), CUSCAR (customs cargo report) messages into
// manifests that link bills of lading to their containers (DESIGN 3.6;
// see cuscar.go). It registers the format "edifact" for agency and
// manifest sources.
//
// # The interchange
//
// Parse reads the interchange itself (ISO 9735): the UNA service string
// advice, or the default service characters of the syntax level; the
// release character; the UNB/UNZ envelope, optional UNG/UNE functional
// groups and the UNH/UNT messages, with their references matched and their
// counts checked. A fault there rejects the whole interchange as
// "malformed", positioned at the segment: nothing in a damaged interchange
// is trusted. A payload may hold several interchanges in a row, each with
// its own UNA (ParseAll); each is decoded, and positions then begin with
// "interchange N, ". A damaged interchange is refused alone when its UNZ
// shows where it ends; a fault that hides its end (a segment that cannot
// be read, a payload cut short) ends the reading there.
//
// # The messages
//
// Each message (UNH ... UNT) becomes one record, positioned as
// "message N (UNH ref), segment M (TAG, line L)". A message that is not a
// CUSRES, or has an invalid field, is rejected alone (invalid_field, or
// bad_check_digit for a container) while the others still decode. From a
// CUSRES (directories D.96B and later share these segments) the decoder
// takes:
//
//   - status (and hold type): the GIS segments of the message header
//     (segment table position 0070, before the NAD, RFF and later groups;
//     up to D.96A, where NAD is in the header, before the ERP, RFF and
//     later groups), not those of duty, tax or item groups; their
//     composite C529 (7365 processing indicator code, 1131 code list, 3055
//     code list responsible agency) looked up in the status table below.
//     Every header GIS code must be in the table, or the message is
//     rejected: a code nobody mapped might be a hold. When the codes
//     disagree, a hold wins over a release; codes that do not make one
//     status (a hold removal beside a release, two hold types) reject the
//     message.
//   - containers: every EQD segment with equipment qualifier 8053 = CN,
//     C237 8260 the container number, checked as ISO 6346 (up to 1000 per
//     message; repeats are dropped). A message with a bl (below) and no
//     EQD+CN is a response on the whole B/L, which the engine applies to
//     every container a manifest links to it, now and later; a message
//     with neither is rejected.
//   - declaration: the first RFF with reference qualifier 1153 ABT
//     (customs declaration number), else AAE (goods declaration number).
//   - bl: the first RFF with qualifier BM (bill of lading number), else MB
//     (master bill of lading), else BH (house bill of lading).
//     A reference of either kind longer than state.MaxRefLen (70) rejects
//     the message.
//   - at: the first header DTM with date/time qualifier 2005 = 137
//     (document/message date/time), else 9 (processing date/time), in a
//     format of code list 2379: 101 (YYMMDD), 102 (CCYYMMDD), 201
//     (YYMMDDHHMM), 202 (YYMMDDHHMMSS), 203 (CCYYMMDDHHMM), 204
//     (CCYYMMDDHHMMSS); with a zone, 205 (CCYYMMDDHHMMZHHMM), 206
//     (YYMMDDHHMMZHHMM), 207 (YYMMDDHHMMSSZHHMM), 208
//     (CCYYMMDDHHMMSSZHHMM), 301 to 304 ([CC]YYMMDDHHMM[SS]ZZZ, ZZZ read as
//     ±HH, UTC or GMT); without one, the interchange's date and time of
//     preparation (UNB S004). A time without a zone is read in the
//     daemon's local time zone (TZ), which at a terminal is the port's, or
//     the source's time_zone; a time with one in its own. An offset
//     outside ±23:59 rejects the message.
//   - reason: the BGM document number, the status codes and any header
//     FTX text, cut to state.MaxReasonLen bytes with a marker.
//   - a BGM message function (1225) of 1 (cancellation, "message
//     cancelling a previous transmission for a given transaction") or 3
//     (deletion, "message containing items to be deleted") withdraws an
//     earlier response: the event is revoked (DESIGN 1), whatever its GIS
//     codes say (they describe what is withdrawn and are not looked up).
//     Revoking takes back a release and never frees cargo: if the
//     withdrawn response was a hold, the hold stays until customs lifts
//     it, and a new release is needed.
//   - id: see MessageID.
//
// # The status table
//
// DefaultStatusCodes is the table of UN/EDIFACT code list 7365
// (processing indicator), which CUSRES uses for the customs status:
//
//	code  UN/EDIFACT 7365 meaning                         status
//	4     Goods released                                  released
//	5     Goods required for examination                  held
//	6     All documents or as specified to be produced    held
//	7     Goods detained                                  held
//	9     Declaration accepted, awaiting goods arrival    held
//
// Codes 1 to 3 (message accepted or rejected) and 10 and above are
// acknowledgements, not decisions on the goods, and 8 (goods may move
// under customs transfer) releases or keeps the terminal's hold depending
// on local practice, so none of them is in the default table. The holds
// are the agency's general hold, which a newer release lifts.
//
// A status code is matched as (code, code list, responsible agency), as
// GIS C529 names it. UN 7365's codes apply only where GIS names list 7365
// or no list, with no agency or UN/ECE (3055 code 6): GIS+4:120:ZZZ (code
// 4 of a national list 120, agency ZZZ mutually defined) is not "goods
// released", and a table without that code refuses it.
//
// A source's status_codes replaces the whole table (it is not merged), so
// that a national list whose codes mean something else (many customs
// administrations use their own list, named in C529 1131) can be used as
// is. A key is a code ("4": UN 7365), a code and its code list ("1:120",
// any agency), or a code, list and agency ("1:120:ZZZ"; "1::ZZZ" for a
// GIS that names an agency and no list). The most specific key that
// matches wins. A value is released, held, held:TYPE, hold_removed,
// hold_removed:TYPE or revoked.
package edifact

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/adapters/jsonfmt"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

// Format is the configuration name of the format.
const Format = "edifact"

func init() {
	adapters.RegisterFormat(Format, adapters.FormatKeys[Config](adapters.Format{New: newDecoder, Check: Check}, false))
}

// Config is the keys of an edifact source's own; the common ones are in
// config.Source.
type Config struct {
	// TimeZone is the IANA zone of times sent without an offset; default
	// the daemon's local zone.
	TimeZone string `yaml:"time_zone"`
	// StatusCodes replaces DefaultStatusCodes: code -> released,
	// held[:TYPE], hold_removed[:TYPE] or revoked.
	StatusCodes map[string]string `yaml:"status_codes"`
}

// configOf decodes the own keys of an edifact source, and says which did
// not decode.
func configOf(cfg config.Source) (*Config, []config.KeyError) {
	c := new(Config)
	return c, cfg.Keys.Decode(c)
}

// MaxContainers is the most containers one message may name (DESIGN 3.1).
const MaxContainers = 1000

// DefaultStatusCodes maps UN/EDIFACT 7365 processing indicator codes to
// agency statuses; see the package documentation.
var DefaultStatusCodes = map[string]state.Status{
	"4": state.Released,
	"5": state.Held,
	"6": state.Held,
	"7": state.Held,
	"9": state.Held,
}

// Decoder decodes CUSRES interchanges for one agency source.
type Decoder struct {
	// manifest says the source is a manifest source (kind manifest): its
	// messages are CUSCAR cargo reports (see cuscar.go), not CUSRES.
	manifest bool
	agency   string
	codes    map[string]entry
	loc      *time.Location
}

// entry is what a status table maps a code to: a status of DESIGN 3.1 and,
// for held and hold_removed, optionally a hold type.
type entry struct {
	status state.Status
	hold   string
}

func (e entry) String() string {
	if e.hold == "" {
		return string(e.status)
	}
	return string(e.status) + ":" + e.hold
}

func newDecoder(cfg config.Source) (adapters.Decoder, error) {
	return New(cfg)
}

// New builds the decoder for an agency source: its events are the source's
// agency's, and its status table is DefaultStatusCodes or the source's
// status_codes.
func New(cfg config.Source) (*Decoder, error) {
	errs := Check(cfg)
	if cfg.Kind == config.KindAgency && cfg.Agency == "" {
		// Config validation reports this for every agency source.
		errs = append(errs, config.KeyError{Key: "agency", Msg: "format edifact needs the agency its CUSRES messages speak for"})
	}
	if len(errs) > 0 {
		msgs := make([]string, len(errs))
		for i, e := range errs {
			msgs[i] = e.Key + ": " + e.Msg
		}
		return nil, fmt.Errorf("source %s: format edifact: %s", cfg.Name, strings.Join(msgs, "; "))
	}
	c, _ := configOf(cfg) // Check reported what did not decode
	d := &Decoder{manifest: cfg.Kind == config.KindManifest, agency: cfg.Agency, codes: make(map[string]entry, len(DefaultStatusCodes)), loc: time.Local}
	for k, st := range DefaultStatusCodes {
		d.codes[k] = entry{status: st}
	}
	if c.TimeZone != "" {
		loc, err := time.LoadLocation(c.TimeZone)
		if err != nil {
			return nil, fmt.Errorf("edifact: time_zone: %w", err)
		}
		d.loc = loc
	}
	if len(c.StatusCodes) > 0 {
		d.codes = make(map[string]entry, len(c.StatusCodes))
		for k, v := range c.StatusCodes {
			st, hold, _ := jsonfmt.ParseStatusSpec(v) // Check checked it
			d.codes[strings.TrimSpace(k)] = entry{st, hold}
		}
	}
	return d, nil
}

// Check checks the settings of a source whose format is edifact, for
// adapters.Format.Check: it must not be a tos source, and every
// status_codes entry must map a well-formed key to a status (with an
// optional hold type for held and hold_removed). Keys
// are relative to the source ("status_codes.4"), and time_zone must name
// a zone. What config validation already checks of every source (kind,
// agency) is not reported again.
func Check(cfg config.Source) []config.KeyError {
	c, errs := configOf(cfg)
	if c.TimeZone != "" {
		if _, err := time.LoadLocation(c.TimeZone); err != nil {
			errs = append(errs, config.KeyError{Key: "time_zone", Msg: fmt.Sprintf("unknown time zone %q: %v", c.TimeZone, err)})
		}
	}
	switch cfg.Kind {
	case config.KindTOS:
		errs = append(errs, config.KeyError{Key: "format", Msg: fmt.Sprintf("edifact decodes customs responses (CUSRES) for an agency source and cargo reports (CUSCAR) for a manifest source; kind must be %q or %q, got %q", config.KindAgency, config.KindManifest, cfg.Kind)})
	case config.KindManifest:
		if len(c.StatusCodes) > 0 {
			errs = append(errs, config.KeyError{Key: "status_codes", Msg: "not used by a manifest source: its CUSCAR messages link bills of lading to containers and state no customs status"})
		}
		return errs
	}
	for _, k := range slices.Sorted(maps.Keys(c.StatusCodes)) {
		v := c.StatusCodes[k]
		key := "status_codes." + k
		if err := checkCodeKey(strings.TrimSpace(k)); err != "" {
			errs = append(errs, config.KeyError{Key: key, Msg: err})
		}
		if _, _, err := jsonfmt.ParseStatusSpec(v); err != nil {
			errs = append(errs, config.KeyError{Key: key, Msg: fmt.Sprintf("code %q: %v", k, err)})
		}
	}
	return errs
}

// checkCodeKey checks a status table key: a processing indicator code
// (7365, an..3), optionally followed by ':' and its code list (1131,
// an..17), and optionally by ':' and the list's responsible agency (3055,
// an..3): "4", "1:120", "1:120:ZZZ", "1::ZZZ".
func checkCodeKey(k string) string {
	parts := strings.Split(k, ":")
	switch {
	case len(parts) > 3:
		return fmt.Sprintf("key %q: want code, code:list or code:list:agency", k)
	case !codeChars(parts[0], 3):
		return fmt.Sprintf("key %q: want a processing indicator code of 1 to 3 letters or digits, optionally with its code list (\"1:120\") and agency (\"1:120:ZZZ\")", k)
	case len(parts) == 2 && !codeChars(parts[1], 17):
		return fmt.Sprintf("key %q: the code list after ':' must be 1 to 17 letters or digits", k)
	case len(parts) == 3 && parts[1] != "" && !codeChars(parts[1], 17):
		return fmt.Sprintf("key %q: the code list must be 1 to 17 letters or digits (or empty, for a GIS that names an agency and no list)", k)
	case len(parts) == 3 && !codeChars(parts[2], 3):
		return fmt.Sprintf("key %q: the responsible agency (3055) after the second ':' must be 1 to 3 letters or digits", k)
	}
	return ""
}

func codeChars(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) {
			return false
		}
	}
	return true
}

// Decode decodes every interchange of the payload: one record per
// message, or a single malformed record for an interchange that is
// damaged. With several interchanges, positions start with "interchange
// N, ".
func (d *Decoder) Decode(payload []byte) []adapters.Record {
	items := ParseAll(payload)
	prefix := func(k int) string {
		if len(items) == 1 {
			return ""
		}
		return fmt.Sprintf("interchange %d, ", k+1)
	}
	var recs []adapters.Record
	for k, it := range items {
		if it.Err != nil {
			se := it.Err.(*SyntaxError)
			recs = append(recs, adapters.Record{Err: state.Reject(state.CodeMalformed, "%s", se.Reason), Position: prefix(k) + se.Position})
			continue
		}
		ic := it.Interchange
		if len(ic.Messages) == 0 {
			recs = append(recs, adapters.Record{
				Err:      state.Reject(state.CodeMalformed, "interchange %q from %q holds no messages", ic.ControlRef, ic.Sender),
				Position: prefix(k) + fmt.Sprintf("segment %d (UNZ)", ic.Segments),
			})
			continue
		}
		for i := range ic.Messages {
			m := &ic.Messages[i]
			if d.manifest {
				recs = append(recs, d.cuscar(ic, m, prefix(k))...)
				continue
			}
			ev, at, err := d.message(ic, m)
			recs = append(recs, adapters.Record{Agency: ev, Err: err, Position: prefix(k) + fmt.Sprintf("message %d (UNH %s), %s", m.Number, m.Ref, at.Position())})
		}
	}
	return recs
}

// MessageID is the event id of a message: the interchange sender (UNB
// S002 0004), the date and time of preparation (S004), the interchange
// control reference (UNB 0020), the group reference (UNG 0048) if any and
// the message reference (UNH 0062), joined by '/', e.g.
// "NZCS/1809130028/24933/48677".
//
// ISO 9735 makes the control reference unique per sender and the message
// reference unique within its interchange, so the id is unique per source
// even when a port community system relays several senders; the
// preparation time keeps it unique when a sender's counter wraps round
// (five-digit counters do within the journal's retention). The same
// interchange delivered twice has the same id, so the second delivery is a
// duplicate. The BGM document number is not used: customs sends several
// responses with one document number (a hold, then the release).
func MessageID(ic *Interchange, m *Message) string {
	parts := []string{ic.Sender, ic.Date + ic.Time, ic.ControlRef}
	if m.Group != "" {
		parts = append(parts, m.Group)
	}
	parts = append(parts, m.Ref)
	for i, p := range parts {
		parts[i] = idEscaper.Replace(p)
	}
	return strings.Join(parts, "/")
}

var idEscaper = strings.NewReplacer("%", "%25", "/", "%2F")

// Reference qualifiers (1153) for the event's references, best first.
var (
	declarationQualifiers = []string{"ABT", "AAE"}
	blQualifiers          = []string{"BM", "MB", "BH"}
	// dateQualifiers (2005) for the event's time, best first.
	dateQualifiers = []string{"137", "9"}
)

// headerTags are the segments of the CUSRES message header, before the
// first segment group (D.96B and later: NAD starts segment group 1).
var headerTags = []string{"BGM", "DTM", "FTX", "TDT", "LOC", "GIS", "EQD"}

// oldHeaderTags are the header of the directories up to D.96A, where NAD
// comes before GIS in the header (UNH BGM NAD LOC DTM GIS FTX EQD).
var oldHeaderTags = []string{"BGM", "NAD", "LOC", "DTM", "GIS", "FTX", "EQD"}

// oldReleases are the directory releases with the old CUSRES header.
var oldReleases = []string{"93A", "94A", "94B", "95A", "95B", "96A"}

// message maps one message to an event, or gives the rejection and the
// segment it concerns.
func (d *Decoder) message(ic *Interchange, m *Message) (*state.AgencyEvent, *Segment, error) {
	unh := &m.Segments[0]
	if m.Type != "CUSRES" {
		return nil, unh, state.Reject(state.CodeInvalidField, "UNH S009 0065 (message type): want CUSRES, got %q", m.Type)
	}
	ev := &state.AgencyEvent{ID: MessageID(ic, m), Agency: d.agency}
	inHeader := headerTags
	if m.Version == "D" && slices.Contains(oldReleases, m.Release) {
		inHeader = oldHeaderTags
	}
	var (
		bgm        *Segment
		header     = true
		gis        []*Segment
		refs       = map[string]string{}
		dates      = map[string]*Segment{}
		freeText   []string
		containers []string
	)
	for i := 1; i < len(m.Segments)-1; i++ {
		s := &m.Segments[i]
		if header && !slices.Contains(inHeader, s.Tag) {
			header = false
		}
		switch s.Tag {
		case "BGM":
			if bgm == nil {
				bgm = s
			}
		case "GIS":
			if header {
				gis = append(gis, s)
			}
			// Outside the header: a duty, tax or item indicator, not the
			// message's status.
		case "DTM":
			if q := s.Value(0, 0); header && dates[q] == nil {
				dates[q] = s
			}
		case "FTX":
			if header {
				if t := strings.TrimSpace(strings.Join(nonEmpty(elementAt(s, 3)), " ")); t != "" {
					freeText = append(freeText, t)
				}
			}
		case "RFF":
			q, v := s.Value(0, 0), strings.TrimSpace(s.Value(0, 1))
			if !slices.Contains(declarationQualifiers, q) && !slices.Contains(blQualifiers, q) {
				continue
			}
			// RFF 1154 is an..70 in the later directories, state.MaxRefLen.
			field := "bl"
			if slices.Contains(declarationQualifiers, q) {
				field = "declaration"
			}
			if err := state.CheckRef(field, v); err != nil {
				return nil, s, state.Reject(state.CodeInvalidField, "RFF %s reference: %s", q, err.(*state.Rejection).Reason)
			}
			if _, seen := refs[q]; !seen && v != "" {
				refs[q] = v
			}
		case "EQD":
			if s.Value(0, 0) != "CN" {
				continue // not a container: break bulk, trailer, ...
			}
			raw := s.Value(1, 0)
			if strings.TrimSpace(raw) == "" {
				return nil, s, state.Reject(state.CodeInvalidField, "EQD+CN C237 8260 (equipment identification): the container number is missing")
			}
			id, err := state.ParseContainer(raw)
			if err != nil {
				rej := err.(*state.Rejection)
				return nil, s, state.Reject(rej.Code, "EQD+CN C237 8260 (equipment identification): %s", rej.Reason)
			}
			if !slices.Contains(containers, id) {
				if len(containers) == MaxContainers {
					return nil, s, state.Reject(state.CodeInvalidField, "EQD: more than %d containers in one message", MaxContainers)
				}
				containers = append(containers, id)
			}
		}
	}
	if bgm == nil {
		return nil, unh, state.Reject(state.CodeInvalidField, "BGM (beginning of message) is missing")
	}
	var statuses []string
	function := bgm.Value(2, 0)
	if name, ok := withdrawals[function]; ok {
		// UN/EDIFACT 1225 (message function code): 1 cancellation,
		// "message cancelling a previous transmission for a given
		// transaction"; 3 deletion, "message containing items to be
		// deleted". Either withdraws what an earlier response said about
		// these containers. If that was a release, it no longer stands;
		// if it was a hold, withdrawing it could free cargo only if
		// portsync guessed. So both revoke the release (DESIGN 1), which
		// never frees anything: a hold stays until customs lifts it, and
		// the cargo waits for a new release. The GIS codes, describing
		// what is withdrawn, are not looked up.
		ev.Status = state.Revoked
		statuses = append(statuses, fmt.Sprintf("withdrawn by BGM 1225 %s (%s)", function, name))
		for _, g := range gis {
			statuses = append(statuses, cut(strings.Join(elementAt(g, 0), ":"), 40))
		}
	} else {
		var (
			e   entry
			bad *Segment
			err error
		)
		e, statuses, bad, err = d.status(gis)
		if err != nil {
			if bad == nil {
				bad = bgm
			}
			return nil, bad, err
		}
		ev.Status, ev.Hold = e.status, e.hold
	}
	ev.Containers = containers
	ev.Declaration = first(refs, declarationQualifiers)
	ev.BL = first(refs, blQualifiers)
	// A response on a whole B/L names it (RFF+BM, MB or BH) and no
	// container: the engine applies it to every container linked to the
	// B/L, now and later.
	if len(containers) == 0 && ev.BL == "" {
		return nil, unh, state.Reject(state.CodeInvalidField, "no container and no bill of lading: want 1 to %d EQD+CN segments with ISO 6346 numbers, or an RFF+BM (MB, BH) for a response on a whole B/L", MaxContainers)
	}

	at, err := d.at(ic, dates, dateQualifiers)
	if err != nil {
		if at.seg == nil {
			at.seg = unh
		}
		return nil, at.seg, err
	}
	ev.At = at.t

	doc := strings.TrimSpace(bgm.Value(1, 0))
	reason := fmt.Sprintf("CUSRES %s: status %s", cut(doc, 70), strings.Join(statuses, ", "))
	if len(freeText) > 0 {
		reason += ": " + strings.Join(freeText, " ")
	}
	ev.Reason = state.CutText(reason, state.MaxReasonLen)
	return ev, unh, nil
}

// withdrawals are the BGM message functions (1225) that withdraw an
// earlier response.
var withdrawals = map[string]string{"1": "cancellation", "3": "deletion"}

// status reads the header GIS segments: every code must be in the table,
// and together they must make one status. A release beside holds is held
// (the stricter, as before); anything else that differs (a hold removal
// beside a release, two hold types) cannot be one event and is refused.
// It returns the status, the codes for the reason, and on error the
// segment at fault.
func (d *Decoder) status(gis []*Segment) (entry, []string, *Segment, error) {
	if len(gis) == 0 {
		return entry{}, nil, nil, state.Reject(state.CodeInvalidField, "no GIS status segment in the message header: want GIS with a code of the status table (%s)", d.known())
	}
	var (
		got      []entry
		statuses []string
	)
	for _, s := range gis {
		code, list, agency := s.Value(0, 0), s.Value(0, 1), s.Value(0, 2)
		e, ok := d.lookup(code, list, agency)
		if !ok {
			return entry{}, nil, s, state.Reject(state.CodeInvalidField, "GIS C529 7365 (processing indicator): status code %q%s is not in the status table (%s); map it in status_codes", cut(code, 20), listNote(list, agency), d.known())
		}
		if !slices.Contains(got, e) {
			got = append(got, e)
		}
		statuses = append(statuses, fmt.Sprintf("%s (%s)", code, e))
	}
	if len(got) == 1 {
		return got[0], statuses, nil, nil
	}
	var held []entry
	other := false
	for _, e := range got {
		switch e.status {
		case state.Held:
			held = append(held, e)
		case state.Released:
		default:
			other = true
		}
	}
	if !other && len(held) == 1 {
		return held[0], statuses, nil, nil
	}
	return entry{}, nil, gis[0], state.Reject(state.CodeInvalidField, "GIS status codes %s do not make one status: an event states one status of one hold type (a release beside one hold is that hold)", strings.Join(statuses, ", "))
}

// lookup finds a status code by what its GIS C529 names: code, code list
// (1131) and responsible agency (3055) first, then code and list, and the
// bare code only for UN/EDIFACT code list 7365 itself: a GIS that names no
// list, or list 7365, with no agency or UN/ECE (3055 code 6). Code 4 of a
// national list is not code 4 of 7365; a table that lacks it refuses it.
func (d *Decoder) lookup(code, list, agency string) (entry, bool) {
	if agency != "" {
		if e, ok := d.codes[code+":"+list+":"+agency]; ok {
			return e, true
		}
	}
	if list != "" {
		if e, ok := d.codes[code+":"+list]; ok {
			return e, true
		}
	}
	if (list == "" || list == "7365") && (agency == "" || agency == "6") {
		e, ok := d.codes[code]
		return e, ok
	}
	return entry{}, false
}

func listNote(list, agency string) string {
	switch {
	case list == "" && agency == "":
		return ""
	case agency == "":
		return fmt.Sprintf(" (code list %q)", cut(list, 20))
	}
	return fmt.Sprintf(" (code list %q, agency %q)", cut(list, 20), cut(agency, 20))
}

// known lists the status table for a reason.
func (d *Decoder) known() string {
	keys := slices.Sorted(maps.Keys(d.codes))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + " " + d.codes[k].String()
	}
	return "known: " + strings.Join(parts, ", ")
}

func first(refs map[string]string, qualifiers []string) string {
	for _, q := range qualifiers {
		if v, ok := refs[q]; ok {
			return v
		}
	}
	return ""
}

func elementAt(s *Segment, e int) []string {
	if e < len(s.Elements) {
		return s.Elements[e]
	}
	return nil
}

func nonEmpty(vs []string) []string {
	var out []string
	for _, v := range vs {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

type timeAt struct {
	t   time.Time
	seg *Segment
}

// at picks the event time: a header DTM by qualifier preference, else the
// UNB preparation date and time.
func (d *Decoder) at(ic *Interchange, dates map[string]*Segment, qualifiers []string) (timeAt, error) {
	for _, q := range qualifiers {
		s := dates[q]
		if s == nil {
			continue
		}
		t, err := ParseDTM(s.Value(0, 1), s.Value(0, 2), d.loc)
		if err != nil {
			return timeAt{seg: s}, state.Reject(state.CodeInvalidField, "DTM %s C507 (date/time/period): %v", q, err)
		}
		if t.Year() < 1970 {
			return timeAt{seg: s}, state.Reject(state.CodeInvalidField, "DTM %s C507 (date/time/period): %q is before 1970", q, s.Value(0, 1))
		}
		if err := checkOffset(t); err != nil {
			return timeAt{seg: s}, state.Reject(state.CodeInvalidField, "DTM %s C507 (date/time/period): %q in time_zone %s: %v", q, s.Value(0, 1), d.loc, err)
		}
		return timeAt{t: t, seg: s}, nil
	}
	t, err := PreparedAt(ic.Date, ic.Time, d.loc)
	if err == nil && t.Year() < 1970 {
		err = fmt.Errorf("%s %s is before 1970", ic.Date, ic.Time)
	}
	if err == nil {
		if err = checkOffset(t); err != nil {
			err = fmt.Errorf("%s %s in time_zone %s: %w", ic.Date, ic.Time, d.loc, err)
		}
	}
	if err != nil {
		return timeAt{}, state.Reject(state.CodeInvalidField, "no header DTM %s, and UNB S004 (date and time of preparation): %v", strings.Join(qualifiers, " or "), err)
	}
	return timeAt{t: t}, nil
}

// checkOffset applies state.CheckOffset to a time read in the source's
// zone. EDIFACT times carry no offset, but the zone's tzdata gives one, and
// time.LoadLocation reads whatever TZif file ZONEINFO names; a time the
// store cannot write as JSON must be refused here. The error is the
// check's finding, for the caller to word with its segment.
func checkOffset(t time.Time) error {
	if err := state.CheckOffset("at", t); err != nil {
		_, detail, _ := strings.Cut(err.(*state.Rejection).Reason, ": ")
		return errors.New(detail)
	}
	return nil
}

// Zone parts of the date/time formats (2379).
const (
	noZone = iota
	zhhmm  // Z = leading plus/minus sign, HHMM = difference to UTC (205-208)
	zzz    // ZZZ = time zone: here ±HH, or UTC or GMT (301-304)
)

// dtmLayouts are the date/time formats (UN/EDIFACT code list 2379) the
// decoder reads: a Go layout of the same length as the value's date and
// time, and the part that states the zone. From the UNTDID directory:
// 203 CCYYMMDDHHMM "calendar date including time with minutes", 205
// CCYYMMDDHHMMZHHMM "calendar date including time and time zone expressed
// in hours and minutes; ZHHMM = time zone given as offset from
// Coordinated Universal Time (UTC)", 206 to 208 the same for YYMMDDHHMM,
// YYMMDDHHMMSS and CCYYMMDDHHMMSS (208 from D.12A), and 301 to 304
// ([CC]YYMMDDHHMM[SS]ZZZ) "see 201 to 204 plus Z = time zone". ZZZ is three
// characters that 2379 does not spell out: portsync reads the signed hour
// (+08, -05) and UTC or GMT, and refuses zone names (CET, EST), which are
// ambiguous. A time with a zone is read in it, not in the source's
// time_zone, and its offset must lie within ±23:59 (state.CheckOffset).
var dtmLayouts = map[string]struct {
	layout, name string
	zone         int
}{
	"101": {"060102", "YYMMDD", noZone},
	"102": {"20060102", "CCYYMMDD", noZone},
	"201": {"0601021504", "YYMMDDHHMM", noZone},
	"202": {"060102150405", "YYMMDDHHMMSS", noZone},
	"203": {"200601021504", "CCYYMMDDHHMM", noZone},
	"204": {"20060102150405", "CCYYMMDDHHMMSS", noZone},
	"205": {"200601021504", "CCYYMMDDHHMMZHHMM", zhhmm},
	"206": {"0601021504", "YYMMDDHHMMZHHMM", zhhmm},
	"207": {"060102150405", "YYMMDDHHMMSSZHHMM", zhhmm},
	"208": {"20060102150405", "CCYYMMDDHHMMSSZHHMM", zhhmm},
	"301": {"0601021504", "YYMMDDHHMMZZZ", zzz},
	"302": {"060102150405", "YYMMDDHHMMSSZZZ", zzz},
	"303": {"200601021504", "CCYYMMDDHHMMZZZ", zzz},
	"304": {"20060102150405", "CCYYMMDDHHMMSSZZZ", zzz},
}

// ParseDTM parses a DTM value (2380) in its format (2379), in loc unless
// the format states its own zone.
func ParseDTM(value, format string, loc *time.Location) (time.Time, error) {
	f, ok := dtmLayouts[format]
	if !ok {
		codes := slices.Sorted(maps.Keys(dtmLayouts))
		return time.Time{}, fmt.Errorf("format code 2379 %q is not one of %s", cut(format, 20), strings.Join(codes, ", "))
	}
	bad := fmt.Errorf("%q is not a date in format %s (%s)", cut(value, 40), format, f.name)
	clock, zone := value, ""
	switch f.zone {
	case zhhmm:
		if len(value) != len(f.layout)+5 {
			return time.Time{}, bad
		}
		clock, zone = value[:len(f.layout)], value[len(f.layout):]
	case zzz:
		if len(value) != len(f.layout)+3 {
			return time.Time{}, bad
		}
		clock, zone = value[:len(f.layout)], value[len(f.layout):]
	}
	if f.zone != noZone {
		off, err := parseZone(zone, f.zone)
		if err != nil {
			return time.Time{}, fmt.Errorf("%s: %v", bad, err)
		}
		loc = time.FixedZone("", off)
	}
	t, err := digits(clock, f.layout, loc)
	if err != nil {
		return time.Time{}, bad
	}
	if f.zone != noZone {
		if err := state.CheckOffset("at", t); err != nil {
			_, detail, _ := strings.Cut(err.(*state.Rejection).Reason, ": ")
			return time.Time{}, fmt.Errorf("%q in format %s (%s): %s", cut(value, 40), format, f.name, detail)
		}
	}
	return t, nil
}

// parseZone reads the zone part of a value: ±HHMM, or ±HH, UTC or GMT.
// It returns the offset in seconds east of UTC.
func parseZone(z string, kind int) (int, error) {
	if kind == zzz && (z == "UTC" || z == "GMT") {
		return 0, nil
	}
	if z == "" || (z[0] != '+' && z[0] != '-') || !allDigits(z[1:]) {
		if kind == zzz {
			return 0, fmt.Errorf("time zone %q: want +HH, -HH, UTC or GMT", z)
		}
		return 0, fmt.Errorf("time zone %q: want a sign and HHMM", z)
	}
	h, m := atoi(z[1:3]), 0
	if kind == zhhmm {
		m = atoi(z[3:5])
	}
	if m > 59 {
		return 0, fmt.Errorf("time zone %q: minutes above 59", z)
	}
	off := h*3600 + m*60
	if z[0] == '-' {
		off = -off
	}
	return off, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func atoi(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

// PreparedAt parses the date and time of preparation of a UNB (S004: 0017
// YYMMDD, or CCYYMMDD from syntax version 4; 0019 HHMM) in loc (UTC if
// nil).
func PreparedAt(date, clock string, loc *time.Location) (time.Time, error) {
	if loc == nil {
		loc = time.UTC
	}
	layout := "060102"
	if len(date) == 8 {
		layout = "20060102"
	}
	t, err := digits(date+clock, layout+"1504", loc)
	if err != nil || len(date) != len(layout) || len(clock) != 4 {
		return time.Time{}, fmt.Errorf("want date YYMMDD or CCYYMMDD and time HHMM, got %q and %q", cut(date, 20), cut(clock, 20))
	}
	return t, nil
}

// digits parses an all-digit value of exactly the layout's length.
func digits(v, layout string, loc *time.Location) (time.Time, error) {
	if len(v) != len(layout) {
		return time.Time{}, fmt.Errorf("length %d, want %d", len(v), len(layout))
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return time.Time{}, fmt.Errorf("not all digits")
		}
	}
	return time.ParseInLocation(layout, v, loc)
}
