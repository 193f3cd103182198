package x12

// The corpus in testdata/*.x12 is built from the public specifications of
// the 350 transaction set, its segments and CBP's disposition codes. No
// public 350 carrying real CBP data was found (the samples in open-source
// X12 parsers use made-up disposition codes such as AR and HD), so the
// interchanges were written to these sources, with illustrative values:
// SCACs, vessel IMO numbers, Schedule D ports 2704 (Los Angeles), 1001
// (New York) and 5301 (Houston), FIRMS code Y258, container numbers with
// correct ISO 6346 check digits.
//
// Transaction set 350 (segments, loops, order):
//   - X12 004010, 005010 (Stedi reference): https://stedi.com/edi/x12-004010/350,
//     https://www.stedi.com/x12-005010/350 - heading ST, M10; "P4 Loop ...
//     used when supplying cargo releases and hold information for import
//     shipments" with V9, K1, the N9 loop and the X4 loop (X4, K1, N7); the
//     BA1 loop for exports; SE. "The M10 must be present if the P4 loop is
//     used."
//   - TrueCommerce schema of 350 (later versions): VID loop (VID, M7, M7A)
//     inside the P4 loop; X4 loop with K1, N9, N7.
//     http://help.truecommerce.com/en/articles/10221468-x12-350-customs-status-information
//   - CBP's implementation guide "CBP350 Ocean Customs Status Information",
//     350_Ocean_6050 (006050), Functional Group ID=SO, Pub # 0875-0419:
//     "The X4 segment is provided for Bill of Lading status notifications.
//     The V9 segment is provided for conveyance-level status notifications."
//     https://cupdf.com/document/cbp350-ocean-customs-status-information-feb-14-2020-interchange-related.html
//     https://vdocument.in/cbp-350-ocean-customs-status-information-350-2017-11-27-maximum-allowable.html
//   - CBP's truck 350 guide (004060, Functional Group ID=AU), the GS01 of
//     the later X12 releases:
//     https://vdocuments.mx/ansi-x12-truck-manifest-implementation-guide-2018-5-15-7-m1007-is-used-for.html
//
// Segments:
//   - X4 Customs Release Information: https://stedi.com/edi/x12-005030/segment/X4,
//     https://zenbridge.io/edi-dictionary/X12/4060/segment/X4 - X401 bill of
//     lading, X402 quantity released, X403/X404 customs entry type and
//     number, X405 date (CCYYMMDD) "the authority for release ... is
//     issued", X406 "the time for the disposition specified in X407", X407
//     bill of lading disposition code, X408 house bill ("for consolidated
//     shipments"), X409/X410 SCACs, X411/X412 equipment initial and number
//     (elements 206/207), X413 Customs district port, X414 FIRMS code,
//     X415/X416 reference, X417 time code.
//     003020 (date YYMMDD): https://doc.chinlinktech.com/x12/003020/segment/X4
//   - VID Conveyance Identification: https://stedi.com/edi/x12-004030/segment/VID -
//     VID01 equipment description code, VID02 equipment initial, VID03
//     equipment number.
//   - N7 Equipment Details (in the X4 loop of the listings above): N701
//     equipment initial and N702 equipment number, the same data elements
//     206/207 as X411/X412; the corpus puts CN (container) in N711, which
//     the decoder does not read.
//   - N9 Reference Identification: N901 qualifier (BM bill of lading, MB
//     master bill), N902 the reference.
//
// Envelope:
//   - ISA is fixed width; "the value at the fourth character position is
//     the data element separator, and the value of the last character
//     position is the value of the data segment terminator"; the
//     interchange control number must match the trailer's:
//     https://dewanamit.blogspot.com/2011/05/isa-interchange-control-header-isa.html
//   - ISA element widths (2,10,2,10,2,15,2,15,6,4,1,5,9,1,1,1):
//     https://docs.rs/x12-types/0.8.2/x12_types/v005010/struct.ISA.html
//   - ISA11 is the repetition separator from version 00402/00403 on and
//     "must be different than the data element separator, component
//     element separator, and the segment terminator":
//     https://stedi.com/edi/x12-008030/segment/ISA,
//     https://support.ecgrid.com/support/solutions/articles/6000280688-error-code-1106-interchange-invalid-isa11-
//   - ISA15: P production, T test: https://lb.ca/bisacwww/env_3060.htm
//
// Disposition codes: CBP and Trade Automated Interface Requirements
// (CATAIR), Appendix N - Disposition Codes (September 2020), and its
// predecessor CAMIR Appendix D (February 2015):
// https://fdocuments.net/document/cbp-and-trade-automated-interface-requirements-2020-9-29-intermediate-port.html,
// https://docsbay.net/appendix-d-disposition-codes,
// https://info.5y1.org/port-of-lading-codes_1_2e81f4.html (1A "Cargo is not
// RELEASED"; 1B/1C released, "held intact if there are any HOLDS"; 1F/1G
// hold removed/placed at port of in-bond destination, "Bill status changes
// to HELD").

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/adapters/jsonfmt"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

func source() config.Source {
	return config.Source{Name: "cbp-350", Type: "file_drop", Kind: config.KindAgency, Agency: "customs", Format: Format}
}

// newDecoder builds a decoder that reads times without X417 in UTC,
// whatever TZ the tests run under.
func newDecoder(t testing.TB, cfg config.Source) adapters.Decoder {
	t.Helper()
	return zoned(t, cfg, time.UTC)
}

