package jsonfmt

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

// A manifest (DESIGN 3.6) decodes to its B/L and its normalised container
// list, without repeats; a manifest source's decoder gives manifest
// records.
func TestManifestDecode(t *testing.T) {
	payload, err := os.ReadFile("testdata/manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	dec, err := adapters.NewDecoder(config.Source{Kind: config.KindManifest, Format: "json"})
	if err != nil {
		t.Fatal(err)
	}
	recs := dec.Decode(payload)
	if len(recs) != 1 || recs[0].Err != nil || recs[0].Manifest == nil {
		t.Fatalf("records %+v", recs)
	}
	m := recs[0].Manifest
	if m.ID != "CUSCAR-7781" || m.BL != "MEDUSH123456" || !slices.Equal(m.Containers, []string{"MSCU1234566", "TGHU1234567"}) ||
		m.At.UTC().Format("15:04") != "00:00" {
		t.Fatalf("manifest %+v", m)
	}
}

func TestManifestDecodeRejects(t *testing.T) {
	tests := []struct {
		name, payload, want string
	}{
		{"no bl", `{"id":"M","containers":[],"at":"2026-11-27T08:00:00Z"}`, `"bl"`},
		{"bl too long", `{"id":"M","bl":"` + strings.Repeat("B", 71) + `","containers":[],"at":"2026-11-27T08:00:00Z"}`, `"bl"`},
		{"no containers", `{"id":"M","bl":"B","at":"2026-11-27T08:00:00Z"}`, `"containers"`},
		{"bad container", `{"id":"M","bl":"B","containers":["MSCU1234567"],"at":"2026-11-27T08:00:00Z"}`, "MSCU1234567"},
		{"no at", `{"id":"M","bl":"B","containers":[]}`, `"at"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeManifestEvent([]byte(tt.payload))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want one naming %s", err, tt.want)
			}
		})
	}
}

// An agency event may name a B/L and no containers; a TOS event may carry
// a bl.
func TestBLOnlyAgencyEventAndTOSBL(t *testing.T) {
	ev, err := DecodeAgencyEvent([]byte(`{"id":"R","agency":"customs","status":"released","bl":"MEDUSH123456","at":"2026-11-27T08:00:00Z"}`))
	if err != nil || ev.BL != "MEDUSH123456" || len(ev.Containers) != 0 {
		t.Fatalf("%+v %v", ev, err)
	}
	tos, err := DecodeTOSEvent([]byte(`{"id":"N","container":"MSCU1234566","event":"arrived","holds":[],"bl":"MEDUSH123456","at":"2026-11-27T08:00:00Z"}`))
	if err != nil || tos.BL != "MEDUSH123456" {
		t.Fatalf("%+v %v", tos, err)
	}
	if _, err := DecodeAgencyEvent([]byte(`{"id":"R","agency":"customs","status":"released","at":"2026-11-27T08:00:00Z"}`)); state.AsRejection(err).Code != state.CodeInvalidField {
		t.Fatalf("neither containers nor bl: %v", err)
	}
}
