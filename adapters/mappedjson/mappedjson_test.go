package mappedjson_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the tests name zones; hosts without zoneinfo still run them

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/adapters/mappedjson"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

// The three foreign document shapes of the tests, with the mappings a
// customs IT department would write for them.

// singleMapping reads a clearance notice that is one record, with the
// containers in an array of objects.
func singleMapping() *config.Mapping {
	return &config.Mapping{
		ID:          "messageId",
		Status:      "clearance.status",
		Containers:  "equipment.#.containerNo",
		BL:          "clearance.billOfLading",
		Declaration: "clearance.declarationNo",
		Reason:      "clearance.remark",
		At:          "clearance.releasedAt",
		StatusValues: map[string]string{
			"RELEASED": "released",
			"HOLD":     "held",
		},
	}
}

// pagedMapping reads a paged API answer, {"data":{"items":[...]}}.
func pagedMapping() *config.Mapping {
	return &config.Mapping{
		Records:      "data.items",
		ID:           "ref",
		Status:       "state",
		Containers:   "container",
		BL:           "bol",
		Declaration:  "entry",
		Reason:       "note",
		At:           "ts",
		StatusValues: map[string]string{"RELEASE": "released", "HOLD": "held"},
	}
}

// nestedMapping reads a batch of results with a nested decision and local
// Shanghai time stamps without an offset.
func nestedMapping() *config.Mapping {
	return &config.Mapping{
		Records:      "results",
		ID:           "entryId",
		Status:       "decision.code",
		Containers:   "cargo.units.#.no",
		BL:           "cargo.billOfLading",
		Declaration:  "cargo.declarationNo",
		Reason:       "decision.text",
		At:           "decision.time",
		AtLayout:     "2006-01-02 15:04:05",
		AtZone:       "Asia/Shanghai",
		StatusValues: map[string]string{"R": "released", "H": "held"},
	}
}

func source(m *config.Mapping) config.Source {
	return config.Source{Name: "customs-poll", Type: "http_poll", Kind: "agency", Agency: "customs", Format: "mapped_json", Keys: config.NewKeys(mappedjson.Config{Mapping: m})}
}

