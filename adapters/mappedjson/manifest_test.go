package mappedjson_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/adapters/mappedjson"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

// manifestMapping reads a carrier's manifest batch: one record per B/L,
// its containers in an array of objects, local Shanghai time stamps.
func manifestMapping() *config.Mapping {
	return &config.Mapping{
		Records:    "bills",
		ID:         "msgRef",
		BL:         "blNo",
		Containers: "equipment.#.cntrNo",
		At:         "issued",
		AtLayout:   "2006-01-02 15:04:05",
		AtZone:     "Asia/Shanghai",
	}
}

func manifestSource(m *config.Mapping) config.Source {
	return config.Source{Name: "manifests", Type: "file_drop", Kind: config.KindManifest, Format: "mapped_json", Keys: config.NewKeys(mappedjson.Config{Mapping: m})}
}

func TestManifestRecords(t *testing.T) {
	dec, err := adapters.NewDecoder(manifestSource(manifestMapping()))
	if err != nil {
		t.Fatal(err)
	}
	recs := dec.Decode([]byte(`{"bills":[
		{"msgRef":"M1","blNo":"MEDUSH1","issued":"2026-11-28 10:15:00","equipment":[{"cntrNo":"MSCU1234566"},{"cntrNo":"tghu 123456 7"},{"cntrNo":"MSCU1234566"}]},
		{"msgRef":"M2","blNo":"EMPTY1","issued":"2026-11-28 10:16:00","equipment":[]},
		{"msgRef":"M3","issued":"2026-11-28 10:16:00","equipment":[]},
		{"msgRef":"M4","blNo":"B4","issued":"2026-11-28 10:16:00"},
		{"msgRef":"M5","blNo":"B5","issued":"2026-11-28 10:16:00","equipment":[{"cntrNo":"MSCU1234567"}]},
		{"msgRef":"M6","blNo":"B6","issued":"2026-11-28 10:16:00","equipment":{"cntrNo":"MSCU1234566"}},
		{"msgRef":"M7","blNo":"` + strings.Repeat("B", 71) + `","issued":"2026-11-28 10:16:00","equipment":[]}
	]}`))
	if len(recs) != 7 {
		t.Fatalf("%d records: %+v", len(recs), recs)
	}
	sh, _ := time.LoadLocation("Asia/Shanghai")
	m := recs[0].Manifest
	if recs[0].Err != nil || m == nil || recs[0].Agency != nil {
		t.Fatalf("record 1: %+v", recs[0])
	}
	if m.ID != "M1" || m.BL != "MEDUSH1" || !slices.Equal(m.Containers, []string{"MSCU1234566", "TGHU1234567"}) ||
		!m.At.Equal(time.Date(2026, 11, 28, 10, 15, 0, 0, sh)) {
		t.Errorf("record 1: %+v", m)
	}
	if m := recs[1].Manifest; m == nil || m.BL != "EMPTY1" || len(m.Containers) != 0 {
		t.Errorf("record 2: a B/L with no containers: %+v %v", recs[1].Manifest, recs[1].Err)
	}
	for i, want := range []struct{ code, reason string }{
		2: {state.CodeInvalidField, `field "bl" (path "blNo"): required in a manifest`},
		3: {state.CodeInvalidField, `field "containers" (path "equipment.#.cntrNo"): required in a manifest`},
		4: {state.CodeBadCheckDigit, `field "containers" (path "equipment.#.cntrNo"): item 0`},
		5: {state.CodeInvalidField, `required in a manifest`}, // the path finds no array
		6: {state.CodeInvalidField, `field "bl" (path "blNo")`},
	} {
		if want.code == "" {
			continue
		}
		r := recs[i]
		rej, _ := r.Err.(*state.Rejection)
		if rej == nil || r.Manifest != nil || rej.Code != want.code || !strings.Contains(rej.Reason, want.reason) {
			t.Errorf("record %d: got %+v, want %s %q", i+1, r, want.code, want.reason)
		}
		if r.Position != fmt.Sprintf("record %d", i+1) {
			t.Errorf("record %d: position %q", i+1, r.Position)
		}
	}
}

