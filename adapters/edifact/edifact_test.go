package edifact_test

// The corpus in testdata/ is built from the public UN/EDIFACT
// specifications and public sample messages:
//
//   - Interchange syntax (UNA, UNB/UNZ, UNG/UNE, UNH/UNT, release
//     character, default service characters of levels A and B): ISO 9735,
//     as summarised in the UNTDID service segment directory,
//     https://service.unece.org/trade/untdid/d96b/trmd/cusres_d.htm (UNH
//     S009 CUSRES:D:96B:UN) and the D.96B segment table
//     https://service.unece.org/trade/untdid/d96b/trmd/cusres_s.htm
//     (header UNH BGM DTM FTX TDT LOC GIS EQD, then SG1 NAD, SG3 RFF-DTM-LOC,
//     SG4 ERP..., UNT).
//   - GIS, the customs processing indicators ("cargo released, cargo held,
//     examination required, earlier message accepted or rejected"), and EQD,
//     the container numbers, in the CUSRES segment clarification, e.g.
//     https://doc.chinlinktech.com/edifact/D13A/transaction-set/CUSRES
//   - GIS composite C529 (7365, 1131, 3055, 7187):
//     https://stedi.com/edi/edifact/D96B/elements/C529
//   - Code list 7365 (4 goods released, 5 required for examination, 6
//     documents to be produced, 7 goods detained, 8 may move under customs
//     transfer, 9 accepted awaiting arrival):
//     https://stedi.com/edi/edifact/D97B/elements/7365 (the same codes in
//     D.96A to D.18B).
//   - RFF qualifiers 1153 (AAE goods declaration number, BM, MB, BH bills of
//     lading): https://stedi.com/edi/edifact/D96B/elements/1153
//   - EQD+CN with the container number in C237 8260, as in the SARS CUSDEC
//     guide's example "EQD+CN+ABCD1234567+...":
//     https://tools.sars.gov.za/EDI_Downloads/MIGS/CUSDEC_30_2_HTML/0321.htm
//   - National status lists in GIS (SARS: "CUSRES code 2" is a stop for
//     physical inspection,
//     https://newsarsweb.azurewebsites.net/customs-and-excise/inspection/physical-inspection):
//     national_codes.edi has the shape of the SARS D.96B CUSRES samples
//     published in public source code (UNH+1+CUSRES:D:96B:UN:ZZZ01,
//     BGM+962, GIS+<status>:120:ZZZ, RFF+ABT with the MRN, TAX/MOA/CNT).
//   - bad_una.edi is a New Zealand CusMod CUSRES sample published in public
//     test code of a terminal operating system, whose UNA is cut to
//     "UNA:+.'" (its message has no EQD either).
//
// Container numbers are real-looking ISO 6346 numbers with correct check
// digits (CSQU3054383 is the standard's own example).

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
	"github.com/portsync/portsync/adapters/edifact"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

func source(codes map[string]string) config.Source {
	return config.Source{Name: "cusres-drop", Type: "file_drop", Kind: config.KindAgency, Agency: "customs", Format: "edifact", Keys: config.NewKeys(edifact.Config{StatusCodes: codes})}
}

// decoder builds the decoder the way the engine does, through the registry.
func decoder(t testing.TB, codes map[string]string) adapters.Decoder {
	t.Helper()
	d, err := adapters.NewDecoder(source(codes))
	if err != nil {
		t.Fatalf("NewDecoder: %v", err)
	}
	return d
}

