package jsonfmt_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/adapters/jsonfmt"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

// agencyExample and tosExample are the examples of DESIGN 3.1 and 3.2.
const agencyExample = `{
  "id": "REL-2026-000123",
  "agency": "customs",
  "status": "released",
  "containers": ["MSCU1234566", "TGHU1234567"],
  "bl": "MEDUSH123456",
  "declaration": "220120261000123456",
  "reason": "documents checked",
  "at": "2026-11-28T10:15:00+08:00"
}`

const tosExample = `{
  "id": "N4-88121",
  "container": "MSCU1234566",
  "event": "arrived",
  "holds": ["CUSTOMS", "PAYMENT"],
  "at": "2026-11-28T10:20:00+08:00"
}`

var plus8 = time.FixedZone("", 8*3600)

// rawJSON is a field value written as is into a test payload.
type rawJSON string

func (r rawJSON) MarshalJSON() ([]byte, error) { return []byte(r), nil }

// drop marks a field to delete from the example.
type dropField struct{}

var drop = dropField{}

// edit returns example with the given fields replaced (or deleted with
// drop) and re-encoded.
func edit(t testing.TB, example string, kv ...any) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(example), &m); err != nil {
		t.Fatalf("example does not parse: %v", err)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		k := kv[i].(string)
		if _, ok := kv[i+1].(dropField); ok {
			delete(m, k)
			continue
		}
		m[k] = kv[i+1]
	}
	p, err := json.Marshal(m)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return p
}

// containers returns n distinct valid container numbers.
func containers(n int) []string {
	out := make([]string, n)
	for i := range out {
		prefix := fmt.Sprintf("ABCU%06d", i)
		out[i] = fmt.Sprintf("%s%d", prefix, state.CheckDigit(prefix))
	}
	return out
}

// rejection checks err is a *state.Rejection with code and a reason holding
// every one of want.
func rejection(t *testing.T, err error, code string, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", code)
	}
	var rej *state.Rejection
	if !errors.As(err, &rej) {
		t.Fatalf("error %T %v is not a *state.Rejection", err, err)
	}
	if _, ok := err.(*state.Rejection); !ok {
		t.Errorf("error is %T wrapping a rejection, want a *state.Rejection itself", err)
	}
	if rej.Code != code {
		t.Errorf("code = %q, want %q (reason %q)", rej.Code, code, rej.Reason)
	}
	if rej.Reason == "" {
		t.Errorf("empty reason")
	}
	for _, w := range want {
		if !strings.Contains(rej.Reason, w) {
			t.Errorf("reason %q does not name %q", rej.Reason, w)
		}
	}
}

func TestDecodeAgencyEventDesignExample(t *testing.T) {
	ev, err := jsonfmt.DecodeAgencyEvent([]byte(agencyExample))
	if err != nil {
		t.Fatalf("DecodeAgencyEvent: %v", err)
	}
	want := &state.AgencyEvent{
		ID:          "REL-2026-000123",
		Agency:      "customs",
		Status:      state.Released,
		Containers:  []string{"MSCU1234566", "TGHU1234567"},
		BL:          "MEDUSH123456",
		Declaration: "220120261000123456",
		Reason:      "documents checked",
		At:          time.Date(2026, 11, 28, 10, 15, 0, 0, plus8),
	}
	checkAgency(t, ev, want)
	if _, off := ev.At.Zone(); off != 8*3600 {
		t.Errorf("At offset = %ds, want the +08:00 of the payload", off)
	}
}

func checkAgency(t *testing.T, got, want *state.AgencyEvent) {
	t.Helper()
	if got == nil {
		t.Fatal("got a nil event")
	}
	if !got.At.Equal(want.At) {
		t.Errorf("At = %v, want %v", got.At, want.At)
	}
	g, w := *got, *want
	g.At, w.At = time.Time{}, time.Time{}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("event =\n %+v\nwant\n %+v", g, w)
	}
}

