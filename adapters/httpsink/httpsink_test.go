package httpsink_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	stdlog "log"
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

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/adapters/httpout"
	"github.com/portsync/portsync/adapters/httpsink"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/internal/testpki"
	"github.com/portsync/portsync/state"
)

var t0 = time.Date(2026, 11, 28, 2, 20, 0, 120e6, time.UTC)

func command(id, container, action string) state.Command {
	return state.Command{
		ID: id, Terminal: "CNSHA-T1", Container: container, Action: action, Hold: "CUSTOMS",
		Agency: "customs", Cause: "REL-2026-000123", Reason: "customs released at 2026-11-28T10:15:00+08:00",
		IssuedAt: t0,
	}
}

type request struct {
	header http.Header
	body   []byte
}

// tos is a fake TOS API: answer decides the status for each command.
type tos struct {
	mu     sync.Mutex
	reqs   []request
	answer func(cmd state.Command) (int, string)
}

func (s *tos) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.reqs = append(s.reqs, request{header: r.Header.Clone(), body: body})
	s.mu.Unlock()
	if r.Method != http.MethodPost {
		http.Error(w, "want POST", http.StatusMethodNotAllowed)
		return
	}
	var cmd state.Command
	if err := json.Unmarshal(body, &cmd); err != nil {
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	status, reply := http.StatusOK, `{"ok":true}`
	if s.answer != nil {
		status, reply = s.answer(cmd)
	}
	w.WriteHeader(status)
	io.WriteString(w, reply)
}

func (s *tos) requests() []request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reqs)
}