func zoned(t testing.TB, cfg config.Source, zone *time.Location) adapters.Decoder {
	t.Helper()
	d, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if d.(*decoder).zone != time.Local {
		t.Fatalf("New: zone %v, want the daemon's local zone", d.(*decoder).zone)
	}
	d.(*decoder).zone = zone
	return d
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// want is what one record should be. For an event, code is "" and the
// event fields are checked; for a rejection, reason holds substrings of
// the reason.
type want struct {
	pos        string
	code       string
	reason     []string
	id         string
	status     state.Status
	hold       string
	containers []string
	at         string // RFC 3339
	bl, decl   string
	why        string // substring of the event's reason
}

func check(t *testing.T, recs []adapters.Record, wants []want) {
	t.Helper()
	if len(recs) != len(wants) {
		for i, r := range recs {
			t.Logf("record %d: %s agency=%+v err=%v", i, r.Position, r.Agency, r.Err)
		}
		t.Fatalf("got %d records, want %d", len(recs), len(wants))
	}
	for i, w := range wants {
		r := recs[i]
		if r.Position != w.pos {
			t.Errorf("record %d: position %q, want %q", i, r.Position, w.pos)
		}
		if r.TOS != nil {
			t.Errorf("record %d: a TOS event", i)
		}
		if w.code != "" {
			var rej *state.Rejection
			if !errors.As(r.Err, &rej) || r.Agency != nil {
				t.Errorf("record %d: want a %s rejection, got event %+v, error %v", i, w.code, r.Agency, r.Err)
				continue
			}
			if rej.Code != w.code {
				t.Errorf("record %d: code %q, want %q (%s)", i, rej.Code, w.code, rej.Reason)
			}
			for _, s := range w.reason {
				if !strings.Contains(rej.Reason, s) {
					t.Errorf("record %d: reason %q lacks %q", i, rej.Reason, s)
				}
			}
			continue
		}
		ev := r.Agency
		if r.Err != nil || ev == nil {
			t.Errorf("record %d: want an event, got error %v", i, r.Err)
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, w.at)
		if err != nil {
			t.Fatal(err)
		}
		if ev.ID != w.id || ev.Status != w.status || ev.Hold != w.hold || !slices.Equal(ev.Containers, w.containers) ||
			!ev.At.Equal(at) || ev.BL != w.bl || ev.Declaration != w.decl || ev.Agency != "customs" {
			t.Errorf("record %d: got id %q status %s containers %q at %s bl %q decl %q agency %q,\nwant id %q status %s containers %q at %s bl %q decl %q",
				i, ev.ID, ev.Status, ev.Containers, ev.At.Format(time.RFC3339Nano), ev.BL, ev.Declaration, ev.Agency,
				w.id, w.status, w.containers, w.at, w.bl, w.decl)
		}
		if _, off := ev.At.Zone(); w.at[len(w.at)-1] != 'Z' || off != 0 {
			if got := ev.At.Format(time.RFC3339Nano); got != w.at {
				t.Errorf("record %d: at %s, want %s with its offset", i, got, w.at)
			}
		}
		if !strings.Contains(ev.Reason, w.why) {
			t.Errorf("record %d: reason %q lacks %q", i, ev.Reason, w.why)
		}
	}
}

func TestCorpus(t *testing.T) {
	tests := []struct {
		file string
		want []want
	}{
		{"release-4010.x12", []want{{
			pos: "transaction 1 (segment 4)", id: "CBPACE:000000101:101:0001:1", status: state.Released,
			containers: []string{"MAEU7712030", "MSKU6045184"}, at: "2026-11-28T10:15:00Z",
			bl: "MAEU771203456", decl: "23412345678",
			why: "disposition 1C (entered and released: general examination): ENTRY 234-1234567-8 RELEASED",
		}}},
		// Two groups, three transaction sets, four dispositions: the VIDs of
		// the P4 loop name the containers of the X4 that names none; the
		// second X4 has its own N7 and its bill in an N9; X417 sets the zone.
		{"multi-transaction-6050.x12", []want{
			{pos: "transaction 1 (segment 7)", id: "CBPACE:000000201:201:0001:1", status: state.Released,
				containers: []string{"MSCU1234566", "TGHU1234567"}, at: "2026-11-28T10:15:00-08:00",
				bl: "MEDUSH123456", decl: "34512345671", why: "1C"},
			{pos: "transaction 1 (segment 9)", id: "CBPACE:hold:7H:HLCUSH998877:HLXU3001527:202611281130", status: state.Held, hold: "7H",
				containers: []string{"HLXU3001527"}, at: "2026-11-28T11:30:00-08:00",
				bl: "HLCUSH998877", why: "7H (NII"},
			{pos: "transaction 2 (segment 4)", id: "CBPACE:000000201:201:0002:1", status: state.Revoked,
				containers: []string{"OOLU8809344"}, at: "2026-11-28T07:45:00-05:00",
				bl: "OOLU2601234567", decl: "11298765430", why: "4A (override: earlier release withdrawn"},
			{pos: "transaction 3 (segment 4)", id: "CBPACE:000000201:202:0001:1", status: state.Released,
				containers: []string{"CSQU3054383"}, at: "2026-11-29T08:00:00Z", bl: "COSU6251234560", decl: "34599988871", why: "1B"},
		}},
		// Element separator |, repetition separator }, component separator
		// :, and the segment terminator is the CR of each CRLF; * and ~ are
		// data here.
		{"custom-separators.x12", []want{{
			pos: "transaction 1 (segment 4)", id: "CBPACE:hold:1H:HLCUHAM2611001:TCNU9021170:202611281620", status: state.Held, hold: "1H",
			containers: []string{"TCNU9021170"}, at: "2026-11-28T16:20:00-06:00",
			bl: "HLCUHAM2611001", decl: "55512345678", why: "1H (customs hold placed at port of discharge): HOLD*SEE CBP~EXAM 1/2",
		}}},
		// The first transaction set's SE01 is wrong: it alone is refused.
		{"wrong-se-count.x12", []want{
			{pos: "transaction 1 (segment 6)", code: state.CodeMalformed, reason: []string{`SE01 says "7" segments`, "has 6"}},
			{pos: "transaction 2 (segment 4)", id: "CBPACE:000000401:401:0002:1", status: state.Released,
				containers: []string{"MSKU6045184"}, at: "2026-11-28T11:05:00Z", bl: "MAEU771200002", decl: "23400000029", why: "1C"},
		}},
		// Wrong GE or IEA counts refuse the whole interchange.
		{"wrong-ge-count.x12", []want{
			{pos: "segment 8", code: state.CodeMalformed, reason: []string{`GE01 says "2" transaction sets`, "GS at segment 2 has 1"}},
		}},
		{"wrong-iea-count.x12", []want{
			{pos: "segment 9", code: state.CodeMalformed, reason: []string{`IEA01 says "2" functional groups`, "has 1"}},
		}},
		// An unknown code is refused; the release beside it stands, and
		// the removal 7I removes the hold 7H placed.
		{"unknown-disposition.x12", []want{
			{pos: "transaction 1 (segment 4)", id: "CBPACE:000000701:701:0001:1", status: state.Released,
				containers: []string{"MSCU1234566"}, at: "2026-11-28T09:00:00Z", bl: "MEDUSH700001", decl: "34500000011", why: "1C"},
			{pos: "transaction 1 (segment 6)", code: state.CodeInvalidField, reason: []string{`X407 disposition code "Z9" is not in this source's disposition table`}},
			{pos: "transaction 1 (segment 8)", id: "CBPACE:000000701:701:0001:3", status: state.HoldRemoved, hold: "7H",
				containers: []string{"HLXU3001527"}, at: "2026-11-28T09:10:00Z", bl: "MEDUSH700003", why: "7I (NII exam completed)"},
		}},
		// A wrong check digit refuses its disposition, at its N7, naming
		// the right digit; the next X4 stands.
		{"bad-check-digit.x12", []want{
			{pos: "transaction 1 (segment 5)", code: state.CodeBadCheckDigit,
				reason: []string{`N701/N702 "MSCU"/"1234567"`, "check digit is 7, the right digit for MSCU123456 is 6"}},
			{pos: "transaction 1 (segment 6)", id: "CBPACE:000000801:801:0001:2", status: state.Released,
				containers: []string{"TEMU1129071"}, at: "2026-11-28T14:01:00Z", bl: "MEDUSH800002", decl: "34500000037", why: "1C"},
		}},
		// Two interchanges in one file: exam required (held), then exam
		// completed (released). Transactions are numbered through the
		// message.
		// The ledger (issue 11): a release (its check digit in N718),
		// two typed holds, an advisory (19: no event), both removals, a
		// hold CBP re-sends (X420 = Y) and a revocation.
		{"ledger-pairs.x12", []want{
			{pos: "transaction 1 (segment 4)", id: "CBPACE:000001101:1101:0001:1", status: state.Released,
				containers: []string{"MSCU1234566"}, at: "2026-11-28T09:00:00Z", bl: "MEDUSH110001", decl: "34511000011", why: "1C (entered and released"},
			{pos: "transaction 1 (segment 6)", id: "CBPACE:hold:1H:MEDUSH110001:MSCU1234566:202611280930", status: state.Held, hold: "1H",
				containers: []string{"MSCU1234566"}, at: "2026-11-28T09:30:00Z", bl: "MEDUSH110001", why: "1H (customs hold placed at port of discharge)"},
			{pos: "transaction 1 (segment 8)", id: "CBPACE:hold:7H:MEDUSH110001:MSCU1234566:202611280935", status: state.Held, hold: "7H",
				containers: []string{"MSCU1234566"}, at: "2026-11-28T09:35:00Z", bl: "MEDUSH110001", why: "7H (NII (non-intrusive inspection) exam ordered): NII EXAM VACIS"},
			{pos: "transaction 1 (segment 13)", id: "CBPACE:000001101:1101:0001:5", status: state.HoldRemoved, hold: "1H",
				containers: []string{"MSCU1234566"}, at: "2026-11-28T11:00:00Z", bl: "MEDUSH110001", why: "1I (customs hold removed"},
			{pos: "transaction 1 (segment 15)", id: "CBPACE:000001101:1101:0001:6", status: state.HoldRemoved, hold: "7H",
				containers: []string{"MSCU1234566"}, at: "2026-11-28T11:30:00Z", bl: "MEDUSH110001", why: "7I (NII exam completed)"},
			{pos: "transaction 1 (segment 17)", id: "CBPACE:hold:1H:MEDUSH110002:TGHU1234567:202611271600", status: state.Held, hold: "1H",
				containers: []string{"TGHU1234567"}, at: "2026-11-27T16:00:00Z", bl: "MEDUSH110002", why: "[re-sent by CBP, X420=Y]"},
			{pos: "transaction 1 (segment 19)", id: "CBPACE:000001101:1101:0001:8", status: state.Revoked,
				containers: []string{"MSCU1234566"}, at: "2026-11-28T11:45:00Z", bl: "MEDUSH110001", why: "4A (override"},
		}},
		{"hold-then-release.x12", []want{
			{pos: "transaction 1 (segment 4)", id: "CBPACE:hold:1A:MEDUNY900001:MSCU1234566:202611280900", status: state.Held,
				containers: []string{"MSCU1234566"}, at: "2026-11-28T09:00:00-05:00", bl: "MEDUNY900001", decl: "11290000011", why: "1A (entered: intensive examination required)"},
			{pos: "transaction 2 (segment 4)", id: "CBPACE:000000902:902:0001:1", status: state.Released,
				containers: []string{"MSCU1234566"}, at: "2026-11-28T14:05:00-05:00", bl: "MEDUNY900001", decl: "11290000011", why: "1B (released: intensive examination completed)"},
		}},
	}
	d := newDecoder(t, source())
	files, _ := filepath.Glob("testdata/*.x12")
	if len(files) != len(tests) {
		t.Errorf("testdata has %d .x12 files, the table covers %d", len(files), len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			check(t, d.Decode(readFile(t, tt.file)), tt.want)
		})
	}
}

