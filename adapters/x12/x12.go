// Package x12 decodes the ANSI X12 350 U.S. Customs Status Information
// transaction set, in which U.S. Customs and Border Protection (CBP) tells
// carriers, terminal operators and port authorities which bills of lading
// it releases or holds. It registers the format "x12_350" for agency
// sources (kind: agency); every event it decodes speaks for the source's
// agency.
//
// # Envelope
//
// A message holds one interchange (ISA ... IEA) or several in a row. The
// ISA is fixed width: its 4th character is the element separator, ISA11 the
// repetition separator (from version 00402 on; before, the letter U), ISA16
// the component separator and the character after ISA16 the segment
// terminator, so every interchange may use its own. Line breaks after
// terminators are skipped. Each interchange holds functional groups
// (GS ... GE) of transaction sets (ST ... SE). The parser checks that
// IEA01 counts the groups, IEA02 repeats ISA13, GE01 counts the
// transaction sets of its group, GE02 repeats GS06 (unique in the
// interchange) and every ST has its SE. Any of these failing, a segment
// outside its envelope, an unreadable segment or an ISA that is not of
// fixed width is an envelope error: it rejects the whole interchange, as
// one record with code malformed and Position "segment M" (M counts the
// segments of the message from 1; line breaks are not segments). Reading
// goes on after that interchange's IEA. Interchanges marked as test data
// (ISA15 T) are refused whole as invalid_field: a test message must not
// free real cargo.
//
// # Transaction sets and dispositions
//
// A transaction set whose ST01 is not 350, whose SE01 does not count its
// segments (ST to SE), whose SE02 does not repeat ST02, whose ST02 repeats
// another in its group, that has an N7 outside an X4 loop or a VID outside a
// P4 loop, or that carries no X4 at all, is rejected alone, as one record
// with Position "transaction N (segment M)": the Nth ST of the message, M
// counting that transaction's segments from its ST (as X12
// acknowledgements do). Segments the mapping does not use (M10, V9, K1 at
// port level, M7, ...) and segments this package does not know are
// ignored, as unknown JSON fields are.
//
// One X4 (Customs Release Information) segment is one disposition: the
// X4 loop repeats up to 9999 times in a transaction set, and each X4
// carries its own bill of lading, date, time and disposition code (CBP's
// 350 guide: "the X4 segment is provided for Bill of Lading status
// notifications"). So each X4 becomes one agency event (or one rejection),
// with the Position of its X4, and a bad X4 rejects only itself. An event
// is built from:
//
//   - status: X407 (disposition code) looked up in the disposition table
//     below; a code not in it is rejected (invalid_field).
//   - at: X405 (date, CCYYMMDD, or YYMMDD in 003xxx versions) and X406
//     (time, HHMM[SS[D[D]]]; absent means 00:00), in the zone X417 names
//     (X12 time codes UT, GM, ET, ES, ED, CT, ..., NT). Without X417, or
//     with LT (local time), in the daemon's local time zone (TZ), which at
//     a terminal is the port's, as the edifact format reads its times. A
//     zone whose offset is outside ±23:59 rejects the X4.
//   - containers: the equipment of the X4 itself (X411 initial + X412
//     number) and of the N7 segments of its loop (N701 + N702); when it
//     has none, the VID segments of its P4 loop (VID02 + VID03), which is
//     where CBP's 006050 guide puts the equipment. Each must be an ISO 6346
//     number with the right check digit (bad_check_digit names the right
//     digit, Position names the segment); repeats are dropped; 1 to 1000.
//     An X4 that names no container is rejected: portsync holds
//     containers, not bills.
//   - bl: X401 (bill of lading), else X408 (house bill), else the N902 of
//     an N9 with qualifier BM or MB in the X4 loop.
//   - declaration: X404 (customs entry number).
//     Either reference longer than state.MaxRefLen (70) rejects the X4.
//   - reason: the code, its name and the first K1 remark of the loop
//     (cut to 80 bytes, well inside state.MaxReasonLen).
//   - id: "ISA06:ISA13:GS06:ST02:k", k the X4's ordinal in its
//     transaction set. ISA13 is unique per sender (ISA06), GS06 per
//     interchange and ST02 per group, so the id is unique per source and
//     the same each time the same interchange is delivered again: a resent
//     file is recognised as a duplicate, not applied twice.
//
// # Disposition table
//
// The default table follows CBP's disposition codes (CATAIR Appendix N):
//
//	released  1B  released: intensive examination completed
//	          1C  entered and released: general examination
//	          1J  in-bond movement authorized
//	          1W  within-port transfer (PTT) authorized
//	          4C  override: earlier 1A changed to 1C, released
//	held      1A  entered: intensive examination required
//	          1G  customs hold placed at port of in-bond destination
//	          1H  customs hold placed at port of discharge
//	          1T  seized
//	          2G  USDA hold placed at port of in-bond destination
//	          2H  USDA hold placed at port of discharge
//	          2O  ISF hold: no ISF on file
//	          2P  ISF hold: ISF compliance
//	          2Q  do not load: no ISF
//	          2R  do not load: ISF compliance
//	          3G  other government agency hold placed at port of in-bond destination
//	          3H  other government agency hold placed at port of discharge
//	          4A  override: earlier release withdrawn
//	          4E  entry cancelled
//	          5H  entry processing hold
//	          6H  do not load
//	          7H  NII (non-intrusive inspection) exam ordered
//	          71  USDA intensive hold placed at port of discharge
//	          72  USDA inspection/document review hold placed at port of discharge
//	          73  USDA fumigation hold placed at port of discharge
//	          77  USDA intensive hold placed at port of in-bond destination
//	          78  USDA inspection/document review hold placed at port of in-bond destination
//	          79  USDA fumigation hold placed at port of in-bond destination
//	          97  conveyance hold
//	          A3  FDA prior notice missing: movement denied
//	          F0  PGA enforcement: denied entry hold
//	          F1  PGA enforcement: denied entry hold at in-bond destination
//	          F4  PGA enforcement: seal check hold
//	          F5  PGA enforcement: seal check hold at in-bond destination
//
// 1J and 1W count as releases because they authorise the container to
// leave the terminal (under bond, or to a CFS); a terminal that wants only
// entry releases maps them to held.
//
// The codes that remove one hold (1I, 1F, 2I, 3I, 4O, 4P, 5I, 6I, 7I,
// 74-76, 80-82, F2, F3, F6, F7, ...) are not in the table on purpose. CBP
// lets cargo go only when it is released and no other hold remains; a
// removal restores the bill's earlier state, which the message does not
// carry, and portsync keeps one status per container and agency. Mapping a
// removal to released would free cargo that was held before it was ever
// entered; so by default a removal is dead-lettered, with a reason that
// says so, and the operator sees the invalid_input alert. Advisory codes
// (arrivals, bill adds, ISF on file, ...) are neither and are dead-lettered
// too: nothing is dropped silently.
//
// A source's status_codes override the table code by code (code ->
// released or held); codes not named keep their default. Codes are 2 or 3
// upper-case letters and digits, as X407 is. This differs from the edifact
// format, whose status_codes replace its whole table because customs
// administrations use their own code lists: CBP's disposition codes are
// one list, and merging means that an operator who adds one code keeps
// every hold of the default.
package x12

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

