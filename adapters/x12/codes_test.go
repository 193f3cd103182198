package x12

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

// ledger is the agency ledger of DESIGN 1 for one container, as a test
// model: the release (released or revoked) and the holds by type, each
// with the time of the event that last set it; stale events change
// nothing, ties go to the stricter status, and an untyped release lifts
// the general hold when strictly newer.
type ledger struct {
	rel    state.Status
	relAt  time.Time
	holds  map[string]bool
	holdAt map[string]time.Time
}

func newLedger() *ledger {
	return &ledger{holds: map[string]bool{}, holdAt: map[string]time.Time{}}
}

func (l *ledger) apply(ev *state.AgencyEvent) {
	switch ev.Status {
	case state.Released, state.Revoked:
		if l.rel == "" || ev.At.After(l.relAt) || ev.At.Equal(l.relAt) && ev.Status == state.Revoked {
			l.rel, l.relAt = ev.Status, ev.At
		}
		if ev.Status == state.Released && ev.Hold == "" {
			// It sets the general hold's entry even when none was
			// placed yet, so an older hold arriving later is stale:
			// latest wins, whatever the order of delivery.
			if at, ok := l.holdAt[""]; !ok || ev.At.After(at) {
				l.holds[""], l.holdAt[""] = false, ev.At
			}
		}
	case state.Held, state.HoldRemoved:
		at, ok := l.holdAt[ev.Hold]
		if !ok || ev.At.After(at) || ev.At.Equal(at) && ev.Status == state.Held {
			l.holds[ev.Hold], l.holdAt[ev.Hold] = ev.Status == state.Held, ev.At
		}
	}
}

func (l *ledger) status() state.Status {
	for _, open := range l.holds {
		if open {
			return state.Held
		}
	}
	switch l.rel {
	case state.Revoked:
		return state.Held
	case state.Released:
		return state.Released
	}
	return state.Unknown
}

// x4 is one disposition of MSCU1234566 on bill B1 at 2026-11-28 hh:mm.
func x4(code, hhmm string, extra ...string) []string {
	seg := "X4*B1*1***20261128*" + hhmm + "*" + code + "**MSCU"
	if len(extra) > 0 {
		seg += "*" + strings.Join(extra, "*")
	}
	return []string{seg, "N7*MSCU*1234566"}
}

func body(x4s ...[]string) []string {
	out := []string{"P4*2704"}
	for _, x := range x4s {
		out = append(out, x...)
	}
	return out
}

// TestDefaultCodes: each default code decodes to its status and hold type
// (issue 11), named from CBP's list.
func TestDefaultCodes(t *testing.T) {
	d := newDecoder(t, source())
	for _, tt := range []struct {
		code   string
		status state.Status
		hold   string
		name   string
	}{
		{"1C", state.Released, "", "entered and released"},
		{"1B", state.Released, "", "released: intensive examination completed"},
		{"4C", state.Released, "", "override"},
		{"1J", state.Released, "", "in-bond movement authorized"},
		{"1W", state.Released, "", "within-port transfer"},
		{"1A", state.Held, "", "intensive examination required"},
		{"1H", state.Held, "1H", "customs hold placed at port of discharge"},
		{"1I", state.HoldRemoved, "1H", "customs hold removed at port of discharge"},
		{"1G", state.Held, "1G", "customs hold placed at port of in-bond destination"},
		{"1F", state.HoldRemoved, "1G", "customs hold removed at port of in-bond destination"},
		{"2H", state.Held, "2H", "USDA"},
		{"2I", state.HoldRemoved, "2H", "USDA"},
		{"3H", state.Held, "3H", "other government agency"},
		{"3I", state.HoldRemoved, "3H", "other government agency"},
		{"5H", state.Held, "5H", "entry processing hold"},
		{"5I", state.HoldRemoved, "5H", "entry processing hold removed"},
		{"7H", state.Held, "7H", "NII"},
		{"7I", state.HoldRemoved, "7H", "NII exam completed"},
		{"71", state.Held, "71", "USDA intensive hold placed"},
		{"74", state.HoldRemoved, "71", "USDA intensive hold removed"},
		{"72", state.Held, "72", "inspection/document review"},
		{"75", state.HoldRemoved, "72", "inspection/document review"},
		{"73", state.Held, "73", "fumigation"},
		{"76", state.HoldRemoved, "73", "fumigation"},
		{"4A", state.Revoked, "", "earlier release withdrawn"},
		{"4E", state.Revoked, "", "entry cancelled"},
		{"83", state.Revoked, "", "PTT cancelled"},
	} {
		recs := d.Decode(interchange350(body(x4(tt.code, "1015"))...))
		if len(recs) != 1 || recs[0].Agency == nil {
			t.Errorf("%s: %+v", tt.code, recs)
			continue
		}
		ev := recs[0].Agency
		if ev.Status != tt.status || ev.Hold != tt.hold || !strings.Contains(ev.Reason, tt.name) {
			t.Errorf("%s: %s %q %q, want %s %q ...%s...", tt.code, ev.Status, ev.Hold, ev.Reason, tt.status, tt.hold, tt.name)
		}
	}
}

