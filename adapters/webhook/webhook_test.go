package webhook_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
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
	"github.com/portsync/portsync/adapters/webhook"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/internal/testpki"
	"github.com/portsync/portsync/state"
)

var t0 = time.Date(2026, 11, 28, 2, 20, 0, 0, time.UTC)

func stale(container string) state.Alert {
	return state.Alert{
		ID: "stale_hold/" + container + "/customs", Kind: state.KindStaleHold, Severity: "warning", State: state.Firing,
		Terminal: "CNSHA-T1", Container: container, Agency: "customs", Since: t0,
		Summary: "customs released " + container + " at 10:15 but the terminal still holds it after 2m",
		At:      t0.Add(2 * time.Minute),
	}
}

func departure() state.Alert {
	return state.Alert{
		ID: "unauthorized_departure/TGHU1234567", Kind: state.KindUnauthorizedDeparture, Severity: "critical", State: state.Firing,
		Terminal: "CNSHA-T1", Container: "TGHU1234567", Since: t0, Summary: "TGHU1234567 departed while customs holds it",
		At: t0,
	}
}

func resolved(a state.Alert) state.Alert {
	a.State = state.Resolved
	a.At = a.At.Add(time.Minute)
	return a
}

type request struct {
	header http.Header
	body   []byte
	query  string
}

// recorder is an endpoint that records requests and answers status.
type recorder struct {
	mu     sync.Mutex
	reqs   []request
	status int
	reply  string
	delay  time.Duration
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.reqs = append(r.reqs, request{header: req.Header.Clone(), body: body, query: req.URL.RawQuery})
	status, reply, delay := r.status, r.reply, r.delay
	r.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-req.Context().Done():
		}
	}
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	io.WriteString(w, reply)
}