// FormatName is the configuration name of the format.
const FormatName = "x12_350"

// MaxContainers is the most containers one disposition may name (DESIGN
// 3.1).
const MaxContainers = 1000

func init() {
	adapters.RegisterFormat(FormatName, adapters.Format{New: New, Check: CheckConfig})
}

// decoder decodes 350 interchanges for one source.
type decoder struct {
	agency string
	codes  map[string]state.Status
	zone   *time.Location // for X406 times without X417, or with LT: time.Local
}

// New builds the decoder of an x12_350 source. It fails, naming the key,
// on a status_codes entry that is not released or held, or a source that
// is not an agency source.
func New(cfg config.Source) (adapters.Decoder, error) {
	d, errs := build(cfg)
	switch {
	case cfg.Kind != config.KindAgency && cfg.Kind != config.KindTOS:
		errs = append(errs, config.KeyError{Key: "kind", Msg: fmt.Sprintf("format %s needs kind %q, got %q", FormatName, config.KindAgency, cfg.Kind)})
	case cfg.Kind == config.KindAgency && cfg.Agency == "":
		errs = append(errs, config.KeyError{Key: "agency", Msg: fmt.Sprintf("format %s needs the agency its dispositions speak for", FormatName)})
	}
	if len(errs) > 0 {
		msgs := make([]string, len(errs))
		for i, e := range errs {
			msgs[i] = fmt.Sprintf("source %s: %s: %s", cfg.Name, e.Key, e.Msg)
		}
		return nil, errors.New(strings.Join(msgs, "; "))
	}
	return d, nil
}