func TestDecodeAgencyEventValid(t *testing.T) {
	base := state.AgencyEvent{
		ID: "REL-2026-000123", Agency: "customs", Status: state.Released,
		Containers: []string{"MSCU1234566", "TGHU1234567"},
		BL:         "MEDUSH123456", Declaration: "220120261000123456", Reason: "documents checked",
		At: time.Date(2026, 11, 28, 2, 15, 0, 0, time.UTC),
	}
	with := func(f func(*state.AgencyEvent)) *state.AgencyEvent {
		ev := base
		ev.Containers = slices.Clone(base.Containers)
		f(&ev)
		return &ev
	}
	thousand := containers(1000)
	tests := []struct {
		name    string
		payload []byte
		want    *state.AgencyEvent
	}{
		{"design example", []byte(agencyExample), with(func(*state.AgencyEvent) {})},
		{"unknown fields ignored", edit(t, agencyExample, "extra", "x", "nested", map[string]any{"a": []int{1}}, "Status", 7),
			with(func(*state.AgencyEvent) {})},
		{"held", edit(t, agencyExample, "status", "held"), with(func(e *state.AgencyEvent) { e.Status = state.Held })},
		{"optional fields absent", edit(t, agencyExample, "bl", drop, "declaration", drop, "reason", drop),
			with(func(e *state.AgencyEvent) { e.BL, e.Declaration, e.Reason = "", "", "" })},
		{"optional fields null", edit(t, agencyExample, "bl", nil, "declaration", nil, "reason", nil),
			with(func(e *state.AgencyEvent) { e.BL, e.Declaration, e.Reason = "", "", "" })},
		{"strings trimmed", edit(t, agencyExample, "id", "  REL-2026-000123\t", "agency", " customs ", "status", " released "),
			with(func(*state.AgencyEvent) {})},
		{"duplicate containers collapsed in order",
			edit(t, agencyExample, "containers", []string{"TGHU1234567", "MSCU1234566", "TGHU1234567", "mscu 123456-6", "MSCU1234566"}),
			with(func(e *state.AgencyEvent) { e.Containers = []string{"TGHU1234567", "MSCU1234566"} })},
		{"container normalised", edit(t, agencyExample, "containers", []string{"mscu-123456-6"}),
			with(func(e *state.AgencyEvent) { e.Containers = []string{"MSCU1234566"} })},
		{"check digit 10 counts as 0", edit(t, agencyExample, "containers", []string{"MSCU0000060"}),
			with(func(e *state.AgencyEvent) { e.Containers = []string{"MSCU0000060"} })},
		{"category J and Z", edit(t, agencyExample, "containers", []string{"AAAJ0000015", "ZZZZ9999996"}),
			with(func(e *state.AgencyEvent) { e.Containers = []string{"AAAJ0000015", "ZZZZ9999996"} })},
		{"one container", edit(t, agencyExample, "containers", []string{"MSCU1234566"}),
			with(func(e *state.AgencyEvent) { e.Containers = []string{"MSCU1234566"} })},
		{"1000 containers", edit(t, agencyExample, "containers", thousand),
			with(func(e *state.AgencyEvent) { e.Containers = thousand })},
		{"1001 items collapsing to 1000", edit(t, agencyExample, "containers", append(slices.Clone(thousand), thousand[0])),
			nil}, // the limit counts items as sent; either answer is defensible, see below
		{"UTC offset Z", edit(t, agencyExample, "at", "2026-11-28T02:15:00Z"), with(func(*state.AgencyEvent) {})},
		{"negative offset", edit(t, agencyExample, "at", "2026-11-27T21:15:00-05:00"), with(func(*state.AgencyEvent) {})},
		{"fractional seconds", edit(t, agencyExample, "at", "2026-11-28T10:15:00.123456789+08:00"),
			with(func(e *state.AgencyEvent) { e.At = e.At.Add(123456789) })},
		{"whitespace around the object", []byte("\n\t " + agencyExample + " \r\n"), with(func(*state.AgencyEvent) {})},
		{"unicode in free text", edit(t, agencyExample, "reason", "報關 ✓"), with(func(e *state.AgencyEvent) { e.Reason = "報關 ✓" })},
		{"id of 256 characters", edit(t, agencyExample, "id", strings.Repeat("x", 256)),
			with(func(e *state.AgencyEvent) { e.ID = strings.Repeat("x", 256) })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := jsonfmt.DecodeAgencyEvent(tt.payload)
			if tt.want == nil {
				// Only check the answer is one of the two well-formed ones.
				if (ev == nil) == (err == nil) {
					t.Fatalf("got event %v and error %v, want exactly one", ev, err)
				}
				if err != nil {
					rejection(t, err, state.CodeInvalidField, "containers")
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeAgencyEvent: %v", err)
			}
			checkAgency(t, ev, tt.want)
		})
	}
}

