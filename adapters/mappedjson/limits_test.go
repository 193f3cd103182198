package mappedjson_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/portsync/portsync/state"
)

// TestHostileRecords: shapes that once got past the decoder and then could
// not be stored, or meant one thing here and another to the canonical
// decoder (issue 9).
func TestHostileRecords(t *testing.T) {
	single := singleMapping()
	long := strings.Repeat("B", 40<<10)
	tests := []struct {
		name string
		doc  string
		want []want
	}{
		{"duplicate status", `{"messageId":"1","clearance":{"status":"HOLD","releasedAt":"2026-11-28T10:15:00+08:00","status":"RELEASED"},"equipment":[{"containerNo":"MSCU1234566"}]}`,
			[]want{rejected("", state.CodeMalformed, `duplicate key "status" in the object at $.clearance`)}},
		{"duplicate key spelt with an escape", `{"messageId":"1","m\u0065ssageId":"2"}`,
			[]want{rejected("", state.CodeMalformed, `duplicate key "messageId" in the object at $`)}},
		{"offset +24:00", string(edit(t, "clearance.releasedAt", `"2026-11-28T10:15:00+24:00"`)),
			[]want{rejected("", state.CodeInvalidField, `field "at" (path "clearance.releasedAt"): "2026-11-28T10:15:00+24:00": zone offset +24:00 is outside -23:59..+23:59`)}},
		{"bl of 40 KiB", string(edit(t, "clearance.billOfLading", `"`+long+`"`)),
			[]want{rejected("", state.CodeInvalidField, `field "bl" (path "clearance.billOfLading"): "`+long[:40]+`"... is 40960 bytes, longer than 70`)}},
		{"declaration of 71 digits", string(edit(t, "clearance.declarationNo", strings.Repeat("7", 71))),
			[]want{rejected("", state.CodeInvalidField, `field "declaration" (path "clearance.declarationNo"): "`+strings.Repeat("7", 40)+`"... is 71 bytes, longer than 70`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkRecords(t, newDecoder(t, single).Decode([]byte(tt.doc)), tt.want)
		})
	}
}

// TestDuplicateKeysInRecords: a repeat inside one record rejects that
// record, as any fault of a record does; a repeat in the rest of the
// document makes the records themselves uncertain and rejects it whole.
func TestDuplicateKeysInRecords(t *testing.T) {
	paged := pagedMapping()
	good := `{"ref":"1","state":"RELEASE","container":"MSCU1234566","ts":"2026-11-28T10:15:00+08:00"}`
	bad := `{"ref":"2","state":"HOLD","container":"MSCU1234566","ts":"2026-11-28T10:15:00+08:00","state":"RELEASE"}`
	recs := newDecoder(t, paged).Decode([]byte(`{"data":{"items":[` + good + `,` + bad + `]}}`))
	if len(recs) != 2 || recs[0].Err != nil {
		t.Fatalf("got %+v, want the first record decoded", recs)
	}
	checkRecords(t, recs[1:], []want{rejected("record 2", state.CodeMalformed, `record: duplicate key "state" in the object at $`)})

	for doc, reason := range map[string]string{
		`{"data":{"items":[` + good + `],"items":[]}}`:           `duplicate key "items" in the object at $.data`,
		`{"data":{"items":[` + good + `]},"data":{"items":[]}}`:  `duplicate key "data" in the object at $`,
		`{"data":{"items":[` + good + `]},"meta":{"n":1,"n":2}}`: `duplicate key "n" in the object at $.meta`,
	} {
		checkRecords(t, newDecoder(t, paged).Decode([]byte(doc)), []want{rejected("", state.CodeMalformed, reason)})
	}

	// A records path gjson computes (here the whole document) has no
	// place in it to leave out: the whole document is checked.
	this := pagedMapping()
	this.Records = "@this"
	checkRecords(t, newDecoder(t, this).Decode([]byte(`[` + good + `,` + bad + `]`))[1:],
		[]want{rejected("record 2", state.CodeMalformed, `record: duplicate key "state" in the object at $`)})
}

func TestLimitsAccepted(t *testing.T) {
	ref := strings.Repeat("R", state.MaxRefLen)
	doc := edit(t, "clearance.billOfLading", `"`+ref+`"`)
	long := "ok; " + strings.Repeat("é", 1<<19)
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		t.Fatal(err)
	}
	m["clearance"].(map[string]any)["remark"] = long
	m["clearance"].(map[string]any)["releasedAt"] = "2026-11-28T10:15:00-23:59"
	doc, _ = json.Marshal(m)
	recs := newDecoder(t, singleMapping()).Decode(doc)
	if len(recs) != 1 || recs[0].Err != nil {
		t.Fatalf("got %d records, %v", len(recs), recs[0].Err)
	}
	ev := recs[0].Agency
	if ev.BL != ref || ev.Reason != state.CutText(long, state.MaxReasonLen) {
		t.Errorf("bl %q, reason of %d bytes; want the bl whole and the reason cut by state.CutText", ev.BL, len(ev.Reason))
	}
	if _, err := json.Marshal(ev); err != nil {
		t.Errorf("marshal: %v", err)
	}
}