func newDecoder(t testing.TB, m *config.Mapping) adapters.Decoder {
	t.Helper()
	dec, err := adapters.NewDecoder(source(m))
	if err != nil {
		t.Fatalf("NewDecoder: %v", err)
	}
	return dec
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// want is one expected record: an event, or a rejection's code and reason.
type want struct {
	position string
	event    *state.AgencyEvent
	code     string
	reason   string
}

func ok(position string, ev state.AgencyEvent) want {
	if ev.Agency == "" {
		ev.Agency = "customs"
	}
	return want{position: position, event: &ev}
}

func rejected(position, code, reason string) want {
	return want{position: position, code: code, reason: reason}
}

func checkRecords(t *testing.T, got []adapters.Record, wants []want) {
	t.Helper()
	if len(got) != len(wants) {
		for i, r := range got {
			t.Logf("record %d: %s %+v %v", i, r.Position, r.Agency, r.Err)
		}
		t.Fatalf("%d records, want %d", len(got), len(wants))
	}
	for i, w := range wants {
		r := got[i]
		if r.Position != w.position {
			t.Errorf("record %d: position %q, want %q", i, r.Position, w.position)
		}
		if r.TOS != nil {
			t.Errorf("record %d: a TOS event from an agency format", i)
		}
		if w.event == nil {
			rej, isRej := r.Err.(*state.Rejection)
			if !isRej || r.Agency != nil {
				t.Errorf("record %d: got %+v, %v; want rejection %s: %s", i, r.Agency, r.Err, w.code, w.reason)
				continue
			}
			if rej.Code != w.code || rej.Reason != w.reason {
				t.Errorf("record %d: rejection\n got  %s: %s\n want %s: %s", i, rej.Code, rej.Reason, w.code, w.reason)
			}
			continue
		}
		if r.Err != nil || r.Agency == nil {
			t.Errorf("record %d: got %+v, %v; want %+v", i, r.Agency, r.Err, *w.event)
			continue
		}
		checkEvent(t, i, r.Agency, w.event)
	}
}

func checkEvent(t *testing.T, i int, got, w *state.AgencyEvent) {
	t.Helper()
	g := *got
	if !g.At.Equal(w.At) {
		t.Errorf("record %d: at %v, want %v", i, g.At, w.At)
	}
	g.At = w.At
	if g.ID != w.ID || g.Agency != w.Agency || g.Status != w.Status || !slices.Equal(g.Containers, w.Containers) ||
		g.BL != w.BL || g.Declaration != w.Declaration || g.Reason != w.Reason {
		t.Errorf("record %d:\n got  %+v\n want %+v", i, g, *w)
	}
}

func TestDocumentShapes(t *testing.T) {
	tests := []struct {
		name    string
		mapping *config.Mapping
		file    string
		want    []want
	}{
		{
			name:    "single-record clearance notice",
			mapping: singleMapping(),
			file:    "single_notice.json",
			want: []want{ok("", state.AgencyEvent{
				ID: "CN-SHA-CLR-20261128-000123", Status: state.Released,
				// Normalised, and the repeated container dropped.
				Containers:  []string{"MSCU1234566", "TGHU1234567"},
				BL:          "MEDUSH123456",
				Declaration: "220120261000123456",
				Reason:      "documents checked",
				At:          at("2026-11-28T10:15:00+08:00"),
			})},
		},
		{
			name:    "paged API answer",
			mapping: pagedMapping(),
			file:    "paged_releases.json",
			want: []want{
				ok("record 1", state.AgencyEvent{
					ID: "R-000981", Status: state.Released, Containers: []string{"CSQU3054383"},
					// A number beyond float64 precision keeps its digits.
					BL: "OOLU2150093870", Declaration: "220120261000123457",
					At: at("2026-11-28T02:15:00Z"),
				}),
				ok("record 2", state.AgencyEvent{
					ID: "R-000982", Status: state.Held, Containers: []string{"OOLU8765436", "CBHU9876547"},
					BL: "COSU6189004521", Reason: "inspection ordered",
					At: at("2026-11-28T02:16:30.25Z"),
				}),
				// A numeric id, a lower-case status matched ignoring case,
				// a null B/L.
				ok("record 3", state.AgencyEvent{
					ID: "983", Status: state.Released, Containers: []string{"TCNU1122333"},
					At: at("2026-11-28T02:17:00Z"),
				}),
			},
		},
		{
			name:    "paged answer with bad records rejected alone",
			mapping: pagedMapping(),
			file:    "paged_with_bad_records.json",
			want: []want{
				ok("record 1", state.AgencyEvent{ID: "R-001001", Status: state.Released, Containers: []string{"GESU5000013"}, At: at("2026-11-28T03:00:00Z")}),
				rejected("record 2", state.CodeInvalidField, `field "status" (path "state"): "PENDING" is not in status_values (known: "HOLD", "RELEASE")`),
				rejected("record 3", state.CodeBadCheckDigit, `field "containers" (path "container"): container "FCIU4455660": check digit is 0, the right digit for FCIU445566 is 7`),
				rejected("record 4", state.CodeInvalidField, `field "at" (path "ts"): want an RFC 3339 time with offset such as 2026-11-28T10:15:00+08:00, got "28/11/2026 03:03"`),
				rejected("record 5", state.CodeMalformed, `record is not a JSON object: "R-001005"`),
				ok("record 6", state.AgencyEvent{ID: "R-001006", Status: state.Held, Containers: []string{"HLXU3030309"}, At: at("2026-11-28T03:05:00Z")}),
			},
		},
		{
			name:    "nested decisions in Shanghai local time",
			mapping: nestedMapping(),
			file:    "nested_decisions.json",
			want: []want{
				ok("record 1", state.AgencyEvent{
					ID: "E20261128-0001", Status: state.Released, Containers: []string{"MSCU1234566", "TGHU1234567"},
					BL: "MEDUSH123456", Declaration: "220120261000123456", Reason: "cleared after document review",
					At: at("2026-11-28T02:15:00Z"),
				}),
				ok("record 2", state.AgencyEvent{
					ID: "E20261128-0002", Status: state.Held, Containers: []string{"MAEU1234567"},
					BL: "COSU6189004521", Declaration: "220120261000123499", Reason: "held for physical inspection",
					At: at("2026-11-28T02:16:30Z"),
				}),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs := newDecoder(t, tt.mapping).Decode(readFile(t, tt.file))
			checkRecords(t, recs, tt.want)
		})
	}
}

// TestLocalTimeKeepsZone checks that a local time is read in at_zone, with
// that zone's daylight saving time.
func TestLocalTimeKeepsZone(t *testing.T) {
	m := singleMapping()
	m.At = "clearance.at"
	m.AtLayout = "02.01.2006 15:04"
	m.AtZone = "Europe/Amsterdam"
	dec := newDecoder(t, m)
	for _, tt := range []struct{ in, want string }{
		{"28.11.2026 10:15", "2026-11-28T09:15:00Z"}, // CET, +01:00
		{"01.07.2026 10:15", "2026-07-01T08:15:00Z"}, // CEST, +02:00
		{"1.7.2026 10:15", ""},                       // the layout wants two digits
	} {
		doc := fmt.Sprintf(`{"messageId":"1","clearance":{"status":"HOLD","at":%q},"equipment":[{"containerNo":"MSCU1234566"}]}`, tt.in)
		recs := dec.Decode([]byte(doc))
		if tt.want == "" {
			checkRecords(t, recs, []want{rejected("", state.CodeInvalidField, `field "at" (path "clearance.at"): "1.7.2026 10:15" does not match at_layout "02.01.2006 15:04"`)})
			continue
		}
		if len(recs) != 1 || recs[0].Err != nil {
			t.Fatalf("%s: %+v", tt.in, recs)
		}
		if got := recs[0].Agency.At; !got.Equal(at(tt.want)) || got.Location().String() != "Europe/Amsterdam" {
			t.Errorf("%s: at %v, want %s in Europe/Amsterdam", tt.in, got, tt.want)
		}
	}
}

// record is the single-record document the rejection tests edit.
const record = `{
  "messageId": "CN-SHA-CLR-20261128-000123",
  "clearance": {"status": "RELEASED", "releasedAt": "2026-11-28T10:15:00+08:00", "remark": "ok"},
  "equipment": [{"containerNo": "MSCU1234566"}]
}`

// edit returns record with the top-level key (or clearance.key for
// "clearance.x") set to the raw JSON value, or deleted when raw is "".
func edit(t testing.TB, key, raw string) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(record), &m); err != nil {
		t.Fatal(err)
	}
	obj := m
	if rest, found := strings.CutPrefix(key, "clearance."); found {
		obj, key = m["clearance"].(map[string]any), rest
	}
	if raw == "" {
		delete(obj, key)
	} else {
		obj[key] = json.RawMessage(raw) // as written: big numbers keep their digits
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func containerList(n int) string {
	items := make([]string, n)
	for i := range items {
		prefix := fmt.Sprintf("ABCU%06d", i)
		items[i] = fmt.Sprintf(`{"containerNo":"%s%d"}`, prefix, state.CheckDigit(prefix))
	}
	return "[" + strings.Join(items, ",") + "]"
}

func TestFieldRejections(t *testing.T) {
	long := strings.Repeat("x", 257)
	tests := []struct {
		name, key, raw string
		code, reason   string
	}{
		{"id missing", "messageId", "", state.CodeInvalidField, `field "id" (path "messageId"): required, not found in the record`},
		{"id null", "messageId", `null`, state.CodeInvalidField, `field "id" (path "messageId"): required, not found in the record`},
		{"id blank", "messageId", `"  "`, state.CodeInvalidField, `field "id" (path "messageId"): must not be empty`},
		{"id object", "messageId", `{"no":1}`, state.CodeInvalidField, `field "id" (path "messageId"): want a string or a number, got {"no":1}`},
		{"id boolean", "messageId", `true`, state.CodeInvalidField, `field "id" (path "messageId"): want a string or a number, got true`},
		{"id too long", "messageId", `"` + long + `"`, state.CodeInvalidField,
			`field "id" (path "messageId"): "` + long[:80] + `"... is 257 characters, longer than 256`},
		{"status missing", "clearance.status", "", state.CodeInvalidField, `field "status" (path "clearance.status"): required, not found in the record`},
		{"status unknown", "clearance.status", `"MAYBE"`, state.CodeInvalidField, `field "status" (path "clearance.status"): "MAYBE" is not in status_values (known: "HOLD", "RELEASED")`},
		{"status empty", "clearance.status", `""`, state.CodeInvalidField, `field "status" (path "clearance.status"): must not be empty`},
		{"status number not mapped", "clearance.status", `10`, state.CodeInvalidField, `field "status" (path "clearance.status"): "10" is not in status_values (known: "HOLD", "RELEASED")`},
		{"status array", "clearance.status", `["RELEASED"]`, state.CodeInvalidField, `field "status" (path "clearance.status"): want a string, a number or a boolean, got ["RELEASED"]`},
		{"containers missing", "equipment", "", state.CodeInvalidField, `field "containers" (path "equipment.#.containerNo"): want 1 to 1000 container numbers (or a bl, for a decision on the whole B/L), got none`},
		{"containers empty", "equipment", `[]`, state.CodeInvalidField, `field "containers" (path "equipment.#.containerNo"): want 1 to 1000 container numbers (or a bl, for a decision on the whole B/L), got none`},
		{"containers too many", "equipment", containerList(1001), state.CodeInvalidField, `field "containers" (path "equipment.#.containerNo"): want 1 to 1000 container numbers, got 1001`},
		{"container not a string", "equipment", `[{"containerNo":"MSCU1234566"},{"containerNo":12345678901}]`, state.CodeInvalidField,
			`field "containers" (path "equipment.#.containerNo"): item 1: want a string, got 12345678901`},
		{"container check digit", "equipment", `[{"containerNo":"MSCU1234566"},{"containerNo":"MSCU1234567"}]`, state.CodeBadCheckDigit,
			`field "containers" (path "equipment.#.containerNo"): item 1: container "MSCU1234567": check digit is 7, the right digit for MSCU123456 is 6`},
		{"container too short", "equipment", `[{"containerNo":"MSCU123"}]`, state.CodeInvalidField,
			`field "containers" (path "equipment.#.containerNo"): item 0: container "MSCU123": want 11 characters (4 letters, 7 digits), got 7`},
		{"bl not a string", "clearance.billOfLading", `["MEDUSH123456"]`, state.CodeInvalidField,
			`field "bl" (path "clearance.billOfLading"): want a string or a number, got ["MEDUSH123456"]`},
		{"declaration object", "clearance.declarationNo", `{"no":"2201"}`, state.CodeInvalidField,
			`field "declaration" (path "clearance.declarationNo"): want a string or a number, got {"no":"2201"}`},
		{"reason number", "clearance.remark", `42`, state.CodeInvalidField, `field "reason" (path "clearance.remark"): want a string, got 42`},
		{"at missing", "clearance.releasedAt", "", state.CodeInvalidField, `field "at" (path "clearance.releasedAt"): required, not found in the record`},
		{"at number", "clearance.releasedAt", `1795832100`, state.CodeInvalidField, `field "at" (path "clearance.releasedAt"): want a string, got 1795832100`},
		{"at without offset", "clearance.releasedAt", `"2026-11-28T10:15:00"`, state.CodeInvalidField,
			`field "at" (path "clearance.releasedAt"): want an RFC 3339 time with offset such as 2026-11-28T10:15:00+08:00, got "2026-11-28T10:15:00"`},
		{"at before 1970", "clearance.releasedAt", `"0001-01-01T00:00:00Z"`, state.CodeInvalidField, `field "at" (path "clearance.releasedAt"): "0001-01-01T00:00:00Z" is before 1970`},
	}
	dec := newDecoder(t, singleMapping())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkRecords(t, dec.Decode(edit(t, tt.key, tt.raw)), []want{rejected("", tt.code, tt.reason)})
		})
	}
}

