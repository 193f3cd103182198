package daemon

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/portsync/portsync/state"
	"github.com/portsync/portsync/sync/httpapi"
	"github.com/portsync/portsync/sync/internal/testseam"
)

// page is one answer of a paged list.
type page struct {
	items []json.RawMessage
	next  string
}

func getPage(t *testing.T, h *harness, path, key string) page {
	t.Helper()
	var body map[string]json.RawMessage
	if code := h.get(path, &body); code != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d %v", path, code, body)
	}
	var p page
	if raw := body[key]; len(raw) == 0 || raw[0] != '[' || json.Unmarshal(raw, &p.items) != nil {
		t.Fatalf("GET %s: %q is not a list: %s", path, key, raw)
	}
	if raw, ok := body["next_cursor"]; ok {
		json.Unmarshal(raw, &p.next)
	}
	return p
}

// walk follows next_cursor from path to the end and returns every item and
// the number of pages.
func walk(t *testing.T, h *harness, path, key string) ([]json.RawMessage, int) {
	t.Helper()
	var all []json.RawMessage
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	cursor, pages := "", 0
	for {
		p := getPage(t, h, path+sep+"cursor="+url.QueryEscape(cursor), key)
		pages++
		all = append(all, p.items...)
		if p.next == "" {
			return all, pages
		}
		if pages > 100 {
			t.Fatalf("GET %s: no end after %d pages", path, pages)
		}
		cursor = p.next
	}
}

func ids(t *testing.T, items []json.RawMessage, field string) []string {
	t.Helper()
	out := make([]string, len(items))
	for i, raw := range items {
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		out[i] = fmt.Sprint(m[field])
	}
	return out
}

// onceEach fails unless got holds each of want exactly once, in order.
func onceEach(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d items, want %d", what, len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("%s: item %d is %s, want %s", what, i, got[i], want[i])
		}
	}
}

func fill(t *testing.T, h *harness, fn func(tx *state.Tx) error) {
	t.Helper()
	if err := h.daemon.store.Update(fn); err != nil {
		t.Fatal(err)
	}
}

// TestDeadLettersArePaged: 1,500 dead letters come 100 a page, and walking
// the cursor yields every one exactly once.
func TestDeadLettersArePaged(t *testing.T) {
	h := newHarness(t, nil)
	var want []string
	fill(t, h, func(tx *state.Tx) error {
		for i := range 1500 {
			d := state.DeadLetter{Source: "customs-mqtt", Code: state.CodeMalformed, Reason: "bad", Payload: fmt.Sprintf("{%d", i), ReceivedAt: time.Now()}
			if err := tx.PutDeadLetter(&d); err != nil {
				return err
			}
			want = append(want, d.ID)
		}
		return nil
	})
	first := getPage(t, h, "/api/v1/deadletters", "deadletters")
	if len(first.items) != 100 || first.next == "" {
		t.Fatalf("first page: %d dead letters, next_cursor %q; want 100 and a cursor", len(first.items), first.next)
	}
	all, pages := walk(t, h, "/api/v1/deadletters", "deadletters")
	onceEach(t, "dead letters", ids(t, all, "id"), want)
	if pages != 15 {
		t.Errorf("%d pages, want 15", pages)
	}
	if p := getPage(t, h, "/api/v1/deadletters?limit=1000", "deadletters"); len(p.items) != 1000 {
		t.Errorf("limit=1000: %d items", len(p.items))
	}
	if p := getPage(t, h, "/api/v1/deadletters?limit=5000", "deadletters"); len(p.items) != 1000 || p.next == "" {
		t.Errorf("limit=5000: %d items, want the maximum of 1000 and a cursor", len(p.items))
	}
	for _, q := range []string{"limit=0", "limit=x", "cursor=%25%25"} {
		if code := h.get("/api/v1/deadletters?"+q, nil); code != http.StatusBadRequest {
			t.Errorf("?%s: HTTP %d, want 400", q, code)
		}
	}
}

// TestListsArePaged: history, mismatches, alerts and search are paged
// the same way; history stays oldest first; an empty list is [] with no
// cursor.
func TestListsArePaged(t *testing.T) {
	h := newHarness(t, nil)
	if p := getPage(t, h, "/api/v1/mismatches", "mismatches"); len(p.items) != 0 || p.next != "" {
		t.Fatalf("empty mismatches: %v", p)
	}
	const n = 250
	var mismatches, alerts, found []string
	fill(t, h, func(tx *state.Tx) error {
		for i := range n {
			id := fmt.Sprintf("TEST%07d", i)
			if err := tx.Journal(&state.JournalEntry{At: time.Now(), Kind: state.JournalAgencyEvent, Container: c1, EventID: fmt.Sprintf("E-%d", i)}); err != nil {
				return err
			}
			if err := tx.PutMismatch("customs", state.Mismatch{Container: id, Agency: "customs", Kind: state.KindStaleHold, Since: time.Now()}); err != nil {
				return err
			}
			mismatches = append(mismatches, id)
			st := state.Firing
			if i%5 == 0 {
				st = state.Resolved
			} else {
				alerts = append(alerts, "a/"+id)
			}
			if err := tx.PutAlert(state.Alert{ID: "a/" + id, Kind: state.KindStaleHold, Severity: "warning", State: st, Container: id, Since: time.Now(), At: time.Now()}); err != nil {
				return err
			}
			if err := tx.PutRef(state.RefBL, "BL-1", id); err != nil {
				return err
			}
			found = append(found, id)
		}
		return nil
	})
	history, pages := walk(t, h, "/api/v1/containers/"+c1+"/history", "history")
	var events []string
	for i := range n {
		events = append(events, fmt.Sprintf("E-%d", i))
	}
	onceEach(t, "history", ids(t, history, "event_id"), events)
	if pages != 3 {
		t.Errorf("history: %d pages, want 3", pages)
	}
	all, _ := walk(t, h, "/api/v1/mismatches", "mismatches")
	onceEach(t, "mismatches", ids(t, all, "container"), mismatches)
	all, _ = walk(t, h, "/api/v1/alerts", "alerts")
	onceEach(t, "alerts", ids(t, all, "id"), alerts)
	var containers []string
	cursor := ""
	for {
		var body struct {
			Containers []string `json:"containers"`
			Next       string   `json:"next_cursor"`
		}
		h.get("/api/v1/search?q=BL-1&cursor="+url.QueryEscape(cursor), &body)
		if len(body.Containers) > 100 {
			t.Fatalf("search page of %d", len(body.Containers))
		}
		containers = append(containers, body.Containers...)
		if cursor = body.Next; cursor == "" {
			break
		}
	}
	onceEach(t, "search", containers, found)
}