func readCorpus(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func local(y int, mo time.Month, d, h, mi, s int) time.Time {
	return time.Date(y, mo, d, h, mi, s, 0, time.Local)
}

// want is one expected record: an event, or a rejection.
type want struct {
	pos    string // the Position, exactly
	ev     *state.AgencyEvent
	code   string   // rejection code
	reason []string // substrings of the rejection reason
}

func rejection(t *testing.T, err error) *state.Rejection {
	t.Helper()
	var rej *state.Rejection
	if !errors.As(err, &rej) {
		t.Fatalf("error %T is not a *state.Rejection: %v", err, err)
	}
	return rej
}

func checkRecords(t *testing.T, got []adapters.Record, wants []want) {
	t.Helper()
	if len(got) != len(wants) {
		for _, r := range got {
			t.Logf("record: %+v agency %+v", r, r.Agency)
		}
		t.Fatalf("%d records, want %d", len(got), len(wants))
	}
	for i, w := range wants {
		r := got[i]
		if r.Position != w.pos {
			t.Errorf("record %d: position %q, want %q", i, r.Position, w.pos)
		}
		if r.TOS != nil {
			t.Errorf("record %d: a TOS event from an agency format", i)
		}
		if w.ev == nil {
			if r.Err == nil {
				t.Errorf("record %d: accepted %+v, want rejection %s", i, r.Agency, w.code)
				continue
			}
			if r.Agency != nil {
				t.Errorf("record %d: both an event and an error", i)
			}
			rej := rejection(t, r.Err)
			if rej.Code != w.code {
				t.Errorf("record %d: code %q (%s), want %q", i, rej.Code, rej.Reason, w.code)
			}
			for _, s := range w.reason {
				if !strings.Contains(rej.Reason, s) {
					t.Errorf("record %d: reason %q does not contain %q", i, rej.Reason, s)
				}
			}
			continue
		}
		if r.Err != nil {
			t.Errorf("record %d: rejected: %v", i, r.Err)
			continue
		}
		ev := r.Agency
		if ev.ID != w.ev.ID || ev.Agency != "customs" || ev.Status != w.ev.Status ||
			!slices.Equal(ev.Containers, w.ev.Containers) || ev.BL != w.ev.BL ||
			ev.Declaration != w.ev.Declaration || !ev.At.Equal(w.ev.At) {
			t.Errorf("record %d:\n got %+v\nwant %+v", i, *ev, *w.ev)
		}
		if w.ev.Reason != "" && !strings.Contains(ev.Reason, w.ev.Reason) {
			t.Errorf("record %d: reason %q does not contain %q", i, ev.Reason, w.ev.Reason)
		}
	}
}

func TestCorpus(t *testing.T) {
	sars := map[string]string{"1:120": "released", "2:120": "held"}
	cases := []struct {
		file  string
		codes map[string]string
		want  []want
	}{
		{file: "release_single.edi", want: []want{{
			pos: "message 1 (UNH 1), segment 2 (UNH, line 3)",
			ev: &state.AgencyEvent{
				ID: "CNCUSTOMS/2611281016/CR000123/1", Status: state.Released,
				Containers: []string{"MSCU1234566", "TGHU1234567"},
				BL:         "MEDUSH123456", Declaration: "220120261000123456",
				// The DTM 137 of the message header, not the one of the RFF group.
				At:     local(2026, 11, 28, 10, 15, 0),
				Reason: "CUSRES REL-2026-000123: status 4 (released)",
			},
		}}},
		{file: "multi_message.edi", want: []want{
			{pos: "message 1 (UNH M1), segment 2 (UNH, line 3)", ev: &state.AgencyEvent{
				ID: "CNCUSTOMS/2611281030/4711/M1", Status: state.Released,
				Containers: []string{"MAEU7654320", "CMAU4001231"}, BL: "MAEUSHA0001",
				At: local(2026, 11, 28, 10, 15, 0),
			}},
			{pos: "message 2 (UNH M2), segment 11 (UNH, line 12)", ev: &state.AgencyEvent{
				ID: "CNCUSTOMS/2611281030/4711/M2", Status: state.Held,
				Containers: []string{"OOLU8812348"}, BL: "OOLUSHA0002", Declaration: "220120261000000002",
				At: local(2026, 11, 28, 10, 20, 0), Reason: "status 7 (held): GOODS DETAINED PENDING LAB TEST",
			}},
			// No DTM 137 or 9: the UNB's date and time of preparation.
			{pos: "message 3 (UNH M3), segment 21 (UNH, line 22)", ev: &state.AgencyEvent{
				ID: "CNCUSTOMS/2611281030/4711/M3", Status: state.Held,
				Containers: []string{"HLXU3100772"}, BL: "HBL0003", Declaration: "GD-0003",
				At: local(2026, 11, 28, 10, 30, 0),
			}},
		}},
		{file: "una_custom.edi", want: []want{{
			pos: "message 1 (UNH 9|1), segment 2 (UNH, line 1)",
			ev: &state.AgencyEvent{
				ID: "PCS/202611281100/IC*77/9|1", Status: state.Released,
				Containers: []string{"TCLU9876543"}, BL: "MEDU*SH|1!",
				At: local(2026, 11, 28, 10, 59, 0), Reason: "CUSRES DOC~42",
			},
		}}},
		{file: "release_escapes.edi", want: []want{{
			pos: "message 1 (UNH ESC1), segment 2 (UNH, line 3)",
			ev: &state.AgencyEvent{
				ID: "SENDER/202611281201/E1/ESC1", Status: state.Released,
				Containers: []string{"MSKU5550010"}, BL: "BL'1?", Declaration: "DECL+2026",
				At:     local(2026, 11, 28, 12, 0, 0),
				Reason: "CUSRES A+B:C'D?E: status 4 (released): RELEASED + DOCUMENTS OK: SEE B/L",
			},
		}}},
		{file: "groups.edi", want: []want{
			{pos: "message 1 (UNH 1), segment 3 (UNH, line 4)", ev: &state.AgencyEvent{
				ID: "CNCUSTOMS/2611281302/G77/GRP1/1", Status: state.Released,
				Containers: []string{"CSQU3054383"}, At: local(2026, 11, 28, 13, 0, 0),
			}},
			{pos: "message 2 (UNH 2), segment 9 (UNH, line 10)", ev: &state.AgencyEvent{
				ID: "CNCUSTOMS/2611281302/G77/GRP1/2", Status: state.Held,
				Containers: []string{"APZU4691110"}, At: local(2026, 11, 28, 13, 1, 0),
			}},
		}},
		{file: "wrong_unt_count.edi", want: []want{{
			pos: "segment 7 (UNT, line 8)", code: state.CodeMalformed,
			reason: []string{"UNT 0074", "is 4, but there are 6"},
		}}},
		{file: "wrong_unz_count.edi", want: []want{{
			pos: "segment 13 (UNZ, line 14)", code: state.CodeMalformed,
			reason: []string{"UNZ 0036", "is 3, but there are 2"},
		}}},
		{file: "missing_unz.edi", want: []want{{
			pos: "segment 7 (UNT, line 8)", code: state.CodeMalformed,
			reason: []string{`interchange "W3" has no UNZ`},
		}}},
		{file: "unknown_status.edi", want: []want{
			{pos: "message 1 (UNH 1), segment 5 (GIS, line 6)", code: state.CodeInvalidField,
				reason: []string{`status code "99" is not in the status table`, "4 released", "status_codes"}},
			{pos: "message 2 (UNH 2), segment 8 (UNH, line 9)", ev: &state.AgencyEvent{
				ID: "S/2611281500/U1/2", Status: state.Held, Containers: []string{"TGHU1234567"},
				At: local(2026, 11, 28, 15, 1, 0),
			}},
		}},
		{file: "bad_check_digit.edi", want: []want{
			{pos: "message 1 (UNH 1), segment 7 (EQD, line 8)", code: state.CodeBadCheckDigit,
				reason: []string{"EQD+CN", `"MSCU1234567"`, "the right digit for MSCU123456 is 6"}},
			{pos: "message 2 (UNH 2), segment 9 (UNH, line 10)", ev: &state.AgencyEvent{
				ID: "S/2611281600/B1/2", Status: state.Released, Containers: []string{"TEMU0001110"},
				At: local(2026, 11, 28, 16, 1, 0),
			}},
		}},
		{file: "national_codes.edi", want: []want{{
			pos: "message 1 (UNH 1), segment 9 (GIS, line 9)", code: state.CodeInvalidField,
			reason: []string{`status code "1" (code list "120", agency "ZZZ") is not in the status table`},
		}}},
		{file: "national_codes.edi", codes: sars, want: []want{{
			pos: "message 1 (UNH 1), segment 2 (UNH, line 2)",
			ev: &state.AgencyEvent{
				ID: "SARSDECT/201605141425/245/1", Status: state.Released,
				Containers: []string{"CSQU3054383"}, BL: "0003264", Declaration: "CLP201605145000001",
				// Only DTM 178 and 202 in the header: the UNB time. The
				// GIS+2 after TAX is a duty indicator, not the status.
				At: local(2016, 5, 14, 14, 25, 0), Reason: "CUSRES 00505655CLP20160514000245: status 1 (released)",
			},
		}}},
		// A bare code is UN/EDIFACT 7365's: it does not match code 1 of
		// the national list 120 (issue 11).
		{file: "national_codes.edi", codes: map[string]string{"1": "held"}, want: []want{{
			pos: "message 1 (UNH 1), segment 9 (GIS, line 9)", code: state.CodeInvalidField,
			reason: []string{`status code "1" (code list "120", agency "ZZZ") is not in the status table (known: 1 held)`},
		}}},
		{file: "national_codes.edi", codes: map[string]string{"1:120:ZZZ": "held:inspection"}, want: []want{{
			pos: "message 1 (UNH 1), segment 2 (UNH, line 2)",
			ev: &state.AgencyEvent{
				ID: "SARSDECT/201605141425/245/1", Status: state.Held,
				Containers: []string{"CSQU3054383"}, BL: "0003264", Declaration: "CLP201605145000001",
				At: local(2016, 5, 14, 14, 25, 0),
			},
		}}},
		// Two interchanges in one file, each with its own UNA (issue 11):
		// a release stamped with its offset (DTM 2379 format 205), then
		// its cancellation (BGM 1225 = 1), which revokes it (DTM 303).
		{file: "release_then_cancel.edi", want: []want{
			{pos: "interchange 1, message 1 (UNH 1), segment 2 (UNH, line 3)", ev: &state.AgencyEvent{
				ID: "CNCUSTOMS/2611281016/CR000201/1", Status: state.Released, Containers: []string{"MSCU1234566"},
				BL: "MEDUSH200001", At: time.Date(2026, 11, 28, 2, 15, 0, 0, time.UTC), Reason: "status 4 (released)",
			}},
			{pos: "interchange 2, message 1 (UNH 1), segment 2 (UNH, line 13)", ev: &state.AgencyEvent{
				ID: "CNCUSTOMS/2611281130/CR000202/1", Status: state.Revoked, Containers: []string{"MSCU1234566"},
				BL: "MEDUSH200001", At: time.Date(2026, 11, 28, 3, 29, 0, 0, time.UTC), Reason: "withdrawn by BGM 1225 1 (cancellation), 4:7365:6: RELEASE ISSUED IN ERROR",
			}},
		}},
		{file: "bad_una.edi", want: []want{{
			pos: "UNA (line 1)", code: state.CodeMalformed,
			reason: []string{"segment terminator (position 6)", `'U'`},
		}}},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/%v", c.file, c.codes), func(t *testing.T) {
			checkRecords(t, decoder(t, c.codes).Decode(readCorpus(t, c.file)), c.want)
		})
	}
}