func TestDecodeAgencyEventRejects(t *testing.T) {
	tooMany := containers(1001)
	longID := strings.Repeat("A", 40) + strings.Repeat("z", 217) // 257
	tests := []struct {
		name    string
		payload []byte
		code    string
		reason  []string // each must appear in the reason
	}{
		// malformed
		{"empty payload", []byte(""), state.CodeMalformed, nil},
		{"blank payload", []byte(" \n\t"), state.CodeMalformed, nil},
		{"not JSON", []byte("id=REL-1 status=released"), state.CodeMalformed, []string{"id=REL-1"}},
		{"array", []byte(`[` + agencyExample + `]`), state.CodeMalformed, nil},
		{"string", []byte(`"released"`), state.CodeMalformed, []string{"released"}},
		{"number", []byte(`42`), state.CodeMalformed, []string{"42"}},
		{"null", []byte(`null`), state.CodeMalformed, []string{"null"}},
		{"truncated object", []byte(agencyExample[:60]), state.CodeMalformed, nil},
		{"trailing data", []byte(agencyExample + `{}`), state.CodeMalformed, nil},
		{"trailing comma", []byte(`{"id":"x",}`), state.CodeMalformed, nil},
		{"invalid UTF-8 in a value", []byte(strings.Replace(agencyExample, "documents", "doc\xffuments", 1)), state.CodeMalformed, []string{"UTF-8"}},
		{"invalid UTF-8 outside the object", append([]byte(agencyExample), 0xc3), state.CodeMalformed, []string{"UTF-8"}},
		{"latin-1 payload", []byte(strings.Replace(agencyExample, "documents", "d\xe9clar\xe9", 1)), state.CodeMalformed, []string{"UTF-8"}},
		{"byte order mark", append([]byte("\xef\xbb\xbf"), agencyExample...), state.CodeMalformed, nil},

		// id
		{"id missing", edit(t, agencyExample, "id", drop), state.CodeInvalidField, []string{`"id"`}},
		{"id null", edit(t, agencyExample, "id", nil), state.CodeInvalidField, []string{`"id"`}},
		{"id empty", edit(t, agencyExample, "id", ""), state.CodeInvalidField, []string{`"id"`}},
		{"id blank", edit(t, agencyExample, "id", "   "), state.CodeInvalidField, []string{`"id"`}},
		{"id number", edit(t, agencyExample, "id", 123456), state.CodeInvalidField, []string{`"id"`, "123456"}},
		{"id object", edit(t, agencyExample, "id", map[string]int{"n": 1}), state.CodeInvalidField, []string{`"id"`, "n", "1"}},
		{"id too long", edit(t, agencyExample, "id", longID), state.CodeInvalidField, []string{`"id"`, "256", longID[:40]}},

		// agency
		{"agency missing", edit(t, agencyExample, "agency", drop), state.CodeInvalidField, []string{`"agency"`}},
		{"agency empty", edit(t, agencyExample, "agency", ""), state.CodeInvalidField, []string{`"agency"`}},
		{"agency list", edit(t, agencyExample, "agency", []string{"customs"}), state.CodeInvalidField, []string{`"agency"`, "customs"}},
		{"agency bool", edit(t, agencyExample, "agency", true), state.CodeInvalidField, []string{`"agency"`, "true"}},

		// status
		{"status missing", edit(t, agencyExample, "status", drop), state.CodeInvalidField, []string{`"status"`}},
		{"status null", edit(t, agencyExample, "status", nil), state.CodeInvalidField, []string{`"status"`}},
		{"status unknown word", edit(t, agencyExample, "status", "cleared"), state.CodeInvalidField, []string{`"status"`, `"cleared"`}},
		{"status upper case", edit(t, agencyExample, "status", "RELEASED"), state.CodeInvalidField, []string{`"status"`, `"RELEASED"`}},
		{"status unknown state", edit(t, agencyExample, "status", "unknown"), state.CodeInvalidField, []string{`"status"`, `"unknown"`}},
		{"status number", edit(t, agencyExample, "status", 1), state.CodeInvalidField, []string{`"status"`, "1"}},
		{"status empty", edit(t, agencyExample, "status", ""), state.CodeInvalidField, []string{`"status"`}},

		// containers
		// (without a bl: an event naming a B/L alone decides on the B/L)
		{"containers missing", edit(t, string(edit(t, agencyExample, "bl", drop)), "containers", drop), state.CodeInvalidField, []string{`"containers"`}},
		{"containers null", edit(t, string(edit(t, agencyExample, "bl", drop)), "containers", nil), state.CodeInvalidField, []string{`"containers"`}},
		{"containers empty", edit(t, string(edit(t, agencyExample, "bl", "")), "containers", []string{}), state.CodeInvalidField, []string{`"containers"`, "1000"}},
		{"containers too many", edit(t, agencyExample, "containers", tooMany), state.CodeInvalidField, []string{`"containers"`, "1001"}},
		{"containers a string", edit(t, agencyExample, "containers", "MSCU1234566"), state.CodeInvalidField, []string{`"containers"`, "MSCU1234566"}},
		{"containers an object", edit(t, agencyExample, "containers", map[string]string{"a": "MSCU1234566"}), state.CodeInvalidField, []string{`"containers"`, "MSCU1234566"}},
		{"container item a number", edit(t, agencyExample, "containers", []any{"MSCU1234566", 1234566}), state.CodeInvalidField, []string{`"containers"`, "item 1", "1234566"}},
		{"container item null", edit(t, agencyExample, "containers", []any{"MSCU1234566", nil}), state.CodeInvalidField, []string{`"containers"`, "item 1"}},
		{"container item empty", edit(t, agencyExample, "containers", []string{""}), state.CodeInvalidField, []string{`"containers"`, "item 0"}},
		{"container too short", edit(t, agencyExample, "containers", []string{"MSCU123456"}), state.CodeInvalidField, []string{`"containers"`, "item 0", "MSCU123456"}},
		{"container too long", edit(t, agencyExample, "containers", []string{"MSCU12345660"}), state.CodeInvalidField, []string{`"containers"`, "MSCU12345660"}},
		{"container digit in owner code", edit(t, agencyExample, "containers", []string{"M5CU1234566"}), state.CodeInvalidField, []string{`"containers"`, "M5CU1234566"}},
		{"container bad category", edit(t, agencyExample, "containers", []string{"MSCX1234566"}), state.CodeInvalidField, []string{`"containers"`, "MSCX1234566"}},
		{"container letter in serial", edit(t, agencyExample, "containers", []string{"MSCU12345O6"}), state.CodeInvalidField, []string{`"containers"`, "MSCU12345O6"}},
		{"container letter as check digit", edit(t, agencyExample, "containers", []string{"MSCU123456X"}), state.CodeInvalidField, []string{`"containers"`, "MSCU123456X"}},
		{"two numbers in one item, padded past 64 bytes", edit(t, agencyExample, "containers", []string{"MSCU1234566" + strings.Repeat(" ", 53) + "TGHU1234567"}),
			// The reason quotes a prefix of a long value and its length.
			state.CodeInvalidField, []string{`"containers"`, "item 0", "MSCU1234566", "75 bytes"}},
		{"container with a long-s lookalike", edit(t, agencyExample, "containers", []string{"M\u017fCU1234566"}), state.CodeInvalidField, []string{`"containers"`, "item 0"}},
		{"container non-ASCII", edit(t, agencyExample, "containers", []string{"MSCÜ1234566"}), state.CodeInvalidField, []string{`"containers"`}},
		{"container bad check digit", edit(t, agencyExample, "containers", []string{"MSCU1234566", "TCNU0000001"}),
			state.CodeBadCheckDigit, []string{`"containers"`, "item 1", "TCNU0000001", "6"}},
		{"container bad check digit, right one is 0", edit(t, agencyExample, "containers", []string{"MSCU0000061"}),
			state.CodeBadCheckDigit, []string{`"containers"`, "MSCU0000061", "is 0"}},
		{"container bad check digit after a bad item", edit(t, agencyExample, "containers", []string{"MSCU1234567", "bad"}),
			state.CodeBadCheckDigit, []string{"item 0", "MSCU1234567"}},

		// optional strings with the wrong type
		{"bl number", edit(t, agencyExample, "bl", 5), state.CodeInvalidField, []string{`"bl"`, "5"}},
		{"declaration number", edit(t, agencyExample, "declaration", 220120261000123456), state.CodeInvalidField, []string{`"declaration"`, "220120261000123456"}},
		{"reason list", edit(t, agencyExample, "reason", []string{"why"}), state.CodeInvalidField, []string{`"reason"`, "why"}},

		// at
		{"at missing", edit(t, agencyExample, "at", drop), state.CodeInvalidField, []string{`"at"`}},
		{"at null", edit(t, agencyExample, "at", nil), state.CodeInvalidField, []string{`"at"`}},
		{"at empty", edit(t, agencyExample, "at", ""), state.CodeInvalidField, []string{`"at"`}},
		{"at without offset", edit(t, agencyExample, "at", "2026-11-28T10:15:00"), state.CodeInvalidField, []string{`"at"`, "2026-11-28T10:15:00"}},
		{"at date only", edit(t, agencyExample, "at", "2026-11-28"), state.CodeInvalidField, []string{`"at"`, "2026-11-28"}},
		{"at space separator without offset", edit(t, agencyExample, "at", "2026-11-28 10:15:00"), state.CodeInvalidField, []string{`"at"`, "2026-11-28 10:15:00"}},
		{"at offset without colon", edit(t, agencyExample, "at", "2026-11-28T10:15:00+0800"), state.CodeInvalidField, []string{`"at"`, "+0800"}},
		{"at zone name", edit(t, agencyExample, "at", "2026-11-28T10:15:00 CST"), state.CodeInvalidField, []string{`"at"`, "CST"}},
		{"at words", edit(t, agencyExample, "at", "yesterday"), state.CodeInvalidField, []string{`"at"`, "yesterday"}},
		{"at bad month", edit(t, agencyExample, "at", "2026-13-28T10:15:00+08:00"), state.CodeInvalidField, []string{`"at"`, "2026-13-28"}},
		{"at unix seconds", edit(t, agencyExample, "at", 1795832100), state.CodeInvalidField, []string{`"at"`, "1795832100"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := jsonfmt.DecodeAgencyEvent(tt.payload)
			if ev != nil {
				t.Errorf("got event %+v with the rejection", ev)
			}
			rejection(t, err, tt.code, tt.reason...)
		})
	}
}