// status folds events the way DESIGN section 1 orders them: the latest at
// wins, held wins a tie.
// status is the agency status after evs, through the ledger of DESIGN 1
// (codes_test.go).
func status(evs ...*state.AgencyEvent) state.Status {
	l := newLedger()
	for _, ev := range evs {
		l.apply(ev)
	}
	return l.status()
}

func TestHoldThenRelease(t *testing.T) {
	recs := newDecoder(t, source()).Decode(readFile(t, "hold-then-release.x12"))
	hold, release := recs[0].Agency, recs[1].Agency
	if hold == nil || release == nil {
		t.Fatalf("records %+v", recs)
	}
	if got := status(hold, release); got != state.Released {
		t.Errorf("hold then release: %s, want released", got)
	}
	// Delivered the other way round, the hold is older and changes nothing.
	if got := status(release, hold); got != state.Released {
		t.Errorf("release then the older hold: %s, want released", got)
	}
	// A later 4A revokes the release.
	revoke := newDecoder(t, source()).Decode(interchange350("X4*MEDUNY900001*1***20261128*1500*4A**MSCU****1001****ET", "N7*MSCU*1234566"))
	if revoke[0].Agency == nil || revoke[0].Agency.Status != state.Revoked {
		t.Fatalf("4A: %+v %v", revoke[0].Agency, revoke[0].Err)
	}
	if got := status(hold, release, revoke[0].Agency); got != state.Held {
		t.Errorf("after 4A: %s, want held", got)
	}
}

