package mappedjson_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/adapters/jsonfmt"
	"github.com/portsync/portsync/adapters/jsonstrict"
	"github.com/portsync/portsync/adapters/mappedjson"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

// canonicalMapping maps the canonical agency event (DESIGN 3.1) onto
// itself, so that mapped_json can be checked against package jsonfmt.
func canonicalMapping() *config.Mapping {
	return &config.Mapping{
		ID: "id", Agency: "agency", Status: "status", Containers: "containers",
		BL: "bl", Declaration: "declaration", Reason: "reason", At: "at", Hold: "hold",
		StatusValues: map[string]string{"released": "released", "held": "held", "hold_removed": "hold_removed", "revoked": "revoked"},
	}
}

// fuzzMappings are the mappings the fuzz target decodes with; its second
// argument picks one.
var fuzzMappings = []func() *config.Mapping{canonicalMapping, singleMapping, pagedMapping, nestedMapping}

// decodeCodes are the rejection codes a decoder may give (DESIGN 6).
var decodeCodes = []string{state.CodeMalformed, state.CodeInvalidField, state.CodeBadCheckDigit}

func FuzzMappedJSON(f *testing.F) {
	// Seeds besides testdata/fuzz/FuzzMappedJSON: the sample documents,
	// each with its own mapping.
	for shape, file := range map[uint8]string{
		1: "single_notice.json", 2: "paged_releases.json", 3: "nested_decisions.json",
	} {
		f.Add(readFile(f, file), shape)
	}
	f.Add(readFile(f, "paged_with_bad_records.json"), uint8(2))
	// Issue 9: repeated keys, offsets Go reads but JSON cannot write, and
	// references and text too long to store.
	const canonical = `{"id":"1","agency":"customs","status":"held","containers":["MSCU1234566"],"at":"2026-11-28T10:15:00+08:00"`
	for _, doc := range []string{
		canonical + `,"status":"released"}`,
		canonical + `,"x":[{"y":1,"y":2}]}`,
		strings.Replace(canonical, "+08:00", "+24:00", 1) + `}`,
		strings.Replace(canonical, "+08:00", "+23:60", 1) + `}`,
		canonical + `,"bl":"` + strings.Repeat("B", 40<<10) + `"}`,
		canonical + `,"reason":"` + strings.Repeat("é", 1<<19) + `"}`,
	} {
		f.Add([]byte(doc), uint8(0))
	}
	f.Add([]byte(`{"data":{"items":[{"ref":"1","state":"HOLD","state":"RELEASE","container":"MSCU1234566","ts":"2026-11-28T10:15:00Z"}],"items":[]}}`), uint8(2))
	f.Add([]byte(`{"data":{"items":[{"ref":"1","state":"HOLD","state":"RELEASE","container":"MSCU1234566","ts":"2026-11-28T10:15:00Z"}]}}`), uint8(2))
	// Issue 11: the ledger's statuses and hold types.
	f.Add([]byte(canonical+`,"status":"hold_removed","hold":"1H"}`), uint8(0))
	f.Add([]byte(`{"id":"1","agency":"customs","status":"held","hold":"7H","containers":["MSCU1234566"],"at":"2026-11-28T10:15:00+08:00"}`), uint8(0))
	f.Add([]byte(`{"id":"1","agency":"customs","status":"revoked","hold":"7H","containers":["MSCU1234566"],"at":"2026-11-28T10:15:00+08:00"}`), uint8(0))
	f.Add([]byte(`{"id":"1","agency":"customs","status":"held","hold":71,"containers":["MSCU1234566"],"at":"2026-11-28T10:15:00+08:00"}`), uint8(0))

	decoders := make([]adapters.Decoder, len(fuzzMappings))
	for i, m := range fuzzMappings {
		decoders[i] = newDecoder(f, m())
	}
	f.Fuzz(func(t *testing.T, payload []byte, shape uint8) {
		i := int(shape) % len(decoders)
		m := fuzzMappings[i]()
		recs := decoders[i].Decode(payload)

		valid := utf8.Valid(payload) && json.Valid(payload)
		if !valid {
			if len(recs) != 1 || recs[0].Position != "" {
				t.Fatalf("invalid document gave %d records, want one rejection without a position", len(recs))
			}
			if rej, ok := recs[0].Err.(*state.Rejection); !ok || rej.Code != state.CodeMalformed {
				t.Fatalf("invalid document gave %+v, want a malformed rejection", recs[0])
			}
		}
		if len(recs) > mappedjson.MaxRecords {
			t.Fatalf("%d records, more than %d", len(recs), mappedjson.MaxRecords)
		}
		for n, r := range recs {
			checkPosition(t, m, recs, n)
			if r.TOS != nil {
				t.Fatalf("record %d: a TOS event", n)
			}
			switch {
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
		if i == 0 && valid {
			compareWithCanonical(t, payload, recs)
		}
	})
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
	if strings.Contains(rej.Reason, "internal error") {
		t.Fatalf("the decoder panicked: %s", rej.Reason)
	}
	if rej.Code != state.CodeMalformed && !strings.HasPrefix(rej.Reason, "field \"") {
		t.Fatalf("a field rejection that names no field: %s", rej.Reason)
	}
}

// checkFuzzEvent checks the invariants jsonfmt's events satisfy.
func checkFuzzEvent(t *testing.T, m *config.Mapping, ev *state.AgencyEvent) {
	t.Helper()
	if ev.ID == "" || len(ev.ID) > 256 || ev.ID != strings.TrimSpace(ev.ID) {
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
	if n := len(ev.Containers); n == 0 && ev.BL == "" || n > mappedjson.MaxContainers {
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
	if ev.At.IsZero() || ev.At.Year() < 1970 || ev.At.Year() > 9999 {
		t.Fatalf("at %v", ev.At)
	}
	if _, off := ev.At.Zone(); off > 23*3600+59*60 || off < -(23*3600+59*60) {
		t.Fatalf("at %v: offset %ds outside ±23:59", ev.At, off)
	}
	for _, s := range []string{ev.BL, ev.Declaration, ev.Reason} {
		if s != strings.TrimSpace(s) || !utf8.ValidString(s) {
			t.Fatalf("optional field %q not trimmed valid text", s)
		}
	}
	if len(ev.BL) > state.MaxRefLen || len(ev.Declaration) > state.MaxRefLen {
		t.Fatalf("references of %d and %d bytes", len(ev.BL), len(ev.Declaration))
	}
	if len(ev.Reason) > state.MaxReasonLen+markerRoom {
		t.Fatalf("reason of %d bytes", len(ev.Reason))
	}
	if _, err := json.Marshal(ev); err != nil {
		t.Fatalf("marshal: %v", err)
	}
}

// markerRoom bounds what state.CutText adds to a cut text.
const markerRoom = 64

// compareWithCanonical checks that, mapped onto itself, the canonical event
// decodes as jsonfmt decodes it: whatever jsonfmt accepts, mapped_json
// accepts as the same event (mapped_json is the more lenient: numbers for
// ids, status ignoring case, a lone container as a string).
func compareWithCanonical(t *testing.T, payload []byte, recs []adapters.Record) {
	t.Helper()
	ev, err := jsonfmt.DecodeAgencyEvent(payload)
	var dup *jsonstrict.DuplicateKeyError
	if errors.As(jsonstrict.Check(payload), &dup) {
		// encoding/json would keep the last value and gjson the first:
		// both formats refuse the document instead.
		if len(recs) != 1 || recs[0].Err == nil || recs[0].Err.(*state.Rejection).Code != state.CodeMalformed {
			t.Fatalf("a repeated key (%v) gave %+v, want one malformed rejection", dup, recs)
		}
		return
	}
	if err != nil {
		return
	}
	if len(recs) != 1 || recs[0].Agency == nil {
		t.Fatalf("jsonfmt accepts %+v, mapped_json gives %+v", ev, recs)
	}
	got := recs[0].Agency
	if got.ID != ev.ID || got.Agency != ev.Agency || got.Status != ev.Status || got.Hold != ev.Hold || !slices.Equal(got.Containers, ev.Containers) ||
		got.BL != ev.BL || got.Declaration != ev.Declaration || got.Reason != ev.Reason || !got.At.Equal(ev.At) {
		t.Fatalf("mapped_json decodes\n %+v\njsonfmt decodes\n %+v", *got, *ev)
	}
}
