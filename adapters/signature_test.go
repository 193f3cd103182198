package adapters_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/portsync/portsync/adapters"
	_ "github.com/portsync/portsync/adapters/jsonfmt"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

const release = `{"id":"REL-1","agency":"customs","status":"released","containers":["MSCU1234566"],"at":"2026-11-28T10:15:00+08:00"}`

func TestSignedDecoder(t *testing.T) {
	inner, err := adapters.NewDecoder(config.Source{Name: "customs", Kind: config.KindAgency, Format: "json"})
	if err != nil {
		t.Fatal(err)
	}
	key := []byte("k3y")
	dec := adapters.Signed(inner, key)
	signed := adapters.Sign([]byte(release), key)
	forged := strings.Replace(string(signed), `"released"`, `"held"`, 1)
	cases := []struct {
		name    string
		payload string
		code    string // "" for a clean decode
	}{
		{"signed", string(signed), ""},
		{"unsigned", release, adapters.CodeBadSignature},
		{"signed with another key", string(adapters.Sign([]byte(release), []byte("other"))), adapters.CodeBadSignature},
		{"event changed after signing", forged, adapters.CodeBadSignature},
		{"signature not hex", `{"event":` + release + `,"hmac_sha256":"zz"}`, adapters.CodeBadSignature},
		{"not JSON", `release me`, adapters.CodeBadSignature},
		{"signed but invalid event", string(adapters.Sign([]byte(`{"id":"x"}`), key)), state.CodeInvalidField},
		// A second "event" before the signed one: encoding/json reads the
		// last, a reader that keeps the first (gjson) would see a hold.
		{"two events, the signed one last", `{"event":` + strings.Replace(release, "released", "held", 1) + `,` + string(signed[1:]), state.CodeMalformed},
		{"two signatures", strings.TrimSuffix(string(signed), "}") + `,"hmac_sha256":"00"}`, state.CodeMalformed},
		{"signed event with a repeated key", string(adapters.Sign([]byte(strings.TrimSuffix(release, "}")+`,"status":"held"}`), key)), state.CodeMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			recs := dec.Decode([]byte(tc.payload))
			if len(recs) != 1 {
				t.Fatalf("got %d records", len(recs))
			}
			r := recs[0]
			if tc.code == "" {
				if r.Err != nil || r.Agency == nil || r.Agency.ID != "REL-1" {
					t.Fatalf("want the event, got %+v", r)
				}
				return
			}
			var rej *state.Rejection
			if !errors.As(r.Err, &rej) || rej.Code != tc.code {
				t.Fatalf("want rejection %s, got %v", tc.code, r.Err)
			}
			if rej.Reason == "" {
				t.Fatal("empty reason")
			}
			if rej.Code == state.CodeMalformed && !strings.Contains(rej.Reason, "duplicate key") {
				t.Fatalf("reason %q names no repeated key", rej.Reason)
			}
		})
	}
}
