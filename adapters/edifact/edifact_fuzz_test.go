package edifact_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/adapters/edifact"
	"github.com/portsync/portsync/adapters/jsonfmt"
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
	// Issue 11: national lists with agencies, cancellations, DTM formats
	// with offsets, several interchanges in one file.
	one := "UNA:+.? '\nUNB+UNOA:3+SND+RCV+261128:0900+IC1'\nUNH+1+CUSRES:D:96B:UN'\nBGM+962+X+9'\nDTM+137:202611281015?+0800:205'\nGIS+4:120:ZZZ:N'\nEQD+CN+MSCU1234566'\nUNT+6+1'\nUNZ+1+IC1'\n"
	f.Add([]byte(one))
	f.Add([]byte(strings.Replace(one, "BGM+962+X+9", "BGM+962+X+1", 1)))
	f.Add([]byte(strings.Replace(one, "202611281015?+0800:205", "20261128101530-05:304", 1)))
	f.Add([]byte(strings.Replace(one, "202611281015?+0800:205", "202611281015UTC:303", 1)))
	f.Add([]byte(strings.Replace(one, "GIS+4:120:ZZZ:N", "GIS+X1:120:ZZZ", 1)))
	f.Add([]byte(one + strings.ReplaceAll(one, "IC1", "IC2") + strings.Replace(one, "UNT+6", "UNT+7", 1)))
	// Manifests: CUSCAR consignments, a B/L split over two lines, SGP.
	car := "UNA:+.? '\nUNB+UNOA:2+SND+RCV+261128:0900+IC1'\nUNH+1+CUSCAR:D:96B:UN'\nBGM+85+M1+9'\nDTM+137:202611280600:203'\nEQD+CN+MSCU1234566'\nEQD+RR+W1'\n" +
		"CNI+1'\nRFF+BM:BL1'\nGID+1'\nSGP+MSCU1234566'\nSGP+W1'\nCNI+2'\nRFF+MB:BL2'\nEQD+CN+TGHU1234567'\nCNI+3'\nRFF+BM:BL1'\nUNT+16+1'\nUNZ+1+IC1'\n"
	f.Add([]byte(car))
	f.Add([]byte(strings.Replace(car, "RFF+MB:BL2", "RFF+XX:BL2", 1)))
	// A CUSRES on a whole B/L.
	f.Add([]byte(strings.Replace(one, "EQD+CN+MSCU1234566'", "RFF+BM:BL1'", 1)))
	manifests, err := adapters.NewDecoder(manifestSource())
	if err != nil {
		f.Fatal(err)
	}
	dec := decoder(f, map[string]string{"4": "released", "7": "held", "1:120": "released", "2:120": "held",
		"4:120:ZZZ": "held:120", "X1:120:ZZZ": "hold_removed:120", "R::ZZZ": "revoked"})

	f.Fuzz(func(t *testing.T, payload []byte) {
		recs := dec.Decode(payload)
		if len(recs) == 0 {
			t.Fatal("no records: the message would be dropped silently")
		}
		_, perr := edifact.Parse(payload)
		var se *edifact.SyntaxError
		if perr != nil && !errors.As(perr, &se) {
			t.Fatalf("Parse error %T is not a *SyntaxError: %v", perr, perr)
		}

		// The decoder is a pure function of the payload.
		if again := dec.Decode(payload); !sameRecords(recs, again) {
			t.Fatalf("two decodes differ:\n%+v\n%+v", recs, again)
		}

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
		}

		// The records follow the interchanges ParseAll reads, in order.
		items := edifact.ParseAll(payload)
		next := 0
		take := func() adapters.Record {
			if next >= len(recs) {
				t.Fatalf("fewer records (%d) than ParseAll's interchanges need", len(recs))
			}
			next++
			return recs[next-1]
		}
		for k, it := range items {
			prefix := ""
			if len(items) > 1 {
				prefix = fmt.Sprintf("interchange %d, ", k+1)
			}
			if it.Err != nil {
				// A damaged interchange is one malformed record, where
				// the parser says.
				if !errors.As(it.Err, &se) {
					t.Fatalf("ParseAll error %T is not a *SyntaxError", it.Err)
				}
				r := take()
				if r.Position != prefix+se.Position || r.Err == nil || r.Err.(*state.Rejection).Code != state.CodeMalformed {
					t.Fatalf("interchange %d: ParseAll failed (%v) but Decode gave %+v", k+1, it.Err, r)
				}
				continue
			}
			ic := it.Interchange
			if len(ic.Messages) == 0 {
				if r := take(); r.Err == nil {
					t.Fatalf("empty interchange decoded as %+v", r)
				}
				continue
			}
			// One record per message, in order, each positioned in it; a
			// message's fault is never malformed (that is the envelope's).
			ids := map[string]bool{}
			for i := range ic.Messages {
				m := &ic.Messages[i]
				r := take()
				if !strings.HasPrefix(r.Position, prefix+"message ") {
					t.Fatalf("message %d: position %q", i, r.Position)
				}
				if r.Err != nil && r.Err.(*state.Rejection).Code == state.CodeMalformed {
					t.Fatalf("message %d: rejected as malformed: %v", i, r.Err)
				}
				if r.Agency != nil {
					if r.Agency.ID != edifact.MessageID(ic, m) {
						t.Fatalf("message %d: id %q, want %q", i, r.Agency.ID, edifact.MessageID(ic, m))
					}
					if ids[r.Agency.ID] {
						t.Fatalf("message %d: id %q twice in one interchange", i, r.Agency.ID)
					}
					ids[r.Agency.ID] = true
				}
				for _, s := range m.Segments {
					if s.Index < 1 || s.Index > ic.Segments || s.Line < 1 {
						t.Fatalf("segment %+v out of range", s)
					}
				}
			}
			// What was parsed says the same when written again with the
			// release character: the tokenizer and the envelope agree
			// with an independent encoder.
			enc, ok := encode(ic)
			if !ok {
				continue
			}
			again, err := edifact.Parse(enc)
			if err != nil {
				t.Fatalf("re-encoded interchange rejected: %v\n%q\nfrom %q", err, enc, payload)
			}
			if diff := sameInterchange(ic, again); diff != "" {
				t.Fatalf("re-encoded interchange differs: %s\n%q\nfrom %q", diff, enc, payload)
			}
		}
		if next != len(recs) {
			t.Fatalf("%d records, ParseAll accounts for %d", len(recs), next)
		}
		if perr == nil && (len(items) != 1 || items[0].Interchange == nil) {
			t.Fatalf("Parse read one interchange, ParseAll %d", len(items))
		}
		checkManifests(t, manifests, payload, items)
	})
}

