package edifact_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/adapters/edifact"
	"github.com/portsync/portsync/state"
)

// decodeCodes are the rejection codes a decoder may give (DESIGN 6).
var decodeCodes = []string{state.CodeMalformed, state.CodeInvalidField, state.CodeBadCheckDigit}

// FuzzEDIFACT feeds arbitrary payloads to the registered decoder and to
// Parse. Seeds: every file of testdata/*.edi and testdata/fuzz/FuzzEDIFACT.
func FuzzEDIFACT(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.edi"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no corpus: %v", err)
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	// Issue 9: references and text too long to store.
	long := "UNA:+.? '\nUNB+UNOA:3+SND+RCV+261128:0900+IC1'\nUNH+1+CUSRES:D:96B:UN'\nBGM+962+X'\nFTX+AAI+++" +
		strings.Repeat("x", 1<<20) + "'\nGIS+4'\nEQD+CN+MSCU1234566'\nRFF+BM:" + strings.Repeat("B", 40<<10) + "'\nUNT+7+1'\nUNZ+1+IC1'\n"
	f.Add([]byte(long))
	f.Add([]byte(strings.Replace(long, "RFF+BM:", "RFF+XX:", 1)))
	dec := decoder(f, map[string]string{"4": "released", "7": "held", "1:120": "released", "2:120": "held"})

	f.Fuzz(func(t *testing.T, payload []byte) {
		recs := dec.Decode(payload)
		if len(recs) == 0 {
			t.Fatal("no records: the message would be dropped silently")
		}
		ic, perr := edifact.Parse(payload)
		var se *edifact.SyntaxError
		if perr != nil && !errors.As(perr, &se) {
			t.Fatalf("Parse error %T is not a *SyntaxError: %v", perr, perr)
		}

		// The decoder is a pure function of the payload.
		if again := dec.Decode(payload); !sameRecords(recs, again) {
			t.Fatalf("two decodes differ:\n%+v\n%+v", recs, again)
		}

		ids := map[string]bool{}
		for i, r := range recs {
			if r.Position == "" {
				t.Fatalf("record %d has no position", i)
			}
			if r.TOS != nil {
				t.Fatalf("record %d: a TOS event", i)
			}
			if (r.Agency == nil) == (r.Err == nil) {
				t.Fatalf("record %d: want exactly one of event and error, got %+v", i, r)
			}
			if r.Err != nil {
				checkRejection(t, r.Err)
				continue
			}
			checkEvent(t, r.Agency)
			if ids[r.Agency.ID] {
				t.Fatalf("record %d: id %q twice in one interchange", i, r.Agency.ID)
			}
			ids[r.Agency.ID] = true
		}

		if perr != nil {
			// A damaged interchange is one malformed record, where Parse
			// says.
			if len(recs) != 1 || recs[0].Position != se.Position || recs[0].Err.(*state.Rejection).Code != state.CodeMalformed {
				t.Fatalf("Parse failed (%v) but Decode gave %+v", perr, recs)
			}
			return
		}
		if len(ic.Messages) == 0 {
			if len(recs) != 1 || recs[0].Err == nil {
				t.Fatalf("empty interchange decoded as %+v", recs)
			}
			return
		}
		// One record per message, in order, each positioned in it; a
		// message's fault is never malformed (that is the envelope's).
		if len(recs) != len(ic.Messages) {
			t.Fatalf("%d records for %d messages", len(recs), len(ic.Messages))
		}
		for i, r := range recs {
			m := &ic.Messages[i]
			if !strings.HasPrefix(r.Position, "message ") {
				t.Fatalf("record %d: position %q", i, r.Position)
			}
			if r.Err != nil && r.Err.(*state.Rejection).Code == state.CodeMalformed {
				t.Fatalf("record %d: a message rejected as malformed: %v", i, r.Err)
			}
			if r.Agency != nil && r.Agency.ID != edifact.MessageID(ic, m) {
				t.Fatalf("record %d: id %q, want %q", i, r.Agency.ID, edifact.MessageID(ic, m))
			}
			for _, s := range m.Segments {
				if s.Index < 1 || s.Index > ic.Segments || s.Line < 1 {
					t.Fatalf("segment %+v out of range", s)
				}
			}
		}
		// What was parsed says the same when written again with the
		// release character: the tokenizer and the envelope agree with
		// an independent encoder.
		enc, ok := encode(ic)
		if !ok {
			return
		}
		again, err := edifact.Parse(enc)
		if err != nil {
			t.Fatalf("re-encoded interchange rejected: %v\n%q\nfrom %q", err, enc, payload)
		}
		if diff := sameInterchange(ic, again); diff != "" {
			t.Fatalf("re-encoded interchange differs: %s\n%q\nfrom %q", diff, enc, payload)
		}
	})
}

func checkRejection(t *testing.T, err error) {
	t.Helper()
	rej, ok := err.(*state.Rejection)
	if !ok || rej == nil {
		t.Fatalf("error %T is not a *state.Rejection: %v", err, err)
	}
	if !slices.Contains(decodeCodes, rej.Code) {
		t.Fatalf("code %q is not one of %q (%s)", rej.Code, decodeCodes, rej.Reason)
	}
	if strings.TrimSpace(rej.Reason) == "" {
		t.Fatalf("code %q with an empty reason", rej.Code)
	}
}

func checkEvent(t *testing.T, ev *state.AgencyEvent) {
	t.Helper()
	if ev.ID == "" || len(ev.ID) > 256 || !utf8.ValidString(ev.ID) {
		t.Fatalf("bad id %q", ev.ID)
	}
	if ev.Agency != "customs" {
		t.Fatalf("agency %q, want the source's", ev.Agency)
	}
	if ev.Status != state.Released && ev.Status != state.Held {
		t.Fatalf("status %q", ev.Status)
	}
	if n := len(ev.Containers); n < 1 || n > edifact.MaxContainers {
		t.Fatalf("%d containers", n)
	}
	for i, c := range ev.Containers {
		if id, err := state.ParseContainer(c); err != nil || id != c {
			t.Fatalf("container %q: ParseContainer = %q, %v", c, id, err)
		}
		if slices.Contains(ev.Containers[:i], c) {
			t.Fatalf("container %q twice", c)
		}
	}
	if ev.At.IsZero() || ev.At.Year() < 1970 || ev.At.Year() > 9999 {
		t.Fatalf("time %v", ev.At)
	}
	if _, off := ev.At.Zone(); off > 23*3600+59*60 || off < -(23*3600+59*60) {
		t.Fatalf("time %v: offset %ds outside ±23:59", ev.At, off)
	}
	for _, s := range []string{ev.BL, ev.Declaration, ev.Reason} {
		if !utf8.ValidString(s) {
			t.Fatalf("bad text %q", s)
		}
	}
	if len(ev.BL) > state.MaxRefLen || len(ev.Declaration) > state.MaxRefLen || len(ev.Reason) > state.MaxReasonLen+64 {
		t.Fatalf("bl, declaration and reason of %d, %d and %d bytes", len(ev.BL), len(ev.Declaration), len(ev.Reason))
	}
	if _, err := json.Marshal(ev); err != nil {
		t.Fatalf("marshal: %v", err)
	}
}

func sameRecords(a, b []adapters.Record) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Position != b[i].Position || !reflect.DeepEqual(a[i].Agency, b[i].Agency) ||
			(a[i].Err == nil) != (b[i].Err == nil) || a[i].Err != nil && a[i].Err.Error() != b[i].Err.Error() {
			return false
		}
	}
	return true
}