func TestDecodeTOSEventDesignExample(t *testing.T) {
	ev, err := jsonfmt.DecodeTOSEvent([]byte(tosExample))
	if err != nil {
		t.Fatalf("DecodeTOSEvent: %v", err)
	}
	checkTOS(t, ev, &state.TOSEvent{
		ID: "N4-88121", Container: "MSCU1234566", Event: state.TOSArrived,
		Holds: []string{"CUSTOMS", "PAYMENT"}, HasHolds: true,
		At: time.Date(2026, 11, 28, 10, 20, 0, 0, plus8),
	})
}

func checkTOS(t *testing.T, got, want *state.TOSEvent) {
	t.Helper()
	if got == nil {
		t.Fatal("got a nil event")
	}
	if !got.At.Equal(want.At) {
		t.Errorf("At = %v, want %v", got.At, want.At)
	}
	if len(got.Holds) != 0 || len(want.Holds) != 0 {
		if !slices.Equal(got.Holds, want.Holds) {
			t.Errorf("Holds = %q, want %q", got.Holds, want.Holds)
		}
	}
	g, w := *got, *want
	g.At, w.At, g.Holds, w.Holds = time.Time{}, time.Time{}, nil, nil
	if !reflect.DeepEqual(g, w) {
		t.Errorf("event =\n %+v\nwant\n %+v", g, w)
	}
}

