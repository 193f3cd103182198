package mappedxml_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/net/html/charset"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/adapters/jsonfmt"
	"github.com/portsync/portsync/adapters/mappedxml"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

// fuzzSources are the sources the fuzz target decodes with; its second
// argument picks one: the single-record notice, the example mappings, and
// a list with a mapped agency.
func fuzzSources(f *testing.F) []config.Source {
	return []config.Source{
		source(noticeMapping()),
		parseSources(f, string(readExample(f, "cn-release-instruction.yaml"))),
		parseSources(f, string(readExample(f, "cusres.yaml"))),
		source(&config.Mapping{
			Records: "//Item", ID: "@ref", Agency: "../@authority", Status: "State", Containers: "Cntr|Box/@no", At: "Time",
			AtLayout: "2006-01-02 15:04:05", AtZone: "Asia/Shanghai", Hold: "HoldType", HoldValues: map[string]string{"XRAY": "7H"},
			BL: "normalize-space(Bl)", Reason: "Note",
			StatusValues: map[string]string{"R": "released", "H": "held", "X": "hold_removed:7H", "D": "revoked"},
		}),
	}
}

// decodeCodes are the rejection codes the decoder may give.
var decodeCodes = []string{state.CodeMalformed, state.CodeInvalidField, state.CodeBadCheckDigit, state.CodeTooLarge}

func FuzzMappedXML(f *testing.F) {
	// Seeds besides testdata/fuzz/FuzzMappedXML: the samples, each with
	// its mapping, and the hostile shapes of the tests.
	f.Add([]byte(notice), uint8(0))
	f.Add(readExample(f, "cn-release-instruction.xml"), uint8(1))
	f.Add(readExample(f, "cusres.xml"), uint8(2))
	f.Add([]byte(`<Page><List authority="customs"><Item ref="1"><State>H</State><HoldType>xray</HoldType><Cntr>MSCU1234566</Cntr><Box no="TGHU1234567"/>`+
		`<Time>2026-11-28 10:15:00</Time><Bl> A  B </Bl><Note><![CDATA[x]]></Note></Item></List></Page>`), uint8(3))
	f.Add([]byte(`<!DOCTYPE r [<!ENTITY a "b">]><r>&a;</r>`), uint8(0))
	f.Add([]byte(`<?xml version="1.0" encoding="GBK"?><Notice id="1"/>`), uint8(0))
	f.Add([]byte("\xef\xbb\xbf<Notice id=\"N-1\"><Decision code=\"EXAM\" at=\"2026-11-28T10:15:00+24:00\"/></Notice>"), uint8(0))

	srcs := fuzzSources(f)
	decoders := make([]adapters.Decoder, len(srcs))
	mappings := make([]*config.Mapping, len(srcs))
	for i, src := range srcs {
		dec, err := adapters.NewDecoder(src)
		if err != nil {
			f.Fatal(err)
		}
		decoders[i] = dec
		c, err := adapters.DecodeConfig[mappedxml.Config](src)
		if err != nil {
			f.Fatal(err)
		}
		mappings[i] = c.Mapping
	}
	f.Fuzz(func(t *testing.T, payload []byte, shape uint8) {
		i := int(shape) % len(decoders)
		m := mappings[i]
		recs := decoders[i].Decode(payload)
		if len(recs) == 0 {
			t.Fatal("no records and no rejection")
		}
		if len(recs) > mappedxml.MaxRecords {
			t.Fatalf("%d records, more than %d", len(recs), mappedxml.MaxRecords)
		}
		if declares(payload) {
			if len(recs) != 1 || recs[0].Agency != nil || recs[0].Position != "" {
				t.Fatalf("a document with a <!...> declaration gave %+v, want one rejection", recs)
			}
		}
		for n, r := range recs {
			checkPosition(t, m, recs, n)
			switch {
			case r.TOS != nil:
				t.Fatalf("record %d: a TOS event", n)
			case r.Agency == nil && r.Err == nil:
				t.Fatalf("record %d: no event and no error", n)
			case r.Agency != nil && r.Err != nil:
				t.Fatalf("record %d: both an event and an error: %+v, %v", n, r.Agency, r.Err)
			case r.Err != nil:
				checkRejection(t, r.Err)
			default:
				checkFuzzEvent(t, m, r.Agency)
			}
		}
		// Compiled XPaths keep state while they run: a second decode of the
		// same document must give the same records.
		again := decoders[i].Decode(payload)
		if len(again) != len(recs) {
			t.Fatalf("decoded again: %d records, first %d", len(again), len(recs))
		}
		for n := range recs {
			a, b := recs[n], again[n]
			if a.Position != b.Position || (a.Err == nil) != (b.Err == nil) ||
				(a.Err != nil && a.Err.Error() != b.Err.Error()) ||
				(a.Agency != nil && !sameEvent(a.Agency, b.Agency)) {
				t.Fatalf("record %d decoded again differs:\n %+v %v\n %+v %v", n, a.Agency, a.Err, b.Agency, b.Err)
			}
		}
	})
}