// interchange wraps messages (segments without terminators, default
// service characters) in a UNB/UNZ envelope with correct counts.
func interchange(msgs ...[]string) []byte {
	var b strings.Builder
	b.WriteString("UNA:+.? '\nUNB+UNOA:3+SND+RCV+261128:0900+IC1'\n")
	for i, m := range msgs {
		ref := fmt.Sprint(i + 1)
		fmt.Fprintf(&b, "UNH+%s+CUSRES:D:96B:UN'\n", ref)
		for _, s := range m {
			b.WriteString(s + "'\n")
		}
		fmt.Fprintf(&b, "UNT+%d+%s'\n", len(m)+2, ref)
	}
	fmt.Fprintf(&b, "UNZ+%d+IC1'\n", len(msgs))
	return []byte(b.String())
}

func TestMessageFaults(t *testing.T) {
	okMsg := []string{"BGM+962+OK+9", "DTM+137:202611280900:203", "GIS+4", "EQD+CN+MSCU1234566"}
	many := []string{"BGM+962+MANY+9", "GIS+4"}
	for i := 0; i <= edifact.MaxContainers; i++ {
		prefix := fmt.Sprintf("ABCU%06d", i)
		many = append(many, fmt.Sprintf("EQD+CN+%s%d", prefix, state.CheckDigit(prefix)))
	}
	cases := []struct {
		name   string
		msg    []string
		tag    string
		reason string
	}{
		{"no BGM", []string{"GIS+4", "EQD+CN+MSCU1234566"}, "UNH", "BGM (beginning of message) is missing"},
		{"no GIS", []string{"BGM+962+X", "EQD+CN+MSCU1234566"}, "BGM", "no GIS status segment"},
		{"two hold types", []string{"BGM+962+X", "GIS+5", "GIS+7:120:ZZZ", "EQD+CN+MSCU1234566"}, "GIS", "do not make one status"},
		{"GIS only after the header", []string{"BGM+962+X", "EQD+CN+MSCU1234566", "RFF+BM:1", "GIS+4"}, "BGM", "no GIS status segment"},
		{"no container", []string{"BGM+962+X", "GIS+4", "EQD+TE+TRAILER1"}, "UNH", "no container"},
		{"empty container", []string{"BGM+962+X", "GIS+4", "EQD+CN"}, "EQD", "container number is missing"},
		{"bad container", []string{"BGM+962+X", "GIS+4", "EQD+CN+MSCX1234566"}, "EQD", "category letter"},
		{"too many containers", many, "EQD", "more than 1000 containers"},
		{"unknown DTM format", []string{"BGM+962+X", "DTM+137:20261128:999", "GIS+4", "EQD+CN+MSCU1234566"}, "DTM", `format code 2379 "999"`},
		{"DTM not in its format", []string{"BGM+962+X", "DTM+137:2026112810:203", "GIS+4", "EQD+CN+MSCU1234566"}, "DTM", `"2026112810" is not a date in format 203 (CCYYMMDDHHMM)`},
		{"DTM impossible date", []string{"BGM+962+X", "DTM+9:20261131:102", "GIS+4", "EQD+CN+MSCU1234566"}, "DTM", "format 102"},
		{"DTM before 1970", []string{"BGM+962+X", "DTM+137:690101:101", "GIS+4", "EQD+CN+MSCU1234566"}, "DTM", "before 1970"},
		{"long reference", []string{"BGM+962+X", "GIS+4", "EQD+CN+MSCU1234566", "RFF+BM:" + strings.Repeat("B", 71)}, "RFF", "longer than 70"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			recs := decoder(t, map[string]string{"4": "released", "5": "held", "7:120:ZZZ": "held:7"}).Decode(interchange(okMsg, c.msg, okMsg))
			if len(recs) != 3 {
				t.Fatalf("%d records, want 3", len(recs))
			}
			if recs[0].Err != nil || recs[2].Err != nil {
				t.Fatalf("a fault in message 2 rejected another: %v / %v", recs[0].Err, recs[2].Err)
			}
			rej := rejection(t, recs[1].Err)
			if rej.Code != state.CodeInvalidField || !strings.Contains(rej.Reason, c.reason) {
				t.Errorf("rejection %s: %s; want invalid_field containing %q", rej.Code, rej.Reason, c.reason)
			}
			if !strings.HasPrefix(recs[1].Position, "message 2 (UNH 2), segment ") || !strings.Contains(recs[1].Position, "("+c.tag+", line ") {
				t.Errorf("position %q, want message 2 at a %s segment", recs[1].Position, c.tag)
			}
		})
	}
}