// TestOptionalAndLenientValues checks what a record may leave out or send
// in another JSON type.
func TestOptionalAndLenientValues(t *testing.T) {
	dec := newDecoder(t, singleMapping())
	tests := []struct {
		name, key, raw string
		check          func(*state.AgencyEvent) bool
	}{
		{"optional fields absent", "clearance.remark", "", func(ev *state.AgencyEvent) bool {
			return ev.Reason == "" && ev.BL == "" && ev.Declaration == ""
		}},
		{"numeric id keeps its text", "messageId", `9007199254740993`, func(ev *state.AgencyEvent) bool { return ev.ID == "9007199254740993" }},
		{"id trimmed", "messageId", `"  A-1 "`, func(ev *state.AgencyEvent) bool { return ev.ID == "A-1" }},
		{"status trimmed", "clearance.status", `" HOLD "`, func(ev *state.AgencyEvent) bool { return ev.Status == state.Held }},
		{"status ignoring case", "clearance.status", `"Released"`, func(ev *state.AgencyEvent) bool { return ev.Status == state.Released }},
		{"numeric declaration", "clearance.declarationNo", `220120261000123456`, func(ev *state.AgencyEvent) bool { return ev.Declaration == "220120261000123456" }},
		{"escaped strings", "clearance.remark", `"\u653e\u884c \"ok\""`, func(ev *state.AgencyEvent) bool { return ev.Reason == `放行 "ok"` }},
		{"fractional seconds", "clearance.releasedAt", `"2026-11-28T10:15:00.123456+08:00"`, func(ev *state.AgencyEvent) bool {
			return ev.At.Equal(at("2026-11-28T02:15:00.123456Z"))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs := dec.Decode(edit(t, tt.key, tt.raw))
			if len(recs) != 1 || recs[0].Err != nil || recs[0].Agency == nil {
				t.Fatalf("got %+v", recs)
			}
			if !tt.check(recs[0].Agency) {
				t.Errorf("event %+v", *recs[0].Agency)
			}
		})
	}
}

