package jsonfmt_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/adapters/jsonfmt"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

// decodeCodes are the rejection codes a decoder may give (DESIGN 6);
// forbidden_agency and too_large are the engine's and the transport's.
var decodeCodes = []string{state.CodeMalformed, state.CodeInvalidField, state.CodeBadCheckDigit}

// checkRejection checks the properties every decode error must have.
func checkRejection(t *testing.T, payload []byte, err error) {
	t.Helper()
	rej, ok := err.(*state.Rejection)
	if !ok {
		var wrapped *state.Rejection
		if errors.As(err, &wrapped) {
			t.Fatalf("error %T wraps a rejection, want a *state.Rejection itself: %v", err, err)
		}
		t.Fatalf("error %T is not a *state.Rejection: %v", err, err)
	}
	if rej == nil {
		t.Fatal("error is a nil *state.Rejection")
	}
	if !slices.Contains(decodeCodes, rej.Code) {
		t.Fatalf("code %q is not one of %q (reason %q)", rej.Code, decodeCodes, rej.Reason)
	}
	if strings.TrimSpace(rej.Reason) == "" {
		t.Fatalf("code %q with an empty reason", rej.Code)
	}
	if !utf8.Valid(payload) && rej.Code != state.CodeMalformed {
		t.Fatalf("invalid UTF-8 rejected as %q, want %q", rej.Code, state.CodeMalformed)
	}
}

// checkTime checks a decoded time.
func checkTime(t *testing.T, at time.Time) {
	t.Helper()
	if at.IsZero() {
		t.Fatalf("decoded event has the zero time %v", at)
	}
}

// refContainer is the normalisation state.ParseContainer documents: upper
// case, spaces and dashes removed, over the whole string.
func refContainer(s string) string {
	return strings.ToUpper(strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, s))
}

// rawField returns the field name of a JSON object payload unmarshalled
// into v, reporting whether it was there.
func rawField(t *testing.T, payload []byte, name string, v any) bool {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(payload, &m); err != nil {
		t.Fatalf("accepted payload does not unmarshal as an object: %v", err)
	}
	raw, ok := m[name]
	if !ok {
		return false
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("accepted field %q = %s does not unmarshal into %T: %v", name, raw, v, err)
	}
	return true
}