func TestMessageSemantics(t *testing.T) {
	t.Run("held wins over released", func(t *testing.T) {
		recs := decoder(t, nil).Decode(interchange([]string{"BGM+962+X", "GIS+4", "GIS+7", "EQD+CN+MSCU1234566"}))
		if recs[0].Err != nil || recs[0].Agency.Status != state.Held {
			t.Fatalf("got %+v, %v; want held", recs[0].Agency, recs[0].Err)
		}
	})
	t.Run("an unknown code beside a release rejects", func(t *testing.T) {
		recs := decoder(t, nil).Decode(interchange([]string{"BGM+962+X", "GIS+4", "GIS+1", "EQD+CN+MSCU1234566"}))
		if rej := rejection(t, recs[0].Err); rej.Code != state.CodeInvalidField || !strings.Contains(rej.Reason, `"1"`) {
			t.Fatalf("got %v, want the unknown code rejected", rej)
		}
	})
	t.Run("code and list before code", func(t *testing.T) {
		d := decoder(t, map[string]string{"1": "released", "1:120": "held"})
		recs := d.Decode(interchange(
			[]string{"BGM+962+X", "GIS+1:120:ZZZ", "EQD+CN+MSCU1234566"},
			[]string{"BGM+962+Y", "GIS+1:7365", "EQD+CN+MSCU1234566"},
			// A bare code is UN 7365's: list 117 of agency 148 is not.
			[]string{"BGM+962+Z", "GIS+1:117:148", "EQD+CN+MSCU1234566"},
		))
		if recs[0].Agency == nil || recs[0].Agency.Status != state.Held || recs[1].Agency == nil || recs[1].Agency.Status != state.Released || recs[2].Err == nil {
			t.Fatalf("got %+v / %+v / %+v", recs[0], recs[1], recs[2])
		}
	})
	t.Run("D.96A header has NAD before GIS", func(t *testing.T) {
		// https://service.unece.org/trade/untdid/d95b/trmd/cusres_s.htm:
		// UNH BGM NAD LOC DTM GIS FTX EQD, then the groups.
		data := []byte("UNB+UNOA:2+S+R+261128:0900+X'UNH+1+CUSRES:D:96A:UN'BGM+962+B'NAD+DT+X'GIS+4'EQD+CN+MSCU1234566'UNT+6+1'UNZ+1+X'")
		recs := decoder(t, nil).Decode(data)
		if recs[0].Err != nil || recs[0].Agency.Status != state.Released {
			t.Fatalf("got %+v, %v", recs[0].Agency, recs[0].Err)
		}
		// The same segments in D.96B put the GIS after segment group 1.
		recs = decoder(t, nil).Decode(bytes.Replace(data, []byte("96A"), []byte("96B"), 1))
		if recs[0].Err == nil || !strings.Contains(recs[0].Err.Error(), "no GIS status segment") {
			t.Fatalf("D.96B: got %+v, %v", recs[0].Agency, recs[0].Err)
		}
	})
	t.Run("not a CUSRES", func(t *testing.T) {
		data := []byte("UNB+UNOA:3+S+R+261128:0900+X'UNH+1+APERAK:D:96A:UN'BGM+963+1'UNT+3+1'UNZ+1+X'")
		recs := decoder(t, nil).Decode(data)
		rej := rejection(t, recs[0].Err)
		if rej.Code != state.CodeInvalidField || !strings.Contains(rej.Reason, `want CUSRES, got "APERAK"`) || recs[0].Position != "message 1 (UNH 1), segment 2 (UNH, line 1)" {
			t.Fatalf("got %s %q at %q", rej.Code, rej.Reason, recs[0].Position)
		}
	})
	t.Run("empty interchange", func(t *testing.T) {
		recs := decoder(t, nil).Decode([]byte("UNB+UNOA:3+S+R+261128:0900+X'UNZ+0+X'"))
		if len(recs) != 1 || rejection(t, recs[0].Err).Code != state.CodeMalformed || !strings.Contains(recs[0].Err.Error(), "holds no messages") {
			t.Fatalf("got %+v", recs)
		}
	})
	t.Run("level B separators without UNA", func(t *testing.T) {
		r := strings.NewReplacer("+", "\x1d", ":", "\x1f", "'", "\x1c")
		data := r.Replace("UNB+UNOB:3+S+R+261128:0900+X'UNH+1+CUSRES:D:96B:UN'BGM+962+B'GIS+4'EQD+CN+MSCU1234566'UNT+5+1'UNZ+1+X'")
		recs := decoder(t, nil).Decode([]byte(data))
		if recs[0].Err != nil || recs[0].Agency.ID != "S/2611280900/X/1" {
			t.Fatalf("got %+v %v", recs[0].Agency, recs[0].Err)
		}
	})
	t.Run("Latin-1 in UNOC", func(t *testing.T) {
		data := []byte("UNB+UNOC:3+S+R+261128:0900+X'UNH+1+CUSRES:D:96B:UN'BGM+962+B'FTX+AAI+++MAINLEV\xc9E'GIS+4'EQD+CN+MSCU1234566'UNT+6+1'UNZ+1+X'")
		recs := decoder(t, nil).Decode(data)
		if recs[0].Err != nil || !strings.HasSuffix(recs[0].Agency.Reason, "MAINLEVÉE") {
			t.Fatalf("got %+v %v", recs[0].Agency, recs[0].Err)
		}
	})
	t.Run("a segment wrapped over lines", func(t *testing.T) {
		data := []byte("UNB+UNOA:3+S+R+261128:0900+X'\r\nUNH+1+CUSRES:D:96B:UN'BGM+962+B'GIS+4'EQD+CN+MSCU12\r\n34566'\r\nUNT+5+1'UNZ+1+X'\r\n")
		recs := decoder(t, nil).Decode(data)
		if recs[0].Err != nil || recs[0].Agency.Containers[0] != "MSCU1234566" {
			t.Fatalf("got %+v %v", recs[0].Agency, recs[0].Err)
		}
	})
}