func TestContainersAsString(t *testing.T) {
	m := singleMapping()
	m.Containers = "unit"
	dec := newDecoder(t, m)
	recs := dec.Decode([]byte(`{"messageId":"1","unit":"mscu-123456 6","clearance":{"status":"HOLD","releasedAt":"2026-11-28T10:15:00Z"}}`))
	checkRecords(t, recs, []want{ok("", state.AgencyEvent{ID: "1", Status: state.Held, Containers: []string{"MSCU1234566"}, At: at("2026-11-28T10:15:00Z")})})

	recs = dec.Decode([]byte(`{"messageId":"1","unit":"MSCU1234566,TGHU1234567","clearance":{"status":"HOLD","releasedAt":"2026-11-28T10:15:00Z"}}`))
	checkRecords(t, recs, []want{rejected("", state.CodeInvalidField,
		`field "containers" (path "unit"): container "MSCU1234566,TGHU1234567": want 11 characters (4 letters, 7 digits) of ASCII, got 23 bytes`)})

	recs = dec.Decode([]byte(`{"messageId":"1","unit":{"no":"MSCU1234566"},"clearance":{"status":"HOLD","releasedAt":"2026-11-28T10:15:00Z"}}`))
	checkRecords(t, recs, []want{rejected("", state.CodeInvalidField,
		`field "containers" (path "unit"): want a container number or an array of them, got {"no":"MSCU1234566"}`)})
}