func agencySeeds() [][]byte {
	return [][]byte{
		[]byte(agencyExample),
		[]byte(`{"id":"1","agency":"vet","status":"held","containers":["AAAJ0000015"],"at":"2026-01-01T00:00:00Z"}`),
		[]byte(`{"id":"1","agency":"a","status":"released","containers":["mscu 123456-6","MSCU1234566","MSCU-1234566"],"at":"2026-11-28T10:15:00.5-03:30","x":[1,{"y":null}]}`),
		[]byte(`{"id":"1","agency":"a","status":"released","containers":["MSCU1234567"],"at":"2026-11-28T10:15:00+08:00"}`),
		[]byte(`{"id":"1","agency":"a","status":"released","containers":[],"at":"2026-11-28T10:15:00+08:00"}`),
		[]byte(`{"id":"1","agency":"a","status":"released","containers":["MSCU1234566"],"at":"2026-11-28T10:15:00"}`),
		[]byte(`{"id":"1","agency":"a","status":"RELEASED","containers":["MSCU1234566"],"at":"2026-11-28T10:15:00Z"}`),
		[]byte(`{"id":"1","agency":"a","status":"held","containers":[null, 5],"at":"2026-11-28T10:15:00Z"}`),
		[]byte(`{"id":" ","agency":null,"status":"held","containers":"MSCU1234566","at":1}`),
		[]byte(`{"id":"1","id":2}`),
		[]byte("{\"id\":\"\xff\"}"),
		[]byte(`{"id":"\ud800","agency":"\u0000","status":"held","containers":["MSCU1234566"],"at":"2026-11-28T10:15:00Z"}`),
		[]byte(`[]`),
		[]byte(`null`),
		[]byte(`"x"`),
		[]byte(``),
		[]byte(`{`),
		[]byte(`{}`),
		[]byte(`{} {}`),
		// Issue 9: shapes that got past the decoder and then wedged the
		// store writer, or meant one thing here and another elsewhere.
		[]byte(`{"id":"1","agency":"customs","status":"held","containers":["MSCU1234566"],"at":"2026-11-28T10:15:00+08:00","status":"released"}`),
		[]byte(`{"id":"1","agency":"customs","status":"held","containers":["MSCU1234566"],"at":"2026-11-28T10:15:00+08:00","x":{"y":[{"z":1,"z":2}]}}`),
		[]byte(`{"id":"1","agency":"customs","status":"held","containers":["MSCU1234566"],"at":"2026-11-28T10:15:00+24:00"}`),
		[]byte(`{"id":"1","agency":"customs","status":"held","containers":["MSCU1234566"],"at":"9999-12-31T23:59:59-23:59"}`),
		[]byte(`{"id":"1","agency":"customs","status":"held","containers":["MSCU1234566"],"at":"2026-11-28T10:15:00Z","bl":"` + strings.Repeat("B", 40<<10) + `"}`),
		[]byte(`{"id":"1","agency":"customs","status":"held","containers":["MSCU1234566"],"at":"2026-11-28T10:15:00Z","reason":"` + strings.Repeat("\\u00e9", 1<<20/6) + `"}`),
		// Issue 11: the ledger's statuses and hold types.
		[]byte(`{"id":"1","agency":"customs","status":"hold_removed","hold":"1H","containers":["MSCU1234566"],"at":"2026-11-28T10:15:00Z"}`),
		[]byte(`{"id":"1","agency":"customs","status":"held","hold":"7H","containers":["MSCU1234566"],"at":"2026-11-28T10:15:00Z"}`),
		[]byte(`{"id":"1","agency":"customs","status":"revoked","containers":["MSCU1234566"],"at":"2026-11-28T10:15:00Z"}`),
		[]byte(`{"id":"1","agency":"customs","status":"released","hold":"1H","containers":["MSCU1234566"],"at":"2026-11-28T10:15:00Z"}`),
		[]byte(`{"id":"1","agency":"customs","status":"held","hold":" \u00e9 ","containers":["MSCU1234566"],"at":"2026-11-28T10:15:00Z"}`),
		[]byte(`{"id":"1","agency":"customs","status":"held","hold":7,"containers":["MSCU1234566"],"at":"2026-11-28T10:15:00Z"}`),
	}
}

// markerRoom bounds what state.CutText adds to a cut text.
const markerRoom = 64

// checkLimits checks what the store needs of every accepted event (issue
// 9): a time JSON can write (offset within ±23:59, a four-digit year) and
// bounded references and text. Marshalling the whole event is checked by
// the caller.
func checkLimits(t *testing.T, at time.Time, bl, declaration, reason string) {
	t.Helper()
	if _, off := at.Zone(); off > 23*3600+59*60 || off < -(23*3600+59*60) {
		t.Fatalf("time %v: offset %ds outside ±23:59", at, off)
	}
	if y := at.Year(); y < 1970 || y > 9999 {
		t.Fatalf("time %v: year outside 1970..9999", at)
	}
	if len(bl) > state.MaxRefLen || len(declaration) > state.MaxRefLen {
		t.Fatalf("references of %d and %d bytes, more than %d", len(bl), len(declaration), state.MaxRefLen)
	}
	if len(reason) > state.MaxReasonLen+markerRoom || !utf8.ValidString(reason) {
		t.Fatalf("reason of %d bytes", len(reason))
	}
}