func TestDecodeTOSEventValid(t *testing.T) {
	at := time.Date(2026, 11, 28, 2, 20, 0, 0, time.UTC)
	ev := func(event string, hasHolds bool, holds ...string) *state.TOSEvent {
		return &state.TOSEvent{ID: "N4-88121", Container: "MSCU1234566", Event: event, Holds: holds, HasHolds: hasHolds, At: at}
	}
	tests := []struct {
		name    string
		payload []byte
		want    *state.TOSEvent
	}{
		{"design example", []byte(tosExample), ev("arrived", true, "CUSTOMS", "PAYMENT")},
		{"unknown fields ignored", edit(t, tosExample, "yard_position", "A01-02-3", "vessel", map[string]any{"imo": 9811000}),
			ev("arrived", true, "CUSTOMS", "PAYMENT")},
		{"arrived without holds", edit(t, tosExample, "holds", []string{}), ev("arrived", true)},
		{"holds event", edit(t, tosExample, "event", "holds", "holds", []string{"VET"}), ev("holds", true, "VET")},
		{"holds event, all lifted", edit(t, tosExample, "event", "holds", "holds", []string{}), ev("holds", true)},
		{"departed without holds field", edit(t, tosExample, "event", "departed", "holds", drop), ev("departed", false)},
		{"departed with holds null", edit(t, tosExample, "event", "departed", "holds", nil), ev("departed", false)},
		{"departed with empty holds", edit(t, tosExample, "event", "departed", "holds", []string{}), ev("departed", true)},
		{"departed with holds", edit(t, tosExample, "event", "departed", "holds", []string{"customs"}), ev("departed", true, "CUSTOMS")},
		{"holds normalised", edit(t, tosExample, "holds", []string{" payment", "customs", "CUSTOMS ", "Vet", "\tPAYMENT\n", "customs"}),
			ev("arrived", true, "CUSTOMS", "PAYMENT", "VET")},
		{"hold of 64 characters", edit(t, tosExample, "holds", []string{strings.Repeat("h", 64)}),
			ev("arrived", true, strings.Repeat("H", 64))},
		{"hold of 64 characters after trimming", edit(t, tosExample, "holds", []string{"  " + strings.Repeat("H", 64) + "  "}),
			ev("arrived", true, strings.Repeat("H", 64))},
		{"container normalised", edit(t, tosExample, "container", " mscu 123456-6 "), ev("arrived", true, "CUSTOMS", "PAYMENT")},
		{"UTC", edit(t, tosExample, "at", "2026-11-28T02:20:00Z"), ev("arrived", true, "CUSTOMS", "PAYMENT")},
		{"id and event trimmed", edit(t, tosExample, "id", " N4-88121 ", "event", " arrived "), ev("arrived", true, "CUSTOMS", "PAYMENT")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := jsonfmt.DecodeTOSEvent(tt.payload)
			if err != nil {
				t.Fatalf("DecodeTOSEvent: %v", err)
			}
			checkTOS(t, got, tt.want)
		})
	}
}