// TestOverviewStaysBounded: the dashboard's picture does not grow with
// the yard, and long texts in it are cut.
func TestOverviewStaysBounded(t *testing.T) {
	h := newHarness(t, nil)
	long := strings.Repeat("x", 64<<10)
	fill(t, h, func(tx *state.Tx) error {
		for i := range 2000 {
			id := fmt.Sprintf("TEST%07d", i)
			if err := tx.PutContainer(state.Container{ID: id, Presence: state.InYard}, ""); err != nil {
				return err
			}
			if err := tx.PutMismatch("customs", state.Mismatch{Container: id, Agency: "customs", Kind: state.KindStaleHold, Since: time.Now()}); err != nil {
				return err
			}
			if err := tx.PutAlert(state.Alert{ID: "a/" + id, Kind: state.KindStaleHold, Severity: "warning", State: state.Firing,
				Container: id, Summary: long[:2000], Since: time.Now(), At: time.Now()}); err != nil {
				return err
			}
		}
		for i := range 30 {
			// Distinct payloads: identical ones would count as one dead letter.
			payload := fmt.Sprint(i) + long
			if err := tx.PutDeadLetter(&state.DeadLetter{Source: "customs-mqtt", Code: state.CodeMalformed, Reason: long[:4000], Payload: payload, ReceivedAt: time.Now()}); err != nil {
				return err
			}
		}
		return nil
	})
	var entries []state.JournalEntry
	for i := range 300 {
		entries = append(entries, state.JournalEntry{At: time.Now(), Kind: state.JournalCommandSent, Container: c1, Detail: long[:8000], EventID: fmt.Sprint(i)})
	}
	testseam.Remember(h.daemon.engine(), entries)

	resp, err := h.httpc.Get(h.base() + "/api/v1/overview")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	const bound = 512 << 10
	if len(data) > bound {
		t.Errorf("overview is %d bytes with 2,000 mismatches and alerts, want at most %d", len(data), bound)
	}
	var o httpapi.Overview
	if err := json.Unmarshal(data, &o); err != nil {
		t.Fatal(err)
	}
	if o.MismatchCount != 2000 || len(o.Mismatches) > 50 {
		t.Errorf("mismatches: count %d, %d listed; want 2000 and at most 50", o.MismatchCount, len(o.Mismatches))
	}
	if o.AlertCount != 2000 || len(o.Alerts) > 50 {
		t.Errorf("alerts: count %d, %d listed; want 2000 and at most 50", o.AlertCount, len(o.Alerts))
	}
	if len(o.Charts.Latency) > 24 || len(o.Charts.Mismatches) > 288 {
		t.Errorf("charts: %d latency and %d mismatch points; want at most 24 and 288", len(o.Charts.Latency), len(o.Charts.Mismatches))
	}
	if o.DeadLetterCount != 30 || len(o.DeadLetters) > 20 {
		t.Errorf("dead letters: count %d, %d listed; want 30 and at most 20", o.DeadLetterCount, len(o.DeadLetters))
	}
	for _, d := range o.DeadLetters {
		if len(d.Payload) > 1024 || len(d.Reason) > 1024 || !strings.Contains(d.Payload, "cut") {
			t.Fatalf("dead letter in the overview: payload %d bytes, reason %d bytes; want at most 1 KiB each, marked", len(d.Payload), len(d.Reason))
		}
	}
	for _, e := range o.Recent {
		if len(e.Detail) > 1024 {
			t.Fatalf("journal detail of %d bytes in the overview", len(e.Detail))
		}
	}
	for _, a := range o.Alerts {
		if len(a.Summary) > 1024 {
			t.Fatalf("alert summary of %d bytes in the overview", len(a.Summary))
		}
	}
	// The full payload stays available where it is asked for.
	var dl struct {
		Deadletters []state.DeadLetter `json:"deadletters"`
	}
	h.get("/api/v1/deadletters?limit=1", &dl)
	if len(dl.Deadletters) != 1 || len(dl.Deadletters[0].Payload) < len(long) {
		t.Errorf("the dead-letter endpoint no longer has the full payload")
	}
}