func (r *recorder) requests() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.reqs)
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func newChannel(t *testing.T, cfg config.Sink, log *slog.Logger) adapters.Notifier {
	t.Helper()
	cfg.Type = "webhook"
	if cfg.Name == "" {
		cfg.Name = "ops-webhook"
	}
	if _, errs := adapters.Registry.CheckChannel(cfg); len(errs) > 0 {
		t.Fatalf("Check: %v", errs)
	}
	n, err := adapters.NewChannel(&adapters.Env{Logger: log, Config: &config.Config{Terminal: "CNSHA-T1"}}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPlainOneBodyPerAlert(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	secret := "k3y-for-hmac"
	n := newChannel(t, config.Sink{Keys: config.NewKeys(webhook.Config{
		Config: httpout.Config{
			URL:       srv.URL + "/portsync",
			TokenFile: writeFile(t, "token", "tok-123\n"),
			Headers:   map[string]string{"X-Tenant": "cnsha", "x-lower": "v"},
		},
		SecretFile: writeFile(t, "secret", "  "+secret+"\n"),
	})}, nil)
	alerts := []state.Alert{stale("MSCU1234566"), resolved(stale("CSQU3054383")), departure()}
	if err := n.Notify(context.Background(), alerts); err != nil {
		t.Fatal(err)
	}
	reqs := rec.requests()
	if len(reqs) != len(alerts) {
		t.Fatalf("%d requests, want one per alert (%d)", len(reqs), len(alerts))
	}
	want := map[string]bool{}
	for _, a := range alerts {
		b, err := adapters.EncodeAlert(a)
		if err != nil {
			t.Fatal(err)
		}
		want[string(b)] = true
	}
	for _, r := range reqs {
		if !want[string(r.body)] {
			t.Errorf("unexpected body %s", r.body)
		}
		delete(want, string(r.body))
		var wire map[string]any
		if err := json.Unmarshal(r.body, &wire); err != nil {
			t.Fatalf("body is not JSON: %v", err)
		}
		for _, k := range []string{"id", "kind", "severity", "state", "terminal", "since", "summary", "at"} {
			if _, ok := wire[k]; !ok {
				t.Errorf("body lacks %q: %s", k, r.body)
			}
		}
		if _, ok := wire["notified"]; ok {
			t.Errorf("body carries delivery bookkeeping: %s", r.body)
		}
		if got := r.header.Get("Content-Type"); got != "application/json" {
			t.Errorf("Content-Type = %q", got)
		}
		if got := r.header.Get("Authorization"); got != "Bearer tok-123" {
			t.Errorf("Authorization = %q", got)
		}
		if r.header.Get("X-Tenant") != "cnsha" || r.header.Get("X-Lower") != "v" {
			t.Errorf("configured headers missing: %v", r.header)
		}
		sig := r.header.Get(webhook.SignatureHeader)
		m := hmac.New(sha256.New, []byte(secret))
		m.Write(r.body)
		if want := fmt.Sprintf("sha256=%x", m.Sum(nil)); sig != want {
			t.Errorf("signature %q, want %q", sig, want)
		}
		if !webhook.Verify([]byte(secret), r.body, sig) || webhook.Verify([]byte("other"), r.body, sig) {
			t.Error("Verify disagrees with the signature")
		}
	}
	if len(want) > 0 {
		t.Errorf("alerts not posted: %v", want)
	}
}

func TestNoSignatureWithoutSecret(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	n := newChannel(t, config.Sink{Keys: config.NewKeys(webhook.Config{Config: httpout.Config{URL: srv.URL}})}, nil)
	if err := n.Notify(context.Background(), []state.Alert{stale("MSCU1234566")}); err != nil {
		t.Fatal(err)
	}
	r := rec.requests()[0]
	if r.header.Get(webhook.SignatureHeader) != "" || r.header.Get("Authorization") != "" {
		t.Errorf("unexpected headers %v", r.header)
	}
	if err := n.Notify(context.Background(), nil); err != nil || len(rec.requests()) != 1 {
		t.Errorf("Notify(nil) = %v and posted", err)
	}
}

func digestAlerts() []state.Alert {
	return []state.Alert{
		stale("MSCU1234566"), stale("CSQU3054383"), resolved(stale("TGHU1234567")), departure(),
	}
}

func checkDigestText(t *testing.T, text string) {
	t.Helper()
	lines := strings.Split(text, "\n")
	if lines[0] != "[portsync CNSHA-T1] 3 firing, 1 resolved" {
		t.Errorf("title %q", lines[0])
	}
	for _, want := range []string{
		"unauthorized_departure: 1 firing",
		"stale_hold: 2 firing, 1 resolved",
		"- FIRING critical unauthorized_departure TGHU1234567: TGHU1234567 departed while customs holds it",
		"- FIRING warning stale_hold CSQU3054383/customs: customs released CSQU3054383",
		"- RESOLVED warning stale_hold TGHU1234567/customs",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("digest lacks %q:\n%s", want, text)
		}
	}
	// Critical first, resolved last.
	if i, j := strings.Index(text, "- FIRING critical"), strings.Index(text, "- RESOLVED"); i < 0 || j < i {
		t.Errorf("digest order wrong:\n%s", text)
	}
}

func TestDigestTemplates(t *testing.T) {
	for _, tmpl := range []string{webhook.Slack, webhook.Teams, webhook.DingTalk} {
		t.Run(tmpl, func(t *testing.T) {
			rec := &recorder{}
			if tmpl == webhook.DingTalk {
				rec.reply = `{"errcode":0,"errmsg":"ok"}`
			}
			srv := httptest.NewServer(rec)
			defer srv.Close()
			n := newChannel(t, config.Sink{Keys: config.NewKeys(webhook.Config{Config: httpout.Config{URL: srv.URL + "/hook?access_token=abc"}, Template: tmpl})}, nil)
			if err := n.Notify(context.Background(), digestAlerts()); err != nil {
				t.Fatal(err)
			}
			reqs := rec.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want one digest", len(reqs))
			}
			var text string
			switch tmpl {
			case webhook.Slack, webhook.Teams:
				var body map[string]any
				if err := json.Unmarshal(reqs[0].body, &body); err != nil {
					t.Fatal(err)
				}
				if len(body) != 1 {
					t.Errorf("body has keys other than text: %s", reqs[0].body)
				}
				text, _ = body["text"].(string)
				if tmpl == webhook.Teams {
					if strings.Contains(strings.ReplaceAll(text, "\n\n", ""), "\n") {
						t.Errorf("teams text has single line breaks: %q", text)
					}
					text = strings.ReplaceAll(text, "\n\n", "\n")
				}
			case webhook.DingTalk:
				var body struct {
					MsgType string `json:"msgtype"`
					Text    struct {
						Content string `json:"content"`
					} `json:"text"`
				}
				if err := json.Unmarshal(reqs[0].body, &body); err != nil {
					t.Fatal(err)
				}
				if body.MsgType != "text" {
					t.Errorf("msgtype %q", body.MsgType)
				}
				text = body.Text.Content
				if reqs[0].query != "access_token=abc" {
					t.Errorf("query %q: changed without a secret", reqs[0].query)
				}
			}
			checkDigestText(t, text)
		})
	}
}