func TestEnvelopeFaults(t *testing.T) {
	const (
		unb = "UNB+UNOA:3+S+R+261128:0900+IC1'"
		msg = "UNH+1+CUSRES:D:96B:UN'BGM+962+B'GIS+4'EQD+CN+MSCU1234566'UNT+5+1'"
	)
	cases := []struct {
		name, data, pos, reason string
	}{
		{"empty", " \r\n", "interchange", "payload is empty"},
		{"UNA cut short", "UNA:+.?", "UNA (line 1)", "cut short"},
		{"UNA separators twice", "UNA::.? '" + unb, "UNA (line 1)", "both ':'"},
		{"UNA decimal mark", "UNA:+;? '" + unb, "UNA (line 1)", "decimal mark"},
		{"UNA NUL", "UNA:+.\x00 '" + unb, "UNA (line 1)", "NUL byte"},
		{"UNA letter", "UNA:+.? X" + unb, "UNA (line 1)", "must not be a letter"},
		{"newline terminator counts lines", "UNA:+.? \nUNB+UNOA:3+S+R+261128:0900+IC1\nUNZ+1+IC1\n", "segment 2 (UNZ, line 3)", "is 1, but there are 0"},
		{"not EDIFACT", `{"id":"1"}`, "segment 1 (line 1)", "must start with UNA or UNB+"},
		{"UNA then no UNB", "UNA:+.? 'UNH+1+CUSRES:D:96B:UN'", "segment 1 (UNH, line 1)", "first segment must be UNB"},
		{"syntax identifier", "UNB+UN:3+S+R+261128:0900+IC1'UNZ+0+IC1'", "segment 1 (UNB, line 1)", "S001 0001"},
		{"syntax version", "UNB+UNOA:7+S+R+261128:0900+IC1'UNZ+0+IC1'", "segment 1 (UNB, line 1)", "S001 0002"},
		{"no sender", "UNB+UNOA:3++R+261128:0900+IC1'UNZ+0+IC1'", "segment 1 (UNB, line 1)", "S002 0004 (interchange sender identification) is missing"},
		{"bad date", "UNB+UNOA:3+S+R+261328:0900+IC1'UNZ+0+IC1'", "segment 1 (UNB, line 1)", "S004"},
		{"date without time", "UNB+UNOA:3+S+R+2611280900+IC1'UNZ+0+IC1'", "segment 1 (UNB, line 1)", "S004"},
		{"digits for a syntax identifier", "UNB+0000:1+S+R+261128:0900+IC1'UNZ+0+IC1'", "segment 1 (UNB, line 1)", "S001 0001"},
		{"UNH without S009", unb + "UNH+1'UNT+2+1'UNZ+1+IC1'", "segment 2 (UNH, line 1)", "UNH S009 (message identifier)"},
		{"no control reference", "UNB+UNOA:3+S+R+261128:0900'UNZ+0'", "segment 1 (UNB, line 1)", "0020 (interchange control reference) is missing"},
		{"long control reference", "UNB+UNOA:3+S+R+261128:0900+123456789012345'", "segment 1 (UNB, line 1)", "longer than 14"},
		{"cut mid-segment", unb + "UNH+1+CUSRES:D:9", "segment 2 (line 1)", "no segment terminator"},
		{"release at the end", unb + "UNH+1?", "segment 2 (line 1)", "ends with the release character"},
		{"bad tag", unb + "UNH+1+CUSRES:D:96B:UN'bgm+962'", "segment 3 (line 1)", "segment tag"},
		{"no UNT", unb + "UNH+1+CUSRES:D:96B:UN'BGM+962+B'UNZ+1+IC1'", "segment 4 (UNZ, line 1)", `UNZ inside message "1"`},
		{"UNT reference", unb + strings.Replace(msg, "UNT+5+1", "UNT+5+2", 1) + "UNZ+1+IC1'", "segment 6 (UNT, line 1)", `UNT 0062 (message reference number) is "2"`},
		{"UNT count not a number", unb + strings.Replace(msg, "UNT+5+1", "UNT+five+1", 1) + "UNZ+1+IC1'", "segment 6 (UNT, line 1)", "must be a number"},
		{"UNZ reference", unb + msg + "UNZ+1+IC2'", "segment 7 (UNZ, line 1)", `UNZ 0020 (interchange control reference) is "IC2"`},
		{"after UNZ", unb + msg + "UNZ+1+IC1'UNB+UNOA:3+S+R+261128:0900+IC2'", "segment 8 (UNB, line 1)", "segment after UNZ"},
		{"outside a message", unb + msg + "BGM+962+B'UNZ+1+IC1'", "segment 7 (BGM, line 1)", "outside a message"},
		{"second UNB", unb + "UNB+UNOA:3+S+R+261128:0900+IC1'", "segment 2 (UNB, line 1)", "one interchange per payload"},
		{"UNH without a group", unb + "UNG+CUSRES+S+R+261128:0900+G1+UN+D:96B'" + msg + "UNE+1+G1'" + msg + "UNZ+2+IC1'", "segment 9 (UNH, line 1)", "outside a functional group"},
		{"UNE count", unb + "UNG+CUSRES+S+R+261128:0900+G1+UN+D:96B'" + msg + "UNE+2+G1'UNZ+1+IC1'", "segment 8 (UNE, line 1)", "UNE 0060 (number of messages) is 2, but there are 1"},
		{"UNE reference", unb + "UNG+CUSRES+S+R+261128:0900+G1+UN+D:96B'" + msg + "UNE+1+G2'UNZ+1+IC1'", "segment 8 (UNE, line 1)", `UNE 0048 (group reference number) is "G2"`},
		{"no UNE", unb + "UNG+CUSRES+S+R+261128:0900+G1+UN+D:96B'" + msg + "UNZ+1+IC1'", "segment 8 (UNZ, line 1)", "has no UNE"},
		{"UNE without UNG", unb + msg + "UNE+1+G1'UNZ+1+IC1'", "segment 7 (UNE, line 1)", "UNE without a UNG"},
		{"invalid UTF-8 in UNOY", "UNB+UNOY:3+S+R+261128:0900+IC1'UNH+1+CUSRES:D:96B:UN'FTX+AAI+++\xff'UNT+3+1'UNZ+1+IC1'", "segment 3 (FTX, line 1)", "not valid UTF-8"},
		{"too many elements", unb + "UNH+1+CUSRES:D:96B:UN'FTX" + strings.Repeat("+", 300) + "'", "segment 3 (line 1)", "data elements in one segment"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := edifact.Parse([]byte(c.data))
			var se *edifact.SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse: %v, want a *SyntaxError", err)
			}
			if se.Position != c.pos || !strings.Contains(se.Reason, c.reason) {
				t.Errorf("got %q: %q\nwant %q: ...%q...", se.Position, se.Reason, c.pos, c.reason)
			}
			// The decoder rejects the whole interchange, at the same
			// place. A second interchange after UNZ is the decoder's
			// next one (issue 11), refused there as cut short.
			recs := decoder(t, nil).Decode([]byte(c.data))
			if c.name == "after UNZ" {
				if len(recs) != 2 || recs[0].Err != nil || recs[1].Position != "interchange 2, segment 1 (UNB, line 1)" || !strings.Contains(recs[1].Err.Error(), "no UNZ") {
					t.Errorf("Decode gave %+v", recs)
				}
				return
			}
			if len(recs) != 1 || recs[0].Position != se.Position || rejection(t, recs[0].Err).Code != state.CodeMalformed {
				t.Errorf("Decode gave %+v, want one malformed record at %q", recs, se.Position)
			}
		})
	}
}