func TestDecodeTOSEventRejects(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		code    string
		reason  []string
	}{
		{"empty payload", nil, state.CodeMalformed, nil},
		{"not JSON", []byte("<event/>"), state.CodeMalformed, []string{"<event/>"}},
		{"array", []byte(`["MSCU1234566"]`), state.CodeMalformed, []string{"MSCU1234566"}},
		{"number", []byte(`1`), state.CodeMalformed, []string{"1"}},
		{"truncated", []byte(tosExample[:40]), state.CodeMalformed, nil},
		{"invalid UTF-8", []byte(strings.Replace(tosExample, "N4-", "N4\xc0-", 1)), state.CodeMalformed, []string{"UTF-8"}},

		{"id missing", edit(t, tosExample, "id", drop), state.CodeInvalidField, []string{`"id"`}},
		{"id number", edit(t, tosExample, "id", 88121), state.CodeInvalidField, []string{`"id"`, "88121"}},

		{"container missing", edit(t, tosExample, "container", drop), state.CodeInvalidField, []string{`"container"`}},
		{"container empty", edit(t, tosExample, "container", ""), state.CodeInvalidField, []string{`"container"`}},
		{"container number", edit(t, tosExample, "container", 1234566), state.CodeInvalidField, []string{`"container"`, "1234566"}},
		{"container list", edit(t, tosExample, "container", []string{"MSCU1234566"}), state.CodeInvalidField, []string{`"container"`, "MSCU1234566"}},
		{"container malformed", edit(t, tosExample, "container", "MSCU12345"), state.CodeInvalidField, []string{`"container"`, "MSCU12345"}},
		{"container with trailing garbage past 64 bytes", edit(t, tosExample, "container", "MSCU1234566"+strings.Repeat("-", 60)+"XYZ"),
			state.CodeInvalidField, []string{`"container"`, "MSCU1234566", "74 bytes"}},
		{"container bad category", edit(t, tosExample, "container", "MSCA1234566"), state.CodeInvalidField, []string{`"container"`, "MSCA1234566"}},
		{"container bad check digit", edit(t, tosExample, "container", "TCNU0000009"), state.CodeBadCheckDigit, []string{`"container"`, "TCNU0000009", "6"}},

		{"event missing", edit(t, tosExample, "event", drop), state.CodeInvalidField, []string{`"event"`}},
		{"event empty", edit(t, tosExample, "event", ""), state.CodeInvalidField, []string{`"event"`}},
		{"event unknown", edit(t, tosExample, "event", "gate_out"), state.CodeInvalidField, []string{`"event"`, `"gate_out"`}},
		{"event upper case", edit(t, tosExample, "event", "ARRIVED"), state.CodeInvalidField, []string{`"event"`, `"ARRIVED"`}},
		{"event number", edit(t, tosExample, "event", 1), state.CodeInvalidField, []string{`"event"`, "1"}},

		{"holds missing for arrived", edit(t, tosExample, "holds", drop), state.CodeInvalidField, []string{`"holds"`, `"arrived"`}},
		{"holds null for arrived", edit(t, tosExample, "holds", nil), state.CodeInvalidField, []string{`"holds"`, `"arrived"`}},
		{"holds missing for holds", edit(t, tosExample, "event", "holds", "holds", drop), state.CodeInvalidField, []string{`"holds"`}},
		{"holds a string", edit(t, tosExample, "holds", "CUSTOMS"), state.CodeInvalidField, []string{`"holds"`, "CUSTOMS"}},
		{"holds an object", edit(t, tosExample, "holds", map[string]bool{"CUSTOMS": true}), state.CodeInvalidField, []string{`"holds"`, "CUSTOMS"}},
		{"holds item a number", edit(t, tosExample, "holds", []any{"CUSTOMS", 7}), state.CodeInvalidField, []string{`"holds"`, "item 1", "7"}},
		{"holds item null", edit(t, tosExample, "holds", []any{nil}), state.CodeInvalidField, []string{`"holds"`, "item 0"}},
		{"holds item empty", edit(t, tosExample, "holds", []string{"CUSTOMS", ""}), state.CodeInvalidField, []string{`"holds"`, "item 1"}},
		{"holds item blank", edit(t, tosExample, "holds", []string{"  "}), state.CodeInvalidField, []string{`"holds"`, "item 0", `"  "`}},
		{"holds item too long", edit(t, tosExample, "holds", []string{strings.Repeat("H", 65)}), state.CodeInvalidField, []string{`"holds"`, "item 0", strings.Repeat("H", 65)}},
		{"holds invalid for departed too", edit(t, tosExample, "event", "departed", "holds", "CUSTOMS"), state.CodeInvalidField, []string{`"holds"`}},

		{"at missing", edit(t, tosExample, "at", drop), state.CodeInvalidField, []string{`"at"`}},
		{"at without offset", edit(t, tosExample, "at", "2026-11-28T10:20:00"), state.CodeInvalidField, []string{`"at"`, "2026-11-28T10:20:00"}},
		{"at number", edit(t, tosExample, "at", 0), state.CodeInvalidField, []string{`"at"`, "0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := jsonfmt.DecodeTOSEvent(tt.payload)
			if ev != nil {
				t.Errorf("got event %+v with the rejection", ev)
			}
			rejection(t, err, tt.code, tt.reason...)
		})
	}
}