// TestStatusMatching checks that an exact match wins and that case is
// otherwise ignored.
func TestStatusMatching(t *testing.T) {
	m := singleMapping()
	m.StatusValues = map[string]string{
		"Released": "released", "RELEASED": "released", // differ in case, agree
		"hold": "held", "1": "released", "true": "held",
	}
	dec := newDecoder(t, m)
	for _, tt := range []struct {
		raw  string
		want state.Status
	}{
		{`"Released"`, state.Released}, {`"released"`, state.Released}, {`"RELEASED"`, state.Released},
		{`"HOLD"`, state.Held}, {`"Hold"`, state.Held}, {`1`, state.Released}, {`"1"`, state.Released},
		{`true`, state.Held}, {`"TRUE"`, state.Held},
	} {
		recs := dec.Decode(edit(t, "clearance.status", tt.raw))
		if len(recs) != 1 || recs[0].Agency == nil || recs[0].Agency.Status != tt.want {
			t.Errorf("status %s: got %+v, want %s", tt.raw, recs, tt.want)
		}
	}
	recs := dec.Decode(edit(t, "clearance.status", `"HOLDS"`))
	checkRecords(t, recs, []want{rejected("", state.CodeInvalidField,
		`field "status" (path "clearance.status"): "HOLDS" is not in status_values (known: "1", "RELEASED", "Released", "hold", "true")`)})
}

func TestAgencyPath(t *testing.T) {
	m := singleMapping()
	m.Agency = "authority"
	dec := newDecoder(t, m)
	recs := dec.Decode(edit(t, "authority", `"quarantine"`))
	if len(recs) != 1 || recs[0].Agency == nil || recs[0].Agency.Agency != "quarantine" {
		t.Fatalf("got %+v, want an event for quarantine (the engine refuses it for a customs source)", recs)
	}
	checkRecords(t, dec.Decode(edit(t, "authority", "")), []want{rejected("", state.CodeInvalidField,
		`field "agency" (path "authority"): required, not found in the record`)})
	checkRecords(t, dec.Decode(edit(t, "authority", "7")), []want{rejected("", state.CodeInvalidField,
		`field "agency" (path "authority"): want a string, got 7`)})
}

