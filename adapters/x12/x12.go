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
// outside its envelope, an unreadable segment (not UTF-8 text, longer than
// 1 MiB, a bad segment ID) or an ISA that is not of fixed width is an
// envelope error: it rejects the whole interchange, as one record with
// code malformed and Position "segment M" (M counts the segments of the
// message from 1; line breaks are not segments). Reading goes on after
// that interchange's IEA. Interchanges marked as test data (ISA15 T) are
// refused whole as invalid_field: a test message must not free real
// cargo.
//
// The message is read as a stream (DecodeStream, adapters.StreamDecoder):
// each transaction set is mapped when its SE is read and its segments are
// dropped; its records wait until the interchange's IEA checks out. So a
// file of any size is decoded with one transaction set's segments in
// memory besides the records themselves.
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
// notifications"). So each X4 becomes one agency event (or one rejection,
// or nothing for an advisory), with the Position of its X4, and a bad X4
// rejects only itself. An event is built from:
//
//   - status and hold: X407 (disposition code) looked up in the
//     disposition table below; a code not in it is rejected
//     (invalid_field). An advisory (info) gives no event.
//   - at: X405 (date, CCYYMMDD, or YYMMDD in 003xxx versions) and X406
//     (time, HHMM[SS[D[D]]]; absent means 00:00), in the zone X417 names
//     (X12 time codes UT, GM, ET, ES, ED, CT, ..., NT). Without X417, or
//     with LT (local time), in the daemon's local time zone (TZ), which at
//     a terminal is the port's, as the edifact format reads its times. A
//     zone whose offset is outside ±23:59 rejects the X4.
//   - containers: the equipment of the X4 itself (X411 initial + X412
//     number) and of the N7 segments of its loop (N701 + N702, and N718,
//     the equipment number check digit, data element 761, when N702 has
//     only the six serial digits; when both carry it they must agree);
//     when it has none, the VID segments of its P4 loop (VID02 + VID03),
//     which is where CBP's 006050 guide puts the equipment. Each must be an
//     ISO 6346 number with the right check digit (bad_check_digit names the
//     right digit, Position names the segment); repeats are dropped; 1 to
//     1000. An X4 that names no container but a bill of lading (below)
//     is a decision on the whole B/L, as CBP decides per bill: the engine
//     applies it to every container a manifest links to the B/L, now and
//     later. An X4 that names neither is rejected.
//   - bl: X401 (bill of lading), else X408 (house bill), else the N902 of
//     an N9 with qualifier BM or MB in the X4 loop.
//   - declaration: X404 (customs entry number).
//     Either reference longer than state.MaxRefLen (70) rejects the X4.
//   - reason: the code, its name, "[re-sent by CBP, X420=Y]" for a
//     re-sent hold, and the first K1 remark of the loop (cut to 80 bytes,
//     well inside state.MaxReasonLen).
//   - id: "ISA06:ISA13:GS06:ST02:k", k the X4's ordinal in its
//     transaction set. ISA13 is unique per sender (ISA06), GS06 per
//     interchange and ST02 per group, so the id is unique per source and
//     the same each time the same interchange is delivered again: a resent
//     file is recognised as a duplicate, not applied twice. A hold
//     placement (status held) with an X406 time has instead the id
//     "ISA06:hold:CODE:BL:CONTAINER:DATETIME" (CONTAINER is the number, or
//     for several the count and a hash of the sorted numbers; DATETIME is
//     X405 and X406 as sent): see re-sent holds below.
//
// # Disposition table
//
// The default table follows CBP's disposition codes (CBP and Trade
// Automated Interface Requirements, CATAIR, "Appendix N - Disposition
// Codes"; the X407 code list of CBP's 350 implementation guides); codes.go
// lists every entry with its name. CBP keeps a bill's release and its holds
// apart ("do not RELEASE the cargo until all HOLDS have been removed"), as
// the ledger of DESIGN 1 does:
//
//	released      1B 1C 1J 1W 4C
//	revoked       4A (earlier 1C/1B overridden), 4E (entry cancelled),
//	              83 (PTT cancelled: the 1W is withdrawn)
//	held          1A 1T A3 (the general hold: a newer release lifts it)
//	held:TYPE /   1H/1I 1G/1F 2H/2I 2G/2F 3H/3I 3G/3F 2O/4O 2P/4P 2Q/4Q
//	hold_removed  2R/4R 5H/5I 6H/6I 7H/7I 71/74 72/75 73/76 77/80 78/81
//	              79/82 97/98 F0/F2 F1/F3 F4/F6 F5/F7
//	info          01-04 11-13 17-19 1K 1L 1M 1Q 1R 1V 1Y 3W 3Z 55
//	              57-59 85-94 96 A1
//
// Each pair is placing/removing; the hold type is the placing code, so a
// 1H gives held with hold "1H" and a 1I gives hold_removed with hold "1H".
// A removal never releases: cargo held by 1H and released by 1C goes once
// 1I arrives, and cargo never released stays held. 1J and 1W count as
// releases because they authorise the container to leave the terminal
// (under bond, or to a CFS); a terminal that wants only entry releases
// maps them to held.
//
// Codes CBP describes as advisories (ENT/REL quantities unaffected, no
// hold placed or removed: arrivals, notify parties, ISF on file, ...) are
// info: recognised, and no event, since they change nothing any ledger
// holds. The message that carries them is still applied (a file_drop file
// moves to done/), and any other X4 in it is decoded as usual; DESIGN's
// rule that every message is applied, a duplicate or dead-lettered is
// kept, as it is for the segments the mapping ignores. Codes the table
// lacks are rejected as before, because an unknown code might be a hold:
// among them the quantity deletions 14-16 and 66-68, the general-order
// codes 1S and 1U and the PGA holds beyond F7, which a source maps in
// status_codes when it sees them.
//
// # Re-sent holds
//
// CBP re-sends holds still in force when a bill's port of discharge or
// vessel changes, with X420 (data element 1073, yes/no) = Y (CSMS
// 12-000148). A re-sent hold is not a new hold. Its id is derived from the
// hold itself (sender, code, bill, containers, X405 and X406, the time the
// hold was posted), so it is the id the original had, and the engine
// recognises the re-send as a duplicate. It is still decoded as held, not
// dropped: the re-send is how a terminal that never saw the original (it
// became the notify party, or the port, only now) learns of the hold, and
// for a terminal that did see it a hold that is already open changes
// nothing. A hold placed again after its removal has a later X405/X406 and
// so a new id. Without X406, two placements on one day cannot be told
// apart, and the hold keeps the id of its place in the interchange.
//
// # status_codes
//
// A source's status_codes override the table code by code; codes not
// named keep their default. A key is a code, 2 or 3 upper-case letters and
// digits as X407 is; a value is released, held, held:TYPE, hold_removed,
// hold_removed:TYPE, revoked or info, e.g. {1Z: released, 1X: "held:1X",
// "84": "hold_removed:1X", "1M": info}. Plain held is the general hold. This
// differs from the edifact format, whose status_codes replace its whole
// table because customs administrations use their own code lists: CBP's
// disposition codes are one list, and merging means that an operator who
// adds one code keeps every hold of the default.
package x12

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/adapters/jsonfmt"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