func TestParse(t *testing.T) {
	ic, err := edifact.Parse(readCorpus(t, "una_custom.edi"))
	if err != nil {
		t.Fatal(err)
	}
	want := edifact.Delimiters{Component: '|', Element: '*', Decimal: ',', Release: '!', Segment: '~'}
	if ic.Delimiters != want || !ic.HasUNA || ic.Syntax != "UNOA" || ic.SyntaxVersion != "3" ||
		ic.Sender != "PCS" || ic.Recipient != "CNSHAT1" || ic.ControlRef != "IC*77" || ic.Segments != 9 || len(ic.Messages) != 1 {
		t.Fatalf("got %+v", ic)
	}
	m := ic.Messages[0]
	if m.Ref != "9|1" || m.Type != "CUSRES" || m.Version != "D" || m.Release != "01B" || m.Agency != "UN" || len(m.Segments) != 7 {
		t.Fatalf("message %+v", m)
	}
	if gis := m.Segments[3]; gis.Tag != "GIS" || !slices.Equal(gis.Elements[0], []string{"4", "", "", ""}) {
		t.Fatalf("GIS %+v", gis)
	}
	if got := m.Segments[4].Value(1, 0); got != "TCLU9876543" {
		t.Fatalf("EQD value %q", got)
	}
	if got := m.Segments[4].Value(7, 3); got != "" {
		t.Fatalf("missing value %q", got)
	}
}