// interchange350 wraps the body of one 350 transaction set in a valid
// envelope (separators * and ~, one segment a line).
func interchange350(body ...string) []byte {
	return envelope("P", [][]string{body})
}

func envelope(usage string, txs [][]string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "ISA*00*          *00*          *ZZ*CBPACE         *ZZ*PORTSYNCT1     *261128*1015*U*00401*000000042*0*%s*>~\n", usage)
	b.WriteString("GS*SO*CBPACE*PORTSYNCT1*20261128*1015*42*X*004010~\n")
	for i, body := range txs {
		ctl := fmt.Sprintf("%04d", i+1)
		fmt.Fprintf(&b, "ST*350*%s~\n", ctl)
		for _, s := range body {
			b.WriteString(s + "~\n")
		}
		fmt.Fprintf(&b, "SE*%d*%s~\n", len(body)+2, ctl)
	}
	fmt.Fprintf(&b, "GE*%d*42~\nIEA*1*000000042~\n", len(txs))
	return []byte(b.String())
}

func TestSeparators(t *testing.T) {
	d := newDecoder(t, source())
	orig := readFile(t, "release-4010.x12")
	base := d.Decode(orig)
	if base[0].Agency == nil {
		t.Fatal(base[0].Err)
	}
	replace := func(pairs ...string) []byte {
		return []byte(strings.NewReplacer(pairs...).Replace(string(orig)))
	}
	variants := map[string][]byte{
		"no line breaks":              bytes.ReplaceAll(orig, []byte("\n"), nil),
		"CRLF":                        bytes.ReplaceAll(orig, []byte("\n"), []byte("\r\n")),
		"newline terminator":          bytes.ReplaceAll(orig, []byte("~\n"), []byte("\n")),
		"pipe and control characters": replace("*", "|", "~", "\x1c", ">", "\x1f"),
		"caret repetition separator":  replace("*U*00401*", "*^*00501*"),
		"BOM and leading blank lines": append([]byte("\xef\xbb\xbf\r\n\n"), orig...),
		"empty segments":              bytes.ReplaceAll(orig, []byte("~\n"), []byte("~~\n")),
		"IEA without terminator":      bytes.TrimSuffix(orig, []byte("~\n")),
	}
	for name, payload := range variants {
		t.Run(name, func(t *testing.T) {
			recs := d.Decode(payload)
			if len(recs) != 1 || recs[0].Agency == nil {
				t.Fatalf("got %+v (error %v)", recs, recs[0].Err)
			}
			if got, want := *recs[0].Agency, *base[0].Agency; got.ID != want.ID || !got.At.Equal(want.At) ||
				!slices.Equal(got.Containers, want.Containers) || got.Reason != want.Reason || recs[0].Position != base[0].Position {
				t.Errorf("got %+v at %s, want %+v at %s", got, recs[0].Position, want, base[0].Position)
			}
		})
	}
}