func tosSeeds() [][]byte {
	return [][]byte{
		[]byte(tosExample),
		[]byte(`{"id":"1","container":"MSCU1234566","event":"departed","at":"2026-11-28T10:20:00Z"}`),
		[]byte(`{"id":"1","container":"MSCU1234566","event":"departed","holds":null,"at":"2026-11-28T10:20:00Z"}`),
		[]byte(`{"id":"1","container":"mscu-123456-6","event":"holds","holds":[" vet","Customs","VET","customs "],"at":"2026-11-28T10:20:00+14:00"}`),
		[]byte(`{"id":"1","container":"MSCU1234566","event":"arrived","at":"2026-11-28T10:20:00Z"}`),
		[]byte(`{"id":"1","container":"MSCU1234566","event":"arrived","holds":[""],"at":"2026-11-28T10:20:00Z"}`),
		[]byte(`{"id":"1","container":"MSCU1234566","event":"arrived","holds":["ß","ǆ","ı","ſ"],"at":"2026-11-28T10:20:00Z"}`),
		[]byte(`{"id":"1","container":"MSCU1234560","event":"arrived","holds":[],"at":"2026-11-28T10:20:00Z"}`),
		[]byte(`{"id":"1","container":"MSCU1234566","event":"gate_out","holds":[],"at":"2026-11-28T10:20:00Z"}`),
		[]byte(`{"id":"1","container":"MSCU1234566","event":"arrived","holds":"CUSTOMS","at":"2026-11-28T10:20:00Z"}`),
		[]byte("{\"container\":\"\xc3\"}"),
		[]byte(`{"container":["MSCU1234566"]}`),
		[]byte(`1`),
		[]byte(``),
		[]byte(`{"id":"1","container":"MSCU1234566","event":"holds","holds":["CUSTOMS"],"holds":[],"at":"2026-11-28T10:20:00Z"}`),
		[]byte(`{"id":"1","container":"MSCU1234566","event":"holds","holds":[],"at":"2026-11-28T10:20:00-24:00"}`),
		[]byte(`{"id":"1","container":"MSCU1234566","event":"holds","holds":[` + strings.Repeat(`"H",`, 100) + `"H"],"at":"2026-11-28T10:20:00Z"}`),
	}
}

