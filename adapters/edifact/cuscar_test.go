package edifact_test

// cuscar.edi is written for these tests after the D.96B CUSCAR segment
// table (https://service.unece.org/trade/untdid/d96b/trmd/cuscar_s.htm):
// header BGM and DTM 137, SG1 RFF-DTM (the voyage), SG2 NAD, SG4
// TDT-LOC-DTM, SG5 EQD (the report's equipment: three containers and a
// rail car), and SG7 CNI consignments with their SG8 RFF+BM (or MB) bill
// of lading and SG14 GID goods items whose SGP names the equipment they
// are in. Consignment 2 repeats its EQD+CN under the consignment, as some
// implementations do; consignments 1 and 3 are one B/L split over two
// manifest lines; consignment 4 is break bulk, with no container.

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/adapters/edifact"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

func manifestSource() config.Source {
	return config.Source{Name: "cuscar-drop", Type: "file_drop", Kind: config.KindManifest, Format: "edifact", Keys: config.NewKeys(edifact.Config{TimeZone: "Asia/Shanghai"})}
}

func manifestDecoder(t testing.TB) adapters.Decoder {
	t.Helper()
	d, err := adapters.NewDecoder(manifestSource())
	if err != nil {
		t.Fatalf("NewDecoder: %v", err)
	}
	return d
}

// cuscar builds an interchange of one message from its segments between
// UNH and UNT, with the counts right.
func cuscar(typ string, segs ...string) []byte {
	var b strings.Builder
	b.WriteString("UNA:+.? '\nUNB+UNOA:2+MAEUCN+CNSHACUS+261128:0615+8801'\nUNH+CAR1+" + typ + ":D:96B:UN'\n")
	for _, s := range segs {
		b.WriteString(s + "'\n")
	}
	fmt.Fprintf(&b, "UNT+%d+CAR1'\nUNZ+1+8801'\n", len(segs)+2)
	return []byte(b.String())
}

func TestCUSCARCorpus(t *testing.T) {
	recs := manifestDecoder(t).Decode(readCorpus(t, "cuscar.edi"))
	sh, _ := time.LoadLocation("Asia/Shanghai")
	at := time.Date(2026, 11, 28, 6, 0, 0, 0, sh)
	want := []struct {
		pos, id, bl string
		containers  []string
	}{
		{"message 1 (UNH CAR1), segment 15 (CNI, line 16)", "MAEUCN/2611280615/8801/CAR1#1", "MAEUSHA0001", []string{"MAEU7654320", "CMAU4001231", "HLXU3100772"}},
		{"message 1 (UNH CAR1), segment 20 (CNI, line 21)", "MAEUCN/2611280615/8801/CAR1#2", "OOLUSHA0002", []string{"OOLU8812348"}},
		{"message 1 (UNH CAR1), segment 30 (CNI, line 31)", "MAEUCN/2611280615/8801/CAR1#3", "BULK0004", []string{}},
	}
	if len(recs) != len(want) {
		t.Fatalf("%d records, want %d: %+v", len(recs), len(want), recs)
	}
	for i, w := range want {
		r := recs[i]
		m := r.Manifest
		if r.Err != nil || m == nil || r.Agency != nil {
			t.Fatalf("record %d: %+v", i, r)
		}
		if r.Position != w.pos || m.ID != w.id || m.BL != w.bl || !slices.Equal(m.Containers, w.containers) || !m.At.Equal(at) {
			t.Errorf("record %d: %s %+v,\nwant %s id %s bl %s containers %q at %s", i, r.Position, m, w.pos, w.id, w.bl, w.containers, at)
		}
	}
}