// TestDispositionSequences: what a terminal must do after CBP's
// dispositions, through the ledger of DESIGN 1.
func TestDispositionSequences(t *testing.T) {
	d := newDecoder(t, source())
	for _, tt := range []struct {
		name  string
		codes []string // in time order, a minute apart
		want  state.Status
	}{
		{"release", []string{"1C"}, state.Released},
		{"hold placed after release", []string{"1C", "1H"}, state.Held},
		{"hold removed after release", []string{"1C", "1H", "1I"}, state.Released},
		{"release does not lift a typed hold", []string{"1H", "1C"}, state.Held},
		{"removal never releases", []string{"1H", "1I"}, state.Unknown},
		{"removal of another type", []string{"1C", "1H", "7I"}, state.Held},
		{"exam then release", []string{"1A", "1B"}, state.Released},
		{"release withdrawn", []string{"1C", "4A"}, state.Held},
		{"entry cancelled", []string{"1C", "4E"}, state.Held},
		{"PTT cancelled", []string{"1W", "83"}, state.Held},
		{"released again after override", []string{"1C", "4A", "1C"}, state.Released},
		{"two holds, one removed", []string{"1C", "7H", "2H", "7I"}, state.Held},
		{"two holds, both removed", []string{"1C", "7H", "2H", "7I", "2I"}, state.Released},
		{"in-bond hold and removal", []string{"1J", "1G", "1F"}, state.Released},
		{"USDA pairs", []string{"1C", "71", "72", "73", "74", "75", "76"}, state.Released},
		{"USDA removal of the wrong hold", []string{"1C", "71", "75"}, state.Held},
	} {
		l := newLedger()
		for i, code := range tt.codes {
			hhmm := time.Date(2026, 11, 28, 10, i, 0, 0, time.UTC).Format("1504")
			recs := d.Decode(interchange350(body(x4(code, hhmm))...))
			if len(recs) != 1 || recs[0].Agency == nil {
				t.Fatalf("%s: %s: %+v", tt.name, code, recs)
			}
			l.apply(recs[0].Agency)
		}
		if got := l.status(); got != tt.want {
			t.Errorf("%s %q: %s, want %s", tt.name, tt.codes, got, tt.want)
		}
	}
}

// TestInformationalCodes: advisories of CBP's list that neither release
// nor hold are recognised and give no event; the message is not a dead
// letter. An unknown code still is.
func TestInformationalCodes(t *testing.T) {
	d := newDecoder(t, source())
	recs := d.Decode(interchange350(body(x4("19", "0900"), x4("1C", "1015"), x4("3Z", "1016"))...))
	if len(recs) != 1 || recs[0].Agency == nil || recs[0].Agency.Status != state.Released || recs[0].Position != "transaction 1 (segment 5)" {
		t.Fatalf("19, 1C, 3Z: %+v", recs)
	}
	if recs := d.Decode(interchange350(body(x4("11", "0900"), x4("1Y", "0901"))...)); len(recs) != 0 {
		t.Errorf("informational only: %+v, want no record", recs)
	}
	recs = d.Decode(interchange350(body(x4("Z9", "0900"))...))
	if len(recs) != 1 || recs[0].Err == nil || !strings.Contains(recs[0].Err.Error(), `"Z9" is not in this source's disposition table`) {
		t.Errorf("unknown code: %+v", recs)
	}
}

// TestN718CheckDigit: a container whose check digit is in N718 (data
// element 761, equipment number check digit) rather than at the end of
// N702 is the same container.
func TestN718CheckDigit(t *testing.T) {
	d := newDecoder(t, source())
	check(t, d.Decode(interchange350("P4*2704", "X4*B1*1***20261128*1015*1C", "N7*MSCU*123456****************6")), []want{{
		pos: "transaction 1 (segment 3)", id: "CBPACE:000000042:42:0001:1", status: state.Released,
		containers: []string{"MSCU1234566"}, at: "2026-11-28T10:15:00Z", bl: "B1", why: "1C",
	}})
	// Both: they must agree.
	check(t, d.Decode(interchange350("P4*2704", "X4*B1*1***20261128*1015*1C", "N7*MSCU*1234566****************6")), []want{{
		pos: "transaction 1 (segment 3)", id: "CBPACE:000000042:42:0001:1", status: state.Released,
		containers: []string{"MSCU1234566"}, at: "2026-11-28T10:15:00Z", bl: "B1", why: "1C",
	}})
	check(t, d.Decode(interchange350("P4*2704", "X4*B1*1***20261128*1015*1C", "N7*MSCU*1234566****************5")), []want{{
		pos: "transaction 1 (segment 4)", code: state.CodeInvalidField, reason: []string{"N718", `"5"`, "N702"},
	}})
	// A wrong check digit in N718 is a wrong check digit.
	check(t, d.Decode(interchange350("P4*2704", "X4*B1*1***20261128*1015*1C", "N7*MSCU*123456****************7")), []want{{
		pos: "transaction 1 (segment 4)", code: state.CodeBadCheckDigit, reason: []string{"N701/N702/N718", "right digit for MSCU123456 is 6"},
	}})
}