func TestDigestCapped(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	n := newChannel(t, config.Sink{Keys: config.NewKeys(webhook.Config{Config: httpout.Config{URL: srv.URL}, Template: webhook.Slack})}, nil)
	var alerts []state.Alert
	for i := range 130 {
		a := stale("MSCU1234566")
		a.ID = fmt.Sprintf("stale_hold/C%03d/customs", i)
		a.Summary = "a & b <c>"
		alerts = append(alerts, a)
	}
	if err := n.Notify(context.Background(), alerts); err != nil {
		t.Fatal(err)
	}
	reqs := rec.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want one digest for 130 alerts", len(reqs))
	}
	var body struct{ Text string }
	if err := json.Unmarshal(reqs[0].body, &body); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(body.Text, "\n")
	alertLines := 0
	for _, l := range lines {
		if strings.HasPrefix(l, "- ") {
			alertLines++
		}
	}
	if alertLines != webhook.MaxDigestLines || lines[len(lines)-1] != "and 80 more" {
		t.Errorf("%d alert lines, last %q; want %d and \"and 80 more\"", alertLines, lines[len(lines)-1], webhook.MaxDigestLines)
	}
	if !strings.Contains(body.Text, "stale_hold: 130 firing") {
		t.Errorf("count line missing:\n%s", body.Text)
	}
	if !strings.Contains(body.Text, "a &amp; b &lt;c&gt;") {
		t.Errorf("slack text not escaped:\n%s", body.Text)
	}
}

func TestDingTalkSignatureAndErrcode(t *testing.T) {
	rec := &recorder{reply: `{"errcode":310000,"errmsg":"sign not match"}`}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	secret := "SECdingtalk"
	n := newChannel(t, config.Sink{Keys: config.NewKeys(webhook.Config{Config: httpout.Config{URL: srv.URL + "/robot/send?access_token=abc"}, Template: webhook.DingTalk, SecretFile: writeFile(t, "s", secret)})}, nil)
	err := n.Notify(context.Background(), digestAlerts())
	if err == nil || !strings.Contains(err.Error(), "310000") {
		t.Fatalf("Notify = %v, want the robot's errcode", err)
	}
	r := rec.requests()[0]
	q, _ := parseQuery(r.query)
	ts := q["timestamp"]
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "\n" + secret))
	if want := base64.StdEncoding.EncodeToString(m.Sum(nil)); q["sign"] != want || q["access_token"] != "abc" {
		t.Errorf("query %v, want sign %q and the access token kept", q, want)
	}
	if !webhook.Verify([]byte(secret), r.body, r.header.Get(webhook.SignatureHeader)) {
		t.Error("digest body not signed")
	}
}

