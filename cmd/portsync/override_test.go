package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portsync/portsync/sync/httpapi"
)

// TestOverrideVerb sends what the verb was given, the container before the
// flags as the usage writes it, with the override token from its file or
// PORTSYNC_OVERRIDE_TOKEN, and refuses to send without -by or -reason.
func TestOverrideVerb(t *testing.T) {
	type seen struct {
		path, auth string
		req        httpapi.OverrideRequest
	}
	got := make(chan seen, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var s seen
		s.path, s.auth = r.Method+" "+r.URL.Path, r.Header.Get("Authorization")
		data, _ := io.ReadAll(r.Body)
		json.Unmarshal(data, &s.req)
		got <- s
		w.WriteHeader(http.StatusAccepted)
		json.NewEncoder(w).Encode(httpapi.OverrideAnswer{
			EventID: "override/MSCU1234566/customs/1", Container: "MSCU1234566", Agency: s.req.Agency, Action: s.req.Action,
			Hold: s.req.Hold, By: s.req.By, At: time.Now(), Result: "applied", Status: "released",
		})
	}))
	defer srv.Close()
	tokenFile := filepath.Join(t.TempDir(), "override.token")
	os.WriteFile(tokenFile, []byte(" ov-token\n"), 0o600)

	code, out, errOut := runCLI(t, "override", "-addr", srv.URL, "MSCU1234566", "-agency", "customs", "-action", "hold_removed",
		"-hold", "7H", "-by", "Li Wei", "-reason", "officer's e-mail", "-token-file", tokenFile)
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, out, errOut)
	}
	s := <-got
	want := httpapi.OverrideRequest{Agency: "customs", Action: "hold_removed", Hold: "7H", By: "Li Wei", Reason: "officer's e-mail"}
	if s.path != "POST /api/v1/containers/MSCU1234566/override" || s.auth != "Bearer ov-token" || s.req != want {
		t.Fatalf("sent %+v, want POST .../MSCU1234566/override with Bearer ov-token and %+v", s, want)
	}
	for _, w := range []string{"applied", "customs hold_removed 7H on MSCU1234566 by Li Wei", "manual_override"} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}

	cmd := exec.Command(portsyncBinary(t), "override", "-addr", srv.URL, "-agency", "customs", "-action", "released", "-by", "ops", "-reason", "e-mail", "-json", "MSCU1234566")
	cmd.Env = append(os.Environ(), "PORTSYNC_OVERRIDE_TOKEN=env-token", "PORTSYNC_TOKEN=api-token")
	outJSON, err := cmd.Output()
	if err != nil {
		t.Fatalf("with the token from the environment: %v", err)
	}
	if s := <-got; s.auth != "Bearer env-token" {
		t.Fatalf("Authorization %q, want the override token from PORTSYNC_OVERRIDE_TOKEN", s.auth)
	}
	var answer httpapi.OverrideAnswer
	if err := json.Unmarshal(outJSON, &answer); err != nil || answer.Result != "applied" {
		t.Fatalf("-json printed %s: %v", outJSON, err)
	}

	for _, args := range [][]string{
		{"MSCU1234566", "-agency", "customs", "-action", "released", "-reason", "e-mail"},
		{"MSCU1234566", "-agency", "customs", "-action", "released", "-by", "ops"},
		{"-agency", "customs", "-action", "released", "-by", "ops", "-reason", "e-mail"},
	} {
		code, _, errOut := runCLI(t, append([]string{"override", "-addr", srv.URL, "-token-file", tokenFile}, args...)...)
		if code != 2 || !strings.Contains(errOut, "usage: portsync override") {
			t.Errorf("%v: exit %d, %s; want 2 with the usage", args, code, errOut)
		}
	}
	if len(got) > 0 {
		t.Fatalf("an incomplete override was sent: %+v", <-got)
	}
}
