package mappedxml_test

import (
	"slices"
	"testing"
	"time"
	_ "time/tzdata" // the tests name zones; hosts without zoneinfo still run them

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/adapters/mappedxml"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

func source(m *config.Mapping) config.Source {
	return config.Source{Name: "customs-xml", Type: "file_drop", Kind: "agency", Agency: "customs", Format: mappedxml.Format, Keys: config.NewKeys(mappedxml.Config{Mapping: m})}
}

func newDecoder(t testing.TB, m *config.Mapping) adapters.Decoder {
	t.Helper()
	dec, err := adapters.NewDecoder(source(m))
	if err != nil {
		t.Fatalf("NewDecoder: %v", err)
	}
	return dec
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// want is one expected record: an event, or a rejection's code and reason.
type want struct {
	position string
	event    *state.AgencyEvent
	code     string
	reason   string
}

func ok(position string, ev state.AgencyEvent) want {
	if ev.Agency == "" {
		ev.Agency = "customs"
	}
	return want{position: position, event: &ev}
}

func rejected(position, code, reason string) want {
	return want{position: position, code: code, reason: reason}
}

func checkRecords(t *testing.T, got []adapters.Record, wants []want) {
	t.Helper()
	if len(got) != len(wants) {
		for i, r := range got {
			t.Logf("record %d: %s %+v %v", i, r.Position, r.Agency, r.Err)
		}
		t.Fatalf("%d records, want %d", len(got), len(wants))
	}
	for i, w := range wants {
		r := got[i]
		if r.Position != w.position {
			t.Errorf("record %d: position %q, want %q", i, r.Position, w.position)
		}
		if r.TOS != nil {
			t.Errorf("record %d: a TOS event from an agency format", i)
		}
		if w.event == nil {
			rej, isRej := r.Err.(*state.Rejection)
			if !isRej || r.Agency != nil {
				t.Errorf("record %d: got %+v, %v; want rejection %s: %s", i, r.Agency, r.Err, w.code, w.reason)
				continue
			}
			if rej.Code != w.code || rej.Reason != w.reason {
				t.Errorf("record %d: rejection\n got  %s: %s\n want %s: %s", i, rej.Code, rej.Reason, w.code, w.reason)
			}
			continue
		}
		if r.Err != nil || r.Agency == nil {
			t.Errorf("record %d: got %+v, %v; want %+v", i, r.Agency, r.Err, *w.event)
			continue
		}
		checkEvent(t, i, r.Agency, w.event)
	}
}

func checkEvent(t *testing.T, i int, got, w *state.AgencyEvent) {
	t.Helper()
	g := *got
	if !g.At.Equal(w.At) {
		t.Errorf("record %d: at %v, want %v", i, g.At, w.At)
	}
	g.At = w.At
	if g.ID != w.ID || g.Agency != w.Agency || g.Status != w.Status || g.Hold != w.Hold || !slices.Equal(g.Containers, w.Containers) ||
		g.BL != w.BL || g.Declaration != w.Declaration || g.Reason != w.Reason {
		t.Errorf("record %d:\n got  %+v\n want %+v", i, g, *w)
	}
}

// hookRegistry is the registry as config validation sees it: every source
// and sink type is known, and a source's format settings are checked by
// Check.
type hookRegistry struct{}

func (hookRegistry) CheckSource(s config.Source) (bool, []config.KeyError) {
	return true, mappedxml.Check(s)
}
func (hookRegistry) CheckSink(config.Sink) (bool, []config.KeyError)    { return true, nil }
func (hookRegistry) CheckChannel(config.Sink) (bool, []config.KeyError) { return true, nil }
func (hookRegistry) CheckSnapshot(config.Sink) []config.KeyError        { return nil }
func (hookRegistry) HasFormat(name string) bool                         { return name == "json" || name == mappedxml.Format }

// configHead is the rest of a minimal configuration around a list of
// sources.
const configHead = `terminal: CNSHA-T1
state_dir: /var/lib/portsync
agencies:
  customs: {tos_hold: CUSTOMS}
tos:
  sink: {type: http, url: "http://tos.local/api/commands"}
`

// parseSources parses sources (a "sources:" block) in a minimal
// configuration and returns its first source.
func parseSources(t testing.TB, sources string) config.Source {
	t.Helper()
	c, err := config.Parse("portsync.yaml", []byte(configHead+sources), hookRegistry{})
	if err != nil {
		t.Fatalf("configuration does not parse:\n%v", err)
	}
	return c.Sources[0]
}