func parseQuery(raw string) (map[string]string, error) {
	out := map[string]string{}
	req, err := http.NewRequest("GET", "http://x/?"+raw, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range req.URL.Query() {
		out[k] = v[0]
	}
	return out, nil
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		status  int
		refused bool
	}{
		{http.StatusInternalServerError, false},
		{http.StatusServiceUnavailable, false},
		{http.StatusTooManyRequests, false},
		{http.StatusRequestTimeout, false},
		{http.StatusNotFound, true},
		{http.StatusUnauthorized, true},
		{http.StatusFound, true},
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			rec := &recorder{status: tc.status, reply: "no such hook"}
			srv := httptest.NewServer(rec)
			defer srv.Close()
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, nil))
			n := newChannel(t, config.Sink{Keys: config.NewKeys(webhook.Config{Config: httpout.Config{URL: srv.URL}})}, log)
			err := n.Notify(context.Background(), []state.Alert{stale("MSCU1234566"), departure()})
			if err == nil {
				t.Fatal("Notify succeeded")
			}
			if !strings.Contains(err.Error(), fmt.Sprint(tc.status)) || !strings.Contains(err.Error(), "2 of 2 alerts") {
				t.Errorf("error %q does not name the status and the count", err)
			}
			if got := httpout.IsRefused(err); got != tc.refused {
				t.Errorf("IsRefused = %v, want %v", got, tc.refused)
			}
			if refusedLogged := strings.Contains(logs.String(), "refused"); refusedLogged != tc.refused {
				t.Errorf("refusal logged = %v, want %v; log:\n%s", refusedLogged, tc.refused, logs.String())
			}
			// Logged once a minute, not on every retry.
			logs.Reset()
			n.Notify(context.Background(), []state.Alert{stale("MSCU1234566")})
			if logs.Len() != 0 {
				t.Errorf("logged again at once:\n%s", logs.String())
			}
		})
	}
}

func TestPartialFailureIsAnError(t *testing.T) {
	var mu sync.Mutex
	count := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		count++
		mu.Unlock()
		if strings.Contains(string(body), "TGHU1234567") {
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	defer srv.Close()
	n := newChannel(t, config.Sink{Keys: config.NewKeys(webhook.Config{Config: httpout.Config{URL: srv.URL}})}, nil)
	err := n.Notify(context.Background(), []state.Alert{stale("MSCU1234566"), departure(), stale("CSQU3054383")})
	if err == nil || !strings.Contains(err.Error(), "unauthorized_departure/TGHU1234567") {
		t.Fatalf("Notify = %v, want the failed alert named", err)
	}
	if count != 3 {
		t.Errorf("%d requests, want all 3 tried", count)
	}
}

func TestTimeout(t *testing.T) {
	rec := &recorder{delay: 5 * time.Second}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	n := newChannel(t, config.Sink{Keys: config.NewKeys(webhook.Config{Config: httpout.Config{URL: srv.URL, Timeout: 100 * time.Millisecond}})}, nil)
	start := time.Now()
	err := n.Notify(context.Background(), []state.Alert{stale("MSCU1234566")})
	if err == nil {
		t.Fatal("Notify succeeded against a hung endpoint")
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("took %v with a 100ms timeout", el)
	}
	if httpout.IsRefused(err) {
		t.Errorf("a timeout counts as refused: %v", err)
	}
}

func TestConnectionRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	n := newChannel(t, config.Sink{Keys: config.NewKeys(webhook.Config{Config: httpout.Config{URL: url}})}, nil)
	if err := n.Notify(context.Background(), []state.Alert{stale("MSCU1234566")}); err == nil {
		t.Fatal("Notify succeeded with nothing listening")
	}
}

