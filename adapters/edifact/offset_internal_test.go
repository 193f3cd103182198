package edifact

import (
	"strings"
	"testing"
	"time"

	"github.com/portsync/portsync/state"
)

// TestZoneOffsetOutOfRange: EDIFACT times take their offset from the
// source's zone. time.LoadLocation reads any TZif file ZONEINFO points at,
// and nothing in the format bounds what such a zone says, so a decoded
// time is checked like any other (issue 9: a +24:00 time wedged the store
// writer, which cannot write it as JSON).
func TestZoneOffsetOutOfRange(t *testing.T) {
	msg := "UNA:+.? '\nUNB+UNOA:3+SND+RCV+261128:0900+IC1'\nUNH+1+CUSRES:D:96B:UN'\nBGM+962+X'\nDTM+137:202611280900:203'\nGIS+4'\nEQD+CN+MSCU1234566'\nUNT+6+1'\nUNZ+1+IC1'\n"
	for _, off := range []int{24 * 3600, -(24*3600 + 60)} {
		d := &Decoder{agency: "customs", codes: map[string]entry{"4": {status: state.Released}}, loc: time.FixedZone("", off)}
		recs := d.Decode([]byte(msg))
		if len(recs) != 1 || recs[0].Agency != nil {
			t.Fatalf("offset %ds: got %+v, want a rejection", off, recs)
		}
		rej := recs[0].Err.(*state.Rejection)
		if rej.Code != state.CodeInvalidField || !strings.Contains(rej.Reason, "DTM 137") || !strings.Contains(rej.Reason, "zone offset") {
			t.Errorf("offset %ds: %s: %s", off, rej.Code, rej.Reason)
		}
	}
}
