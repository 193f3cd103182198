package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portsync/portsync/state"
)

// pagedAPI serves n items under each list the CLI reads, at most 100 a
// page whatever the limit asked, as a daemon with a long history would.
func pagedAPI(t *testing.T, n int) *httptest.Server {
	t.Helper()
	item := map[string]func(i int) any{
		"/api/v1/mismatches": func(i int) any {
			return state.Mismatch{Container: fmt.Sprintf("TEST%07d", i), Agency: "customs", Kind: state.KindStaleHold, Since: time.Now()}
		},
		"/api/v1/containers/MSCU1234566/history": func(i int) any {
			return state.JournalEntry{Seq: uint64(i + 1), At: time.Now(), Kind: state.JournalAgencyEvent, Container: "MSCU1234566", EventID: fmt.Sprintf("E-%d", i)}
		},
		"/api/v1/deadletters": func(i int) any {
			return state.DeadLetter{ID: fmt.Sprintf("dl-%012d", i), Source: "s", Code: state.CodeMalformed, Reason: "bad", ReceivedAt: time.Now()}
		},
	}
	key := map[string]string{"/api/v1/mismatches": "mismatches", "/api/v1/containers/MSCU1234566/history": "history", "/api/v1/deadletters": "deadletters"}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mk, ok := item[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		limit := 100
		if l, err := strconv.Atoi(r.URL.Query().Get("limit")); err == nil {
			limit = min(l, 100)
		}
		from := 0
		if c := r.URL.Query().Get("cursor"); c != "" {
			from, _ = strconv.Atoi(strings.TrimPrefix(c, "at-"))
		}
		items := []any{}
		for i := from; i < min(from+limit, n); i++ {
			items = append(items, mk(i))
		}
		answer := map[string]any{key[r.URL.Path]: items}
		if from+limit < n {
			answer["next_cursor"] = fmt.Sprintf("at-%d", from+limit)
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(answer)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestQueryVerbsFollowTheCursor: history, mismatches and dlq list print
// every item, not the first page.
func TestQueryVerbsFollowTheCursor(t *testing.T) {
	const n = 250
	srv := pagedAPI(t, n)
	cases := []struct {
		args []string
		key  string
		line func(i int) string
	}{
		{[]string{"mismatches"}, "mismatches", func(i int) string { return fmt.Sprintf("TEST%07d", i) }},
		{[]string{"history", "MSCU1234566"}, "history", func(i int) string { return fmt.Sprintf("E-%d ", i) }},
		{[]string{"dlq", "list"}, "deadletters", func(i int) string { return fmt.Sprintf("dl-%012d", i) }},
	}
	for _, tc := range cases {
		t.Run(tc.args[0], func(t *testing.T) {
			code, out, errOut := runCLI(t, append([]string{tc.args[0], "-addr", srv.URL}, tc.args[1:]...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			for i := range n {
				if c := strings.Count(out, tc.line(i)); c != 1 {
					t.Fatalf("item %d (%q) printed %d times:\n%s", i, tc.line(i), c, out)
				}
			}
			code, out, errOut = runCLI(t, append([]string{tc.args[0], "-addr", srv.URL, "-json"}, tc.args[1:]...)...)
			if code != 0 {
				t.Fatalf("-json: exit %d: %s", code, errOut)
			}
			var body map[string]json.RawMessage
			if err := json.Unmarshal([]byte(out), &body); err != nil {
				t.Fatalf("-json output is not one JSON object: %v\n%s", err, out)
			}
			var items []json.RawMessage
			json.Unmarshal(body[tc.key], &items)
			if len(items) != n {
				t.Fatalf("-json: %d items under %q, want %d", len(items), tc.key, n)
			}
			if _, ok := body["next_cursor"]; ok {
				t.Fatalf("-json output keeps a next_cursor")
			}
		})
	}
}