func TestDocumentRejections(t *testing.T) {
	single, paged := singleMapping(), pagedMapping()
	var many strings.Builder
	many.WriteString(`{"data":{"items":[`)
	for i := range mappedjson.MaxRecords + 1 {
		if i > 0 {
			many.WriteString(",")
		}
		many.WriteString("{}")
	}
	many.WriteString("]}}")
	tests := []struct {
		name    string
		mapping *config.Mapping
		doc     string
		want    []want
	}{
		{"invalid UTF-8", single, "{\"messageId\":\"\xff\"}", []want{rejected("", state.CodeMalformed, "payload is not valid UTF-8")}},
		{"empty", single, "", []want{rejected("", state.CodeMalformed, "payload is not valid JSON: unexpected end of JSON input")}},
		{"truncated", paged, `{"data":{"items":[{"ref":"1"}`, []want{rejected("", state.CodeMalformed, "payload is not valid JSON: unexpected end of JSON input")}},
		{"trailing data", single, `{} {}`, []want{rejected("", state.CodeMalformed, "payload is not valid JSON: invalid character '{' after top-level value")}},
		{"HTML error page", paged, `<html>502 Bad Gateway</html>`, []want{rejected("", state.CodeMalformed, "payload is not valid JSON: invalid character '<' looking for beginning of value")}},
		{"array for one record", single, `[{"messageId":"1"}]`, []want{rejected("", state.CodeMalformed, `payload is not a JSON object: [{"messageId":"1"}] (set mapping.records for a list of records)`)}},
		{"string for one record", single, ` "x" `, []want{rejected("", state.CodeMalformed, `payload is not a JSON object: "x" (set mapping.records for a list of records)`)}},
		{"records missing", paged, `{"error":"token expired"}`, []want{rejected("", state.CodeMalformed, `records (path "data.items"): not found in the document`)}},
		{"records null", paged, `{"data":{"items":null}}`, []want{rejected("", state.CodeMalformed, `records (path "data.items"): want an array, got null`)}},
		{"records an object", paged, `{"data":{"items":{"ref":"1"}}}`, []want{rejected("", state.CodeMalformed, `records (path "data.items"): want an array, got {"ref":"1"}`)}},
		{"too many records", paged, many.String(), []want{rejected("", state.CodeMalformed, `records (path "data.items"): 10001 records, more than 10000 in one document`)}},
		{"empty page", paged, `{"data":{"items":[]},"next_cursor":null}`, []want{}},
		{"record not an object", paged, `{"data":{"items":[null, 3, []]}}`, []want{
			rejected("record 1", state.CodeMalformed, "record is not a JSON object: null"),
			rejected("record 2", state.CodeMalformed, "record is not a JSON object: 3"),
			rejected("record 3", state.CodeMalformed, "record is not a JSON object: []"),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkRecords(t, newDecoder(t, tt.mapping).Decode([]byte(tt.doc)), tt.want)
		})
	}
}

// TestTopLevelArray checks the documented way to read a document that is
// itself an array.
func TestTopLevelArray(t *testing.T) {
	m := pagedMapping()
	m.Records = "@this"
	recs := newDecoder(t, m).Decode([]byte(`[{"ref":"A","state":"HOLD","container":"MSCU1234566","ts":"2026-11-28T10:15:00Z"},{"ref":"B"}]`))
	checkRecords(t, recs, []want{
		ok("record 1", state.AgencyEvent{ID: "A", Status: state.Held, Containers: []string{"MSCU1234566"}, At: at("2026-11-28T10:15:00Z")}),
		rejected("record 2", state.CodeInvalidField, `field "status" (path "state"): required, not found in the record`),
	})
}