func TestMessageIDEscapes(t *testing.T) {
	ic := &edifact.Interchange{Sender: "A/B", Date: "261128", Time: "0900", ControlRef: "1%2"}
	if got := edifact.MessageID(ic, &edifact.Message{Ref: "3/4"}); got != "A%2FB/2611280900/1%252/3%2F4" {
		t.Fatalf("MessageID = %q", got)
	}
}

func TestCheckConfig(t *testing.T) {
	cases := []struct {
		name string
		cfg  config.Source
		keys []string
		msg  string
	}{
		{"default table", source(nil), nil, ""},
		{"override", source(map[string]string{"4": "released", "1:120": "held", "D": "held"}), nil, ""},
		{"bad status", source(map[string]string{"4": "release", "5": "held"}), []string{"status_codes.4"}, `code "4": want released, held[:TYPE], hold_removed[:TYPE] or revoked, got "release"`},
		{"bad code", source(map[string]string{"1234": "held"}), []string{"status_codes.1234"}, "1 to 3 letters or digits"},
		{"bad list", source(map[string]string{"1:": "held"}), []string{"status_codes.1:"}, "code list"},
		{"tos source", config.Source{Kind: config.KindTOS, Format: "edifact"}, []string{"format"}, "kind must be"},
		// Config validation reports a missing agency of every agency source.
		{"no agency", config.Source{Kind: config.KindAgency, Format: "edifact"}, nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			errs := edifact.Check(c.cfg)
			var keys []string
			for _, e := range errs {
				keys = append(keys, e.Key)
				if !strings.Contains(e.Msg, c.msg) {
					t.Errorf("%s: %q does not contain %q", e.Key, e.Msg, c.msg)
				}
			}
			if !slices.Equal(keys, c.keys) {
				t.Errorf("keys %q, want %q", keys, c.keys)
			}
		})
	}
	if _, err := edifact.New(config.Source{Name: "x", Kind: config.KindAgency, Format: "edifact"}); err == nil || !strings.Contains(err.Error(), "agency") {
		t.Fatalf("New without an agency: %v, want an error naming agency", err)
	}
	if _, err := edifact.New(config.Source{Name: "x", Kind: config.KindTOS, Format: "edifact"}); err == nil || !strings.Contains(err.Error(), "kind must be") {
		t.Fatalf("New for a tos source: %v", err)
	}
	_, err := adapters.NewDecoder(source(map[string]string{"4": "cleared"}))
	if err == nil || !strings.Contains(err.Error(), "status_codes") || !strings.Contains(err.Error(), `"cleared"`) {
		t.Fatalf("NewDecoder with a bad status_codes value: %v, want an error naming status_codes", err)
	}
}

func TestDefaultTable(t *testing.T) {
	// The documented default: UN/EDIFACT 7365 4 releases; 5, 6, 7, 9 hold.
	want := map[string]state.Status{"4": state.Released, "5": state.Held, "6": state.Held, "7": state.Held, "9": state.Held}
	if len(edifact.DefaultStatusCodes) != len(want) {
		t.Fatalf("DefaultStatusCodes = %v", edifact.DefaultStatusCodes)
	}
	for k, v := range want {
		if edifact.DefaultStatusCodes[k] != v {
			t.Errorf("code %s: %q, want %q", k, edifact.DefaultStatusCodes[k], v)
		}
	}
}

func TestParseDTM(t *testing.T) {
	for _, c := range []struct {
		v, f string
		want time.Time
	}{
		{"261128", "101", time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)},
		{"20261128", "102", time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)},
		{"2611281015", "201", time.Date(2026, 11, 28, 10, 15, 0, 0, time.UTC)},
		{"261128101530", "202", time.Date(2026, 11, 28, 10, 15, 30, 0, time.UTC)},
		{"202611281015", "203", time.Date(2026, 11, 28, 10, 15, 0, 0, time.UTC)},
		{"20261128101530", "204", time.Date(2026, 11, 28, 10, 15, 30, 0, time.UTC)},
	} {
		got, err := edifact.ParseDTM(c.v, c.f, time.UTC)
		if err != nil || !got.Equal(c.want) {
			t.Errorf("ParseDTM(%q, %q) = %v, %v; want %v", c.v, c.f, got, err, c.want)
		}
	}
	for _, bad := range [][2]string{{"2026112", "102"}, {"2026-1-28", "102"}, {"+2611281", "201"}, {"20261128", ""}} {
		if _, err := edifact.ParseDTM(bad[0], bad[1], time.UTC); err == nil {
			t.Errorf("ParseDTM(%q, %q) accepted", bad[0], bad[1])
		}
	}
}

