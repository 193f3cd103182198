package mappedjson_test

import (
	"strings"
	"testing"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/adapters/mappedjson"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

// ledgerMapping reads a feed that releases, holds by type, removes holds
// and revokes releases (issue 11, DESIGN 1 and 3.1).
func ledgerMapping() *config.Mapping {
	return &config.Mapping{
		Records:      "items",
		ID:           "ref",
		Status:       "state",
		Containers:   "container",
		At:           "ts",
		Hold:         "holdType",
		StatusValues: map[string]string{"R": "released", "H": "held", "D": "revoked", "X": "hold_removed", "EXAM": "held:exam"},
	}
}

const ledgerDoc = `{"items":[
 {"ref":"1","state":"H","holdType":"1H","container":"MSCU1234566","ts":"2026-11-28T10:00:00+08:00"},
 {"ref":"2","state":"X","holdType":"1H","container":"MSCU1234566","ts":"2026-11-28T10:05:00+08:00"},
 {"ref":"3","state":"D","container":"MSCU1234566","ts":"2026-11-28T10:06:00+08:00"},
 {"ref":"4","state":"R","holdType":null,"container":"MSCU1234566","ts":"2026-11-28T10:07:00+08:00"},
 {"ref":"5","state":"H","container":"MSCU1234566","ts":"2026-11-28T10:08:00+08:00"},
 {"ref":"6","state":"EXAM","container":"MSCU1234566","ts":"2026-11-28T10:09:00+08:00"},
 {"ref":"7","state":"EXAM","holdType":"7H","container":"MSCU1234566","ts":"2026-11-28T10:09:00+08:00"},
 {"ref":"8","state":"R","holdType":"1H","container":"MSCU1234566","ts":"2026-11-28T10:10:00+08:00"},
 {"ref":"9","state":"D","holdType":"  ","container":"MSCU1234566","ts":"2026-11-28T10:10:00+08:00"},
 {"ref":"10","state":"H","holdType":7,"container":"MSCU1234566","ts":"2026-11-28T10:10:00+08:00"}
]}`

func TestLedgerStatusesAndHold(t *testing.T) {
	recs := newDecoder(t, ledgerMapping()).Decode([]byte(ledgerDoc))
	want := []struct {
		status state.Status
		hold   string
		reason string // a rejection's, by substring
	}{
		{state.Held, "1H", ""},
		{state.HoldRemoved, "1H", ""},
		{state.Revoked, "", ""},
		{state.Released, "", ""},
		{state.Held, "", ""},
		{state.Held, "exam", ""},
		{state.Held, "7H", ""}, // the record's hold wins over the status word's
		{"", "", `field "hold" (path "holdType"): "1H" is a hold type, but status "released"`},
		{state.Revoked, "", ""}, // blank is absent
		{state.Held, "7", ""},   // a number is its text, as for ids: CBP's 71 is one
	}
	if len(recs) != len(want) {
		t.Fatalf("%d records, want %d", len(recs), len(want))
	}
	for i, w := range want {
		r := recs[i]
		if w.reason != "" {
			if r.Err == nil || !strings.Contains(r.Err.Error(), w.reason) || r.Err.(*state.Rejection).Code != state.CodeInvalidField {
				t.Errorf("record %d: %v, want invalid_field ...%s...", i+1, r.Err, w.reason)
			}
			continue
		}
		if r.Err != nil {
			t.Errorf("record %d: %v", i+1, r.Err)
			continue
		}
		if r.Agency.Status != w.status || r.Agency.Hold != w.hold {
			t.Errorf("record %d: %q %q, want %q %q", i+1, r.Agency.Status, r.Agency.Hold, w.status, w.hold)
		}
	}
}

func TestHoldValues(t *testing.T) {
	m := ledgerMapping()
	m.HoldValues = map[string]string{"X-RAY": "7H", "customs": "1H"}
	recs := newDecoder(t, m).Decode([]byte(`{"items":[
 {"ref":"1","state":"H","holdType":"X-RAY","container":"MSCU1234566","ts":"2026-11-28T10:00:00+08:00"},
 {"ref":"2","state":"X","holdType":"CUSTOMS","container":"MSCU1234566","ts":"2026-11-28T10:00:00+08:00"},
 {"ref":"3","state":"H","holdType":"VET","container":"MSCU1234566","ts":"2026-11-28T10:00:00+08:00"}
]}`))
	if len(recs) != 3 {
		t.Fatalf("%d records", len(recs))
	}
	if r := recs[0]; r.Err != nil || r.Agency.Hold != "7H" {
		t.Errorf("record 1: %+v %v, want hold 7H", r.Agency, r.Err)
	}
	if r := recs[1]; r.Err != nil || r.Agency.Hold != "1H" || r.Agency.Status != state.HoldRemoved {
		t.Errorf("record 2: %+v %v, want hold_removed 1H (case-insensitive match)", r.Agency, r.Err)
	}
	if r := recs[2]; r.Err == nil || !strings.Contains(r.Err.Error(), `"VET" is not in hold_values`) {
		t.Errorf("record 3: %v, want a rejection naming hold_values", r.Err)
	}
}

func TestCheckMappingHold(t *testing.T) {
	type keyErr struct{ key, msg string }
	with := func(change func(m *config.Mapping)) config.Source {
		m := ledgerMapping()
		change(m)
		return source(m)
	}
	tests := []struct {
		name string
		src  config.Source
		want []keyErr
	}{
		{"ledger", source(ledgerMapping()), nil},
		{"hold values", with(func(m *config.Mapping) { m.HoldValues = map[string]string{"X-RAY": "7H"} }), nil},
		{"hold values without hold", with(func(m *config.Mapping) { m.Hold = ""; m.HoldValues = map[string]string{"X-RAY": "7H"} }),
			[]keyErr{{"mapping.hold_values", "needs mapping.hold"}}},
		{"bad hold type", with(func(m *config.Mapping) {
			m.HoldValues = map[string]string{"X-RAY": "7 H", "B": strings.Repeat("h", 65)}
		}),
			[]keyErr{{"mapping.hold_values.B", "longer than 64"}, {"mapping.hold_values.X-RAY", "without spaces"}}},
		{"empty hold word", with(func(m *config.Mapping) { m.HoldValues = map[string]string{"": "7H"} }),
			[]keyErr{{"mapping.hold_values", "empty hold word"}}},
		{"typed release", with(func(m *config.Mapping) { m.StatusValues["R"] = "released:1C" }),
			[]keyErr{{"mapping.status_values.R", "only held and hold_removed take a hold type"}}},
		{"blank hold path", with(func(m *config.Mapping) { m.Hold = "  " }),
			[]keyErr{{"mapping.hold", "blank"}}},
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
			if _, err := adapters.NewDecoder(tt.src); (err == nil) != (len(tt.want) == 0) {
				t.Errorf("NewDecoder: %v", err)
			}
		})
	}
}