// logBuffer collects log output, safe for the sink's goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func newSink(t *testing.T, cfg config.Sink, logs io.Writer) adapters.Sink {
	t.Helper()
	cfg.Type = "http"
	if cfg.Name == "" {
		cfg.Name = "tos-http"
	}
	env := &adapters.Env{}
	if logs != nil {
		env.Logger = slog.New(slog.NewTextHandler(logs, nil))
	}
	s, err := adapters.NewSink(env, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func writeToken(t *testing.T, token string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tos.token")
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestSentBodyAndHeaders(t *testing.T) {
	fake := &tos{}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	s := newSink(t, config.Sink{Keys: config.NewKeys(httpout.Config{
		URL:       srv.URL + "/api/commands",
		TokenFile: writeToken(t, "s3cret"),
		Headers:   map[string]string{"X-Terminal": "CNSHA-T1"},
	})}, nil)
	cmd := command("cmd-000000000042", "MSCU1234566", state.ReleaseHold)
	if err := s.Send(context.Background(), []state.Command{cmd}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	reqs := fake.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	r := reqs[0]
	for k, want := range map[string]string{
		"Authorization":   "Bearer s3cret",
		"X-Terminal":      "CNSHA-T1",
		"Content-Type":    "application/json",
		"Idempotency-Key": "cmd-000000000042",
	} {
		if got := r.header.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	// The body is the command of DESIGN 3.3, field for field.
	var got map[string]any
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
	want := map[string]any{
		"id": "cmd-000000000042", "terminal": "CNSHA-T1", "container": "MSCU1234566", "action": "release_hold",
		"hold": "CUSTOMS", "agency": "customs", "cause": "REL-2026-000123",
		"reason": "customs released at 2026-11-28T10:15:00+08:00", "issued_at": "2026-11-28T02:20:00.12Z",
	}
	if len(got) != len(want) {
		t.Errorf("body has fields %v, want exactly %v", keys(got), keys(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("body %s = %v, want %v", k, got[k], v)
		}
	}
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestEveryCommandIsPostedContainersInOrder(t *testing.T) {
	fake := &tos{answer: func(state.Command) (int, string) {
		time.Sleep(2 * time.Millisecond) // let lanes interleave
		return http.StatusAccepted, ""
	}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	s := newSink(t, config.Sink{Keys: config.NewKeys(httpout.Config{URL: srv.URL})}, nil)
	containers := []string{"MSCU1234566", "TGHU1234567", "CSQU3054383"}
	var cmds []state.Command
	for i := range 30 {
		c := command("cmd-"+string(rune('A'+i/10))+string(rune('0'+i%10)), containers[i%3], state.AddHold)
		cmds = append(cmds, c)
	}
	if err := s.Send(context.Background(), cmds); err != nil {
		t.Fatalf("Send: %v", err)
	}
	reqs := fake.requests()
	if len(reqs) != len(cmds) {
		t.Fatalf("%d requests, want %d", len(reqs), len(cmds))
	}
	seen := map[string][]string{}
	for _, r := range reqs {
		var c state.Command
		if err := json.Unmarshal(r.body, &c); err != nil {
			t.Fatal(err)
		}
		seen[c.Container] = append(seen[c.Container], c.ID)
	}
	for _, ctr := range containers {
		var want []string
		for _, c := range cmds {
			if c.Container == ctr {
				want = append(want, c.ID)
			}
		}
		if !slices.Equal(seen[ctr], want) {
			t.Errorf("commands for %s arrived as %v, want in order %v", ctr, seen[ctr], want)
		}
	}
}

func TestServerErrorIsRetryable(t *testing.T) {
	fake := &tos{answer: func(state.Command) (int, string) { return http.StatusInternalServerError, "database down" }}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	s := newSink(t, config.Sink{Keys: config.NewKeys(httpout.Config{URL: srv.URL})}, nil)
	err := s.Send(context.Background(), []state.Command{command("cmd-1", "MSCU1234566", state.AddHold)})
	if err == nil {
		t.Fatal("Send succeeded on HTTP 500")
	}
	if errors.Is(err, adapters.ErrRejected) || adapters.OnlyRejected(err) {
		t.Errorf("HTTP 500 reported as a rejection: %v", err)
	}
	var st *httpout.StatusError
	if !errors.As(err, &st) || st.Status != 500 {
		t.Errorf("error %v does not carry the HTTP 500", err)
	}
	if !strings.Contains(err.Error(), "database down") {
		t.Errorf("error %q does not show the reply", err)
	}
}

func TestConflictAndUnprocessableAreRejections(t *testing.T) {
	for _, status := range []int{http.StatusConflict, http.StatusUnprocessableEntity} {
		fake := &tos{answer: func(state.Command) (int, string) { return status, `{"error":"container not in yard"}` }}
		srv := httptest.NewServer(fake)
		logs := &logBuffer{}
		s := newSink(t, config.Sink{Keys: config.NewKeys(httpout.Config{URL: srv.URL})}, logs)
		cmd := command("cmd-7", "MSCU1234566", state.ReleaseHold)
		err := s.Send(context.Background(), []state.Command{cmd})
		srv.Close()
		if !errors.Is(err, adapters.ErrRejected) {
			t.Fatalf("HTTP %d: err %v, want ErrRejected", status, err)
		}
		if !adapters.OnlyRejected(err) {
			t.Errorf("HTTP %d: OnlyRejected false for %v", status, err)
		}
		var rej *httpsink.Rejection
		if !errors.As(err, &rej) || rej.Status != status || rej.Command.ID != "cmd-7" || !strings.Contains(rej.Reply, "not in yard") {
			t.Errorf("HTTP %d: rejection %+v", status, rej)
		}
		for _, want := range []string{"rejected", "MSCU1234566", "cmd-7", "release_hold", "not in yard"} {
			if !strings.Contains(logs.String(), want) {
				t.Errorf("HTTP %d: log does not mention %q:\n%s", status, want, logs)
			}
		}
		// Sent again (as the dispatcher may): logged once, not every time.
		_ = s.Send(context.Background(), []state.Command{cmd})
		if n := strings.Count(logs.String(), "the TOS rejected a command"); n != 1 {
			t.Errorf("HTTP %d: rejection logged %d times, want 1", status, n)
		}
	}
}

func TestMixedBatchSaysWhatBecameOfEach(t *testing.T) {
	fake := &tos{answer: func(c state.Command) (int, string) {
		switch c.Container {
		case "TGHU1234567":
			return http.StatusConflict, "hold belongs to another party"
		case "CSQU3054383":
			return http.StatusBadGateway, "upstream down"
		}
		return http.StatusOK, ""
	}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	s := newSink(t, config.Sink{Keys: config.NewKeys(httpout.Config{URL: srv.URL})}, nil)
	err := s.Send(context.Background(), []state.Command{
		command("cmd-1", "MSCU1234566", state.AddHold),
		command("cmd-2", "TGHU1234567", state.AddHold),
		command("cmd-3", "CSQU3054383", state.AddHold),
	})
	var se *adapters.SendError
	if !errors.As(err, &se) {
		t.Fatalf("err %v, want a *SendError", err)
	}
	if !errors.Is(err, adapters.ErrRejected) {
		t.Error("ErrRejected not found in a batch with a rejection")
	}
	if adapters.OnlyRejected(err) {
		t.Error("OnlyRejected true although a command failed with 502")
	}
	if got := se.Outcome("cmd-1"); got != nil {
		t.Errorf("cmd-1: %v, want sent", got)
	}
	if got := se.Outcome("cmd-2"); !errors.Is(got, adapters.ErrRejected) {
		t.Errorf("cmd-2: %v, want rejected", got)
	}
	if got := se.Outcome("cmd-3"); got == nil || errors.Is(got, adapters.ErrRejected) {
		t.Errorf("cmd-3: %v, want a delivery failure", got)
	}
	if got := se.Outcome("cmd-9"); got == nil {
		t.Error("cmd-9 (not in the batch) reported as sent")
	}
	if se.Outcome("cmd-1") != nil || se.FirstFailure() == nil {
		t.Errorf("SendError %+v", se)
	}
	for _, want := range []string{"1 of 3 commands rejected", "1 of 3 commands not delivered", "upstream down"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestSlowTOSTimesOut(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	s := newSink(t, config.Sink{Keys: config.NewKeys(httpout.Config{URL: srv.URL, Timeout: 100 * time.Millisecond})}, nil)
	start := time.Now()
	err := s.Send(context.Background(), []state.Command{command("cmd-1", "MSCU1234566", state.AddHold)})
	if err == nil {
		t.Fatal("Send succeeded against a TOS that never answers")
	}
	if errors.Is(err, adapters.ErrRejected) {
		t.Errorf("timeout reported as a rejection: %v", err)
	}
	if !strings.Contains(err.Error(), "timeout") && !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %q does not say it timed out", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("took %s, want about the 100ms timeout", took)
	}
}

func TestNothingListening(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	s := newSink(t, config.Sink{Keys: config.NewKeys(httpout.Config{URL: url})}, nil)
	err := s.Send(context.Background(), []state.Command{command("cmd-1", "MSCU1234566", state.AddHold)})
	if err == nil || errors.Is(err, adapters.ErrRejected) {
		t.Fatalf("err %v, want a connection failure", err)
	}
}

func TestCancelledContextSendsNothing(t *testing.T) {
	fake := &tos{}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	s := newSink(t, config.Sink{Keys: config.NewKeys(httpout.Config{URL: srv.URL})}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Send(ctx, []state.Command{command("cmd-1", "MSCU1234566", state.AddHold), command("cmd-2", "TGHU1234567", state.AddHold)})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err %v, want context.Canceled", err)
	}
	if n := len(fake.requests()); n != 0 {
		t.Errorf("%d requests after cancel, want 0", n)
	}
}

func TestRefusedRequestIsRetryableAndLogged(t *testing.T) {
	fake := &tos{answer: func(state.Command) (int, string) { return http.StatusUnauthorized, "bad token" }}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	logs := &logBuffer{}
	s := newSink(t, config.Sink{Keys: config.NewKeys(httpout.Config{URL: srv.URL})}, logs)
	err := s.Send(context.Background(), []state.Command{command("cmd-1", "MSCU1234566", state.AddHold)})
	if err == nil || errors.Is(err, adapters.ErrRejected) {
		t.Fatalf("err %v, want a (retryable) refusal", err)
	}
	if !strings.Contains(logs.String(), "refused") {
		t.Errorf("refusal not logged:\n%s", logs)
	}
}

func TestMutualTLS(t *testing.T) {
	pki := testpki.New(t, "tos-ca")
	fake := &tos{}
	srv := httptest.NewUnstartedServer(fake)
	srv.TLS = pki.ServerConfig(t, true)
	srv.Config.ErrorLog = stdlog.New(io.Discard, "", 0) // the refused handshakes below
	srv.StartTLS()
	defer srv.Close()
	cmds := []state.Command{command("cmd-1", "MSCU1234566", state.AddHold)}

	s := newSink(t, config.Sink{Keys: config.NewKeys(httpout.Config{URL: srv.URL, TLS: config.TLS{CAFile: pki.CAFile, CertFile: pki.ClientCert, KeyFile: pki.ClientKey}})}, nil)
	if err := s.Send(context.Background(), cmds); err != nil {
		t.Fatalf("with CA and client certificate: %v", err)
	}
	s = newSink(t, config.Sink{Keys: config.NewKeys(httpout.Config{URL: srv.URL, TLS: config.TLS{CAFile: pki.CAFile}})}, nil)
	if err := s.Send(context.Background(), cmds); err == nil {
		t.Error("succeeded without the client certificate the server requires")
	}
	s = newSink(t, config.Sink{Keys: config.NewKeys(httpout.Config{URL: srv.URL})}, nil)
	if err := s.Send(context.Background(), cmds); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("without the CA: %v, want a certificate error", err)
	}
	if got := len(fake.requests()); got != 1 {
		t.Errorf("%d requests reached the server, want 1", got)
	}
}

func TestNewFailsOnMissingToken(t *testing.T) {
	_, err := adapters.NewSink(&adapters.Env{}, config.Sink{Type: "http", Name: "tos-http", Keys: config.NewKeys(httpout.Config{URL: "https://tos.example/", TokenFile: "/nonexistent/token"})})
	if err == nil || !strings.Contains(err.Error(), "token_file") {
		t.Errorf("err %v, want a token_file error", err)
	}
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		cfg  config.Sink
		keys []string
	}{
		{config.Sink{Keys: config.NewKeys(httpout.Config{URL: "https://tos.example/api/commands"})}, nil},
		{config.Sink{Keys: config.NewKeys(httpout.Config{URL: "https://tos.example/x", TokenFile: "/t", Timeout: 5 * time.Second, Headers: map[string]string{"X-A": "b"}})}, nil},
		{config.Sink{}, []string{"url"}},
		{config.Sink{Keys: config.NewKeys(httpout.Config{URL: "ftp://tos.example/"})}, []string{"url"}},
		{config.Sink{Keys: config.NewKeys(httpout.Config{URL: "http://h/", TLS: config.TLS{CAFile: "/ca"}})}, []string{"tls"}},
		{config.Sink{Keys: config.NewKeys(httpout.Config{URL: "https://h/", Timeout: -time.Second})}, []string{"timeout"}},
		{config.Sink{Keys: config.NewKeys(httpout.Config{URL: "https://h/", TokenFile: "/t", Headers: map[string]string{"Authorization": "Basic x"}})}, []string{"headers.Authorization"}},
		{config.Sink{Broker: "main", Keys: config.NewKeys(struct {
			httpout.Config `yaml:",inline"`
			Topic          string `yaml:"topic"`
			Template       string `yaml:"template"`
		}{httpout.Config{URL: "https://h/"}, "tos/commands", "slack"})}, []string{"broker", "template", "topic"}},
	} {
		var got []string
		tc.cfg.Type = httpsink.Type
		_, errs := adapters.Registry.CheckSink(tc.cfg)
		for _, e := range errs {
			got = append(got, e.Key)
			if e.Msg == "" {
				t.Errorf("%+v: empty message for %s", tc.cfg, e.Key)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, tc.keys) {
			t.Errorf("Check(%+v) keys %v, want %v", tc.cfg, got, tc.keys)
		}
	}
	known, errs := adapters.Registry.CheckSink(config.Sink{Type: "http"})
	if !known || len(errs) != 1 || errs[0].Key != "url" {
		t.Errorf("registry: known %v, errs %v; want the http sink registered and url required", known, errs)
	}
}
