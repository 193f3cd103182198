package daemon

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portsync/portsync/state"
)

func TestHTTPPushAnswersOnceDurable(t *testing.T) {
	dir := t.TempDir()
	gateway := filepath.Join(dir, "gateway.token")
	api := filepath.Join(dir, "api.token")
	os.WriteFile(gateway, []byte("gw-secret\n"), 0o600)
	os.WriteFile(api, []byte("api-secret\n"), 0o600)
	h := newHarness(t, func(y string) string {
		y = strings.Replace(y, "  - {name: tos-events,",
			"  - {name: customs-push, type: http_push, kind: agency, agency: customs, token_file: "+gateway+"}\n  - {name: tos-events,", 1)
		return strings.Replace(y, `http: {listen: "127.0.0.1:0"}`, `http: {listen: "127.0.0.1:0", token_file: `+api+`}`, 1)
	})
	post := func(token, query, body string) (int, map[string]any) {
		req, _ := http.NewRequest("POST", h.base()+"/api/v1/events"+query, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	event := func(id, agency, container string) string {
		data, _ := json.Marshal(map[string]any{"id": id, "agency": agency, "status": "released", "containers": []string{container}, "at": "2026-11-28T10:15:00+08:00"})
		return string(data)
	}

	code, out := post("gw-secret", "", event("P-1", "customs", c1))
	if code != http.StatusAccepted {
		t.Fatalf("push: HTTP %d %v", code, out)
	}
	// 202 means durable: the container is there at once, no waiting.
	req, _ := http.NewRequest("GET", h.base()+"/api/v1/containers/"+c1, nil)
	req.Header.Set("Authorization", "Bearer api-secret")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("container after 202: %v %v", err, resp)
	}
	if code, out = post("gw-secret", "", event("P-1", "customs", c1)); code != http.StatusAccepted || !strings.Contains(toJSON(out), "duplicate") {
		t.Fatalf("duplicate push: HTTP %d %v", code, out)
	}
	if code, out = post("api-secret", "?source=customs-push", event("P-2", "customs", c2)); code != http.StatusAccepted {
		t.Fatalf("push with the API token: HTTP %d %v", code, out)
	}

	cases := []struct {
		name, token, query, body string
		code                     int
		reject                   string
	}{
		{"no token", "", "", event("P-3", "customs", c3), http.StatusUnauthorized, ""},
		{"wrong token", "nope", "", event("P-3", "customs", c3), http.StatusUnauthorized, ""},
		{"gateway token for another source", "gw-secret", "?source=other", event("P-3", "customs", c3), http.StatusForbidden, ""},
		{"bad check digit", "gw-secret", "", event("P-4", "customs", "MSCU1234567"), http.StatusUnprocessableEntity, state.CodeBadCheckDigit},
		{"another agency", "gw-secret", "", event("P-5", "quarantine", c3), http.StatusForbidden, state.CodeForbiddenAgency},
		{"malformed", "gw-secret", "", `{"id":`, http.StatusUnprocessableEntity, state.CodeMalformed},
		{"too large", "gw-secret", "", `{"id":"` + strings.Repeat("x", 2<<20) + `"}`, http.StatusRequestEntityTooLarge, state.CodeTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out := post(tc.token, tc.query, tc.body)
			if code != tc.code {
				t.Fatalf("HTTP %d, want %d: %v", code, tc.code, out)
			}
			if tc.reject != "" && out["code"] != tc.reject {
				t.Fatalf("code %v, want %s", out["code"], tc.reject)
			}
			if out["error"] == "" {
				t.Fatalf("no error message: %v", out)
			}
		})
	}
	var dl struct {
		Deadletters []state.DeadLetter `json:"deadletters"`
	}
	req, _ = http.NewRequest("GET", h.base()+"/api/v1/deadletters", nil)
	req.Header.Set("Authorization", "Bearer api-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&dl)
	resp.Body.Close()
	if len(dl.Deadletters) != 4 {
		t.Fatalf("want the 4 rejected pushes dead-lettered, got %d", len(dl.Deadletters))
	}
	for _, d := range dl.Deadletters {
		if d.Source != "customs-push" {
			t.Errorf("dead letter from %s", d.Source)
		}
	}
}

func toJSON(v any) string {
	var b bytes.Buffer
	json.NewEncoder(&b).Encode(v)
	return b.String()
}