func TestManifestTooManyContainers(t *testing.T) {
	dec, err := adapters.NewDecoder(manifestSource(&config.Mapping{ID: "id", BL: "bl", Containers: "containers", At: "at"}))
	if err != nil {
		t.Fatal(err)
	}
	list := make([]string, mappedjson.MaxManifestContainers+1)
	for i := range list {
		prefix := fmt.Sprintf("ABCU%06d", i)
		list[i] = fmt.Sprintf(`"%s%d"`, prefix, state.CheckDigit(prefix))
	}
	doc := func(n int) []byte {
		return []byte(`{"id":"1","bl":"B","at":"2026-11-28T10:15:00Z","containers":[` + strings.Join(list[:n], ",") + `]}`)
	}
	if recs := dec.Decode(doc(mappedjson.MaxManifestContainers)); recs[0].Err != nil || len(recs[0].Manifest.Containers) != mappedjson.MaxManifestContainers {
		t.Fatalf("10000 containers: %v", recs[0].Err)
	}
	recs := dec.Decode(doc(mappedjson.MaxManifestContainers + 1))
	if recs[0].Err == nil || !strings.Contains(recs[0].Err.Error(), "want at most 10000 container numbers, got 10001") {
		t.Fatalf("10001 containers: %+v", recs[0])
	}
}

func TestManifestMappingCheck(t *testing.T) {
	full := manifestMapping()
	full.Status = "st"
	full.StatusValues = map[string]string{"R": "released"}
	full.Hold = "h"
	full.Agency = "a"
	full.Declaration = "d"
	full.Reason = "r"
	errs := mappedjson.Check(manifestSource(full))
	var keys []string
	for _, e := range errs {
		keys = append(keys, e.Key)
		if !strings.Contains(e.Msg, "not used by a manifest source") {
			t.Errorf("%s: %s", e.Key, e.Msg)
		}
	}
	want := []string{"mapping.status", "mapping.status_values", "mapping.hold", "mapping.agency", "mapping.declaration", "mapping.reason"}
	if !slices.Equal(keys, want) {
		t.Errorf("keys %q, want %q", keys, want)
	}

	errs = mappedjson.Check(manifestSource(&config.Mapping{ID: "id", At: "at"}))
	keys = keys[:0]
	for _, e := range errs {
		keys = append(keys, e.Key)
	}
	if !slices.Equal(keys, []string{"mapping.bl", "mapping.containers"}) {
		t.Errorf("missing bl and containers: %+v", errs)
	}
	if errs := mappedjson.Check(manifestSource(manifestMapping())); len(errs) != 0 {
		t.Errorf("sound mapping: %+v", errs)
	}
	// No agency is needed: a manifest speaks for no agency.
	if _, err := adapters.NewDecoder(manifestSource(manifestMapping())); err != nil {
		t.Error(err)
	}
}

// A record with a bl and no containers is a decision on the whole B/L; a
// record with neither is refused.
func TestBLOnlyAgencyRecord(t *testing.T) {
	dec := newDecoder(t, singleMapping())
	recs := dec.Decode([]byte(`{"messageId":"1","clearance":{"status":"RELEASED","billOfLading":"MEDUSH1","releasedAt":"2026-11-28T10:15:00+08:00"}}`))
	ev := recs[0].Agency
	if recs[0].Err != nil || ev == nil || ev.BL != "MEDUSH1" || len(ev.Containers) != 0 || ev.Status != state.Released {
		t.Fatalf("B/L only: %+v %v", ev, recs[0].Err)
	}
	recs = dec.Decode([]byte(`{"messageId":"1","equipment":[],"clearance":{"status":"RELEASED","billOfLading":"MEDUSH1","releasedAt":"2026-11-28T10:15:00+08:00"}}`))
	if recs[0].Err != nil || recs[0].Agency.BL != "MEDUSH1" {
		t.Fatalf("B/L with an empty container array: %+v", recs[0])
	}
	recs = dec.Decode([]byte(`{"messageId":"1","clearance":{"status":"RELEASED","releasedAt":"2026-11-28T10:15:00+08:00"}}`))
	if recs[0].Err == nil || !strings.Contains(recs[0].Err.Error(), "or a bl") {
		t.Fatalf("neither: %+v", recs[0])
	}
}