// CheckConfig checks the keys an x12_350 source reads, for
// adapters.Format.Check: status_codes (each code 2 or 3 upper-case letters
// and digits, each value released or held), and that the source is not a
// tos source. Keys are relative to the source ("status_codes.1C"). What
// config validation checks already (kind, agency) is not repeated. Sources
// of other formats get no errors.
func CheckConfig(cfg config.Source) []config.KeyError {
	if cfg.Format != FormatName {
		return nil
	}
	_, errs := build(cfg)
	return errs
}

func build(cfg config.Source) (*decoder, []config.KeyError) {
	var errs []config.KeyError
	if cfg.Kind == config.KindTOS {
		errs = append(errs, config.KeyError{Key: "format", Msg: fmt.Sprintf("format %s carries customs dispositions: want kind %q, got %q", FormatName, config.KindAgency, cfg.Kind)})
	}
	d := &decoder{agency: cfg.Agency, codes: make(map[string]state.Status, len(defaultCodes)+len(cfg.StatusCodes)), zone: time.Local}
	if cfg.TimeZone != "" {
		if loc, err := time.LoadLocation(cfg.TimeZone); err != nil {
			errs = append(errs, config.KeyError{Key: "time_zone", Msg: err.Error()})
		} else {
			d.zone = loc
		}
	}
	for code, dp := range defaultCodes {
		d.codes[code] = dp.status
	}
	keys := make([]string, 0, len(cfg.StatusCodes))
	for k := range cfg.StatusCodes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, code := range keys {
		v := cfg.StatusCodes[code]
		key := "status_codes." + code
		switch {
		case len(code) < 2 || len(code) > 3 || !upperAlnum(code):
			errs = append(errs, config.KeyError{Key: key, Msg: fmt.Sprintf("disposition code %q: want 2 or 3 upper-case letters and digits, as X407 carries", code)})
		case v != string(state.Released) && v != string(state.Held):
			errs = append(errs, config.KeyError{Key: key, Msg: fmt.Sprintf("want released or held, got %q", v)})
		default:
			d.codes[code] = state.Status(v)
		}
	}
	return d, errs
}

func upperAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// Decode decodes every interchange of the payload: one record per
// disposition (X4), or one rejection per refused interchange or
// transaction set. It returns at least one record.
func (d *decoder) Decode(payload []byte) []adapters.Record {
	var out []adapters.Record
	for _, p := range parseMessage(payload) {
		if p.err != nil {
			r := adapters.Record{Err: p.err}
			if p.pos > 0 {
				r.Position = fmt.Sprintf("segment %d", p.pos)
			}
			out = append(out, r)
			continue
		}
		out = append(out, d.interchange(p.ic)...)
	}
	return out
}
