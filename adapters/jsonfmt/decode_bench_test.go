package jsonfmt_test

import (
	"encoding/json"
	"testing"

	"github.com/portsync/portsync/adapters/jsonfmt"
)

// BenchmarkDecodeAgencyEvent puts the decoder (strict checks, every field
// validated) beside json.Unmarshal of the same event into a plain struct,
// which checks nothing: the floor of any decoder built on encoding/json.
//
//	go test -run XXX -bench DecodeAgencyEvent -benchmem ./adapters/jsonfmt/
func BenchmarkDecodeAgencyEvent(b *testing.B) {
	payload := []byte(agencyExample)
	var plain struct {
		ID, Agency, Status, BL, Declaration, Reason, At string
		Containers                                      []string
	}
	b.Run("json.Unmarshal", func(b *testing.B) {
		b.SetBytes(int64(len(payload)))
		for b.Loop() {
			if err := json.Unmarshal(payload, &plain); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("DecodeAgencyEvent", func(b *testing.B) {
		b.SetBytes(int64(len(payload)))
		for b.Loop() {
			if _, err := jsonfmt.DecodeAgencyEvent(payload); err != nil {
				b.Fatal(err)
			}
		}
	})
}