func TestNormaliseHolds(t *testing.T) {
	tests := []struct {
		in   []string
		want []string
	}{
		{nil, []string{}},
		{[]string{}, []string{}},
		{[]string{"customs"}, []string{"CUSTOMS"}},
		{[]string{"PAYMENT", "CUSTOMS"}, []string{"CUSTOMS", "PAYMENT"}},
		{[]string{" vet ", "VET", "Vet", "vet"}, []string{"VET"}},
		{[]string{"b", "a", "c", "a", "B"}, []string{"A", "B", "C"}},
		{[]string{"customs-1", "Customs_2"}, []string{"CUSTOMS-1", "CUSTOMS_2"}},
	}
	for _, tt := range tests {
		got, err := jsonfmt.NormaliseHolds(tt.in)
		if err != nil {
			t.Errorf("NormaliseHolds(%q): %v", tt.in, err)
			continue
		}
		if got == nil || !slices.Equal(got, tt.want) {
			t.Errorf("NormaliseHolds(%q) = %#v, want %#v", tt.in, got, tt.want)
		}
	}
	in := []string{"b", "a"}
	if _, err := jsonfmt.NormaliseHolds(in); err != nil || in[0] != "b" || in[1] != "a" {
		t.Errorf("NormaliseHolds changed its argument to %q (err %v)", in, err)
	}
	for _, bad := range [][]string{{""}, {"A", " "}, {strings.Repeat("x", 65)}} {
		_, err := jsonfmt.NormaliseHolds(bad)
		rejection(t, err, state.CodeInvalidField, `"holds"`)
	}
}

