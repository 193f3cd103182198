package tossnapshot

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portsync/portsync/adapters/httpout"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/internal/testtos"
)

// Containers of the tests, as in sync/daemon's harness.
const (
	c1 = "MSCU1234566"
	c2 = "TGHU1234567"
	c3 = "CSQU3054383"
)

func newSnapTOS(t *testing.T) (*testtos.Snapshot, config.Sink) {
	t.Helper()
	fake := &testtos.Snapshot{}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	tok := filepath.Join(t.TempDir(), "snapshot.token")
	if err := os.WriteFile(tok, []byte("tos-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return fake, config.Sink{Type: Type, Keys: config.NewKeys(Config{
		Config: httpout.Config{
			URL:       srv.URL + "/api/holds",
			TokenFile: tok,
			Headers:   map[string]string{"X-Terminal": "CNSHA-T1"},
		},
	})}
}

// modified is s with its own keys changed by mod.
func modified(t *testing.T, s config.Sink, mod func(*Config)) config.Sink {
	t.Helper()
	c, err := ConfigOf(s)
	if err != nil {
		t.Fatal(err)
	}
	mod(c)
	s.Keys = config.NewKeys(*c)
	return s
}

func TestFetchSendsTokenAndHeaders(t *testing.T) {
	tos, cfg := newSnapTOS(t)
	tos.Serve(http.StatusOK, testtos.JSON(true, "2026-11-28T10:30:00+08:00", map[string][]string{c1: {"customs", " PAYMENT", "CUSTOMS"}}))
	snap, err := Fetch(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !snap.Complete || !snap.At.Equal(time.Date(2026, 11, 28, 2, 30, 0, 0, time.UTC)) || snap.Skipped != 0 {
		t.Errorf("snapshot %+v", snap)
	}
	want := []Entry{{Container: c1, Holds: []string{"CUSTOMS", "PAYMENT"}}}
	if !slices.EqualFunc(entries(snap), want, func(a, b Entry) bool {
		return a.Container == b.Container && slices.Equal(a.Holds, b.Holds) && a.HoldsUnknown == b.HoldsUnknown
	}) {
		t.Errorf("containers %+v, want %+v", entries(snap), want)
	}
	hd := tos.Headers()[0]
	if hd.Get("Authorization") != "Bearer tos-secret" || hd.Get("X-Terminal") != "CNSHA-T1" || hd.Get("Accept") != "application/json" {
		t.Errorf("request headers %v", hd)
	}
}

func TestFetchWithoutAtUsesRequestTime(t *testing.T) {
	tos, cfg := newSnapTOS(t)
	tos.Serve(http.StatusOK, `{"containers": [{"container": "`+c1+`", "holds": []}]}`)
	before := time.Now()
	snap, err := Fetch(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Complete {
		t.Error("complete without the field")
	}
	if snap.At.Before(before) || snap.At.After(time.Now()) {
		t.Errorf("at %s, want the time of the request", snap.At)
	}
}

func TestFetchErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"server error", http.StatusInternalServerError, "database down", "HTTP 500"},
		{"unauthorized", http.StatusUnauthorized, "bad token", "HTTP 401"},
		{"malformed", http.StatusOK, `{"complete": true, "containers": [`, "not a snapshot"},
		{"not an object", http.StatusOK, `[1, 2, 3]`, "not a snapshot"},
		{"html", http.StatusOK, `<html>login</html>`, "not a snapshot"},
		{"no containers", http.StatusOK, `{"complete": true}`, `no "containers"`},
		{"complete not a boolean", http.StatusOK, `{"complete": "yes", "containers": []}`, "not a snapshot"},
		{"bad at", http.StatusOK, `{"at": "28/11/2026 10:30", "containers": []}`, `"at"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tos, cfg := newSnapTOS(t)
			tos.Serve(tc.status, tc.body)
			_, err := Fetch(context.Background(), cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want one saying %q", err, tc.want)
			}
		})
	}
}

func TestFetchTimeoutAndConfig(t *testing.T) {
	tos, cfg := newSnapTOS(t)
	tos.Serve(http.StatusOK, `{"containers": []}`)
	tos.SetDelay(5 * time.Second)
	cfg = modified(t, cfg, func(c *Config) { c.Timeout = 100 * time.Millisecond })
	start := time.Now()
	if _, err := Fetch(context.Background(), cfg); err == nil || time.Since(start) > 3*time.Second {
		t.Errorf("slow TOS: err %v after %s, want a timeout after 100ms", err, time.Since(start))
	}

	_, cfg = newSnapTOS(t)
	cfg = modified(t, cfg, func(c *Config) { c.TokenFile = filepath.Join(t.TempDir(), "missing") })
	if _, err := Fetch(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "token_file") {
		t.Errorf("missing token file: %v", err)
	}
	_, cfg = newSnapTOS(t)
	cfg.Type = "mqtt"
	if _, err := Fetch(context.Background(), cfg); err == nil {
		t.Error("fetched a snapshot of type mqtt")
	}
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	if _, err := Fetch(context.Background(), config.Sink{Type: Type, Keys: config.NewKeys(Config{Config: httpout.Config{URL: srv.URL}})}); err == nil {
		t.Error("fetched a snapshot with nothing listening")
	}
}

func TestFetchSkipsBadEntries(t *testing.T) {
	tos, cfg := newSnapTOS(t)
	tos.Serve(http.StatusOK, `{"complete": true, "at": "2026-11-28T10:30:00+08:00", "containers": [
		{"container": "MSCU1234566", "holds": ["CUSTOMS"]},
		{"container": "MSCU1234567", "holds": []},
		{"holds": ["CUSTOMS"]},
		"TGHU1234567",
		{"container": "CSQU3054383", "holds": "CUSTOMS"},
		{"container": "tghu 123456-7"},
		{"container": "MSCU1234566", "holds": ["CUSTOMS"]}
	]}`)
	snap, err := Fetch(context.Background(), cfg)
	if err != nil {
		t.Fatalf("a bad entry failed the whole snapshot: %v", err)
	}
	byID := map[string]Entry{}
	for _, e := range entries(snap) {
		byID[e.Container] = e
	}
	if snap.Len() != 3 {
		t.Errorf("entries %+v, want c1, c2 and c3", entries(snap))
	}
	if e := byID[c1]; e.HoldsUnknown || !slices.Equal(e.Holds, []string{"CUSTOMS"}) {
		t.Errorf("c1 (listed twice alike): %+v", e)
	}
	if e, ok := byID[c3]; !ok || !e.HoldsUnknown {
		t.Errorf("c3 (holds not a list): %+v, want present with holds unknown", e)
	}
	if e, ok := byID[c2]; !ok || !e.HoldsUnknown {
		t.Errorf("c2 (no holds, number normalised): %+v, want present with holds unknown", e)
	}
	if snap.Complete {
		t.Error("complete although entries name no valid container")
	}
	all := strings.Join(snap.Problems, "\n")
	for _, want := range []string{"check digit is 7, the right digit for MSCU123456 is 6", `"container"`, "TGHU1234567", "no valid container"} {
		if !strings.Contains(all, want) {
			t.Errorf("problems do not say %q:\n%s", want, all)
		}
	}
	if snap.Skipped != len(snap.Problems) || snap.Skipped != 6 {
		t.Errorf("skipped %d with %d problems, want 6:\n%s", snap.Skipped, len(snap.Problems), all)
	}

	// Conflicting duplicates: present, holds not compared.
	tos.Serve(http.StatusOK, `{"complete": true, "containers": [
		{"container": "MSCU1234566", "holds": ["CUSTOMS"]},
		{"container": "MSCU1234566", "holds": []}]}`)
	snap, err = Fetch(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if all := entries(snap); len(all) != 1 || !all[0].HoldsUnknown || !snap.Complete {
		t.Errorf("conflicting duplicates: %+v", snap)
	}
}
