package edifact_test

import (
	"strings"
	"testing"
	"time"

	"github.com/portsync/portsync/adapters/edifact"
	"github.com/portsync/portsync/state"
)

func one(t *testing.T, codes map[string]string, segs ...string) (*state.AgencyEvent, error) {
	t.Helper()
	recs := decoder(t, codes).Decode(interchange(segs))
	if len(recs) != 1 {
		t.Fatalf("%d records", len(recs))
	}
	return recs[0].Agency, recs[0].Err
}

// TestGISCodeLists: a status code is matched with its code list (1131)
// and responsible agency (3055). The default table is UN/EDIFACT 7365: it
// applies where GIS names list 7365 or no list; code 4 of another list is
// not "goods released" and is refused (issue 11).
func TestGISCodeLists(t *testing.T) {
	for _, tt := range []struct {
		name   string
		codes  map[string]string
		gis    string
		status state.Status // "" for a rejection
		reason string
	}{
		{"national list 120 on the default table", nil, "GIS+4:120:ZZZ:N", "", `status code "4" (code list "120", agency "ZZZ") is not in the status table`},
		{"national list without agency", nil, "GIS+4:120", "", `code list "120"`},
		{"no list", nil, "GIS+4", state.Released, ""},
		{"list 7365", nil, "GIS+4:7365", state.Released, ""},
		{"list 7365 of UN/ECE", nil, "GIS+4:7365:6", state.Released, ""},
		{"list 7365 of another agency", nil, "GIS+4:7365:ZZZ", "", `agency "ZZZ"`},
		{"no list, agency UN/ECE", nil, "GIS+5::6", state.Held, ""},
		{"code, list and agency", map[string]string{"4:120:ZZZ": "held"}, "GIS+4:120:ZZZ:N", state.Held, ""},
		{"code and list match any agency", map[string]string{"4:120": "released"}, "GIS+4:120:ZZZ", state.Released, ""},
		{"list and agency before list", map[string]string{"4:120": "released", "4:120:ZZZ": "held"}, "GIS+4:120:ZZZ", state.Held, ""},
		{"another agency's list 120", map[string]string{"4:120:ZZZ": "held"}, "GIS+4:120:5", "", `agency "5"`},
		{"a bare code is the UN list only", map[string]string{"1": "released"}, "GIS+1:120:ZZZ", "", `code list "120"`},
		{"a code with no list but an agency", map[string]string{"1::ZZZ": "held"}, "GIS+1::ZZZ", state.Held, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := one(t, tt.codes, "BGM+962+X+9", tt.gis, "EQD+CN+MSCU1234566")
			if tt.status == "" {
				if err == nil || !strings.Contains(err.Error(), tt.reason) {
					t.Fatalf("got %+v %v, want a rejection ...%s...", ev, err, tt.reason)
				}
				return
			}
			if err != nil || ev.Status != tt.status {
				t.Fatalf("got %+v %v, want %s", ev, err, tt.status)
			}
		})
	}
}