func TestCheckMapping(t *testing.T) {
	type keyErr struct{ key, msg string } // msg: a substring
	with := func(change func(m *config.Mapping)) *config.Mapping {
		m := nestedMapping()
		change(m)
		return m
	}
	tests := []struct {
		name string
		src  config.Source
		want []keyErr
	}{
		{"single", source(singleMapping()), nil},
		{"paged", source(pagedMapping()), nil},
		{"nested", source(nestedMapping()), nil},
		{"layout with offset", source(with(func(m *config.Mapping) { m.AtLayout = "2006-01-02 15:04:05 -0700"; m.AtZone = "" })), nil},
		{"UTC zone", source(with(func(m *config.Mapping) { m.AtZone = "UTC" })), nil},
		{"another format without mapping", config.Source{Kind: "agency", Agency: "customs", Format: "json"}, nil},
		{"stray mapping", config.Source{Kind: "agency", Agency: "customs", Format: "edifact", Keys: config.NewKeys(mappedjson.Config{Mapping: singleMapping()})},
			[]keyErr{{"mapping", `only used by format mapped_json, and this source's format is "edifact"`}}},
		{"no mapping", config.Source{Kind: "agency", Agency: "customs", Format: "mapped_json"},
			[]keyErr{{"mapping", "required for format mapped_json"}}},
		{"tos source", config.Source{Kind: "tos", Format: "mapped_json", Keys: config.NewKeys(mappedjson.Config{Mapping: singleMapping()})},
			[]keyErr{{"kind", `format mapped_json decodes agency events and manifests; want kind "agency" or "manifest", got "tos"`}}},
		{"paths missing", source(with(func(m *config.Mapping) { m.ID, m.Status, m.Containers, m.At = "", " ", "", "" })),
			[]keyErr{{"mapping.id", "required"}, {"mapping.status", "required"}, {"mapping.containers", "required"}, {"mapping.at", "required"}}},
		{"no status values", source(with(func(m *config.Mapping) { m.StatusValues = nil })),
			[]keyErr{{"mapping.status_values", "required: map each of their status words to released, held, hold_removed or revoked"}}},
		{"bad status value", source(with(func(m *config.Mapping) { m.StatusValues["X"] = "cleared"; m.StatusValues["Y"] = "Released" })),
			[]keyErr{{"mapping.status_values.X", `want released, held[:TYPE], hold_removed[:TYPE] or revoked, got "cleared"`}, {"mapping.status_values.Y", `want released, held[:TYPE], hold_removed[:TYPE] or revoked, got "Released"`}}},
		{"empty status word", source(with(func(m *config.Mapping) { m.StatusValues[""] = "held" })),
			[]keyErr{{"mapping.status_values", "an empty status word never matches"}}},
		{"status word with spaces", source(with(func(m *config.Mapping) { m.StatusValues[" R "] = "released" })),
			[]keyErr{{"mapping.status_values. R ", "surrounding spaces"}}},
		{"words differing in case disagree", source(with(func(m *config.Mapping) { m.StatusValues["h"] = "released" })),
			[]keyErr{{"mapping.status_values.H", `"H" and "h" differ only in case but map to held and released`}}},
		{"layout without a date", source(with(func(m *config.Mapping) { m.AtLayout = "YYYY-MM-DD HH:mm:ss" })),
			[]keyErr{{"mapping.at_layout", `"YYYY-MM-DD HH:mm:ss" is not a Go time layout with a year, month and day`}}},
		{"layout with a zone abbreviation", source(with(func(m *config.Mapping) { m.AtLayout = "2006-01-02 15:04:05 MST" })),
			[]keyErr{{"mapping.at_layout", "zone abbreviation"}}},
		{"local layout without zone", source(with(func(m *config.Mapping) { m.AtZone = "" })),
			[]keyErr{{"mapping.at_zone", `required: at_layout "2006-01-02 15:04:05" has no UTC offset`}}},
		{"zone with an offset layout", source(with(func(m *config.Mapping) { m.AtLayout = "" })),
			[]keyErr{{"mapping.at_zone", `not used: at_layout (default RFC 3339) carries its own UTC offset`}}},
		{"unknown zone", source(with(func(m *config.Mapping) { m.AtZone = "Asia/Shanghia" })),
			[]keyErr{{"mapping.at_zone", `unknown time zone "Asia/Shanghia"`}}},
		{"Local zone", source(with(func(m *config.Mapping) { m.AtZone = "Local" })),
			[]keyErr{{"mapping.at_zone", "Local depends on the host"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := mappedjson.Check(tt.src)
			if len(errs) != len(tt.want) {
				t.Fatalf("got %d errors %q, want %d %q", len(errs), errs, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				if errs[i].Key != w.key || !strings.Contains(errs[i].Msg, w.msg) {
					t.Errorf("error %d: %s: %s\n want %s: ...%s...", i, errs[i].Key, errs[i].Msg, w.key, w.msg)
				}
			}
			// The decoder is built exactly when the mapping is sound.
			if tt.src.Format != "mapped_json" {
				return
			}
			_, err := adapters.NewDecoder(tt.src)
			if (err == nil) != (len(tt.want) == 0) {
				t.Fatalf("NewDecoder error %v, Check %q", err, errs)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), "format mapped_json: "+w.key+": ") {
					t.Errorf("NewDecoder error %q does not name %s", err, w.key)
				}
			}
		})
	}
}

