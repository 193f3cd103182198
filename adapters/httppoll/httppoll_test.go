package httppoll

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/adapters/httpout"
	"github.com/portsync/portsync/adapters/mappedjson"
	"github.com/portsync/portsync/config"
)

// fakeEngine stands in for the engine: it keeps the cursor a message
// carries, as the store does in the message's transaction, and then acks.
type fakeEngine struct {
	mu     sync.Mutex
	cursor string
	msgs   []adapters.Message
	hold   bool     // keep commits until release
	held   []func() // commits not done yet
}

func (f *fakeEngine) deliver(m adapters.Message) {
	commit := func() {
		if m.Cursor != "" {
			f.mu.Lock()
			f.cursor = m.Cursor
			f.mu.Unlock()
		}
		if m.Done != nil {
			m.Done(adapters.Outcome{})
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.msgs = append(f.msgs, m)
	if f.hold {
		f.held = append(f.held, commit)
		return
	}
	go commit()
}

func (f *fakeEngine) release() {
	f.mu.Lock()
	held := f.held
	f.held, f.hold = nil, false
	f.mu.Unlock()
	for _, c := range held {
		c()
	}
}

func (f *fakeEngine) stored(string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cursor, nil
}

func (f *fakeEngine) payloads() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, m := range f.msgs {
		out = append(out, string(m.Payload))
	}
	return out
}

func (f *fakeEngine) messages() []adapters.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.msgs)
}

// server is a paging test server: pages maps the cursor asked for ("" for
// none) to the answer. It logs the cursors asked for and the headers.
type server struct {
	*httptest.Server
	mu     sync.Mutex
	pages  map[string]string
	asked  []string
	auth   []string
	custom []string
	// fail, when set, answers a request instead of pages (return false to
	// fall through to pages).
	fail func(w http.ResponseWriter, r *http.Request, n int) bool
}