// TestStatusCodesLedger: status_codes values take any status of DESIGN
// 3.1, held and hold_removed with a hold type.
func TestStatusCodesLedger(t *testing.T) {
	codes := map[string]string{"4": "released", "5": "held:exam", "X1:120:ZZZ": "hold_removed:exam", "R:120:ZZZ": "revoked"}
	for gis, want := range map[string][2]string{
		"GIS+5":          {"held", "exam"},
		"GIS+X1:120:ZZZ": {"hold_removed", "exam"},
		"GIS+R:120:ZZZ":  {"revoked", ""},
		"GIS+4":          {"released", ""},
	} {
		ev, err := one(t, codes, "BGM+962+X+9", gis, "EQD+CN+MSCU1234566")
		if err != nil || string(ev.Status) != want[0] || ev.Hold != want[1] {
			t.Errorf("%s: %+v %v, want %s %q", gis, ev, err, want[0], want[1])
		}
	}
	// Several statuses in one message must agree on one: a release beside
	// a hold is held, as before; a hold removal beside a release cannot be
	// one event.
	if ev, err := one(t, codes, "BGM+962+X+9", "GIS+4", "GIS+5", "EQD+CN+MSCU1234566"); err != nil || ev.Status != state.Held || ev.Hold != "exam" {
		t.Errorf("4 and 5: %+v %v, want held exam", ev, err)
	}
	if _, err := one(t, codes, "BGM+962+X+9", "GIS+4", "GIS+X1:120:ZZZ", "EQD+CN+MSCU1234566"); err == nil || !strings.Contains(err.Error(), "one status") {
		t.Errorf("4 and X1: %v, want a rejection", err)
	}
	for spec, msg := range map[string]string{"released:x": "only held and hold_removed", "held:a b": "without spaces", "removed": "hold_removed"} {
		errs := edifact.Check(source(map[string]string{"4": spec}))
		if len(errs) != 1 || !strings.Contains(errs[0].Msg, msg) {
			t.Errorf("%q: %v, want ...%s...", spec, errs, msg)
		}
	}
	for key, msg := range map[string]string{"4:120:": "agency", "4:120:ZZZ:N": "code:list:agency", "4::": "agency"} {
		errs := edifact.Check(source(map[string]string{key: "held"}))
		if len(errs) != 1 || !strings.Contains(errs[0].Msg, msg) {
			t.Errorf("key %q: %v, want ...%s...", key, errs, msg)
		}
	}
}

// TestCancellation: BGM 1225 function 1 (cancellation) and 3 (deletion)
// withdraw an earlier response: the release is revoked.
func TestCancellation(t *testing.T) {
	for _, f := range []string{"1", "3"} {
		ev, err := one(t, nil, "BGM+962+REL-1+"+f, "GIS+4", "EQD+CN+MSCU1234566")
		if err != nil || ev.Status != state.Revoked || ev.Hold != "" {
			t.Errorf("function %s: %+v %v, want revoked", f, ev, err)
			continue
		}
		if !strings.Contains(ev.Reason, map[string]string{"1": "cancellation", "3": "deletion"}[f]) {
			t.Errorf("function %s: reason %q", f, ev.Reason)
		}
	}
	// A cancellation needs no status of its own, nor one the table knows.
	if ev, err := one(t, nil, "BGM+962+REL-1+1", "EQD+CN+MSCU1234566"); err != nil || ev.Status != state.Revoked {
		t.Errorf("cancellation without GIS: %+v %v", ev, err)
	}
	if ev, err := one(t, nil, "BGM+962+REL-1+1", "GIS+77:999:ZZZ", "EQD+CN+MSCU1234566"); err != nil || ev.Status != state.Revoked {
		t.Errorf("cancellation with an unknown GIS: %+v %v", ev, err)
	}
}