func TestCUSCARFields(t *testing.T) {
	base := []string{"BGM+85+MAN1+9", "DTM+137:202611280600:203", "EQD+CN+MAEU7654320", "CNI+1", "RFF+BM:BL1", "GID+1", "SGP+MAEU7654320"}
	with := func(repl ...string) []string {
		out := slices.Clone(base)
		for i := 0; i+1 < len(repl); i += 2 {
			for j, s := range out {
				if s == repl[i] {
					out[j] = repl[i+1]
				}
			}
		}
		return slices.DeleteFunc(out, func(s string) bool { return s == "" })
	}
	sh, _ := time.LoadLocation("Asia/Shanghai")
	tests := []struct {
		name    string
		payload []byte
		code    string // "" for a manifest
		reason  string
		at      time.Time
		bl      string
		conts   []string
	}{
		{"SGP names an EQD+CN", cuscar("CUSCAR", base...), "", "", time.Date(2026, 11, 28, 6, 0, 0, 0, sh), "BL1", []string{"MAEU7654320"}},
		{"no DTM 137: UNB time", cuscar("CUSCAR", with("DTM+137:202611280600:203", "DTM+132:202611280600:203")...), "", "", time.Date(2026, 11, 28, 6, 15, 0, 0, sh), "BL1", []string{"MAEU7654320"}},
		{"MB when no BM", cuscar("CUSCAR", with("RFF+BM:BL1", "RFF+MB:MBL1")...), "", "", time.Date(2026, 11, 28, 6, 0, 0, 0, sh), "MBL1", []string{"MAEU7654320"}},
		{"BM beats MB", cuscar("CUSCAR", append(with("CNI+1", "CNI+1"), "RFF+MB:MBL1")...), "", "", time.Date(2026, 11, 28, 6, 0, 0, 0, sh), "BL1", []string{"MAEU7654320"}},
		{"EQD under the consignment", cuscar("CUSCAR", with("SGP+MAEU7654320", "EQD+CN+CMAU4001231")...), "", "", time.Date(2026, 11, 28, 6, 0, 0, 0, sh), "BL1", []string{"CMAU4001231"}},
		{"not a CUSCAR", cuscar("CUSRES", base...), state.CodeInvalidField, "want CUSCAR", time.Time{}, "", nil},
		{"no B/L", cuscar("CUSCAR", with("RFF+BM:BL1", "RFF+AAX:V1")...), state.CodeInvalidField, "no RFF+BM (bill of lading) or RFF+MB", time.Time{}, "", nil},
		{"B/L too long", cuscar("CUSCAR", with("RFF+BM:BL1", "RFF+BM:"+strings.Repeat("B", 71))...), state.CodeInvalidField, "RFF BM reference", time.Time{}, "", nil},
		{"check digit", cuscar("CUSCAR", with("SGP+MAEU7654320", "EQD+CN+MAEU7654321")...), state.CodeBadCheckDigit, "EQD+CN C237 8260", time.Time{}, "", nil},
		{"SGP check digit", cuscar("CUSCAR", with("EQD+CN+MAEU7654320", "EQD+CN+MAEU7654321", "SGP+MAEU7654320", "SGP+MAEU7654321")...), state.CodeBadCheckDigit, "SGP C237 8260", time.Time{}, "", nil},
		{"SGP undeclared", cuscar("CUSCAR", with("SGP+MAEU7654320", "SGP+CMAU4001231")...), state.CodeInvalidField, "no EQD of the message declares", time.Time{}, "", nil},
		{"SGP of a rail car", cuscar("CUSCAR", with("EQD+CN+MAEU7654320", "EQD+RR+MAEU7654320")...), "", "", time.Date(2026, 11, 28, 6, 0, 0, 0, sh), "BL1", []string{}},
		{"no consignment", cuscar("CUSCAR", "BGM+85+MAN1+9", "EQD+CN+MAEU7654320"), state.CodeInvalidField, "no consignment", time.Time{}, "", nil},
		{"cancellation", cuscar("CUSCAR", with("BGM+85+MAN1+9", "BGM+85+MAN1+1")...), state.CodeInvalidField, "withdraws an earlier cargo report", time.Time{}, "", nil},
		{"bad DTM", cuscar("CUSCAR", with("DTM+137:202611280600:203", "DTM+137:2026:203")...), state.CodeInvalidField, "DTM 137", time.Time{}, "", nil},
	}
	dec := manifestDecoder(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs := dec.Decode(tt.payload)
			if len(recs) != 1 {
				t.Fatalf("%d records: %+v", len(recs), recs)
			}
			r := recs[0]
			if !strings.HasPrefix(r.Position, "message 1 (UNH CAR1), segment ") {
				t.Errorf("position %q", r.Position)
			}
			if tt.code != "" {
				rej, _ := r.Err.(*state.Rejection)
				if rej == nil || r.Manifest != nil || rej.Code != tt.code || !strings.Contains(rej.Reason, tt.reason) {
					t.Fatalf("got %+v %v, want %s %q", r.Manifest, r.Err, tt.code, tt.reason)
				}
				return
			}
			m := r.Manifest
			if r.Err != nil || m == nil || m.BL != tt.bl || !slices.Equal(m.Containers, tt.conts) || !m.At.Equal(tt.at) {
				t.Fatalf("got %+v %v, want bl %s containers %q at %s", m, r.Err, tt.bl, tt.conts, tt.at)
			}
		})
	}
}