// FormatName is the configuration name of the format.
const Format = "x12_350"

// MaxContainers is the most containers one disposition may name (DESIGN
// 3.1).
const MaxContainers = state.MaxEventContainers

func init() {
	adapters.RegisterFormat(Format, adapters.FormatKeys[Config](adapters.Format{New: New, Check: Check}, false))
}

// Config is the keys of an x12_350 source's own; the common ones are in
// config.Source.
type Config struct {
	// TimeZone is the IANA zone of X406 times without X417, or with LT;
	// default the daemon's local zone.
	TimeZone string `yaml:"time_zone"`
	// StatusCodes adds to or overrides the default disposition codes:
	// code -> released, held[:TYPE], hold_removed[:TYPE], revoked or
	// info.
	StatusCodes map[string]string `yaml:"status_codes"`
}

// decoder decodes 350 interchanges for one source.
type decoder struct {
	agency string
	codes  map[string]disposition
	zone   *time.Location // for X406 times without X417, or with LT: time.Local
}

// New builds the decoder of an x12_350 source. It fails, naming the key,
// on a status_codes entry it cannot read, or a source that is not an
// agency source.
func New(cfg config.Source) (adapters.Decoder, error) {
	d, errs := build(cfg)
	switch {
	case cfg.Kind != config.KindAgency && cfg.Kind != config.KindTOS:
		errs = append(errs, config.KeyError{Key: "kind", Msg: fmt.Sprintf("format %s needs kind %q, got %q", Format, config.KindAgency, cfg.Kind)})
	case cfg.Kind == config.KindAgency && cfg.Agency == "":
		errs = append(errs, config.KeyError{Key: "agency", Msg: fmt.Sprintf("format %s needs the agency its dispositions speak for", Format)})
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

// Check checks the keys an x12_350 source reads, for
// adapters.Format.Check: status_codes (each code 2 or 3 upper-case letters
// and digits, each value a status with an optional hold type, or info),
// and that the source is not a tos source. Keys are relative to the source ("status_codes.1C"). What
// config validation checks already (kind, agency) is not repeated. Sources
// of other formats get no errors.
func Check(cfg config.Source) []config.KeyError {
	if cfg.Format != Format {
		return nil
	}
	_, errs := build(cfg)
	return errs
}

func build(cfg config.Source) (*decoder, []config.KeyError) {
	c := new(Config)
	errs := cfg.Keys.Decode(c)
	if cfg.Kind == config.KindTOS {
		errs = append(errs, config.KeyError{Key: "format", Msg: fmt.Sprintf("format %s carries customs dispositions: want kind %q, got %q", Format, config.KindAgency, cfg.Kind)})
	}
	d := &decoder{agency: cfg.Agency, codes: make(map[string]disposition, len(defaultCodes)+len(c.StatusCodes)), zone: time.Local}
	if c.TimeZone != "" {
		if loc, err := time.LoadLocation(c.TimeZone); err != nil {
			errs = append(errs, config.KeyError{Key: "time_zone", Msg: fmt.Sprintf("unknown time zone %q: %v", c.TimeZone, err)})
		} else {
			d.zone = loc
		}
	}
	maps.Copy(d.codes, defaultCodes)
	for _, code := range slices.Sorted(maps.Keys(c.StatusCodes)) {
		v := c.StatusCodes[code]
		key := "status_codes." + code
		if len(code) < 2 || len(code) > 3 || !upperAlnum(code) {
			errs = append(errs, config.KeyError{Key: key, Msg: fmt.Sprintf("disposition code %q: want 2 or 3 upper-case letters and digits, as X407 carries", code)})
			continue
		}
		if v == string(info) {
			d.codes[code] = disposition{status: info}
			continue
		}
		st, hold, err := jsonfmt.ParseStatusSpec(v)
		if err != nil {
			errs = append(errs, config.KeyError{Key: key, Msg: err.Error() + ", or info (an advisory: no event)"})
			continue
		}
		d.codes[code] = disposition{status: st, hold: hold}
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
// disposition (X4) that releases, holds, removes a hold or revokes, or one
// rejection per refused interchange or transaction set. Advisories give no
// record, so a message of advisories only gives none.
func (d *decoder) Decode(payload []byte) []adapters.Record {
	var out []adapters.Record
	d.DecodeStream(bytes.NewReader(payload), func(r adapters.Record) { out = append(out, r) })
	return out
}

// DecodeStream is Decode reading the message from r (adapters.StreamDecoder):
// it holds one transaction set's segments at a time, and the records of
// one interchange until its IEA, so memory does not grow with the file.
func (d *decoder) DecodeStream(r io.Reader, emit func(adapters.Record)) {
	readMessage(r, d.mapTx, func(p parsed) {
		switch {
		case p.err != nil:
			rec := adapters.Record{Err: p.err}
			if p.pos > 0 {
				rec.Position = fmt.Sprintf("segment %d", p.pos)
			}
			emit(rec)
		case p.ic.usage != 'P':
			emit(usageRejection(p.ic))
		default:
			for _, rec := range p.ic.recs {
				emit(rec)
			}
			p.ic.recs = nil
		}
	})
}