func TestEnvelopeErrors(t *testing.T) {
	orig := string(readFile(t, "release-4010.x12"))
	lines := strings.SplitAfter(orig, "\n")
	without := func(i int) string { return strings.Join(slices.Delete(slices.Clone(lines), i, i+1), "") }
	insert := func(i int, s string) string { return strings.Join(slices.Insert(slices.Clone(lines), i, s), "") }
	isa := lines[0]
	tests := []struct {
		name, payload string
		want          []want
	}{
		{"empty", "", []want{{code: state.CodeMalformed, reason: []string{"payload is empty"}}}},
		{"blank", " \r\n\t", []want{{code: state.CodeMalformed, reason: []string{"payload is empty"}}}},
		{"invalid UTF-8", strings.Replace(orig, "MAERSK", "MA\xffRSK", 1), []want{{pos: "segment 4", code: state.CodeMalformed, reason: []string{"UTF-8"}}}},
		{"not X12", `{"id":"1"}`, []want{{pos: "segment 1", code: state.CodeMalformed, reason: []string{"want an interchange header ISA"}}}},
		{"EDIFACT", "UNA:+.? 'UNB+UNOC:3+SENDER+RECEIVER+261128:1015+1'", []want{{pos: "segment 1", code: state.CodeMalformed, reason: []string{"ISA"}}}},
		{"short ISA", "ISA*00*", []want{{pos: "segment 1", code: state.CodeMalformed, reason: []string{"want the fixed 106"}}}},
		{"ISA06 not padded", strings.Replace(orig, "CBPACE         *", "CBPACE*", 1),
			[]want{{pos: "segment 1", code: state.CodeMalformed, reason: []string{"ISA"}}}},
		{"ISA06 one short", strings.Replace(orig, "CBPACE         *ZZ*PORTSYNCT1     ", "CBPACE        *ZZ*PORTSYNCT1      ", 1),
			[]want{{pos: "segment 1", code: state.CodeMalformed, reason: []string{"ISA06: want 15 characters", "got 14"}}}},
		{"component separator is the terminator", strings.Replace(orig, "*P*>~", "*P*~~", 1),
			[]want{{pos: "segment 1", code: state.CodeMalformed, reason: []string{"component separator ISA16 and segment terminator are both '~'"}}}},
		{"letter as terminator", strings.Replace(orig, "*P*>~", "*P*>X", 1),
			[]want{{pos: "segment 1", code: state.CodeMalformed, reason: []string{"segment terminator 'X'"}}}},
		{"repetition separator is the component separator", strings.Replace(orig, "*U*00401*", "*>*00501*", 1),
			[]want{{pos: "segment 1", code: state.CodeMalformed, reason: []string{"both '>'"}}}},
		{"ISA13 not numeric", strings.Replace(orig, "000000101", "00000010A", 1),
			[]want{{pos: "segment 1", code: state.CodeMalformed, reason: []string{`ISA13 (interchange control number): want 9 digits, got "00000010A"`}}}},
		{"ISA15 unknown", strings.Replace(orig, "*0*P*>", "*0*X*>", 1),
			[]want{{pos: "segment 1", code: state.CodeMalformed, reason: []string{"ISA15 (usage indicator): want P (production) or T (test)"}}}},
		{"test data", strings.Replace(orig, "*0*P*>", "*0*T*>", 1),
			[]want{{pos: "segment 1", code: state.CodeInvalidField, reason: []string{`ISA15 (usage indicator) is "T", test data`, "000000101"}}}},
		{"no IEA", without(11), []want{{pos: "segment 1", code: state.CodeMalformed, reason: []string{"the interchange has no IEA"}}}},
		{"IEA02 mismatch", strings.Replace(orig, "IEA*1*000000101", "IEA*1*000000102", 1),
			[]want{{pos: "segment 12", code: state.CodeMalformed, reason: []string{`IEA02 (interchange control number) "000000102" does not match ISA13 "000000101"`}}}},
		{"GE02 mismatch", strings.Replace(orig, "GE*1*101", "GE*1*102", 1),
			[]want{{pos: "segment 11", code: state.CodeMalformed, reason: []string{`GE02 (group control number) "102" does not match GS06 "101"`}}}},
		{"GE02 with leading zeros", strings.Replace(orig, "GE*1*101", "GE*1*000101", 1), []want{{pos: "transaction 1 (segment 4)", id: "CBPACE:000000101:101:0001:1",
			status: state.Released, containers: []string{"MAEU7712030", "MSKU6045184"}, at: "2026-11-28T10:15:00Z", bl: "MAEU771203456", decl: "23412345678"}}},
		{"GS06 not numeric", strings.Replace(orig, "1015*101*X", "1015*G1*X", 1),
			[]want{{pos: "segment 2", code: state.CodeMalformed, reason: []string{`GS06 (group control number): want 1 to 9 digits, got "G1"`}}}},
		{"no SE", without(9), []want{{pos: "segment 10", code: state.CodeMalformed, reason: []string{"GE: the transaction set started by ST at segment 3 has no SE"}}}},
		{"no GE", without(10), []want{{pos: "segment 11", code: state.CodeMalformed, reason: []string{"IEA: the functional group started by GS at segment 2 has no GE"}}}},
		{"no GS", without(1), []want{{pos: "segment 2", code: state.CodeMalformed, reason: []string{"ST is outside a functional group"}}}},
		{"segment between groups", insert(11, "K1*STRAY~\n"), []want{{pos: "segment 12", code: state.CodeMalformed, reason: []string{"K1 is outside a transaction set"}}}},
		{"bad segment ID", strings.Replace(orig, "K1*", "k1*", 1), []want{{pos: "segment 7", code: state.CodeMalformed, reason: []string{`segment ID "k1" is not 2 or 3 upper-case letters and digits`}}}},
		{"unterminated", strings.TrimSuffix(without(11), "~\n"), []want{{pos: "segment 11", code: state.CodeMalformed, reason: []string{"GE is not ended by the segment terminator '~'"}}}},
		{"nested GS", insert(2, lines[1]), []want{{pos: "segment 3", code: state.CodeMalformed, reason: []string{"GS: the functional group started by GS at segment 2 has no GE"}}}},
		{"GS inside a transaction set", insert(3, lines[1]), []want{{pos: "segment 4", code: state.CodeMalformed, reason: []string{"GS: the transaction set started by ST at segment 3 has no SE"}}}},
		{"empty group", insert(2, "GE*0*100~\n"), []want{{pos: "segment 3", code: state.CodeMalformed, reason: []string{"no transaction set"}}}},
		{"repeated GS06", strings.Replace(orig, "GE*1*101~\n", "GE*1*101~\nGS*SO*A*B*20261128*1015*101*X*004010~\nST*350*0001~\nSE*2*0001~\nGE*1*101~\n", 1),
			[]want{{pos: "segment 12", code: state.CodeMalformed, reason: []string{"GS06 (group control number) 101 repeats that of the group started by GS at segment 2"}}}},
		{"no group", isa + "IEA*0*000000101~\n", []want{{pos: "segment 2", code: state.CodeMalformed, reason: []string{"has no functional group"}}}},
		// One refused interchange does not stop the next.
		{"refused then good", strings.Replace(orig, "GE*1*101", "GE*2*101", 1) + strings.ReplaceAll(orig, "000000101", "000000102"), []want{
			{pos: "segment 11", code: state.CodeMalformed, reason: []string{"GE01"}},
			{pos: "transaction 2 (segment 4)", id: "CBPACE:000000102:101:0001:1", status: state.Released,
				containers: []string{"MAEU7712030", "MSKU6045184"}, at: "2026-11-28T10:15:00Z", bl: "MAEU771203456", decl: "23412345678"},
		}},
		// An ISA before the IEA refuses the open interchange and starts the next.
		{"ISA before IEA", without(11) + strings.ReplaceAll(orig, "000000101", "000000102"), []want{
			{pos: "segment 12", code: state.CodeMalformed, reason: []string{"ISA starts an interchange before the one started at segment 1 ends"}},
			{pos: "transaction 2 (segment 4)", id: "CBPACE:000000102:101:0001:1", status: state.Released,
				containers: []string{"MAEU7712030", "MSKU6045184"}, at: "2026-11-28T10:15:00Z", bl: "MAEU771203456", decl: "23412345678"},
		}},
		// An IEA while a transaction set is open ends the refused
		// interchange; the next one is read.
		{"IEA inside a transaction set", strings.Join(slices.Delete(slices.Clone(lines), 9, 11), "") + strings.ReplaceAll(orig, "000000101", "000000102"), []want{
			{pos: "segment 10", code: state.CodeMalformed, reason: []string{"IEA: the transaction set started by ST at segment 3 has no SE"}},
			{pos: "transaction 2 (segment 4)", id: "CBPACE:000000102:101:0001:1", status: state.Released,
				containers: []string{"MAEU7712030", "MSKU6045184"}, at: "2026-11-28T10:15:00Z", bl: "MAEU771203456", decl: "23412345678"},
		}},
		// Trailing garbage after a good interchange is refused on its own.
		{"garbage after IEA", orig + "trailing bytes", []want{
			{pos: "transaction 1 (segment 4)", id: "CBPACE:000000101:101:0001:1", status: state.Released,
				containers: []string{"MAEU7712030", "MSKU6045184"}, at: "2026-11-28T10:15:00Z", bl: "MAEU771203456", decl: "23412345678"},
			{pos: "segment 13", code: state.CodeMalformed, reason: []string{`want an interchange header ISA, got "trailing bytes"`}},
		}},
	}
	d := newDecoder(t, source())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, d.Decode([]byte(tt.payload)), tt.want)
		})
	}
}