// declares reports whether encoding/xml reads a <!...> declaration
// (DOCTYPE, ENTITY) in payload before any error.
func declares(payload []byte) bool {
	dec := xml.NewDecoder(bytes.NewReader(bytes.TrimPrefix(payload, []byte("\xef\xbb\xbf"))))
	dec.CharsetReader = charset.NewReaderLabel
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		if _, ok := tok.(xml.Directive); ok {
			return true
		}
	}
}

func sameEvent(a, b *state.AgencyEvent) bool {
	return b != nil && a.ID == b.ID && a.Agency == b.Agency && a.Status == b.Status && a.Hold == b.Hold &&
		slices.Equal(a.Containers, b.Containers) && a.BL == b.BL && a.Declaration == b.Declaration &&
		a.Reason == b.Reason && a.At.Equal(b.At)
}

// checkPosition checks that a document-level rejection or a lone record
// has no position and that records are numbered from 1 in order.
func checkPosition(t *testing.T, m *config.Mapping, recs []adapters.Record, n int) {
	t.Helper()
	pos := recs[n].Position
	if m.Records == "" || (len(recs) == 1 && pos == "" && recs[0].Err != nil) {
		if pos != "" {
			t.Fatalf("record %d: position %q, want none", n, pos)
		}
		return
	}
	if want := "record " + strconv.Itoa(n+1); pos != want {
		t.Fatalf("record %d: position %q, want %q", n, pos, want)
	}
}

// checkRejection checks the properties every decode error must have.
func checkRejection(t *testing.T, err error) {
	t.Helper()
	rej, ok := err.(*state.Rejection)
	if !ok || rej == nil {
		t.Fatalf("error %T is not a *state.Rejection: %v", err, err)
	}
	if !slices.Contains(decodeCodes, rej.Code) {
		t.Fatalf("code %q is not one of %q (reason %q)", rej.Code, decodeCodes, rej.Reason)
	}
	if strings.TrimSpace(rej.Reason) == "" {
		t.Fatalf("code %q with an empty reason", rej.Code)
	}
	if strings.Contains(rej.Reason, "internal error") || strings.Contains(rej.Reason, "library failed") {
		t.Fatalf("the decoder panicked: %s", rej.Reason)
	}
	if rej.Code != state.CodeMalformed && rej.Code != state.CodeTooLarge && !strings.HasPrefix(rej.Reason, "field \"") {
		t.Fatalf("a field rejection that names no field: %s", rej.Reason)
	}
}

// checkFuzzEvent checks the invariants the canonical format's events
// satisfy.
func checkFuzzEvent(t *testing.T, m *config.Mapping, ev *state.AgencyEvent) {
	t.Helper()
	if ev.ID == "" || len(ev.ID) > state.MaxIDLen || ev.ID != strings.TrimSpace(ev.ID) {
		t.Fatalf("bad id %q", ev.ID)
	}
	if m.Agency == "" && ev.Agency != "customs" {
		t.Fatalf("agency %q, want the source's", ev.Agency)
	}
	if ev.Agency == "" || ev.Agency != strings.TrimSpace(ev.Agency) {
		t.Fatalf("bad agency %q", ev.Agency)
	}
	if !jsonfmt.IsStatus(ev.Status) {
		t.Fatalf("status %q", ev.Status)
	}
	if ev.Hold != "" && (!jsonfmt.TakesHold(ev.Status) || len(ev.Hold) > state.MaxHoldLen || ev.Hold != strings.TrimSpace(ev.Hold)) {
		t.Fatalf("hold %q with status %q", ev.Hold, ev.Status)
	}
	if n := len(ev.Containers); n < 1 || n > mappedxml.MaxContainers {
		t.Fatalf("%d containers", n)
	}
	seen := map[string]bool{}
	for _, c := range ev.Containers {
		id, err := state.ParseContainer(c)
		if err != nil || id != c {
			t.Fatalf("container %q: ParseContainer = %q, %v", c, id, err)
		}
		if seen[c] {
			t.Fatalf("container %q twice in %q", c, ev.Containers)
		}
		seen[c] = true
	}
	if err := state.CheckOffset("at", ev.At); err != nil {
		t.Fatalf("at %v: %v", ev.At, err)
	}
	for _, s := range []string{ev.ID, ev.BL, ev.Declaration, ev.Reason} {
		if s != strings.TrimSpace(s) || !utf8.ValidString(s) {
			t.Fatalf("field %q not trimmed valid text", s)
		}
	}
	if len(ev.BL) > state.MaxRefLen || len(ev.Declaration) > state.MaxRefLen {
		t.Fatalf("references of %d and %d bytes", len(ev.BL), len(ev.Declaration))
	}
	if len(ev.Reason) > state.MaxReasonLen+64 {
		t.Fatalf("reason of %d bytes", len(ev.Reason))
	}
	if _, err := json.Marshal(ev); err != nil {
		t.Fatalf("marshal: %v", err)
	}
}
