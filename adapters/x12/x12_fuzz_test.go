package x12

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/adapters/jsonfmt"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

// decodeCodes are the rejection codes a decoder may give (DESIGN 6);
// forbidden_agency and too_large are the engine's and the transport's.
var decodeCodes = []string{state.CodeMalformed, state.CodeInvalidField, state.CodeBadCheckDigit}

// FuzzX12350 checks, for any payload: Decode returns at least one record;
// each record is an event or a *state.Rejection with a decoder code and a
// reason, never both, and locates itself; events are valid agency events
// of the source's agency with unique ids; decoding is deterministic; and an
// interchange whose envelope checks out decodes the same when written again
// with other separators.
//
// The seed corpus is testdata/*.x12 (added here) and
// testdata/fuzz/FuzzX12350.
func FuzzX12350(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.x12")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	// Issue 9: references and text too long to store.
	f.Add(interchange350("P4*2704", "X4*"+strings.Repeat("B", 40<<10)+"*1**"+strings.Repeat("7", 71)+"*20261128*1015*1C**MSCU", "N7*MSCU*1234566", "K1*"+strings.Repeat("r", 1<<20)))
	f.Add(interchange350("P4*2704", "X4**1***99991231*2359*1C**MSCU********NT", "N9*MB*"+strings.Repeat("M", 71), "N7*MSCU*1234566"))
	cfg := source()
	cfg.Keys = config.NewKeys(Config{StatusCodes: map[string]string{"1I": "released"}})
	dec, err := New(cfg)
	if err != nil {
		f.Fatal(err)
	}
	d := dec.(*decoder)
	d.zone = timeCodes["ET"] // the daemon's zone, fixed for the fuzzer

	f.Fuzz(func(t *testing.T, payload []byte) {
		recs := d.Decode(payload)
		if len(recs) == 0 {
			t.Fatal("no record: the payload would vanish without a dead letter")
		}
		ids := map[string]*state.AgencyEvent{}
		for i, r := range recs {
			if r.TOS != nil {
				t.Fatalf("record %d: a TOS event", i)
			}
			if (r.Agency == nil) == (r.Err == nil) {
				t.Fatalf("record %d: event %+v and error %v: want exactly one", i, r.Agency, r.Err)
			}
			if r.Err != nil {
				checkRejection(t, r.Err)
				if r.Position == "" && !strings.Contains(r.Err.Error(), "payload") {
					t.Fatalf("record %d: rejection %v without a position", i, r.Err)
				}
				continue
			}
			if !strings.HasPrefix(r.Position, "transaction ") {
				t.Fatalf("record %d: event at position %q", i, r.Position)
			}
			ev := r.Agency
			// A hold's id names the hold (holdID), so the same hold
			// twice has one id; any other id is unique in the message.
			if prev, dup := ids[ev.ID]; ev.ID == "" || len(ev.ID) > 256 ||
				dup && (ev.Status != state.Held || prev.Status != state.Held || prev.Hold != ev.Hold || !prev.At.Equal(ev.At) || !slices.Equal(prev.Containers, ev.Containers)) {
				t.Fatalf("record %d: id %q empty, too long or repeated", i, ev.ID)
			}
			ids[ev.ID] = ev
			if ev.Agency != "customs" {
				t.Fatalf("record %d: agency %q", i, ev.Agency)
			}
			if !jsonfmt.IsStatus(ev.Status) || ev.Hold != "" && !jsonfmt.TakesHold(ev.Status) || len(ev.Hold) > state.MaxHoldLen {
				t.Fatalf("record %d: status %q hold %q", i, ev.Status, ev.Hold)
			}
			if n := len(ev.Containers); n == 0 && ev.BL == "" || n > MaxContainers {
				t.Fatalf("record %d: %d containers", i, n)
			}
			for j, c := range ev.Containers {
				if id, err := state.ParseContainer(c); err != nil || id != c {
					t.Fatalf("record %d: container %q: ParseContainer = %q, %v", i, c, id, err)
				}
				if slices.Contains(ev.Containers[:j], c) {
					t.Fatalf("record %d: container %q twice", i, c)
				}
			}
			if ev.At.IsZero() || ev.At.Year() < 1970 || ev.At.Year() > 9999 {
				t.Fatalf("record %d: at %v", i, ev.At)
			}
			if _, off := ev.At.Zone(); off > 23*3600+59*60 || off < -(23*3600+59*60) {
				t.Fatalf("record %d: at %v: offset %ds outside ±23:59", i, ev.At, off)
			}
			if len(ev.BL) > state.MaxRefLen || len(ev.Declaration) > state.MaxRefLen || len(ev.Reason) > state.MaxReasonLen+64 {
				t.Fatalf("record %d: bl, declaration and reason of %d, %d and %d bytes", i, len(ev.BL), len(ev.Declaration), len(ev.Reason))
			}
			if _, err := json.Marshal(ev); err != nil {
				t.Fatalf("record %d: marshal: %v", i, err)
			}
			if !strings.HasPrefix(ev.Reason, "disposition ") {
				t.Fatalf("record %d: reason %q", i, ev.Reason)
			}
		}

		if again := d.Decode(payload); !reflect.DeepEqual(recs, again) {
			t.Fatalf("decoding twice differs:\n%+v\n%+v", recs, again)
		}

		// Written again with other separators, an interchange whose envelope
		// checked out says the same.
		items, kept := parseMessage(payload)
		ics := make([]*interchange, 0, len(items))
		for _, it := range items {
			if it.ic == nil {
				return
			}
			ics = append(ics, it.ic)
		}
		other, ok := rewrite(ics, kept)
		if !ok {
			return
		}
		recs2 := d.Decode(other)
		if len(recs2) != len(recs) {
			t.Fatalf("rewritten with other separators: %d records, want %d\n%q", len(recs2), len(recs), other)
		}
		for i := range recs {
			a, b := recs[i], recs2[i]
			if a.Position != b.Position || !reflect.DeepEqual(a.Agency, b.Agency) ||
				(a.Err == nil) != (b.Err == nil) || a.Err != nil && a.Err.Error() != b.Err.Error() {
				t.Fatalf("rewritten with other separators: record %d is %+v (%v), want %+v (%v)\n%q", i, b, b.Err, a, a.Err, other)
			}
		}
	})
}