func TestTransactionErrors(t *testing.T) {
	x4 := "X4*MEDUSH1*1*01*345*20261128*1015*1C**MSCU"
	n7 := "N7*MSCU*1234566"
	tests := []struct {
		name    string
		payload []byte
		want    []want
	}{
		{"not a 350", []byte(strings.Replace(string(envelope("P", [][]string{{"AK1*SO*1"}, {"P4*2704", x4, n7}})), "ST*350*0001", "ST*997*0001", 1)), []want{
			{pos: "transaction 1 (segment 1)", code: state.CodeInvalidField, reason: []string{"350"}},
			{pos: "transaction 2 (segment 3)", id: "CBPACE:000000042:42:0002:1", status: state.Released,
				containers: []string{"MSCU1234566"}, at: "2026-11-28T10:15:00Z", bl: "MEDUSH1", decl: "345"},
		}},
		{"SE02 mismatch", []byte(strings.Replace(string(interchange350("P4*2704", x4, n7)), "SE*5*0001", "SE*5*0002", 1)), []want{
			{pos: "transaction 1 (segment 5)", code: state.CodeMalformed, reason: []string{`SE02 (transaction set control number) "0002" does not match ST02 "0001"`}},
		}},
		{"SE01 not a number", []byte(strings.Replace(string(interchange350("P4*2704", x4, n7)), "SE*5*0001", "SE*five*0001", 1)), []want{
			{pos: "transaction 1 (segment 5)", code: state.CodeMalformed, reason: []string{`SE01 says "five" segments`}},
		}},
		{"repeated ST02", []byte(strings.NewReplacer("ST*350*0002", "ST*350*0001", "SE*5*0002", "SE*5*0001").Replace(string(envelope("P", [][]string{{"P4*2704", x4, n7}, {"P4*2704", x4, n7}})))), nil},
		{"no X4", interchange350("M10*MSCU*O", "P4*2704", "V9*ARR"), []want{
			{pos: "transaction 1 (segment 1)", code: state.CodeInvalidField, reason: []string{"no X4"}},
		}},
		{"N7 outside an X4 loop", interchange350("P4*2704", n7, x4, n7), []want{
			{pos: "transaction 1 (segment 3)", code: state.CodeMalformed, reason: []string{"N7 (equipment details) is outside an X4"}},
		}},
		{"VID outside a P4 loop", interchange350("M10*MSCU", "VID*CN*MSCU*1234566", "P4*2704", x4), []want{
			{pos: "transaction 1 (segment 3)", code: state.CodeMalformed, reason: []string{"VID (conveyance identification) is outside a P4"}},
		}},
		{"empty ST02", []byte(strings.NewReplacer("ST*350*0001", "ST*350*", "SE*5*0001", "SE*5*").Replace(string(interchange350("P4*2704", x4, n7)))), []want{
			{pos: "transaction 1 (segment 1)", code: state.CodeInvalidField, reason: []string{"ST02"}},
		}},
	}
	// The second of two transaction sets with ST02 0001 in one group.
	tests[3].want = []want{
		{pos: "transaction 1 (segment 3)", id: "CBPACE:000000042:42:0001:1", status: state.Released,
			containers: []string{"MSCU1234566"}, at: "2026-11-28T10:15:00Z", bl: "MEDUSH1", decl: "345"},
		{pos: "transaction 2 (segment 1)", code: state.CodeInvalidField, reason: []string{`ST02 (transaction set control number) "0001" repeats that of transaction 1`}},
	}
	d := newDecoder(t, source())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, d.Decode(tt.payload), tt.want)
		})
	}
}

