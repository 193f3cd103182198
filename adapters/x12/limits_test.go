package x12

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/portsync/portsync/state"
)

// TestLimits: references longer than the store takes are refused, naming
// the element and our field; a zone whose offset JSON cannot write is
// refused rather than handed to the store writer (issue 9).
func TestLimits(t *testing.T) {
	n7 := "N7*MSCU*1234566"
	long := strings.Repeat("B", state.MaxRefLen+1)
	bad := func(reason ...string) want {
		return want{pos: "transaction 1 (segment 3)", code: state.CodeInvalidField, reason: reason}
	}
	d := newDecoder(t, source())
	for name, tt := range map[string]struct {
		body []string
		want want
	}{
		"X401": {[]string{"P4*2704", "X4*" + long + "*1***20261128*1015*1C**MSCU", n7}, bad(`X401 (bill of lading)`, `field "bl"`, "71 bytes, longer than 70")},
		"X408": {[]string{"P4*2704", "X4**1***20261128*1015*1C*" + long + "*MSCU", n7}, bad(`X408 (house bill of lading)`, `field "bl"`, "71 bytes")},
		"N902": {[]string{"P4*2704", "X4**1***20261128*1015*1C**MSCU", "N9*BM*" + long, n7},
			want{pos: "transaction 1 (segment 4)", code: state.CodeInvalidField, reason: []string{`N902 (reference)`, `field "bl"`, "71 bytes"}}},
		"X404":   {[]string{"P4*2704", "X4*B1*1**" + long + "*20261128*1015*1C**MSCU", n7}, bad(`X404 (entry number)`, `field "declaration"`, "71 bytes")},
		"40 KiB": {[]string{"P4*2704", "X4*" + strings.Repeat("B", 40<<10) + "*1***20261128*1015*1C**MSCU", n7}, bad(`field "bl"`, "40960 bytes")},
	} {
		t.Run(name, func(t *testing.T) { check(t, d.Decode(interchange350(tt.body...)), []want{tt.want}) })
	}

	ref := strings.Repeat("R", state.MaxRefLen)
	recs := d.Decode(interchange350("P4*2704", "X4*"+ref+"*1**"+ref+"*20261128*1015*1C**MSCU", n7))
	if len(recs) != 1 || recs[0].Err != nil || recs[0].Agency.BL != ref || recs[0].Agency.Declaration != ref {
		t.Fatalf("references of %d bytes: %+v", state.MaxRefLen, recs)
	}

	for _, off := range []int{24 * 3600, -(24*3600 + 60)} {
		z := zoned(t, source(), time.FixedZone("", off))
		check(t, z.Decode(interchange350("P4*2704", "X4*B1*1***20261128*1015*1C**MSCU", n7)),
			[]want{bad("X405/X406", `"20261128" "1015"`, "zone offset")})
	}
	if _, err := json.Marshal(recs[0].Agency); err != nil {
		t.Error(err)
	}
}