func TestMutualTLS(t *testing.T) {
	pki := testpki.New(t, "webhook-ca")
	rec := &recorder{}
	srv := httptest.NewUnstartedServer(rec)
	srv.TLS = pki.ServerConfig(t, true)
	srv.Config.ErrorLog = stdlog.New(io.Discard, "", 0) // the refused handshakes below
	srv.StartTLS()
	defer srv.Close()

	n := newChannel(t, config.Sink{Keys: config.NewKeys(webhook.Config{Config: httpout.Config{URL: srv.URL, TLS: config.TLS{CAFile: pki.CAFile, CertFile: pki.ClientCert, KeyFile: pki.ClientKey}}})}, nil)
	if err := n.Notify(context.Background(), []state.Alert{stale("MSCU1234566")}); err != nil {
		t.Fatalf("with CA and client certificate: %v", err)
	}
	n = newChannel(t, config.Sink{Keys: config.NewKeys(webhook.Config{Config: httpout.Config{URL: srv.URL, TLS: config.TLS{CAFile: pki.CAFile}}})}, nil)
	if err := n.Notify(context.Background(), []state.Alert{stale("MSCU1234566")}); err == nil {
		t.Error("succeeded without the client certificate the server requires")
	}
	n = newChannel(t, config.Sink{Keys: config.NewKeys(webhook.Config{Config: httpout.Config{URL: srv.URL}})}, nil)
	if err := n.Notify(context.Background(), []state.Alert{stale("MSCU1234566")}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("without the CA: %v, want a certificate error", err)
	}
	if got := len(rec.requests()); got != 1 {
		t.Errorf("%d requests reached the server, want 1", got)
	}
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		cfg  config.Sink
		keys []string
	}{
		{config.Sink{Keys: config.NewKeys(webhook.Config{Config: httpout.Config{URL: "https://hooks.example/portsync"}})}, nil},
		{config.Sink{Keys: config.NewKeys(webhook.Config{Config: httpout.Config{URL: "https://hooks.example/x", Headers: map[string]string{"X-A": "b"}}, Template: "teams"})}, nil},
		{config.Sink{}, []string{"url"}},
		{config.Sink{Keys: config.NewKeys(webhook.Config{Config: httpout.Config{URL: "ftp://hooks.example/"}})}, []string{"url"}},
		{config.Sink{Keys: config.NewKeys(webhook.Config{Config: httpout.Config{URL: "https:///nohost"}})}, []string{"url"}},
		{config.Sink{Keys: config.NewKeys(webhook.Config{Config: httpout.Config{URL: "https://h/"}, Template: "discord"})}, []string{"template"}},
		{config.Sink{Keys: config.NewKeys(webhook.Config{Config: httpout.Config{URL: "http://h/", TLS: config.TLS{CAFile: "/ca"}}})}, []string{"tls"}},
		{config.Sink{Keys: config.NewKeys(webhook.Config{Config: httpout.Config{URL: "https://h/", TLS: config.TLS{CertFile: "/c"}}})}, []string{"tls"}},
		{config.Sink{Keys: config.NewKeys(webhook.Config{Config: httpout.Config{URL: "https://h/", Timeout: -time.Second}})}, []string{"timeout"}},
		{config.Sink{Keys: config.NewKeys(webhook.Config{Config: httpout.Config{URL: "https://h/", Headers: map[string]string{"Bad Name": "v", "Content-Type": "text/plain", "X-Ok": "a\r\nInjected: 1"}}})},
			[]string{"headers.Bad Name", "headers.Content-Type", "headers.X-Ok"}},
		{config.Sink{Keys: config.NewKeys(webhook.Config{Config: httpout.Config{URL: "https://h/", TokenFile: "/t", Headers: map[string]string{"authorization": "Basic x"}}})}, []string{"headers.authorization"}},
		{config.Sink{Broker: "main", Keys: config.NewKeys(struct {
			webhook.Config `yaml:",inline"`
			SMTP           string `yaml:"smtp"`
		}{webhook.Config{Config: httpout.Config{URL: "https://h/"}}, "mail:587"})}, []string{"broker", "smtp"}},
	} {
		var got []string
		tc.cfg.Type = webhook.Type
		_, errs := adapters.Registry.CheckChannel(tc.cfg)
		for _, e := range errs {
			got = append(got, e.Key)
			if e.Msg == "" {
				t.Errorf("%+v: empty message for %s", tc.cfg, e.Key)
			}
		}
		slices.Sort(got)
		slices.Sort(tc.keys)
		if !slices.Equal(got, tc.keys) {
			t.Errorf("Check(%+v) keys %v, want %v", tc.cfg, got, tc.keys)
		}
	}
}

func TestNewReadsSecrets(t *testing.T) {
	_, err := adapters.NewChannel(&adapters.Env{}, config.Sink{Type: webhook.Type, Name: "w", Keys: config.NewKeys(webhook.Config{Config: httpout.Config{URL: "https://h/"}, SecretFile: filepath.Join(t.TempDir(), "missing")})})
	if err == nil || !strings.Contains(err.Error(), "secret_file") {
		t.Errorf("New with a missing secret file: %v", err)
	}
	_, err = adapters.NewChannel(&adapters.Env{}, config.Sink{Type: webhook.Type, Name: "w", Keys: config.NewKeys(webhook.Config{Config: httpout.Config{URL: "https://h/", TokenFile: writeFile(t, "empty", "\n")}})})
	if err == nil || !strings.Contains(err.Error(), "token_file") {
		t.Errorf("New with an empty token file: %v", err)
	}
}
