package sync

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

// The integrated status lists each configured agency's open hold types,
// sorted, [] where none is open; the general hold is "".
func TestViewListsOpenHoldsPerAgency(t *testing.T) {
	at := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	p := newPolicy(policy{Agencies: map[string]config.Agency{
		"customs": {TOSHold: "CUSTOMS", HoldCodes: map[string]string{"7H": "CBP_EXAM"}}, "quarantine": {TOSHold: "CIQ"}, "port": {TOSHold: "PORT"},
	}, Required: []string{"customs"}})
	c := state.Container{ID: c1, Presence: state.InYard, Agencies: map[string]state.AgencyState{
		"customs": {Status: state.Held, Release: state.LedgerEntry{State: state.ReleaseGranted, At: at},
			Holds: map[string]state.LedgerEntry{
				"7H": {State: state.HoldOpen, At: at}, "1H": {State: state.HoldLifted, At: at}, "": {State: state.HoldOpen, At: at},
			}},
		// Stored before the ledger: one status, which stands for the
		// general hold.
		"quarantine": {Status: state.Held, At: at, EventID: "OLD"},
	}}
	v := newView(&c, p)
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	want := `"holds":{"customs":["","7H"],"port":[],"quarantine":[""]}`
	if !strings.Contains(string(data), want) {
		t.Fatalf("view %s\nwant it to contain %s", data, want)
	}
}