// checkManifests checks what a manifest source makes of the payload: per
// message either one rejection or one manifest per B/L, each with a valid
// B/L, at most MaxManifestContainers valid and distinct containers, a
// storable time and an id unique in the payload.
func checkManifests(t *testing.T, dec adapters.Decoder, payload []byte, items []edifact.Parsed) {
	t.Helper()
	recs := dec.Decode(payload)
	if len(recs) == 0 {
		t.Fatal("manifest source: no records")
	}
	if again := dec.Decode(payload); !sameRecords(recs, again) {
		t.Fatalf("manifest source: two decodes differ")
	}
	messages := 0
	for _, it := range items {
		if it.Err != nil || len(it.Interchange.Messages) == 0 {
			messages++ // one rejection
			continue
		}
		messages += len(it.Interchange.Messages)
	}
	if len(recs) < messages {
		t.Fatalf("manifest source: %d records for %d messages", len(recs), messages)
	}
	ids := map[string]bool{}
	bls := map[string]bool{} // per message: "position prefix|bl"
	for i, r := range recs {
		if r.Position == "" || r.Agency != nil || r.TOS != nil || (r.Manifest == nil) == (r.Err == nil) {
			t.Fatalf("manifest record %d: %+v", i, r)
		}
		if r.Err != nil {
			checkRejection(t, r.Err)
			continue
		}
		m := r.Manifest
		if m.ID == "" || len(m.ID) > state.MaxIDLen || !utf8.ValidString(m.ID) || ids[m.ID] {
			t.Fatalf("manifest record %d: id %q (repeated: %v)", i, m.ID, ids[m.ID])
		}
		ids[m.ID] = true
		if m.BL == "" || state.CheckRef("bl", m.BL) != nil || !utf8.ValidString(m.BL) {
			t.Fatalf("manifest record %d: bl %q", i, m.BL)
		}
		msg, _, _ := strings.Cut(r.Position, ", segment")
		if bls[msg+"|"+m.BL] {
			t.Fatalf("manifest record %d: B/L %q twice in %s", i, m.BL, msg)
		}
		bls[msg+"|"+m.BL] = true
		if m.Containers == nil || len(m.Containers) > edifact.MaxManifestContainers {
			t.Fatalf("manifest record %d: %d containers (nil: %v)", i, len(m.Containers), m.Containers == nil)
		}
		for j, c := range m.Containers {
			if id, err := state.ParseContainer(c); err != nil || id != c || slices.Contains(m.Containers[:j], c) {
				t.Fatalf("manifest record %d: container %q", i, c)
			}
		}
		if m.At.Year() < 1970 || m.At.Year() > 9999 || state.CheckOffset("at", m.At) != nil {
			t.Fatalf("manifest record %d: time %v", i, m.At)
		}
	}
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
	if !jsonfmt.IsStatus(ev.Status) || ev.Hold != "" && !jsonfmt.TakesHold(ev.Status) {
		t.Fatalf("status %q hold %q", ev.Status, ev.Hold)
	}
	if n := len(ev.Containers); n == 0 && ev.BL == "" || n > edifact.MaxContainers {
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