func newServer(t *testing.T, pages map[string]string) *server {
	s := &server{pages: pages}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cur := r.URL.Query().Get("since")
		s.mu.Lock()
		s.asked = append(s.asked, cur)
		s.auth = append(s.auth, r.Header.Get("Authorization"))
		s.custom = append(s.custom, r.Header.Get("X-Terminal"))
		n := len(s.asked)
		fail := s.fail
		body, ok := s.pages[cur]
		s.mu.Unlock()
		if fail != nil && fail(w, r, n) {
			return
		}
		if !ok {
			http.Error(w, "unknown cursor "+cur, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.asked)
}

func (s *server) setFail(f func(w http.ResponseWriter, r *http.Request, n int) bool) {
	s.mu.Lock()
	s.fail = f
	s.mu.Unlock()
}

func event(id string) string {
	return fmt.Sprintf(`{"id":%q,"agency":"customs","status":"released","containers":["MSCU1234566"],"at":"2026-11-28T10:15:00+08:00"}`, id)
}

func pageOf(next string, ids ...string) string {
	evs := make([]string, len(ids))
	for i, id := range ids {
		evs[i] = event(id)
	}
	return fmt.Sprintf(`{"events":[%s],"next_cursor":%q}`, strings.Join(evs, ","), next)
}

// threePages is three pages of events and then an empty answer.
func threePages() map[string]string {
	return map[string]string{
		"":   pageOf("c1", "E1", "E2"),
		"c1": pageOf("c2", "E3"),
		"c2": pageOf("c3", "E4", "E5"),
		"c3": pageOf("c3"),
	}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// pollCfg is an http_poll source's configuration: the common keys and its
// own.
type pollCfg struct {
	config.Source
	Config
	// Mapped are the keys of format mapped_json.
	Mapped mappedjson.Config
}

// source is the configuration as config.Parse gives it, own keys in Keys.
func (p pollCfg) source() config.Source {
	s := p.Source
	s.Keys = config.NewKeys(struct {
		Own    Config            `yaml:",inline"`
		Mapped mappedjson.Config `yaml:",inline"`
	}{p.Config, p.Mapped})
	return s
}

// check is the registry's check of the configuration.
func (p pollCfg) check() []config.KeyError {
	_, errs := adapters.Registry.CheckSource(p.source())
	return errs
}

func baseCfg(url string) pollCfg {
	return pollCfg{
		Source: config.Source{Name: "customs-poll", Type: Type, Kind: config.KindAgency, Agency: "customs", Format: "json"},
		Config: Config{URL: url, Schedule: "@every 1h", Cursor: config.Cursor{Param: "since", Field: "next_cursor"}},
	}
}

func build(t *testing.T, cfg pollCfg, fe *fakeEngine) *source {
	t.Helper()
	env := &adapters.Env{Logger: testLogger(t), Cursor: fe.stored}
	src, err := adapters.NewSource(env, cfg.source())
	if err != nil {
		t.Fatal(err)
	}
	s := src.(*source)
	s.deliver = fe.deliver
	ctx, cancel := context.WithCancel(context.Background())
	s.ctx = ctx
	t.Cleanup(cancel)
	return s
}

func ids(t *testing.T, payloads []string) []string {
	t.Helper()
	var out []string
	for _, p := range payloads {
		var ev struct{ ID string }
		if err := json.Unmarshal([]byte(p), &ev); err != nil {
			t.Fatalf("delivered payload is not an event: %v: %s", err, p)
		}
		out = append(out, ev.ID)
	}
	return out
}

func TestPagesFollowTheCursorUntilEmpty(t *testing.T) {
	srv := newServer(t, threePages())
	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte("  s3cret\n"), 0o600)
	cfg := baseCfg(srv.URL + "/releases?terminal=CNSHA-T1")
	cfg.TokenFile = tokenFile
	cfg.Headers = map[string]string{"X-Terminal": "CNSHA-T1"}
	fe := &fakeEngine{}
	s := build(t, cfg, fe)

	pages, err := s.poll(s.ctx)
	if err != nil || pages != 3 {
		t.Fatalf("poll = %d pages, %v; want 3, nil", pages, err)
	}
	if got, want := srv.requests(), []string{"", "c1", "c2", "c3"}; !slices.Equal(got, want) {
		t.Errorf("cursors asked for %q, want %q", got, want)
	}
	if got, want := ids(t, fe.payloads()), []string{"E1", "E2", "E3", "E4", "E5"}; !slices.Equal(got, want) {
		t.Errorf("delivered %v, want %v", got, want)
	}
	var cursors []string
	for _, m := range fe.messages() {
		cursors = append(cursors, m.Cursor)
	}
	if want := []string{"", "c1", "c2", "", "c3"}; !slices.Equal(cursors, want) {
		t.Errorf("message cursors %q, want %q: the cursor rides on each page's last event", cursors, want)
	}
	if c, _ := fe.stored(""); c != "c3" {
		t.Errorf("stored cursor %q, want c3", c)
	}
	for i, a := range srv.auth {
		if a != "Bearer s3cret" {
			t.Errorf("request %d: Authorization %q, want the trimmed token", i, a)
		}
		if srv.custom[i] != "CNSHA-T1" {
			t.Errorf("request %d: X-Terminal %q, want the configured header", i, srv.custom[i])
		}
	}

	// The next round asks with the stored cursor, gets the empty page and
	// delivers nothing.
	if pages, err := s.poll(s.ctx); err != nil || pages != 0 {
		t.Fatalf("second poll = %d pages, %v; want 0, nil", pages, err)
	}
	if got := srv.requests()[4:]; !slices.Equal(got, []string{"c3"}) {
		t.Errorf("second round asked for %q, want [c3]", got)
	}
	if n := len(fe.payloads()); n != 5 {
		t.Errorf("%d messages after the empty round, want 5", n)
	}
}

func TestNextPageWaitsForTheAck(t *testing.T) {
	srv := newServer(t, threePages())
	fe := &fakeEngine{hold: true}
	s := build(t, baseCfg(srv.URL), fe)
	done := make(chan error, 1)
	go func() {
		_, err := s.poll(s.ctx)
		done <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for len(fe.payloads()) < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	if got := srv.requests(); !slices.Equal(got, []string{""}) {
		t.Fatalf("asked for %q before the first page was acknowledged, want only the first page", got)
	}
	fe.release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got, want := srv.requests(), []string{"", "c1", "c2", "c3"}; !slices.Equal(got, want) {
		t.Errorf("cursors asked for %q, want %q", got, want)
	}
}

func TestSlowServerTimesOutAndTheNextRoundRetries(t *testing.T) {
	srv := newServer(t, threePages())
	srv.setFail(func(w http.ResponseWriter, r *http.Request, n int) bool {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
		return true
	})
	cfg := baseCfg(srv.URL)
	cfg.Timeout = 150 * time.Millisecond
	fe := &fakeEngine{cursor: "c1"}
	s := build(t, cfg, fe)
	start := time.Now()
	_, err := s.poll(s.ctx)
	if err == nil {
		t.Fatal("poll of a slow server succeeded")
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("poll took %s with a 150ms timeout", el)
	}
	if !strings.Contains(err.Error(), "Timeout") && !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v does not say it timed out", err)
	}
	if len(fe.payloads()) != 0 {
		t.Errorf("delivered %d messages from a timed-out poll", len(fe.payloads()))
	}
	if c, _ := fe.stored(""); c != "c1" {
		t.Errorf("cursor moved to %q by a failed poll", c)
	}
	srv.setFail(nil)
	if pages, err := s.poll(s.ctx); err != nil || pages != 2 {
		t.Fatalf("poll after the server recovered = %d, %v; want 2 pages", pages, err)
	}
	if got := srv.requests(); !slices.Equal(got, []string{"c1", "c1", "c2", "c3"}) {
		t.Errorf("asked for %q, want the same cursor again, then onwards", got)
	}
}

func TestServerErrorThenRecovers(t *testing.T) {
	srv := newServer(t, threePages())
	srv.setFail(func(w http.ResponseWriter, r *http.Request, n int) bool {
		if n <= 2 {
			http.Error(w, "database down", http.StatusInternalServerError)
			return true
		}
		return false
	})
	fe := &fakeEngine{}
	s := build(t, baseCfg(srv.URL), fe)
	for i := range 2 {
		_, err := s.poll(s.ctx)
		var se *httpout.StatusError
		if !errors.As(err, &se) || se.Status != 500 || !strings.Contains(err.Error(), "database down") {
			t.Fatalf("round %d: error %v, want HTTP 500 with the body", i, err)
		}
		if c, _ := fe.stored(""); c != "" || len(fe.payloads()) != 0 {
			t.Fatalf("round %d: cursor %q and %d messages after a 500", i, c, len(fe.payloads()))
		}
	}
	if pages, err := s.poll(s.ctx); err != nil || pages != 3 {
		t.Fatalf("poll after recovery = %d, %v; want 3 pages", pages, err)
	}
	if got, want := srv.requests(), []string{"", "", "", "c1", "c2", "c3"}; !slices.Equal(got, want) {
		t.Errorf("asked for %q, want %q", got, want)
	}
}

func TestServerErrorMidwayKeepsTheCursorOfTheLastDurablePage(t *testing.T) {
	srv := newServer(t, threePages())
	srv.setFail(func(w http.ResponseWriter, r *http.Request, n int) bool {
		if r.URL.Query().Get("since") == "c2" && n <= 3 {
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	fe := &fakeEngine{}
	s := build(t, baseCfg(srv.URL), fe)
	pages, err := s.poll(s.ctx)
	if err == nil || pages != 2 {
		t.Fatalf("poll = %d, %v; want 2 pages and the 503", pages, err)
	}
	if c, _ := fe.stored(""); c != "c2" {
		t.Fatalf("cursor %q, want c2 (the last page that is durable)", c)
	}
	if _, err := s.poll(s.ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := srv.requests(), []string{"", "c1", "c2", "c2", "c3"}; !slices.Equal(got, want) {
		t.Errorf("asked for %q, want %q", got, want)
	}
	if got, want := ids(t, fe.payloads()), []string{"E1", "E2", "E3", "E4", "E5"}; !slices.Equal(got, want) {
		t.Errorf("delivered %v, want each event once: %v", got, want)
	}
}

func TestMalformedAnswerDoesNotMoveTheCursor(t *testing.T) {
	cases := map[string]string{
		"not JSON":             `<html>maintenance</html>`,
		"cut short":            `{"events":[` + event("E9"),
		"no cursor field":      `{"events":[` + event("E9") + `]}`,
		"null cursor":          `{"events":[` + event("E9") + `],"next_cursor":null}`,
		"empty cursor":         `{"events":[` + event("E9") + `],"next_cursor":""}`,
		"object cursor":        `{"events":[],"next_cursor":{"a":1}}`,
		"no events":            `{"next_cursor":"c9"}`,
		"events not an array":  `{"events":{"id":"E9"},"next_cursor":"c9"}`,
		"array, cursor wanted": `[` + event("E9") + `]`,
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			pages := threePages()
			pages["c1"] = body
			srv := newServer(t, pages)
			fe := &fakeEngine{cursor: "c1"}
			s := build(t, baseCfg(srv.URL), fe)
			_, err := s.poll(s.ctx)
			var me *MalformedError
			if !errors.As(err, &me) {
				t.Fatalf("error %v, want a malformed answer", err)
			}
			if c, _ := fe.stored(""); c != "c1" || len(fe.payloads()) != 0 {
				t.Fatalf("cursor %q and %d messages after a malformed answer", c, len(fe.payloads()))
			}
			// The server mends the page; the next round asks again with
			// the same cursor.
			srv.mu.Lock()
			srv.pages["c1"] = pageOf("c2", "E3")
			srv.mu.Unlock()
			if pages, err := s.poll(s.ctx); err != nil || pages != 2 {
				t.Fatalf("poll after the fix = %d, %v", pages, err)
			}
			if got := srv.requests(); !slices.Equal(got, []string{"c1", "c1", "c2", "c3"}) {
				t.Errorf("asked for %q", got)
			}
		})
	}
}

func TestBreakerOpensAfterRepeatedFailures(t *testing.T) {
	srv := newServer(t, threePages())
	srv.setFail(func(w http.ResponseWriter, r *http.Request, n int) bool {
		http.Error(w, "down", http.StatusBadGateway)
		return true
	})
	fe := &fakeEngine{}
	s := build(t, baseCfg(srv.URL), fe)
	for range 5 {
		if _, err := s.poll(s.ctx); err == nil {
			t.Fatal("poll succeeded")
		}
	}
	_, err := s.poll(s.ctx)
	if !errors.Is(err, gobreaker.ErrOpenState) {
		t.Fatalf("sixth poll: %v, want the breaker open", err)
	}
	if n := len(srv.requests()); n != 5 {
		t.Errorf("%d requests, want 5: an open breaker asks nothing", n)
	}
	s.round() // logs, does not panic
}

func TestCursorInANestedFieldOrANumber(t *testing.T) {
	srv := newServer(t, map[string]string{
		"":   `{"events":[` + event("E1") + `],"paging":{"next":42}}`,
		"42": `{"events":[],"paging":{"next":42}}`,
	})
	cfg := baseCfg(srv.URL)
	cfg.Cursor.Field = "paging.next"
	fe := &fakeEngine{}
	s := build(t, cfg, fe)
	if pages, err := s.poll(s.ctx); err != nil || pages != 1 {
		t.Fatalf("poll = %d, %v", pages, err)
	}
	if c, _ := fe.stored(""); c != "42" {
		t.Errorf("cursor %q, want 42", c)
	}
}

func TestOtherFormatsDeliverTheWholePage(t *testing.T) {
	body1 := `{"data":{"items":[{"ref":"A"}]},"next_cursor":"c1"}`
	body2 := `{"data":{"items":[{"ref":"B"}]},"next_cursor":"c2"}`
	srv := newServer(t, map[string]string{
		"":   body1,
		"c1": body2,
		"c2": `{"data":{"items":[]},"next_cursor":"c3"}`,
		"c3": `{"data":{"items":[{"ref":"B"}]},"next_cursor":"c3"}`,
	})
	cfg := baseCfg(srv.URL)
	cfg.Format = "mapped_json"
	cfg.Mapped.Mapping = &config.Mapping{Records: "data.items"}
	fe := &fakeEngine{}
	s := build(t, cfg, fe)
	if pages, err := s.poll(s.ctx); err != nil || pages != 2 {
		t.Fatalf("poll = %d, %v; want 2", pages, err)
	}
	msgs := fe.messages()
	if len(msgs) != 2 || string(msgs[0].Payload) != body1 || msgs[0].Cursor != "c1" || string(msgs[1].Payload) != body2 || msgs[1].Cursor != "c2" {
		t.Fatalf("messages %+v, want the two bodies with their cursors", msgs)
	}
	if c, _ := fe.stored(""); c != "c2" {
		t.Errorf("cursor %q, want c2: an empty page does not move it", c)
	}
	// A page whose cursor does not move is "nothing new" and not delivered.
	fe.mu.Lock()
	fe.cursor = "c3"
	fe.mu.Unlock()
	if pages, err := s.poll(s.ctx); err != nil || pages != 0 {
		t.Fatalf("poll = %d, %v; want 0", pages, err)
	}
}

func TestWithoutCursorOneAnswerPerRound(t *testing.T) {
	srv := newServer(t, map[string]string{"": `[` + event("E1") + `,` + event("E2") + `]`})
	cfg := baseCfg(srv.URL)
	cfg.Cursor = config.Cursor{}
	fe := &fakeEngine{}
	s := build(t, cfg, fe)
	for range 2 {
		if pages, err := s.poll(s.ctx); err != nil || pages != 1 {
			t.Fatalf("poll = %d, %v; want 1", pages, err)
		}
	}
	if got := ids(t, fe.payloads()); !slices.Equal(got, []string{"E1", "E2", "E1", "E2"}) {
		t.Errorf("delivered %v: each round delivers the answer (dedupe drops repeats)", got)
	}
	for _, m := range fe.messages() {
		if m.Cursor != "" {
			t.Errorf("message with cursor %q from a source without one", m.Cursor)
		}
	}
}

func TestTooLargeIsCutAndFlagged(t *testing.T) {
	big := `{"id":"` + strings.Repeat("x", adapters.MaxPayload) + `"}`
	srv := newServer(t, map[string]string{
		"":   `{"events":[` + big + `,` + event("E2") + `],"next_cursor":"c1"}`,
		"c1": `{"events":[],"next_cursor":"c1"}`,
	})
	fe := &fakeEngine{}
	s := build(t, baseCfg(srv.URL), fe)
	if _, err := s.poll(s.ctx); err != nil {
		t.Fatal(err)
	}
	msgs := fe.messages()
	if len(msgs) != 2 || !msgs[0].TooLarge || len(msgs[0].Payload) != adapters.MaxPayload || msgs[1].TooLarge {
		t.Fatalf("want the big event cut at MaxPayload and flagged, the other whole")
	}

	// A whole-body source without a cursor sends a too-large answer on
	// for the engine to dead-letter.
	srv2 := newServer(t, map[string]string{"": strings.Repeat("U", adapters.MaxPayload+10)})
	cfg := baseCfg(srv2.URL)
	cfg.Format, cfg.Cursor = "edifact", config.Cursor{}
	fe2 := &fakeEngine{}
	s2 := build(t, cfg, fe2)
	if _, err := s2.poll(s2.ctx); err != nil {
		t.Fatal(err)
	}
	if m := fe2.messages(); len(m) != 1 || !m[0].TooLarge || len(m[0].Payload) != adapters.MaxPayload {
		t.Fatalf("want one too-large message")
	}
}

func TestStartPollsAtOnceAndStopCancelsARequestInFlight(t *testing.T) {
	srv := newServer(t, threePages())
	block := make(chan struct{})
	srv.setFail(func(w http.ResponseWriter, r *http.Request, n int) bool {
		if r.URL.Query().Get("since") == "c2" {
			close(block)
			<-r.Context().Done()
			return true
		}
		return false
	})
	cfg := baseCfg(srv.URL)
	cfg.Timeout = time.Minute
	fe := &fakeEngine{}
	env := &adapters.Env{Logger: testLogger(t), Cursor: fe.stored}
	src, err := adapters.NewSource(env, cfg.source())
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Start(context.Background(), fe.deliver); err != nil {
		t.Fatal(err)
	}
	select {
	case <-block:
	case <-time.After(5 * time.Second):
		t.Fatal("the first round did not run at start")
	}
	start := time.Now()
	src.Stop()
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("Stop took %s with a request in flight", el)
	}
	if c, _ := fe.stored(""); c != "c2" {
		t.Errorf("cursor %q, want c2", c)
	}
	src.Stop() // a second Stop is harmless
}

func TestScheduleRunsRounds(t *testing.T) {
	srv := newServer(t, threePages())
	cfg := baseCfg(srv.URL)
	cfg.Schedule = "@every 1s"
	fe := &fakeEngine{}
	env := &adapters.Env{Logger: testLogger(t), Cursor: fe.stored}
	src, err := adapters.NewSource(env, cfg.source())
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Start(context.Background(), fe.deliver); err != nil {
		t.Fatal(err)
	}
	defer src.Stop()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if r := srv.requests(); len(r) >= 5 {
			if !slices.Equal(r[:5], []string{"", "c1", "c2", "c3", "c3"}) {
				t.Fatalf("asked for %q", r)
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("asked for %q; want a second round within 5s", srv.requests())
}

func TestCheck(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte("t"), 0o600)
	ok := baseCfg("https://customs.example/api")
	ok.TokenFile = tokenFile
	if errs := ok.check(); len(errs) != 0 {
		t.Errorf("check(valid) = %v", errs)
	}
	bad := config.Source{
		Name: "p", Type: Type, Broker: "main",
		Keys: config.NewKeys(struct {
			URL     string            `yaml:"url"`
			Cursor  config.Cursor     `yaml:"cursor"`
			Timeout time.Duration     `yaml:"timeout"`
			Headers map[string]string `yaml:"headers"`
			Dir     string            `yaml:"dir"` // file_drop's
		}{"ftp://x", config.Cursor{Param: "since"}, -time.Second, map[string]string{"Bad Header": "x"}, "/tmp"}),
	}
	keys := map[string]bool{}
	_, errs := adapters.Registry.CheckSource(bad)
	for _, e := range errs {
		keys[e.Key] = true
	}
	for _, k := range []string{"url", "schedule", "cursor", "broker", "dir", "timeout", "headers.Bad Header"} {
		if !keys[k] {
			t.Errorf("check did not flag %s; got %v", k, keys)
		}
	}
	if errs := Check(config.Source{Name: "p", Type: Type}, &Config{Schedule: "@every 1s"}); len(errs) != 1 || errs[0].Key != "url" {
		t.Errorf("check without url = %v", errs)
	}
}

func TestRegistered(t *testing.T) {
	known, _ := adapters.Registry.CheckSource(config.Source{Type: Type})
	if !known {
		t.Fatal("http_poll is not registered")
	}
}

// TestCursorLoopStopsTheRoundAndIsReportedOnce: a server whose next cursor
// goes back to one already sent this round would keep a round going for
// maxPagesPerRound pages. The round stops at the repeat, moves the cursor
// no further than the last good page, counts a cursor_loop failure and
// hands the engine one rejected message, the same every round so that it
// is one dead letter with a count.
func TestCursorLoopStopsTheRoundAndIsReportedOnce(t *testing.T) {
	srv := newServer(t, map[string]string{
		"c5": pageOf("c6", "E1"),
		"c6": pageOf("c5", "E2"), // back to where the round started
	})
	fe := &fakeEngine{cursor: "c5"}
	s := build(t, baseCfg(srv.URL+"/releases"), fe)
	var failures []string
	var fmu sync.Mutex
	s.env.SourceFailed = func(source, reason string, _ error) {
		fmu.Lock()
		failures = append(failures, source+"/"+reason)
		fmu.Unlock()
	}
	for round := 1; round <= 3; round++ {
		before := len(srv.requests())
		s.round()
		if n := len(srv.requests()) - before; n > 2 {
			t.Fatalf("round %d made %d requests, want at most 2: %q...", round, n, srv.requests()[before:before+4])
		}
	}
	var rejects []adapters.Message
	for _, m := range fe.messages() {
		if m.Reject != nil {
			rejects = append(rejects, m)
		}
	}
	if len(rejects) != 3 {
		t.Fatalf("%d rejected messages after 3 looping rounds, want 3 (one a round): %+v", len(rejects), fe.messages())
	}
	for _, m := range rejects {
		if m.Reject.Code != CodeCursorLoop || !strings.Contains(m.Reject.Reason, "page 2") ||
			!(strings.Contains(m.Reject.Reason, `"c5"`) || strings.Contains(m.Reject.Reason, `"c6"`)) {
			t.Errorf("rejection %+v, want cursor_loop naming the cursor and page 2", m.Reject)
		}
		if m.Cursor != "" {
			t.Errorf("the loop report carries cursor %q; it must not move the cursor", m.Cursor)
		}
		if string(m.Payload) != string(rejects[0].Payload) {
			t.Errorf("payloads differ between rounds (%q, %q): the dead letters would not fold into one", m.Payload, rejects[0].Payload)
		}
		if strings.Contains(string(m.Payload), "since=") {
			t.Errorf("payload %q names the cursor query", m.Payload)
		}
	}
	fmu.Lock()
	defer fmu.Unlock()
	if want := []string{"customs-poll/cursor_loop", "customs-poll/cursor_loop", "customs-poll/cursor_loop"}; !slices.Equal(failures, want) {
		t.Errorf("failures %q, want %q", failures, want)
	}
}