func TestCUSCARLimit(t *testing.T) {
	segs := []string{"BGM+85+MAN1+9", "CNI+1", "RFF+BM:BIG"}
	for i := range edifact.MaxManifestContainers + 1 {
		prefix := fmt.Sprintf("ABCU%06d", i)
		segs = append(segs, fmt.Sprintf("EQD+CN+%s%d", prefix, state.CheckDigit(prefix)))
	}
	dec := manifestDecoder(t)
	recs := dec.Decode(cuscar("CUSCAR", segs[:len(segs)-1]...))
	if len(recs) != 1 || recs[0].Err != nil || len(recs[0].Manifest.Containers) != edifact.MaxManifestContainers {
		t.Fatalf("10000 containers: %v", recs[0].Err)
	}
	recs = dec.Decode(cuscar("CUSCAR", segs...))
	if len(recs) != 1 || recs[0].Err == nil || !strings.Contains(recs[0].Err.Error(), "more than 10000 containers") {
		t.Fatalf("10001 containers: %+v", recs[0])
	}
}

func TestCUSCARConfig(t *testing.T) {
	src := manifestSource()
	if errs := edifact.Check(src); len(errs) != 0 {
		t.Errorf("manifest source: %+v", errs)
	}
	src.Keys = config.NewKeys(edifact.Config{TimeZone: "Asia/Shanghai", StatusCodes: map[string]string{"4": "released"}})
	errs := edifact.Check(src)
	if len(errs) != 1 || errs[0].Key != "status_codes" || !strings.Contains(errs[0].Msg, "not used by a manifest source") {
		t.Errorf("status_codes on a manifest source: %+v", errs)
	}
	// An agency source reading a CUSCAR refuses it.
	recs := decoder(t, nil).Decode(readCorpus(t, "cuscar.edi"))
	if len(recs) != 1 || recs[0].Err == nil || !strings.Contains(recs[0].Err.Error(), "want CUSRES") {
		t.Errorf("CUSCAR to an agency source: %+v", recs)
	}
}

// A CUSRES with a B/L and no EQD+CN is a response on the whole B/L; one
// with neither is refused.
func TestCUSRESBLOnly(t *testing.T) {
	dec := decoder(t, nil)
	recs := dec.Decode(cuscar("CUSRES", "BGM+962+DEC1+9", "DTM+137:202611281015:203", "GIS+4", "RFF+BM:MEDUSH1"))
	ev := recs[0].Agency
	if recs[0].Err != nil || ev == nil || ev.BL != "MEDUSH1" || len(ev.Containers) != 0 || ev.Status != state.Released {
		t.Fatalf("B/L only: %+v %v", ev, recs[0].Err)
	}
	recs = dec.Decode(cuscar("CUSRES", "BGM+962+DEC1+9", "DTM+137:202611281015:203", "GIS+4", "RFF+ABT:DECL1"))
	if recs[0].Err == nil || !strings.Contains(recs[0].Err.Error(), "no container and no bill of lading") {
		t.Fatalf("neither: %+v", recs[0])
	}
}