func TestDispositionFields(t *testing.T) {
	n7 := "N7*MSCU*1234566"
	ok := func(at string, containers ...string) want {
		if len(containers) == 0 {
			containers = []string{"MSCU1234566"}
		}
		return want{pos: "transaction 1 (segment 3)", id: "CBPACE:000000042:42:0001:1", status: state.Released, containers: containers, at: at, bl: "B1"}
	}
	bad := func(reason ...string) want {
		return want{pos: "transaction 1 (segment 3)", code: state.CodeInvalidField, reason: reason}
	}
	la, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		zone *time.Location // the daemon's local zone; UTC when nil
		body []string
		want want
	}{
		{"HHMM, no zone: UTC", nil, []string{"P4*2704", "X4*B1*1***20261128*1015*1C**MSCU", n7}, ok("2026-11-28T10:15:00Z")},
		{"no zone: the local zone", la, []string{"P4*2704", "X4*B1*1***20260704*1015*1C**MSCU", n7}, ok("2026-07-04T10:15:00-07:00")},
		{"LT: the local zone", la, []string{"P4*2704", "X4*B1*1***20261128*1015*1C**MSCU********LT", n7}, ok("2026-11-28T10:15:00-08:00")},
		{"X417 beats the local zone", la, []string{"P4*2704", "X4*B1*1***20261128*1015*1C**MSCU********UT", n7}, ok("2026-11-28T10:15:00Z")},
		{"ES", nil, []string{"P4*2704", "X4*B1*1***20260704*1015*1C**MSCU********ES", n7}, ok("2026-07-04T10:15:00-05:00")},
		{"ET in summer", nil, []string{"P4*2704", "X4*B1*1***20260704*1015*1C**MSCU********ET", n7}, ok("2026-07-04T10:15:00-04:00")},
		{"NS", nil, []string{"P4*2704", "X4*B1*1***20261128*1015*1C**MSCU********NS", n7}, ok("2026-11-28T10:15:00-03:30")},
		{"HHMMSS", nil, []string{"P4*2704", "X4*B1*1***20261128*101530*1C**MSCU", n7}, ok("2026-11-28T10:15:30Z")},
		{"HHMMSSD", nil, []string{"P4*2704", "X4*B1*1***20261128*1015307*1C**MSCU", n7}, ok("2026-11-28T10:15:30.7Z")},
		{"HHMMSSDD", nil, []string{"P4*2704", "X4*B1*1***20261128*10153007*1C**MSCU", n7}, ok("2026-11-28T10:15:30.07Z")},
		{"no time: midnight", nil, []string{"P4*2704", "X4*B1*1***20261128**1C**MSCU", n7}, ok("2026-11-28T00:00:00Z")},
		{"YYMMDD (003xxx)", nil, []string{"P4*2704", "X4*B1*1***261128*1015*1C**MSCU", n7}, ok("2026-11-28T10:15:00Z")},
		{"unknown time code", nil, []string{"P4*2704", "X4*B1*1***20261128*1015*1C**MSCU********ZZ", n7}, bad(`X417 (time code) "ZZ" is not an X12 time code`)},
		{"no date", nil, []string{"P4*2704", "X4*B1*1****1015*1C**MSCU", n7}, bad(`X405 (date): want CCYYMMDD, got ""`)},
		{"not a date", nil, []string{"P4*2704", "X4*B1*1***20261131*1015*1C**MSCU", n7}, bad(`X405 (date) "20261131" is not a calendar date`)},
		{"before 1970", nil, []string{"P4*2704", "X4*B1*1***19691231*1015*1C**MSCU", n7}, bad("before 1970")},
		{"not a time", nil, []string{"P4*2704", "X4*B1*1***20261128*2460*1C**MSCU", n7}, bad(`X406 (time) "2460" is not a time of day`)},
		{"bad time", nil, []string{"P4*2704", "X4*B1*1***20261128*10:15*1C**MSCU", n7}, bad("X406 (time): want HHMM")},
		{"no code", nil, []string{"P4*2704", "X4*B1*1***20261128*1015***MSCU", n7}, bad("X407 (disposition code) is empty")},
		{"neither container nor B/L", nil, []string{"P4*2704", "X4**1***20261128*1015*1C**MSCU"}, bad("names neither a container (no X411/X412, no N7 in its loop, no VID in its P4 loop) nor a bill of lading")},
		// CBP's 350 decides per bill: a B/L with no container is a
		// decision on the whole B/L.
		{"B/L only", nil, []string{"P4*2704", "X4*B1*1***20261128*1015*1C**MSCU"}, want{pos: "transaction 1 (segment 3)", id: "CBPACE:000000042:42:0001:1", status: state.Released, at: "2026-11-28T10:15:00Z", bl: "B1"}},
		{"B/L only from N9 MB", nil, []string{"P4*2704", "X4**1***20261128*1015*1C**MSCU", "N9*MB*MASTER1"}, want{pos: "transaction 1 (segment 3)", id: "CBPACE:000000042:42:0001:1", status: state.Released, at: "2026-11-28T10:15:00Z", bl: "MASTER1"}},
		{"X411/X412", nil, []string{"P4*2704", "X4*B1*1***20261128*1015*1C**MSCU**MSCU*1234566"}, ok("2026-11-28T10:15:00Z")},
		{"11 characters in N702", nil, []string{"P4*2704", "X4*B1*1***20261128*1015*1C**MSCU", "N7**mscu 123456-6"}, ok("2026-11-28T10:15:00Z")},
		{"repeats dropped", nil, []string{"P4*2704", "X4*B1*1***20261128*1015*1C**MSCU**MSCU*1234566", n7, "N7*TGHU*1234567", n7}, ok("2026-11-28T10:15:00Z", "MSCU1234566", "TGHU1234567")},
		{"own equipment beats the VIDs", nil, []string{"P4*2704", "VID*CN*TGHU*1234567", "X4*B1*1***20261128*1015*1C**MSCU", n7}, ok("2026-11-28T10:15:00Z")},
		{"chassis is not a container", nil, []string{"P4*2704", "X4*B1*1***20261128*1015*1C**MSCU", "N7*TRAC*123456*********CH"},
			want{pos: "transaction 1 (segment 4)", code: state.CodeInvalidField, reason: []string{`N701/N702 "TRAC"/"123456": container "TRAC123456"`}}},
	}
	d := newDecoder(t, source())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dec := d
			if tt.zone != nil {
				dec = zoned(t, source(), tt.zone)
			}
			w := tt.want
			if tt.name == "own equipment beats the VIDs" {
				w.pos = "transaction 1 (segment 4)"
			}
			check(t, dec.Decode(interchange350(tt.body...)), []want{w})
		})
	}

	t.Run("references", func(t *testing.T) {
		recs := d.Decode(envelope("P", [][]string{
			{"P4*2704", "X4**1***20261128*1015*1C*HOUSE1*MSCU*NVOC", n7, "X4**1***20261128*1015*1C**MSCU", "N9*EN*X", "N9*MB*MASTER1", n7, "K1*" + strings.Repeat("é", 60)},
		}))
		if len(recs) != 2 || recs[0].Agency == nil || recs[1].Agency == nil {
			t.Fatalf("records %+v", recs)
		}
		if bl := recs[0].Agency.BL; bl != "HOUSE1" {
			t.Errorf("X408: bl %q", bl)
		}
		if bl := recs[1].Agency.BL; bl != "MASTER1" {
			t.Errorf("N9*MB: bl %q", bl)
		}
		if r := recs[1].Agency.Reason; !strings.HasSuffix(r, "...") || !strings.Contains(r, "é") || strings.ContainsRune(r, '\uFFFD') {
			t.Errorf("long remark: reason %q", r)
		}
	})

	t.Run("1000 containers", func(t *testing.T) {
		body := []string{"P4*2704", "X4*B1*1***20261128*1015*1C**MSCU"}
		for i := range MaxContainers + 1 {
			prefix := fmt.Sprintf("MSCU%06d", i)
			body = append(body, fmt.Sprintf("N7*MSCU*%06d%d", i, state.CheckDigit(prefix)))
		}
		check(t, d.Decode(interchange350(body...)), []want{bad("1001 containers, more than 1000")})
		check(t, d.Decode(interchange350(body[:len(body)-1]...)), []want{{pos: "transaction 1 (segment 3)", id: "CBPACE:000000042:42:0001:1",
			status: state.Released, containers: func() []string {
				var out []string
				for i := range MaxContainers {
					p := fmt.Sprintf("MSCU%06d", i)
					out = append(out, fmt.Sprintf("%s%d", p, state.CheckDigit(p)))
				}
				return out
			}(), at: "2026-11-28T10:15:00Z", bl: "B1"}})
	})
}