// parseMessage reads a payload as the decoder does, keeping every
// transaction set of each group for rewrite.
func parseMessage(payload []byte) ([]parsed, map[*group][]*transaction) {
	kept := map[*group][]*transaction{}
	var out []parsed
	readMessage(bytes.NewReader(payload), func(_ *interchange, g *group, t *transaction) []adapters.Record {
		kept[g] = append(kept[g], t)
		return nil
	}, func(p parsed) { out = append(out, p) })
	return out, kept
}

// checkRejection checks the properties every decode error must have.
func checkRejection(t *testing.T, err error) {
	t.Helper()
	rej, ok := err.(*state.Rejection)
	if !ok {
		var wrapped *state.Rejection
		if errors.As(err, &wrapped) {
			t.Fatalf("error %T wraps a rejection, want a *state.Rejection itself: %v", err, err)
		}
		t.Fatalf("error %T is not a *state.Rejection: %v", err, err)
	}
	if !slices.Contains(decodeCodes, rej.Code) {
		t.Fatalf("code %q is not one of %q (reason %q)", rej.Code, decodeCodes, rej.Reason)
	}
	if strings.TrimSpace(rej.Reason) == "" {
		t.Fatalf("code %q with an empty reason", rej.Code)
	}
}

// rewrite writes interchanges again with separators none of their data
// uses; ok is false when no such set is left.
func rewrite(ics []*interchange, kept map[*group][]*transaction) (out []byte, ok bool) {
	used := map[byte]bool{}
	each := func(f func(s *segment)) {
		for _, ic := range ics {
			f(ic.isa)
			for _, g := range ic.groups {
				f(g.gs)
				for _, tx := range kept[g] {
					for _, s := range tx.segs {
						f(s)
					}
				}
				f(g.ge)
			}
			f(ic.iea)
		}
	}
	each(func(s *segment) {
		for _, e := range s.elems {
			for i := 0; i < len(e); i++ {
				used[e[i]] = true
			}
		}
	})
	pick := func() (byte, bool) {
		for _, c := range []byte("|^!{}#$%&;?@`\\~*:+<>=[]\x1c\x1d\x1e\x1f") {
			if !used[c] {
				used[c] = true
				return c, true
			}
		}
		return 0, false
	}
	var d delimiters
	var okE, okC, okR, okS bool
	d.element, okE = pick()
	d.component, okC = pick()
	d.repetition, okR = pick()
	d.segment, okS = pick()
	if !okE || !okC || !okR || !okS {
		return nil, false
	}
	var b strings.Builder
	for _, ic := range ics {
		isa := slices.Clone(ic.isa.elems)
		if ic.delims.repetition != 0 {
			isa[11] = string(d.repetition)
		}
		isa[16] = string(d.component)
		b.WriteString(strings.Join(isa, string(d.element)))
		b.WriteByte(d.segment)
		write := func(s *segment) {
			b.WriteString(strings.Join(s.elems, string(d.element)))
			b.WriteByte(d.segment)
		}
		for _, g := range ic.groups {
			write(g.gs)
			for _, tx := range kept[g] {
				for _, s := range tx.segs {
					write(s)
				}
			}
			write(g.ge)
		}
		write(ic.iea)
		b.WriteByte('\n')
	}
	return []byte(b.String()), true
}
