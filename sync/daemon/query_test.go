package daemon

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/portsync/portsync/adapters/httpquery"
	_ "github.com/portsync/portsync/adapters/mappedjson"
	"github.com/portsync/portsync/state"
)

// statusAPI is a loopback customs status API: it knows a release for
// every container it was given, answers in its own JSON (read with
// mapped_json), 404 for others, and logs every request with its time.
type statusAPI struct {
	*httptest.Server
	mu       sync.Mutex
	releases map[string]string // container -> release time
	asked    map[string]int
	times    []time.Time
}

func newStatusAPI(t *testing.T, releases map[string]string) *statusAPI {
	a := &statusAPI{releases: releases, asked: map[string]int{}}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		box := strings.TrimPrefix(r.URL.Path, "/cbp/status/")
		a.mu.Lock()
		a.asked[box]++
		a.times = append(a.times, time.Now())
		at, ok := a.releases[box]
		a.mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer query-token" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"entry":{"ref":"REL-%s","disposition":"1C","equipment":%q,"time":%q}}`, box, box, at)
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *statusAPI) count(box string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.asked[box]
}

// queryBoxes returns n container numbers with valid check digits.
func queryBoxes(n int) []string {
	var out []string
	for i := range n {
		prefix := fmt.Sprintf("QRYU%06d", 100+i)
		out = append(out, fmt.Sprintf("%s%d", prefix, state.CheckDigit(prefix)))
	}
	return out
}

// TestQueryHealsLostAgencyReleases: customs released every container, but
// only some releases came over MQTT; the rest were lost upstream. The
// http_query source asks customs' status API about the containers still
// not cleared: every lost release is recovered by the first question
// about its container, each lost container is asked about once, the
// containers whose release arrived are never asked about, release_hold
// goes out for all, and the requests keep to the rate.
func TestQueryHealsLostAgencyReleases(t *testing.T) {
	const rate = 600 // one request every 100ms
	boxes := queryBoxes(12)
	releases := map[string]string{}
	for _, b := range boxes {
		releases[b] = "2026-11-28T10:00:00Z"
	}
	api := newStatusAPI(t, releases)
	token := t.TempDir() + "/query.token"
	if err := os.WriteFile(token, []byte("query-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := fmt.Sprintf(`  - name: customs-query
    type: http_query
    url: %s/cbp/status/{container}
    schedule: "@every 1s"
    rate: %d
    query_after: 8s
    timeout: 2s
    token_file: %s
    kind: agency
    agency: customs
    format: mapped_json
    mapping: {id: entry.ref, status: entry.disposition, containers: entry.equipment, at: entry.time,
              status_values: {1C: released, 7H: held}}
`, api.URL, rate, token)
	h := newHarness(t, func(y string) string { return strings.Replace(y, "sources:\n", "sources:\n"+src, 1) })

	kept, lost := boxes[:4], boxes[4:]
	// The releases that did arrive come first, so that no container of
	// theirs is ever in the yard without its release.
	for i, b := range kept {
		h.agency(fmt.Sprintf("MQ-%d", i), "customs", state.Released, "2026-11-28T10:00:00Z", b)
	}
	h.eventually("MQTT releases applied", func() bool {
		for _, b := range kept {
			if h.get("/api/v1/containers/"+b, nil) != http.StatusOK {
				return false
			}
		}
		return true
	})
	for i, b := range boxes {
		h.tos(fmt.Sprintf("ARR-%d", i), b, state.TOSArrived, "2026-11-28T11:00:00Z", "CUSTOMS")
	}
	// The TOS confirms each release_hold, so that no stale_hold lasts
	// long enough (query_after, ample even on a loaded machine) to be
	// asked about.
	for i, b := range append(append([]string(nil), kept...), lost...) {
		h.waitCommand(b, state.ReleaseHold, "CUSTOMS")
		h.tos(fmt.Sprintf("CONF-%d", i), b, state.TOSHolds, "2026-11-28T11:05:00Z")
	}
	for _, b := range lost {
		d := h.container(b)
		if d.Agencies["customs"] != state.Released {
			t.Errorf("%s: customs %s, want released", b, d.Agencies["customs"])
		}
		if got := d.AgencyDetail["customs"].Source; got != "customs-query" {
			t.Errorf("%s: customs' release came from %q, want customs-query", b, got)
		}
		if n := api.count(b); n != 1 {
			t.Errorf("%s asked about %d times, want once: its release was recovered by the first answer", b, n)
		}
	}
	for _, b := range kept {
		if n := api.count(b); n != 0 {
			t.Errorf("%s, released over MQTT, asked about %d times", b, n)
		}
	}
	// Healed containers are no longer asked about: the cycles after
	// ask nothing.
	time.Sleep(2 * time.Second)
	api.mu.Lock()
	times := append([]time.Time(nil), api.times...)
	api.mu.Unlock()
	if len(times) != len(lost) {
		t.Errorf("%d requests in all, want %d (one per lost release)", len(times), len(lost))
	}
	if len(times) > 1 {
		every := time.Minute / rate
		span := times[len(times)-1].Sub(times[0])
		if budget := int(span/every) + 2; len(times) > budget { // +1 for the first, +1 for clock reads
			t.Errorf("%d requests over %s; rate %d a minute allows %d", len(times), span, rate, budget)
		}
	}
}