func TestStatusCodes(t *testing.T) {
	cfg := source()
	cfg.Keys = config.NewKeys(Config{StatusCodes: map[string]string{"1I": "released", "1C": "held", "1Z": "released"}})
	d := newDecoder(t, cfg)
	for _, tt := range []struct {
		code   string
		status state.Status
		why    string
	}{
		{"1I", state.Released, "disposition 1I (released by status_codes)"},
		{"1C", state.Held, "disposition 1C (held by status_codes)"},
		{"1Z", state.Released, "disposition 1Z (released by status_codes)"},
		{"1H", state.Held, "disposition 1H (customs hold placed at port of discharge)"},
		{"1B", state.Released, "disposition 1B (released: intensive examination completed)"},
	} {
		recs := d.Decode(interchange350("P4*2704", "X4*B1*1***20261128*1015*"+tt.code+"**MSCU", "N7*MSCU*1234566"))
		if recs[0].Agency == nil {
			t.Errorf("%s: %v", tt.code, recs[0].Err)
			continue
		}
		if ev := recs[0].Agency; ev.Status != tt.status || ev.Reason != tt.why {
			t.Errorf("%s: %s %q, want %s %q", tt.code, ev.Status, ev.Reason, tt.status, tt.why)
		}
	}

	// The default table: every code is documented; every removal removes
	// the type its placing code places, and every typed hold has a
	// removal.
	placed, removed := map[string]bool{}, map[string]bool{}
	for code, dp := range defaultCodes {
		if dp.name == "" || !(dp.status == info || jsonfmt.IsStatus(dp.status)) {
			t.Errorf("default code %s: %+v", code, dp)
		}
		switch dp.status {
		case state.Held:
			if dp.hold != "" && dp.hold != code {
				t.Errorf("hold %s places type %q, want its own code", code, dp.hold)
			}
			placed[dp.hold] = dp.hold != ""
		case state.HoldRemoved:
			if p, ok := defaultCodes[dp.hold]; !ok || p.status != state.Held {
				t.Errorf("removal %s removes %q, which the table does not place", code, dp.hold)
			}
			removed[dp.hold] = true
		case state.Released, state.Revoked, info:
			if dp.hold != "" {
				t.Errorf("code %s: %s with hold type %q", code, dp.status, dp.hold)
			}
		}
	}
	for h, typed := range placed {
		if typed && !removed[h] {
			t.Errorf("typed hold %s has no removal code", h)
		}
	}
}

func TestConfig(t *testing.T) {
	type keyErr = config.KeyError
	tests := []struct {
		name string
		edit func(*config.Source)
		want []keyErr
	}{
		{"default", func(*config.Source) {}, nil},
		{"other format", func(s *config.Source) {
			s.Format = "json"
			s.Keys = config.NewKeys(Config{StatusCodes: map[string]string{"x": "y"}})
		}, nil},
		{"bad value", func(s *config.Source) {
			s.Keys = config.NewKeys(Config{StatusCodes: map[string]string{"1C": "release", "7I": "released"}})
		},
			[]keyErr{{Key: "status_codes.1C", Msg: `want released, held[:TYPE], hold_removed[:TYPE] or revoked, got "release", or info (an advisory: no event)`}}},
		{"bad codes", func(s *config.Source) {
			s.Keys = config.NewKeys(Config{StatusCodes: map[string]string{"1c": "held", "1ABC": "held", "": "held"}})
		}, []keyErr{
			{Key: "status_codes.", Msg: `disposition code "": want 2 or 3 upper-case letters and digits, as X407 carries`},
			{Key: "status_codes.1ABC", Msg: `disposition code "1ABC": want 2 or 3 upper-case letters and digits, as X407 carries`},
			{Key: "status_codes.1c", Msg: `disposition code "1c": want 2 or 3 upper-case letters and digits, as X407 carries`},
		}},
		{"tos source", func(s *config.Source) { s.Kind = config.KindTOS; s.Agency = "" },
			[]keyErr{{Key: "format", Msg: `format x12_350 carries customs dispositions: want kind "agency", got "tos"`}}},
		{"no agency: config validation reports it", func(s *config.Source) { s.Agency = "" }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := source()
			tt.edit(&cfg)
			got := Check(cfg)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Check = %q,\nwant %q", got, tt.want)
			}
			if cfg.Format != Format {
				return
			}
			d, err := New(cfg)
			if cfg.Agency == "" && cfg.Kind == config.KindAgency {
				if err == nil || !strings.Contains(err.Error(), "source cbp-350: agency: format x12_350 needs the agency") {
					t.Errorf("New without an agency: %v", err)
				}
				return
			}
			switch {
			case len(tt.want) == 0 && err != nil:
				t.Errorf("New: %v", err)
			case len(tt.want) > 0 && (err == nil || d != nil):
				t.Errorf("New = %v, %v; want an error", d, err)
			case len(tt.want) > 0:
				for _, w := range tt.want {
					if !strings.Contains(err.Error(), "source cbp-350: "+w.Key+": ") {
						t.Errorf("New error %q does not name %s", err, w.Key)
					}
				}
			}
		})
	}
}

func TestRegistered(t *testing.T) {
	d, err := adapters.NewDecoder(source())
	if err != nil {
		t.Fatal(err)
	}
	recs := d.Decode(readFile(t, "release-4010.x12"))
	if len(recs) != 1 || recs[0].Agency == nil || recs[0].Agency.Agency != "customs" {
		t.Fatalf("records %+v", recs)
	}
	if !adapters.Registry.HasFormat(Format) {
		t.Error("format not registered")
	}
	bad := source()
	bad.Keys = config.NewKeys(Config{StatusCodes: map[string]string{"1C": "free"}})
	if _, err := adapters.NewDecoder(bad); err == nil || !strings.Contains(err.Error(), "status_codes") {
		t.Errorf("NewDecoder with a bad status code: %v", err)
	}
}

// The same interchange delivered again gives the same ids, so the engine
// sees a duplicate; within a message ids are unique.
func TestIDs(t *testing.T) {
	d := newDecoder(t, source())
	seen := map[string]string{}
	files, _ := filepath.Glob("testdata/*.x12")
	for _, f := range files {
		payload := readFile(t, filepath.Base(f))
		first, again := d.Decode(payload), d.Decode(payload)
		for i, r := range first {
			if r.Agency == nil {
				continue
			}
			if again[i].Agency == nil || again[i].Agency.ID != r.Agency.ID {
				t.Errorf("%s: record %d: id %q, then %+v", f, i, r.Agency.ID, again[i].Agency)
			}
			if prev, dup := seen[r.Agency.ID]; dup {
				t.Errorf("%s: id %q also in %s", f, r.Agency.ID, prev)
			}
			seen[r.Agency.ID] = f
		}
	}
}
