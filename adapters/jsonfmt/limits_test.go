package jsonfmt_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/portsync/portsync/adapters/jsonfmt"
	"github.com/portsync/portsync/state"
)

// TestAgencyEventHostile: shapes that once got past the decoder and then
// could not be stored or meant one thing here and another elsewhere
// (issue 9).
func TestAgencyEventHostile(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		code    string
		reason  []string
	}{
		{"duplicate status", []byte(`{"id":"1","agency":"customs","status":"held","containers":["MSCU1234566"],"at":"2026-11-28T10:15:00+08:00","status":"released"}`),
			state.CodeMalformed, []string{`duplicate key "status" in the object at $`}},
		{"duplicate key spelt with an escape", []byte(`{"id":"1","agency":"customs","status":"held","st\u0061tus":"released","containers":["MSCU1234566"],"at":"2026-11-28T10:15:00+08:00"}`),
			state.CodeMalformed, []string{`duplicate key "status"`}},
		{"duplicate key in an ignored field", edit(t, agencyExample, "extra", rawJSON(`{"a":[{"k":1,"k":2}]}`)),
			state.CodeMalformed, []string{`duplicate key "k" in the object at $.extra.a[0]`}},
		{"offset +24:00", edit(t, agencyExample, "at", "2026-11-28T10:15:00+24:00"), state.CodeInvalidField, []string{`"at"`, "+24:00"}},
		{"offset -24:00", edit(t, agencyExample, "at", "2026-11-28T10:15:00-24:00"), state.CodeInvalidField, []string{`"at"`, "-24:00"}},
		{"offset +23:60", edit(t, agencyExample, "at", "2026-11-28T10:15:00+23:60"), state.CodeInvalidField, []string{`"at"`, "+23:60"}},
		{"bl of 40 KiB", edit(t, agencyExample, "bl", strings.Repeat("B", 40<<10)), state.CodeInvalidField, []string{`"bl"`, "40960 bytes", "70"}},
		{"bl of 71 bytes", edit(t, agencyExample, "bl", strings.Repeat("B", 71)), state.CodeInvalidField, []string{`"bl"`, "71 bytes"}},
		{"declaration of 71 bytes", edit(t, agencyExample, "declaration", strings.Repeat("7", 71)), state.CodeInvalidField, []string{`"declaration"`, "71 bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := jsonfmt.DecodeAgencyEvent(tt.payload)
			if ev != nil {
				t.Errorf("got event %q with the rejection", ev.ID)
			}
			rejection(t, err, tt.code, tt.reason...)
		})
	}
}

func TestAgencyEventLimitsAccepted(t *testing.T) {
	for _, at := range []string{"2026-11-28T10:15:00+23:59", "2026-11-28T10:15:00-23:59"} {
		if _, err := jsonfmt.DecodeAgencyEvent(edit(t, agencyExample, "at", at)); err != nil {
			t.Errorf("at %s: %v", at, err)
		}
	}
	ref := strings.Repeat("R", state.MaxRefLen)
	ev, err := jsonfmt.DecodeAgencyEvent(edit(t, agencyExample, "bl", ref, "declaration", ref))
	if err != nil || ev.BL != ref || ev.Declaration != ref {
		t.Errorf("references of %d bytes: %+v, %v", state.MaxRefLen, ev, err)
	}

	// A megabyte of reason is kept, cut, not refused: the decision
	// matters more than its prose.
	long := "documents checked; " + strings.Repeat("é", 1<<19)
	ev, err = jsonfmt.DecodeAgencyEvent(edit(t, agencyExample, "reason", long))
	if err != nil {
		t.Fatalf("reason of %d bytes: %v", len(long), err)
	}
	if want := state.CutText(long, state.MaxReasonLen); ev.Reason != want {
		t.Errorf("reason cut to %d bytes %q..., want state.CutText's %d", len(ev.Reason), ev.Reason[:40], len(want))
	}
	if !strings.HasPrefix(ev.Reason, "documents checked; é") || len(ev.Reason) > state.MaxReasonLen+64 {
		t.Errorf("reason %d bytes, starts %q", len(ev.Reason), ev.Reason[:30])
	}
	if _, err := json.Marshal(ev); err != nil {
		t.Errorf("marshal: %v", err)
	}
}

func TestTOSEventHostile(t *testing.T) {
	holds := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = "H" + strings.Repeat("X", i%10) + string(rune('A'+i%26)) + string(rune('A'+i/26))
		}
		return out
	}
	tests := []struct {
		name    string
		payload []byte
		code    string
		reason  []string
	}{
		{"duplicate holds", []byte(`{"id":"1","container":"MSCU1234566","event":"holds","holds":["CUSTOMS"],"holds":[],"at":"2026-11-28T10:20:00Z"}`),
			state.CodeMalformed, []string{`duplicate key "holds" in the object at $`}},
		{"duplicate event", []byte(`{"id":"1","container":"MSCU1234566","event":"arrived","holds":[],"event":"departed","at":"2026-11-28T10:20:00Z"}`),
			state.CodeMalformed, []string{`duplicate key "event"`}},
		{"offset +24:00", edit(t, tosExample, "at", "2026-11-28T10:20:00+24:00"), state.CodeInvalidField, []string{`"at"`, "+24:00"}},
		{"101 holds", edit(t, tosExample, "holds", holds(101)), state.CodeInvalidField, []string{`"holds"`, "101", "100"}},
		{"101 holds, repeats included", edit(t, tosExample, "holds", append(holds(100), "HAA")), state.CodeInvalidField, []string{`"holds"`, "101"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := jsonfmt.DecodeTOSEvent(tt.payload)
			if ev != nil {
				t.Errorf("got event %q with the rejection", ev.ID)
			}
			rejection(t, err, tt.code, tt.reason...)
		})
	}
	ev, err := jsonfmt.DecodeTOSEvent(edit(t, tosExample, "holds", holds(state.MaxHolds)))
	if err != nil || len(ev.Holds) != state.MaxHolds {
		t.Errorf("%d holds: %v, %v", state.MaxHolds, ev, err)
	}
}
