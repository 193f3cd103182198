package daemon

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/portsync/portsync/adapters/httppoll"
	"github.com/portsync/portsync/state"
)

// pollServer is a customs API that pages with a cursor (query parameter
// since, answer field next_cursor) and wants a bearer token. It logs every
// cursor it is asked for. hook, when set, may answer a request instead.
type pollServer struct {
	*httptest.Server
	mu    sync.Mutex
	pages map[string]string
	asked []string
	auth  []string
	hook  func(w http.ResponseWriter, r *http.Request, cur string, n int) bool
}

func newPollServer(t *testing.T, pages map[string]string) *pollServer {
	s := &pollServer{pages: pages}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cur := r.URL.Query().Get("since")
		s.mu.Lock()
		s.asked = append(s.asked, cur)
		s.auth = append(s.auth, r.Header.Get("Authorization"))
		n := 0
		for _, c := range s.asked {
			if c == cur {
				n++
			}
		}
		hook := s.hook
		body, ok := s.pages[cur]
		s.mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer poll-token" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		if hook != nil && hook(w, r, cur, n) {
			return
		}
		if !ok {
			http.Error(w, "unknown cursor", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *pollServer) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.asked)
}

func (s *pollServer) count(cur string) int {
	n := 0
	for _, c := range s.requests() {
		if c == cur {
			n++
		}
	}
	return n
}

func (s *pollServer) setHook(f func(w http.ResponseWriter, r *http.Request, cur string, n int) bool) {
	s.mu.Lock()
	s.hook = f
	s.mu.Unlock()
}

// pollEvent is an agency event (DESIGN 3.1) as the customs API pages it.
func pollEvent(id, status, at string, containers ...string) string {
	return fmt.Sprintf(`{"id":%q,"agency":"customs","status":%q,"containers":[%s],"at":%q}`,
		id, status, `"`+strings.Join(containers, `","`)+`"`, at)
}

func pollPage(next string, events ...string) string {
	return fmt.Sprintf(`{"events":[%s],"next_cursor":%q}`, strings.Join(events, ","), next)
}

// pollPages is three pages and then the empty answer. Page 2 carries an
// event with a bad check digit, which is dead-lettered without holding
// the cursor back.
func pollPages() map[string]string {
	return map[string]string{
		"": pollPage("c1",
			pollEvent("POLL-1", "released", "2026-11-28T10:00:00+08:00", c1),
			pollEvent("POLL-2", "held", "2026-11-28T10:01:00+08:00", c2)),
		"c1": pollPage("c2",
			pollEvent("POLL-3", "released", "2026-11-28T10:02:00+08:00", c3),
			pollEvent("POLL-BAD", "released", "2026-11-28T10:02:00+08:00", "MSCU1234567")),
		"c2": pollPage("c3",
			pollEvent("POLL-4", "released", "2026-11-28T10:03:00+08:00", c2)),
		"c3": pollPage("c3"),
	}
}