func TestRegisteredDecoder(t *testing.T) {
	t.Run("agency", func(t *testing.T) {
		dec, err := adapters.NewDecoder(config.Source{Name: "x", Kind: "agency", Format: "json"})
		if err != nil {
			t.Fatalf("NewDecoder: %v", err)
		}
		recs := dec.Decode([]byte(agencyExample))
		if len(recs) != 1 {
			t.Fatalf("got %d records, want 1: %+v", len(recs), recs)
		}
		r := recs[0]
		if r.Err != nil || r.TOS != nil || r.Agency == nil {
			t.Fatalf("record = %+v, want only an agency event", r)
		}
		want, _ := jsonfmt.DecodeAgencyEvent([]byte(agencyExample))
		checkAgency(t, r.Agency, want)

		recs = dec.Decode([]byte(tosExample)) // a TOS event is no agency event
		if len(recs) != 1 {
			t.Fatalf("got %d records for a bad payload, want 1", len(recs))
		}
		if recs[0].Agency != nil || recs[0].TOS != nil {
			t.Errorf("bad payload gave an event: %+v", recs[0])
		}
		rejection(t, recs[0].Err, state.CodeInvalidField, `"agency"`)

		recs = dec.Decode([]byte("not json"))
		if len(recs) != 1 {
			t.Fatalf("got %d records for a bad payload, want 1", len(recs))
		}
		rejection(t, recs[0].Err, state.CodeMalformed)
	})
	t.Run("tos", func(t *testing.T) {
		dec, err := adapters.NewDecoder(config.Source{Name: "x", Kind: "tos", Format: "json"})
		if err != nil {
			t.Fatalf("NewDecoder: %v", err)
		}
		recs := dec.Decode([]byte(tosExample))
		if len(recs) != 1 {
			t.Fatalf("got %d records, want 1: %+v", len(recs), recs)
		}
		r := recs[0]
		if r.Err != nil || r.Agency != nil || r.TOS == nil {
			t.Fatalf("record = %+v, want only a TOS event", r)
		}
		if r.TOS.Container != "MSCU1234566" || r.TOS.Event != state.TOSArrived {
			t.Errorf("TOS event = %+v", r.TOS)
		}
		recs = dec.Decode([]byte(agencyExample))
		if len(recs) != 1 || recs[0].Err == nil || recs[0].TOS != nil {
			t.Fatalf("agency payload on a TOS source = %+v, want one rejected record", recs)
		}
		rejection(t, recs[0].Err, state.CodeInvalidField, `"container"`)
	})
	if !adapters.Registry.HasFormat("json") {
		t.Error(`format "json" is not registered`)
	}
}