// TestDTMFormats: UN/EDIFACT 2379 formats with a zone offset.
func TestDTMFormats(t *testing.T) {
	plus8 := time.FixedZone("", 8*3600)
	for _, c := range []struct {
		v, f string
		want time.Time
	}{
		{"202611281015", "203", time.Date(2026, 11, 28, 10, 15, 0, 0, time.UTC)},
		{"202611281015+0800", "205", time.Date(2026, 11, 28, 10, 15, 0, 0, plus8)},
		{"202611281015-0330", "205", time.Date(2026, 11, 28, 10, 15, 0, 0, time.FixedZone("", -(3*3600+1800)))},
		{"20261128101530+0800", "208", time.Date(2026, 11, 28, 10, 15, 30, 0, plus8)},
		{"202611281015+08", "303", time.Date(2026, 11, 28, 10, 15, 0, 0, plus8)},
		{"202611281015UTC", "303", time.Date(2026, 11, 28, 10, 15, 0, 0, time.UTC)},
		{"20261128101530-05", "304", time.Date(2026, 11, 28, 10, 15, 30, 0, time.FixedZone("", -5*3600))},
		{"20261128101530GMT", "304", time.Date(2026, 11, 28, 10, 15, 30, 0, time.UTC)},
	} {
		got, err := edifact.ParseDTM(c.v, c.f, time.UTC)
		if err != nil || !got.Equal(c.want) {
			t.Errorf("ParseDTM(%q, %q) = %v, %v; want %v", c.v, c.f, got, err, c.want)
			continue
		}
		if _, off := got.Zone(); c.f != "203" {
			if _, woff := c.want.Zone(); off != woff {
				t.Errorf("ParseDTM(%q, %q): offset %d, want %d", c.v, c.f, off, woff)
			}
		}
	}
	for _, bad := range [][2]string{
		{"202611281015+2400", "205"}, {"202611281015+0860", "205"}, {"202611281015 0800", "205"}, {"202611281015+08", "205"},
		{"202611281015+24", "303"}, {"202611281015CET", "303"}, {"202611281015+8", "303"}, {"2026112810153+08", "304"},
	} {
		if got, err := edifact.ParseDTM(bad[0], bad[1], time.UTC); err == nil {
			t.Errorf("ParseDTM(%q, %q) accepted: %v", bad[0], bad[1], got)
		}
	}
	// In a message, the offset is the time's own, whatever the source's
	// time_zone; one outside ±23:59 is refused.
	ev, err := one(t, nil, "BGM+962+X+9", "DTM+137:202611281015?+0800:205", "GIS+4", "EQD+CN+MSCU1234566")
	if err != nil || !ev.At.Equal(time.Date(2026, 11, 28, 2, 15, 0, 0, time.UTC)) {
		t.Errorf("DTM 205 in a message: %+v %v", ev, err)
	}
	if _, err := one(t, nil, "BGM+962+X+9", "DTM+137:202611281015?+2400:205", "GIS+4", "EQD+CN+MSCU1234566"); err == nil || !strings.Contains(err.Error(), "DTM 137") {
		t.Errorf("DTM 205 +2400: %v", err)
	}
}

// TestSeveralInterchanges: a file of several interchanges (each with its
// own UNA) decodes each; a damaged one is refused alone.
func TestSeveralInterchanges(t *testing.T) {
	a := string(interchange([]string{"BGM+962+A+9", "GIS+4", "EQD+CN+MSCU1234566"}))
	b := strings.NewReplacer("IC1", "IC2", "'", "~").Replace(strings.Replace(a, "UNA:+.? '", "UNA:+.? ~", 1))
	b = strings.Replace(b, "+A+", "+B+", 1)
	broken := strings.Replace(strings.ReplaceAll(a, "IC1", "IC3"), "UNT+5+1", "UNT+9+1", 1)
	recs := decoder(t, nil).Decode([]byte(a + b + "\n" + broken + a))
	if len(recs) != 4 {
		for _, r := range recs {
			t.Logf("%s %+v %v", r.Position, r.Agency, r.Err)
		}
		t.Fatalf("%d records, want 4", len(recs))
	}
	for i, id := range []string{"SND/2611280900/IC1/1", "SND/2611280900/IC2/1", "", "SND/2611280900/IC1/1"} {
		r := recs[i]
		if id == "" {
			if r.Err == nil || !strings.Contains(r.Err.Error(), "UNT 0074") || !strings.HasPrefix(r.Position, "interchange 3, ") {
				t.Errorf("record %d: %q %v, want interchange 3 refused", i, r.Position, r.Err)
			}
			continue
		}
		if r.Err != nil || r.Agency.ID != id {
			t.Errorf("record %d: %+v %v, want id %s", i, r.Agency, r.Err, id)
		}
	}
	if want := "interchange 2, message 1 (UNH 1), segment 2 (UNH, line 11)"; recs[1].Position != want {
		t.Errorf("position %q, want %q", recs[1].Position, want)
	}
}
