package daemon

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portsync/portsync/state"
	"github.com/portsync/portsync/sync"
	"github.com/portsync/portsync/sync/httpapi"
)

// agencyHold publishes an agency event with a hold type.
func (h *harness) agencyHold(id, agency string, st state.Status, hold, at string, containers ...string) {
	topic := map[string]string{"customs": "customs/releases", "quarantine": "ciq/releases"}[agency]
	ev := map[string]any{"id": id, "agency": agency, "status": st, "containers": containers, "at": at}
	if hold != "" {
		ev["hold"] = hold
	}
	h.publish(topic, ev)
}

// withHoldCodes maps customs' 7H to the TOS code CBP_EXAM.
func withHoldCodes(y string) string {
	return strings.Replace(y, "customs:    {tos_hold: CUSTOMS}", "customs:    {tos_hold: CUSTOMS, hold_codes: {7H: CBP_EXAM}}", 1)
}

// withOverrideToken sets http.token_file and http.override_token_file to
// files holding api and override.
func withOverrideToken(t *testing.T, api, override string) func(string) string {
	dir := t.TempDir()
	apiFile, overrideFile := filepath.Join(dir, "api.token"), filepath.Join(dir, "override.token")
	for f, tok := range map[string]string{apiFile: api, overrideFile: override} {
		if err := os.WriteFile(f, []byte(tok+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return func(y string) string {
		return strings.Replace(y, `http: {listen: "127.0.0.1:0"}`,
			fmt.Sprintf(`http: {listen: "127.0.0.1:0", token_file: %s, override_token_file: %s}`, apiFile, overrideFile), 1)
	}
}

// (a) A typed hold mapped by hold_codes wants its own TOS code beside a
// standing release: the TOS gets release_hold CUSTOMS and add_hold
// CBP_EXAM, and hold_removed 7H releases CBP_EXAM.
func TestLedgerTypedHoldOverMQTT(t *testing.T) {
	h := newHarness(t, withHoldCodes)
	h.tos("N4-1", c1, state.TOSArrived, "2026-11-28T10:00:00+08:00", "CUSTOMS")
	h.agencyHold("REL-1", "customs", state.Released, "", "2026-11-28T10:05:00+08:00", c1)
	h.agencyHold("7H-1", "customs", state.Held, "7H", "2026-11-28T10:06:00+08:00", c1)
	rel := h.waitCommand(c1, state.ReleaseHold, "CUSTOMS")
	add := h.waitCommand(c1, state.AddHold, "CBP_EXAM")
	if rel.Cause != "REL-1" || add.Cause != "7H-1" || add.Agency != "customs" {
		t.Fatalf("release %+v, add %+v: want causes REL-1 and 7H-1", rel, add)
	}
	v := h.itWaitStatus(c1, "7H open in the status", func(v sync.View) bool {
		return slices.Equal(v.Holds["customs"], []string{"7H"})
	})
	if v.Cleared || v.Agencies["customs"] != state.Held || v.Holds["quarantine"] == nil {
		t.Fatalf("status %+v: want customs held by 7H, not cleared, quarantine listed with no holds", v)
	}
	h.tos("N4-2", c1, state.TOSHolds, "2026-11-28T10:07:00+08:00", "CBP_EXAM")
	h.eventually("both commands confirmed", func() bool {
		d := h.container(c1)
		return len(d.PendingCommands) == 0 && !d.Mismatch
	})

	h.agencyHold("7H-2", "customs", state.HoldRemoved, "7H", "2026-11-28T11:00:00+08:00", c1)
	if cmd := h.waitCommand(c1, state.ReleaseHold, "CBP_EXAM"); cmd.Cause != "7H-2" {
		t.Fatalf("release of CBP_EXAM %+v, want cause 7H-2", cmd)
	}
	d := h.container(c1)
	if d.Agencies["customs"] != state.Released || len(d.Holds["customs"]) != 0 {
		t.Fatalf("after hold_removed: agencies %v holds %v", d.Agencies, d.Holds)
	}
	if e := d.AgencyDetail["customs"].Holds["7H"]; e.State != state.HoldLifted || e.EventID != "7H-2" {
		t.Fatalf("ledger 7H %+v, want removed by 7H-2", e)
	}
	for _, c := range h.commands(c1) {
		if c.Action == state.AddHold && c.Hold == "CUSTOMS" {
			t.Fatalf("a standing release plus 7H wanted CUSTOMS too: %+v", c)
		}
	}
}

// (b) A release does not lift a typed hold: 1H at 07:00, release at 09:15
// with no 1H removal, and the container stays held.
func TestLedgerReleaseKeepsTypedHoldOverMQTT(t *testing.T) {
	h := newHarness(t, nil)
	h.tos("N4-1", c1, state.TOSArrived, "2026-11-28T06:00:00+08:00", "CUSTOMS")
	h.agencyHold("1H-1", "customs", state.Held, "1H", "2026-11-28T07:00:00+08:00", c1)
	h.agencyHold("CIQ-1", "quarantine", state.Released, "", "2026-11-28T08:00:00+08:00", c1)
	h.agencyHold("1C-1", "customs", state.Released, "", "2026-11-28T09:15:00+08:00", c1)
	h.eventually("release recorded", func() bool {
		d, ok := h.itLookup(c1)
		return ok && d.AgencyDetail["customs"].Release.EventID == "1C-1"
	})
	h.itBarrier()
	d := h.container(c1)
	if d.Cleared || d.Agencies["customs"] != state.Held || !slices.Equal(d.Holds["customs"], []string{"1H"}) {
		t.Fatalf("after 1H and a release: cleared %v agencies %v holds %v; want held by 1H", d.Cleared, d.Agencies, d.Holds)
	}
	for _, c := range h.commands(c1) {
		if c.Action == state.ReleaseHold {
			t.Fatalf("the release lifted an open 1H: %+v", c)
		}
	}
	if v := h.itWaitStatus(c1, "status", func(v sync.View) bool { return v.Agencies["quarantine"] == state.Released }); v.Cleared {
		t.Fatalf("published status cleared while 1H is open: %+v", v)
	}
}

// (c) A revocation after a release puts the hold back.
func TestLedgerRevokedAfterReleaseOverMQTT(t *testing.T) {
	h := newHarness(t, nil)
	h.tos("N4-1", c1, state.TOSArrived, "2026-11-28T10:00:00+08:00", "CUSTOMS")
	h.agencyHold("1C-1", "customs", state.Released, "", "2026-11-28T10:05:00+08:00", c1)
	h.waitCommand(c1, state.ReleaseHold, "CUSTOMS")
	h.tos("N4-2", c1, state.TOSHolds, "2026-11-28T10:06:00+08:00")
	h.agencyHold("4A-1", "customs", state.Revoked, "", "2026-11-28T11:00:00+08:00", c1)
	if cmd := h.waitCommand(c1, state.AddHold, "CUSTOMS"); cmd.Cause != "4A-1" {
		t.Fatalf("add_hold %+v, want cause 4A-1", cmd)
	}
	if d := h.container(c1); d.Agencies["customs"] != state.Held || d.AgencyDetail["customs"].Release.State != state.ReleaseRevoked {
		t.Fatalf("after revocation: %v %+v", d.Agencies, d.AgencyDetail["customs"].Release)
	}
}

// (d) The case of manual overrides: customs held, its release never came
// through the feed, and an officer confirms it by e-mail. The operator's
// override releases the stale hold and raises manual_override; a later
// decision of customs itself outranks it and resolves the alert.
func TestOverrideReleasesStaleHoldOverMQTT(t *testing.T) {
	h := newHarness(t, withOverrideToken(t, "api-token", "override-token"))
	h.tos("N4-1", c1, state.TOSArrived, "2026-11-28T10:00:00+08:00", "CUSTOMS")
	h.agencyHold("HLD-1", "customs", state.Held, "", "2026-11-28T10:05:00+08:00", c1)
	h.eventually("held", func() bool {
		code, body := h.itRequest(http.MethodGet, "/api/v1/containers/"+c1, "api-token", nil)
		return code == http.StatusOK && strings.Contains(string(body), "HLD-1")
	})

	body, _ := json.Marshal(httpapi.OverrideRequest{Agency: "customs", Action: "released", By: "Li Wei", Reason: "officer Zhang's e-mail of 14:02: released"})
	code, raw := h.itRequest(http.MethodPost, "/api/v1/containers/"+c1+"/override", "override-token", body)
	if code != http.StatusAccepted {
		t.Fatalf("override: HTTP %d %s", code, raw)
	}
	var answer httpapi.OverrideAnswer
	if err := json.Unmarshal(raw, &answer); err != nil {
		t.Fatal(err)
	}
	if answer.Result != sync.ResultApplied || answer.Status != state.Released || !strings.HasPrefix(answer.EventID, "override/"+c1+"/customs/") || answer.By != "Li Wei" {
		t.Fatalf("override answer %+v", answer)
	}
	if cmd := h.waitCommand(c1, state.ReleaseHold, "CUSTOMS"); cmd.Cause != answer.EventID {
		t.Fatalf("release_hold %+v, want cause %s", cmd, answer.EventID)
	}
	alertID := "manual_override/" + c1 + "/customs"
	h.eventually("manual_override fired", func() bool { return len(h.alertsFor(alertID)) > 0 })
	a := h.alertsFor(alertID)[0]
	if a["state"] != state.Firing || a["severity"] != "warning" || a["kind"] != state.KindManualOverride ||
		!strings.Contains(fmt.Sprint(a["summary"]), "Li Wei") || !strings.Contains(fmt.Sprint(a["summary"]), "officer Zhang") {
		t.Fatalf("manual_override notice %v", a)
	}
	var d httpapi.ContainerDetail
	code, raw = h.itRequest(http.MethodGet, "/api/v1/containers/"+c1, "api-token", nil)
	if err := json.Unmarshal(raw, &d); code != http.StatusOK || err != nil {
		t.Fatalf("container: HTTP %d %v", code, err)
	}
	if r := d.AgencyDetail["customs"].Release; r.Source != "override:Li Wei" || r.EventID != answer.EventID {
		t.Fatalf("ledger release %+v, want the override's", r)
	}
	if !strings.Contains(string(raw), alertID) {
		t.Fatalf("the container's open alerts lack %s: %s", alertID, raw)
	}
	code, raw = h.itRequest(http.MethodGet, "/api/v1/containers/"+c1+"/history", "api-token", nil)
	if code != http.StatusOK || !strings.Contains(string(raw), `"source": "override:Li Wei"`) || !strings.Contains(string(raw), "officer Zhang") {
		t.Fatalf("history lacks who and why: HTTP %d %s", code, raw)
	}
	h.tos("N4-2", c1, state.TOSHolds, time.Now().UTC().Format(time.RFC3339))

	// customs holds again, stamped after the override: it wins.
	h.agencyHold("HLD-2", "customs", state.Held, "", time.Now().Add(time.Minute).Format(time.RFC3339), c1)
	if cmd := h.waitCommand(c1, state.AddHold, "CUSTOMS"); cmd.Cause != "HLD-2" {
		t.Fatalf("add_hold %+v, want cause HLD-2", cmd)
	}
	h.eventually("manual_override resolved", func() bool {
		for _, n := range h.alertsFor(alertID) {
			if n["state"] == state.Resolved {
				return true
			}
		}
		return false
	})
}

// The override endpoint takes the override token and nothing else, and
// names the field it refuses.
func TestOverrideEndpointTokenAndFields(t *testing.T) {
	h := newHarness(t, withOverrideToken(t, "api-token", "override-token"))
	path := "/api/v1/containers/" + c1 + "/override"
	good := httpapi.OverrideRequest{Agency: "customs", Action: "released", By: "ops", Reason: "e-mail"}
	body := func(edit func(*httpapi.OverrideRequest)) []byte {
		r := good
		if edit != nil {
			edit(&r)
		}
		data, _ := json.Marshal(r)
		return data
	}
	for _, tc := range []struct {
		name, token string
		want        int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"wrong token", "nope", http.StatusUnauthorized},
		{"the API token", "api-token", http.StatusForbidden},
	} {
		if code, raw := h.itRequest(http.MethodPost, path, tc.token, body(nil)); code != tc.want || !itIsJSONError(raw) {
			t.Errorf("%s: HTTP %d %s, want %d", tc.name, code, raw, tc.want)
		}
	}
	// The override token reads nothing.
	if code, _ := h.itRequest(http.MethodGet, "/api/v1/containers/"+c1, "override-token", nil); code != http.StatusUnauthorized {
		t.Errorf("GET with the override token: HTTP %d, want 401", code)
	}
	for _, tc := range []struct {
		name string
		path string
		edit func(*httpapi.OverrideRequest)
		want []string
	}{
		{"no by", path, func(r *httpapi.OverrideRequest) { r.By = "" }, []string{`"by"`}},
		{"no reason", path, func(r *httpapi.OverrideRequest) { r.Reason = "" }, []string{`"reason"`}},
		{"bad action", path, func(r *httpapi.OverrideRequest) { r.Action = "revoked" }, []string{`"action"`, "revoked"}},
		{"hold with released", path, func(r *httpapi.OverrideRequest) { r.Hold = "7H" }, []string{`"hold"`, "7H"}},
		{"unknown agency", path, func(r *httpapi.OverrideRequest) { r.Agency = "police" }, []string{`"agency"`, "police"}},
		{"bad container", "/api/v1/containers/MSCU1234567/override", nil, []string{"MSCU1234567", "6"}},
	} {
		code, raw := h.itRequest(http.MethodPost, tc.path, "override-token", body(tc.edit))
		var e map[string]string
		json.Unmarshal(raw, &e)
		if code != http.StatusBadRequest {
			t.Errorf("%s: HTTP %d %s, want 400", tc.name, code, raw)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(e["error"], w) {
				t.Errorf("%s: error %q does not name %s", tc.name, e["error"], w)
			}
		}
	}
	if code, _ := h.itRequest(http.MethodGet, "/api/v1/containers/"+c1, "api-token", nil); code != http.StatusNotFound {
		t.Fatalf("a refused override created %s: HTTP %d", c1, code)
	}
	code, raw := h.itRequest(http.MethodPost, path, "override-token", body(nil))
	if code != http.StatusAccepted {
		t.Fatalf("good override: HTTP %d %s", code, raw)
	}
}

// Without http.override_token_file overrides are off.
func TestOverrideOffWithoutItsToken(t *testing.T) {
	h := newHarness(t, nil)
	data, _ := json.Marshal(httpapi.OverrideRequest{Agency: "customs", Action: "released", By: "ops", Reason: "e-mail"})
	if code, raw := h.itRequest(http.MethodPost, "/api/v1/containers/"+c1+"/override", "anything", data); code != http.StatusForbidden || !strings.Contains(string(raw), "override_token_file") {
		t.Fatalf("override without override_token_file: HTTP %d %s, want 403 naming it", code, raw)
	}
}
