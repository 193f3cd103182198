package edifact_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/portsync/portsync/state"
)

// TestLimits: references are bounded by the shared limit and named by our
// field; free text is cut with the shared marker, not refused (issue 9).
func TestLimits(t *testing.T) {
	for _, c := range []struct{ rff, field string }{{"RFF+BM:", `field "bl"`}, {"RFF+ABT:", `field "declaration"`}} {
		msg := []string{"BGM+962+X", "GIS+4", "EQD+CN+MSCU1234566", c.rff + strings.Repeat("B", state.MaxRefLen+1)}
		recs := decoder(t, nil).Decode(interchange(msg))
		if len(recs) != 1 {
			t.Fatalf("%d records", len(recs))
		}
		rej := rejection(t, recs[0].Err)
		if rej.Code != state.CodeInvalidField || !strings.Contains(rej.Reason, c.field) || !strings.Contains(rej.Reason, "71 bytes, longer than 70") {
			t.Errorf("%s of 71 bytes: %s: %s", c.rff, rej.Code, rej.Reason)
		}
	}

	ref := strings.Repeat("R", state.MaxRefLen)
	text := strings.Repeat("held for inspection ", 300)
	var ftx []string
	for i := 0; i < len(text); i += 350 {
		ftx = append(ftx, "FTX+AAI+++"+text[i:min(i+350, len(text))])
	}
	msg := append([]string{"BGM+962+X", "DTM+137:202611280900:203"}, ftx...)
	msg = append(msg, "GIS+4", "EQD+CN+MSCU1234566", "RFF+BM:"+ref)
	recs := decoder(t, nil).Decode(interchange(msg))
	if len(recs) != 1 || recs[0].Err != nil {
		t.Fatalf("got %+v", recs)
	}
	ev := recs[0].Agency
	if ev.BL != ref {
		t.Errorf("bl %q, want the %d-byte reference whole", ev.BL, state.MaxRefLen)
	}
	if len(ev.Reason) > state.MaxReasonLen+64 || !strings.Contains(ev.Reason, "…[cut: ") || !strings.HasPrefix(ev.Reason, "CUSRES X: status 4 (released): held for") {
		t.Errorf("reason of %d bytes: ...%q, want it cut by state.CutText", len(ev.Reason), ev.Reason[max(0, len(ev.Reason)-60):])
	}
	if _, err := json.Marshal(ev); err != nil {
		t.Error(err)
	}
}