// TestResentHold: CBP re-sends a hold that is still in force with X420 =
// Y (data element 1073) when a bill's port of discharge or vessel changes
// (CSMS 12-000148). The re-sent hold has the id of the original, so the
// engine counts it a duplicate; a new hold of the same type at another
// time is a new event.
func TestResentHold(t *testing.T) {
	d := newDecoder(t, source())
	orig := d.Decode(interchange350(body(x4("1H", "1015"))...))
	resent := d.Decode(envelopeN("000000077", "77", [][]string{body(x4("1H", "1015", append(make([]string, 10), "Y")...))}))
	later := d.Decode(envelopeN("000000078", "78", [][]string{body(x4("1H", "1130"))}))
	if len(orig) != 1 || len(resent) != 1 || len(later) != 1 || orig[0].Agency == nil || resent[0].Agency == nil || later[0].Agency == nil {
		t.Fatalf("records %+v %+v %+v", orig, resent, later)
	}
	if o, r := orig[0].Agency, resent[0].Agency; o.ID != r.ID || r.Status != state.Held || r.Hold != "1H" {
		t.Errorf("re-sent hold: id %q, status %s %q; want the original's id %q", r.ID, r.Status, r.Hold, o.ID)
	}
	if !strings.Contains(resent[0].Agency.Reason, "re-sent") {
		t.Errorf("re-sent hold's reason %q does not say so", resent[0].Agency.Reason)
	}
	if later[0].Agency.ID == orig[0].Agency.ID {
		t.Errorf("a new 1H at another time has the original's id %q", orig[0].Agency.ID)
	}
	// A release keeps the id of its place in the interchange.
	rel := d.Decode(interchange350(body(x4("1C", "1015"))...))
	if rel[0].Agency == nil || rel[0].Agency.ID != "CBPACE:000000042:42:0001:1" {
		t.Errorf("release id: %+v", rel[0])
	}
}

// envelopeN is envelope with its own interchange and group control numbers.
func envelopeN(isa13, gs06 string, txs [][]string) []byte {
	s := string(envelope("P", txs))
	s = strings.ReplaceAll(s, "000000042", isa13)
	s = strings.Replace(s, "*1015*42*X", "*1015*"+gs06+"*X", 1)
	s = strings.Replace(s, "GE*"+strconv.Itoa(len(txs))+"*42", "GE*"+strconv.Itoa(len(txs))+"*"+gs06, 1)
	return []byte(s)
}

// TestStatusCodesTyped: status_codes map a code to any status of DESIGN
// 3.1, with a hold type, or to info.
func TestStatusCodesTyped(t *testing.T) {
	cfg := source()
	cfg.Keys = config.NewKeys(Config{StatusCodes: map[string]string{"X1": "held:X1", "X2": "hold_removed:X1", "X3": "revoked", "X4": "info", "1H": "held"}})
	d := newDecoder(t, cfg)
	for _, tt := range []struct {
		code   string
		status state.Status
		hold   string
	}{
		{"X1", state.Held, "X1"}, {"X2", state.HoldRemoved, "X1"}, {"X3", state.Revoked, ""}, {"1H", state.Held, ""}, {"1I", state.HoldRemoved, "1H"},
	} {
		recs := d.Decode(interchange350(body(x4(tt.code, "1015"))...))
		if len(recs) != 1 || recs[0].Agency == nil || recs[0].Agency.Status != tt.status || recs[0].Agency.Hold != tt.hold {
			t.Errorf("%s: %+v, want %s %q", tt.code, recs, tt.status, tt.hold)
		}
	}
	if recs := d.Decode(interchange350(body(x4("X4", "1015"))...)); len(recs) != 0 {
		t.Errorf("X4 mapped to info: %+v", recs)
	}
	for spec, msg := range map[string]string{
		"released:1C": "only held and hold_removed take a hold type",
		"held:":       "empty",
		"held:a b":    "without spaces",
		"ignore":      "info",
	} {
		cfg := source()
		cfg.Keys = config.NewKeys(Config{StatusCodes: map[string]string{"1C": spec}})
		errs := Check(cfg)
		if len(errs) != 1 || errs[0].Key != "status_codes.1C" || !strings.Contains(errs[0].Msg, msg) {
			t.Errorf("status_codes 1C: %q: %q, want ...%s...", spec, errs, msg)
		}
	}
}
