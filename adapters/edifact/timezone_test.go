package edifact

import (
	"os"
	"testing"

	"github.com/portsync/portsync/config"
)

// TestTimeZone: EDIFACT times carry no offset; a source's time_zone says
// where they were written.
func TestTimeZone(t *testing.T) {
	payload, err := os.ReadFile("testdata/release_single.edi")
	if err != nil {
		t.Fatal(err)
	}
	decode := func(zone string) string {
		dec, err := newDecoder(config.Source{Name: "cusres", Kind: config.KindAgency, Agency: "customs", Format: "edifact", Keys: config.NewKeys(Config{TimeZone: zone})})
		if err != nil {
			t.Fatal(err)
		}
		recs := dec.Decode(payload)
		if len(recs) != 1 || recs[0].Err != nil {
			t.Fatalf("decode: %+v", recs)
		}
		return recs[0].Agency.At.Format("-07:00")
	}
	if got := decode("Asia/Shanghai"); got != "+08:00" {
		t.Errorf("time_zone Asia/Shanghai: offset %s", got)
	}
	if got := decode("UTC"); got != "+00:00" {
		t.Errorf("time_zone UTC: offset %s", got)
	}
	if _, err := newDecoder(config.Source{Name: "cusres", Kind: config.KindAgency, Agency: "customs", Format: "edifact", Keys: config.NewKeys(Config{TimeZone: "Mars/Olympus"})}); err == nil {
		t.Error("an unknown time_zone was accepted")
	}
}