func TestNewDecoderNeedsAnAgency(t *testing.T) {
	src := source(singleMapping())
	src.Agency = ""
	_, err := adapters.NewDecoder(src)
	if err == nil || !strings.Contains(err.Error(), "source customs-poll: format mapped_json: agency: required") {
		t.Fatalf("NewDecoder without an agency: %v", err)
	}
	m := singleMapping()
	m.Agency = "authority"
	src.Keys = config.NewKeys(mappedjson.Config{Mapping: m})
	if _, err := adapters.NewDecoder(src); err != nil {
		t.Fatalf("NewDecoder with mapping.agency: %v", err)
	}
}

// TestSamplesAreDocumented keeps the samples in testdata valid JSON that
// the tests read.
func TestSamplesAreDocumented(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(files) < 4 {
		t.Fatalf("samples: %v %v", files, err)
	}
	for _, f := range files {
		data, _ := os.ReadFile(f)
		if !json.Valid(data) {
			t.Errorf("%s is not valid JSON", f)
		}
	}
}

// hookRegistry is the registry as config validation will see it once the
// format check is hooked in: every source and sink type is known, and a
// source's format settings are checked by Check.
type hookRegistry struct{}

func (hookRegistry) CheckSource(s config.Source) (bool, []config.KeyError) {
	return true, mappedjson.Check(s)
}
func (hookRegistry) CheckSink(config.Sink) (bool, []config.KeyError)    { return true, nil }
func (hookRegistry) CheckChannel(config.Sink) (bool, []config.KeyError) { return true, nil }
func (hookRegistry) CheckSnapshot(config.Sink) []config.KeyError        { return nil }
func (hookRegistry) HasFormat(name string) bool                         { return name == "json" || name == "mapped_json" }

// readmeConfig is the configuration example of the README's mapped_json
// section, in a minimal file.
const readmeConfig = `terminal: CNSHA-T1
state_dir: /var/lib/portsync
agencies:
  customs: {tos_hold: CUSTOMS}
tos:
  sink: {type: http, url: "http://tos.local/api/commands"}
sources:
  - name: customs-api
    type: http_poll
    url: https://customs.example/api/v2/decisions
    schedule: "@every 30s"
    kind: agency
    agency: customs
    format: mapped_json
    mapping:
      records: results                 # the array of records; omit for one record per document
      id: entryId
      status: decision.code
      containers: cargo.units.#.no     # a string or an array of strings
      at: decision.time
      at_layout: "2006-01-02 15:04:05" # Go layout; default RFC 3339 with offset
      at_zone: Asia/Shanghai           # for layouts without an offset
      bl: cargo.billOfLading
      declaration: cargo.declarationNo
      reason: decision.text
      status_values:
        R: released
        H: held
`

func TestREADMEConfig(t *testing.T) {
	c, err := config.Parse("portsync.yaml", []byte(readmeConfig), hookRegistry{})
	if err != nil {
		t.Fatalf("README example: %v", err)
	}
	dec, err := adapters.NewDecoder(c.Sources[0])
	if err != nil {
		t.Fatal(err)
	}
	recs := dec.Decode(readFile(t, "nested_decisions.json"))
	if len(recs) != 2 || recs[0].Agency == nil || recs[1].Agency == nil {
		t.Fatalf("decoded %+v", recs)
	}

	// A mistake is reported on its line, under its key.
	bad := strings.Replace(readmeConfig, "H: held", "H: hold", 1)
	bad = strings.Replace(bad, "at_zone: Asia/Shanghai", "at_zone: China/Shanghai", 1)
	_, err = config.Parse("portsync.yaml", []byte(bad), hookRegistry{})
	for _, want := range []string{
		`portsync.yaml:22: sources[0].mapping.at_zone: unknown time zone "China/Shanghai"`,
		`portsync.yaml:28: sources[0].mapping.status_values.H: want released, held[:TYPE], hold_removed[:TYPE] or revoked, got "hold"`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("errors %v\nwant %s", err, want)
		}
	}
}