// withPollSource adds an http_poll source for srv to the test config.
func withPollSource(t *testing.T, srv *pollServer) func(string) string {
	token := filepath.Join(t.TempDir(), "customs.token")
	if err := os.WriteFile(token, []byte("poll-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := fmt.Sprintf(`  - name: customs-poll
    type: http_poll
    url: %s/api/v1/releases
    schedule: "@every 1s"
    timeout: 2s
    kind: agency
    agency: customs
    cursor: {param: since, field: next_cursor}
    token_file: %s
`, srv.URL, token)
	return func(y string) string { return strings.Replace(y, "sources:\n", "sources:\n"+src, 1) }
}

// pollJournal returns the agency event ids in a container's journal.
func pollJournal(h *harness, container string) []string {
	h.t.Helper()
	var ans struct {
		History []state.JournalEntry `json:"history"`
	}
	if code := h.get("/api/v1/containers/"+container+"/history", &ans); code != http.StatusOK {
		h.t.Fatalf("history of %s: HTTP %d", container, code)
	}
	var ids []string
	for _, e := range ans.History {
		if e.Kind == state.JournalAgencyEvent {
			ids = append(ids, e.EventID)
		}
	}
	return ids
}

func (h *harness) pollCursor(source string) string {
	h.t.Helper()
	c, err := h.daemon.cursor(source)
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

func TestHTTPPollPagesIntoTheStore(t *testing.T) {
	srv := newPollServer(t, pollPages())
	h := newHarness(t, withPollSource(t, srv))
	h.eventually("two rounds", func() bool { return srv.count("c3") >= 2 })

	for _, cur := range []string{"", "c1", "c2"} {
		if n := srv.count(cur); n != 1 {
			t.Errorf("page %q asked for %d times, want once: %q", cur, n, srv.requests())
		}
	}
	srv.mu.Lock()
	for i, a := range srv.auth {
		if a != "Bearer poll-token" {
			t.Errorf("request %d without the bearer token: %q", i, a)
		}
	}
	srv.mu.Unlock()
	if c := h.pollCursor("customs-poll"); c != "c3" {
		t.Errorf("stored cursor %q, want c3", c)
	}
	want := map[string][]string{c1: {"POLL-1"}, c2: {"POLL-2", "POLL-4"}, c3: {"POLL-3"}}
	for id, ids := range want {
		if got := pollJournal(h, id); !slices.Equal(got, ids) {
			t.Errorf("journal of %s: %v, want %v", id, got, ids)
		}
	}
	if st := h.container(c2).Agencies["customs"]; st != state.Released {
		t.Errorf("customs status of %s: %s, want released (page 3 after page 1)", c2, st)
	}
	var dl struct {
		DeadLetters []state.DeadLetter `json:"deadletters"`
	}
	h.get("/api/v1/deadletters", &dl)
	if len(dl.DeadLetters) != 1 || dl.DeadLetters[0].Source != "customs-poll" || dl.DeadLetters[0].Code != state.CodeBadCheckDigit {
		t.Errorf("dead letters %+v, want the bad check digit from customs-poll", dl.DeadLetters)
	}
}

func TestHTTPPollBadAnswersDoNotMoveTheCursor(t *testing.T) {
	srv := newPollServer(t, pollPages())
	// Page c1: first a 500, then a malformed body, then a slow answer
	// past the timeout, then the page.
	srv.setHook(func(w http.ResponseWriter, r *http.Request, cur string, n int) bool {
		if cur != "c1" {
			return false
		}
		switch n {
		case 1:
			http.Error(w, "database down", http.StatusInternalServerError)
		case 2:
			io.WriteString(w, `{"events":[`) // cut short
		case 3:
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		default:
			return false
		}
		return true
	})
	h := newHarness(t, withPollSource(t, srv))
	h.eventually("page c1 asked for twice", func() bool { return srv.count("c1") >= 2 })
	if c := h.pollCursor("customs-poll"); c != "c1" {
		t.Fatalf("cursor %q after a 500 and a malformed answer, want c1", c)
	}
	h.eventually("the last page", func() bool { return srv.count("c3") >= 1 })
	if n := srv.count("c1"); n != 4 {
		t.Errorf("page c1 asked for %d times, want 4 (500, malformed, timeout, good)", n)
	}
	if n := srv.count(""); n != 1 {
		t.Errorf("the first page asked for %d times, want once", n)
	}
	if got := pollJournal(h, c3); !slices.Equal(got, []string{"POLL-3"}) {
		t.Errorf("journal of %s: %v, want POLL-3 once", c3, got)
	}
	h.eventually("cursor c3", func() bool { return h.pollCursor("customs-poll") == "c3" })
}

// TestHTTPPollResumesFromTheStoredCursorAfterARestart stops the daemon
// right after page 1 is committed (the poller is asking for page 2), starts
// it again on the same state directory, and checks that page 1 is neither
// asked for nor applied again.
func TestHTTPPollResumesFromTheStoredCursorAfterARestart(t *testing.T) {
	srv := newPollServer(t, pollPages())
	asking := make(chan struct{})
	var once sync.Once
	srv.setHook(func(w http.ResponseWriter, r *http.Request, cur string, n int) bool {
		if cur == "c1" && n == 1 {
			once.Do(func() { close(asking) })
			<-r.Context().Done() // held until the daemon stops
			return true
		}
		return false
	})
	h := newHarness(t, withPollSource(t, srv))
	select {
	case <-asking:
	case <-time.After(15 * time.Second):
		t.Fatal("the poller never asked for page 2")
	}
	if c := h.pollCursor("customs-poll"); c != "c1" {
		t.Fatalf("cursor %q while page 2 is asked for, want c1: page 1 must be durable first", c)
	}
	if got := pollJournal(h, c1); !slices.Equal(got, []string{"POLL-1"}) {
		t.Fatalf("journal of %s before the restart: %v", c1, got)
	}
	stopped := time.Now()
	h.stop()
	if el := time.Since(stopped); el > 5*time.Second {
		t.Errorf("stopping took %s with a poll in flight", el)
	}

	h.start()
	h.eventually("the last page after the restart", func() bool { return srv.count("c3") >= 1 })
	if n := srv.count(""); n != 1 {
		t.Errorf("page 1 asked for %d times, want once: the restart must resume from the stored cursor (%q)", n, srv.requests())
	}
	if n := srv.count("c1"); n != 2 {
		t.Errorf("page 2 asked for %d times, want twice (the cut request, then after the restart)", n)
	}
	want := map[string][]string{c1: {"POLL-1"}, c2: {"POLL-2", "POLL-4"}, c3: {"POLL-3"}}
	for id, ids := range want {
		if got := pollJournal(h, id); !slices.Equal(got, ids) {
			t.Errorf("journal of %s: %v, want %v", id, got, ids)
		}
	}
	h.eventually("cursor c3", func() bool { return h.pollCursor("customs-poll") == "c3" })
}