// TestCorpusRoundTrip checks the corpus against the encoder the fuzz
// target uses, so that both agree on what the files say.
func TestCorpusRoundTrip(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.edi"))
	for _, f := range files {
		data, _ := os.ReadFile(f)
		ic, err := edifact.Parse(data)
		if err != nil {
			continue
		}
		enc, ok := encode(ic)
		if !ok {
			t.Errorf("%s: cannot re-encode", f)
			continue
		}
		again, err := edifact.Parse(enc)
		if err != nil {
			t.Fatalf("%s: re-encoded interchange rejected: %v\n%s", f, err, enc)
		}
		if diff := sameInterchange(ic, again); diff != "" {
			t.Errorf("%s: %s", f, diff)
		}
	}
}

// encode writes an interchange back with its delimiters and a UNA,
// releasing every service character in values. It reports false when that
// cannot be done faithfully: no release character and a value holding a
// service character, or non-ASCII text in a non-UTF-8 character set.
func encode(ic *edifact.Interchange) ([]byte, bool) {
	d := ic.Delimiters
	special := []byte{d.Component, d.Element, d.Segment, '\r', '\n'}
	if d.Release != 0 {
		special = append(special, d.Release)
	}
	if d.Repetition != 0 {
		special = append(special, d.Repetition)
	}
	utf := ic.Syntax == "UNOW" || ic.Syntax == "UNOY"
	var b bytes.Buffer
	blank := func(c byte) byte {
		if c == 0 {
			return ' '
		}
		return c
	}
	b.Write([]byte{'U', 'N', 'A', d.Component, d.Element, d.Decimal, blank(d.Release), blank(d.Repetition), d.Segment})
	value := func(v string) bool {
		for i := 0; i < len(v); i++ {
			c := v[i]
			if c >= 0x80 && !utf {
				return false
			}
			if bytes.IndexByte(special, c) >= 0 {
				if d.Release == 0 {
					return false
				}
				b.WriteByte(d.Release)
			}
			b.WriteByte(c)
		}
		return true
	}
	segment := func(s *edifact.Segment) bool {
		b.WriteString(s.Tag)
		for _, e := range s.Elements {
			b.WriteByte(d.Element)
			for j, c := range e {
				if j > 0 {
					b.WriteByte(d.Component)
				}
				if !value(c) {
					return false
				}
			}
		}
		b.WriteByte(d.Segment)
		return true
	}
	// The envelope is rebuilt from the parsed fields.
	unb := &edifact.Segment{Tag: "UNB", Elements: [][]string{{ic.Syntax, ic.SyntaxVersion}, {ic.Sender}, {ic.Recipient}, {ic.Date, ic.Time}, {ic.ControlRef}}}
	if !segment(unb) {
		return nil, false
	}
	group, groups := "", 0
	closeGroup := func(n int) bool {
		return segment(&edifact.Segment{Tag: "UNE", Elements: [][]string{{fmt.Sprint(n)}, {group}}})
	}
	inGroup := 0
	for i := range ic.Messages {
		m := &ic.Messages[i]
		if ic.Groups && m.Group != group || ic.Groups && i == 0 {
			if i > 0 && !closeGroup(inGroup) {
				return nil, false
			}
			group, inGroup = m.Group, 0
			groups++
			if !segment(&edifact.Segment{Tag: "UNG", Elements: [][]string{{"X"}, {"S"}, {"R"}, {"261128", "0900"}, {group}}}) {
				return nil, false
			}
		}
		inGroup++
		for j := range m.Segments {
			if !segment(&m.Segments[j]) {
				return nil, false
			}
		}
	}
	if ic.Groups && len(ic.Messages) > 0 && !closeGroup(inGroup) {
		return nil, false
	}
	count := len(ic.Messages)
	if ic.Groups {
		count = groups
	}
	if !segment(&edifact.Segment{Tag: "UNZ", Elements: [][]string{{fmt.Sprint(count)}, {ic.ControlRef}}}) {
		return nil, false
	}
	return b.Bytes(), true
}

// sameInterchange compares what two parses say, not where they said it.
func sameInterchange(a, b *edifact.Interchange) string {
	if a.Sender != b.Sender || a.Recipient != b.Recipient || a.ControlRef != b.ControlRef || a.Date != b.Date || a.Time != b.Time ||
		a.Syntax != b.Syntax || a.Groups != b.Groups || len(a.Messages) != len(b.Messages) {
		return fmt.Sprintf("header %+v, re-parsed %+v", a, b)
	}
	for i := range a.Messages {
		ma, mb := &a.Messages[i], &b.Messages[i]
		if ma.Ref != mb.Ref || ma.Group != mb.Group || ma.Type != mb.Type || len(ma.Segments) != len(mb.Segments) {
			return fmt.Sprintf("message %d: %+v, re-parsed %+v", i+1, ma, mb)
		}
		for j := range ma.Segments {
			sa, sb := &ma.Segments[j], &mb.Segments[j]
			if sa.Tag != sb.Tag || len(sa.Elements) != len(sb.Elements) {
				return fmt.Sprintf("message %d segment %d: %+v, re-parsed %+v", i+1, j+1, sa, sb)
			}
			for k := range sa.Elements {
				if !slices.Equal(sa.Elements[k], sb.Elements[k]) {
					return fmt.Sprintf("message %d segment %d element %d: %q, re-parsed %q", i+1, j+1, k, sa.Elements[k], sb.Elements[k])
				}
			}
		}
	}
	return ""
}