func FuzzDecodeAgencyEvent(f *testing.F) {
	for _, s := range agencySeeds() {
		f.Add(s)
	}
	dec, err := adapters.NewDecoder(config.Source{Name: "fuzz", Kind: config.KindAgency, Format: "json"})
	if err != nil {
		f.Fatalf("NewDecoder: %v", err)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		ev, err := jsonfmt.DecodeAgencyEvent(payload)
		recs := dec.Decode(payload)
		if len(recs) != 1 {
			t.Fatalf("registered decoder gave %d records, want 1", len(recs))
		}
		if (recs[0].Err == nil) != (err == nil) || recs[0].TOS != nil {
			t.Fatalf("registered decoder gave %+v, DecodeAgencyEvent gave error %v", recs[0], err)
		}
		switch {
		case ev == nil && err == nil:
			t.Fatal("no event and no error")
		case ev != nil && err != nil:
			t.Fatalf("both an event and an error: %+v, %v", ev, err)
		case err != nil:
			checkRejection(t, payload, err)
			if recs[0].Agency != nil {
				t.Fatalf("registered decoder gave an event with a rejection")
			}
			return
		}

		if !utf8.Valid(payload) {
			t.Fatal("accepted invalid UTF-8")
		}
		if ev.ID == "" || len(ev.ID) > 256 || ev.ID != strings.TrimSpace(ev.ID) {
			t.Fatalf("bad id %q", ev.ID)
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
		if n := len(ev.Containers); n < 1 || n > jsonfmt.MaxContainers {
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
		checkTime(t, ev.At)
		checkLimits(t, ev.At, ev.BL, ev.Declaration, ev.Reason)

		// The event names every container of the payload, as a whole.
		var items []string
		rawField(t, payload, "containers", &items)
		var want []string
		for _, it := range items {
			if n := refContainer(it); !slices.Contains(want, n) {
				want = append(want, n)
			}
		}
		if !slices.Equal(ev.Containers, want) {
			t.Fatalf("containers %q decoded as %q, want %q", items, ev.Containers, want)
		}

		// What was accepted says the same thing when sent again.
		again, err := json.Marshal(ev)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		ev2, err := jsonfmt.DecodeAgencyEvent(again)
		if err != nil {
			t.Fatalf("re-encoded event %s rejected: %v", again, err)
		}
		if !ev2.At.Equal(ev.At) || ev2.ID != ev.ID || ev2.Agency != ev.Agency || ev2.Status != ev.Status || ev2.Hold != ev.Hold ||
			!slices.Equal(ev2.Containers, ev.Containers) || ev2.BL != ev.BL ||
			// A cut reason is longer than the limit with its marker,
			// so it is cut again.
			ev2.Declaration != ev.Declaration || ev2.Reason != state.CutText(ev.Reason, state.MaxReasonLen) {
			t.Fatalf("re-decoded %+v, want %+v", ev2, ev)
		}
		if r := recs[0].Agency; r == nil || r.ID != ev.ID || !slices.Equal(r.Containers, ev.Containers) {
			t.Fatalf("registered decoder gave %+v, want %+v", r, ev)
		}
	})
}

func FuzzDecodeTOSEvent(f *testing.F) {
	for _, s := range tosSeeds() {
		f.Add(s)
	}
	dec, err := adapters.NewDecoder(config.Source{Name: "fuzz", Kind: config.KindTOS, Format: "json"})
	if err != nil {
		f.Fatalf("NewDecoder: %v", err)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		ev, err := jsonfmt.DecodeTOSEvent(payload)
		recs := dec.Decode(payload)
		if len(recs) != 1 {
			t.Fatalf("registered decoder gave %d records, want 1", len(recs))
		}
		if (recs[0].Err == nil) != (err == nil) || recs[0].Agency != nil {
			t.Fatalf("registered decoder gave %+v, DecodeTOSEvent gave error %v", recs[0], err)
		}
		switch {
		case ev == nil && err == nil:
			t.Fatal("no event and no error")
		case ev != nil && err != nil:
			t.Fatalf("both an event and an error: %+v, %v", ev, err)
		case err != nil:
			checkRejection(t, payload, err)
			if recs[0].TOS != nil {
				t.Fatalf("registered decoder gave an event with a rejection")
			}
			return
		}

		if !utf8.Valid(payload) {
			t.Fatal("accepted invalid UTF-8")
		}
		if ev.ID == "" || len(ev.ID) > 256 {
			t.Fatalf("bad id %q", ev.ID)
		}
		if id, err := state.ParseContainer(ev.Container); err != nil || id != ev.Container {
			t.Fatalf("container %q: ParseContainer = %q, %v", ev.Container, id, err)
		}
		var container string
		rawField(t, payload, "container", &container)
		if want := refContainer(strings.TrimSpace(container)); ev.Container != want {
			t.Fatalf("container %q decoded as %q, want %q", container, ev.Container, want)
		}
		switch ev.Event {
		case state.TOSArrived, state.TOSHolds:
			if !ev.HasHolds {
				t.Fatalf("event %q accepted without holds", ev.Event)
			}
		case state.TOSDeparted:
		default:
			t.Fatalf("event %q", ev.Event)
		}
		if !ev.HasHolds && len(ev.Holds) != 0 {
			t.Fatalf("HasHolds false with holds %q", ev.Holds)
		}
		for i, h := range ev.Holds {
			if h == "" || len(h) > 64 {
				t.Fatalf("hold %d %q: want 1 to 64 bytes", i, h)
			}
			if h != strings.ToUpper(h) {
				t.Fatalf("hold %d %q is not upper case (%q)", i, h, strings.ToUpper(h))
			}
			if h != strings.TrimSpace(h) {
				t.Fatalf("hold %d %q is not trimmed", i, h)
			}
			if i > 0 && ev.Holds[i-1] >= h {
				t.Fatalf("holds %q not sorted and unique", ev.Holds)
			}
		}
		// Normalising again changes nothing: two snapshots of the same holds
		// compare equal.
		if again, err := jsonfmt.NormaliseHolds(ev.Holds); err != nil || !slices.Equal(again, ev.Holds) {
			t.Fatalf("NormaliseHolds(%q) = %q, %v; want it unchanged", ev.Holds, again, err)
		}
		checkTime(t, ev.At)
		checkLimits(t, ev.At, "", "", "")
		if len(ev.Holds) > state.MaxHolds {
			t.Fatalf("%d holds", len(ev.Holds))
		}

		again, err := json.Marshal(ev)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		ev2, err := jsonfmt.DecodeTOSEvent(again)
		if err != nil {
			t.Fatalf("re-encoded event %s rejected: %v", again, err)
		}
		if !ev2.At.Equal(ev.At) || ev2.ID != ev.ID || ev2.Container != ev.Container || ev2.Event != ev.Event ||
			!slices.Equal(ev2.Holds, ev.Holds) {
			t.Fatalf("re-decoded %+v, want %+v", ev2, ev)
		}
		if r := recs[0].TOS; r == nil || r.ID != ev.ID || r.Container != ev.Container || r.HasHolds != ev.HasHolds {
			t.Fatalf("registered decoder gave %+v, want %+v", r, ev)
		}
	})
}
