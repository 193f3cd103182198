package alertmanager_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/adapters/alertmanager"
	"github.com/portsync/portsync/adapters/httpout"
	"github.com/portsync/portsync/adapters/webhook"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

var t0 = time.Date(2026, 11, 28, 2, 20, 0, 0, time.UTC)

func stale(container string, since time.Time) state.Alert {
	return state.Alert{
		ID: "stale_hold/" + container + "/customs", Kind: state.KindStaleHold, Severity: "warning", State: state.Firing,
		Terminal: "CNSHA-T1", Container: container, Agency: "customs", Since: since,
		Summary: "customs released " + container + " but the terminal still holds it after 2m",
		At:      since.Add(2 * time.Minute),
	}
}

func departure(since time.Time) state.Alert {
	return state.Alert{
		ID: "unauthorized_departure/TGHU1234567", Kind: state.KindUnauthorizedDeparture, Severity: "critical", State: state.Firing,
		Terminal: "CNSHA-T1", Container: "TGHU1234567", Since: since, Summary: "TGHU1234567 departed while customs holds it", At: since,
	}
}

func newChannel(t *testing.T, cfg config.Sink, env *adapters.Env) adapters.Notifier {
	t.Helper()
	cfg.Type = "alertmanager"
	if cfg.Name == "" {
		cfg.Name = "am"
	}
	if _, errs := adapters.Registry.CheckChannel(cfg); len(errs) > 0 {
		t.Fatalf("Check: %v", errs)
	}
	if env == nil {
		env = &adapters.Env{}
	}
	n, err := adapters.NewChannel(env, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPostedJSON(t *testing.T) {
	var mu sync.Mutex
	var bodies [][]byte
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		bodies = append(bodies, body)
		paths = append(paths, r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type")+" "+r.Header.Get("Authorization"))
	}))
	defer srv.Close()

	tok := filepath.Join(t.TempDir(), "tok")
	os.WriteFile(tok, []byte("am-token\n"), 0o600)
	env := &adapters.Env{Config: &config.Config{Alerts: config.Alerts{RepeatInterval: 30 * time.Minute}}}
	n := newChannel(t, config.Sink{Keys: config.NewKeys(httpout.Config{URL: srv.URL + "/", TokenFile: tok})}, env)
	fired := stale("MSCU1234566", t0)
	gone := stale("CSQU3054383", t0)
	gone.State, gone.At = state.Resolved, t0.Add(5*time.Minute)
	dep := departure(t0)
	start := time.Now()
	if err := n.Notify(context.Background(), []state.Alert{fired, gone, dep}); err != nil {
		t.Fatal(err)
	}
	if len(bodies) != 1 {
		t.Fatalf("%d requests, want one for the batch", len(bodies))
	}
	if want := "POST /api/v2/alerts application/json Bearer am-token"; paths[0] != want {
		t.Errorf("request %q, want %q", paths[0], want)
	}
	var got []struct {
		Labels       map[string]string `json:"labels"`
		Annotations  map[string]string `json:"annotations"`
		StartsAt     time.Time         `json:"startsAt"`
		EndsAt       time.Time         `json:"endsAt"`
		GeneratorURL *string           `json:"generatorURL"`
	}
	if err := json.Unmarshal(bodies[0], &got); err != nil {
		t.Fatalf("body %s: %v", bodies[0], err)
	}
	if len(got) != 3 {
		t.Fatalf("%d alerts posted, want 3: %s", len(got), bodies[0])
	}
	wantLabels := map[string]string{
		"alertname": "stale_hold", "kind": "stale_hold", "severity": "warning", "terminal": "CNSHA-T1",
		"container": "MSCU1234566", "agency": "customs", "portsync_id": "stale_hold/MSCU1234566/customs",
	}
	if fmt.Sprint(got[0].Labels) != fmt.Sprint(wantLabels) {
		t.Errorf("labels %v, want %v", got[0].Labels, wantLabels)
	}
	if got[0].Annotations["summary"] != fired.Summary || !got[0].StartsAt.Equal(t0) {
		t.Errorf("firing alert %+v", got[0])
	}
	// Firing: active for three repeat intervals (1h30m here).
	if d := got[0].EndsAt.Sub(start); d < 89*time.Minute || d > 91*time.Minute {
		t.Errorf("firing endsAt %v is %v after now, want 1h30m", got[0].EndsAt, d)
	}
	if got[0].GeneratorURL != nil {
		t.Errorf("generatorURL sent: %q", *got[0].GeneratorURL)
	}
	// Resolved: ends when it resolved.
	if !got[1].EndsAt.Equal(gone.At) || !got[1].StartsAt.Equal(t0) {
		t.Errorf("resolved alert starts %v ends %v, want %v to %v", got[1].StartsAt, got[1].EndsAt, t0, gone.At)
	}
	// Empty labels are left out.
	if _, ok := got[2].Labels["agency"]; ok {
		t.Errorf("empty agency label sent: %v", got[2].Labels)
	}
	if got[2].Labels["severity"] != "critical" || got[2].Labels["alertname"] != "unauthorized_departure" {
		t.Errorf("departure labels %v", got[2].Labels)
	}
}

func TestHoldWithoutConfig(t *testing.T) {
	now := time.Now()
	got := alertmanager.Convert([]state.Alert{stale("MSCU1234566", t0)}, now, alertmanager.MinHold)
	if !got[0].EndsAt.Equal(now.Add(time.Hour).UTC()) {
		t.Errorf("endsAt %v, want now + 1h", got[0].EndsAt)
	}
	// A short repeat interval never shortens the hold below an hour.
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { body, _ = io.ReadAll(r.Body) }))
	defer srv.Close()
	n := newChannel(t, config.Sink{Keys: config.NewKeys(httpout.Config{URL: srv.URL})}, &adapters.Env{Config: &config.Config{Alerts: config.Alerts{RepeatInterval: time.Minute}}})
	if err := n.Notify(context.Background(), []state.Alert{stale("MSCU1234566", t0)}); err != nil {
		t.Fatal(err)
	}
	var posted []alertmanager.Alert
	json.Unmarshal(body, &posted)
	if d := time.Until(posted[0].EndsAt); d < 59*time.Minute || d > 61*time.Minute {
		t.Errorf("endsAt in %v, want 1h", d)
	}
}

func TestEndpoint(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:9093":                     "http://127.0.0.1:9093/api/v2/alerts",
		"http://127.0.0.1:9093/":                    "http://127.0.0.1:9093/api/v2/alerts",
		"https://am.example/alertmanager/":          "https://am.example/alertmanager/api/v2/alerts",
		"https://am.example/api/v2/alerts":          "https://am.example/api/v2/alerts",
		"https://u:p@am.example:9443/x?tenant=cnsh": "https://u:p@am.example:9443/x/api/v2/alerts?tenant=cnsh",
	} {
		if got := alertmanager.Endpoint(in); got != want {
			t.Errorf("Endpoint(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestErrors(t *testing.T) {
	status := http.StatusBadRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		io.WriteString(w, `"start time must be before end time"`)
	}))
	defer srv.Close()
	var logs bytes.Buffer
	n := newChannel(t, config.Sink{Keys: config.NewKeys(httpout.Config{URL: srv.URL})}, &adapters.Env{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	err := n.Notify(context.Background(), []state.Alert{stale("MSCU1234566", t0)})
	if err == nil || !httpout.IsRefused(err) || !strings.Contains(err.Error(), "start time must be before end time") {
		t.Errorf("400: %v, want a refusal quoting Alertmanager", err)
	}
	if !strings.Contains(logs.String(), "refused") {
		t.Errorf("refusal not logged: %s", logs.String())
	}
	status = http.StatusServiceUnavailable
	if err := n.Notify(context.Background(), []state.Alert{stale("MSCU1234566", t0)}); err == nil || httpout.IsRefused(err) {
		t.Errorf("503: %v, want a retryable error", err)
	}
	if err := n.Notify(context.Background(), nil); err != nil {
		t.Errorf("Notify(nil) = %v", err)
	}
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		cfg  config.Sink
		keys []string
	}{
		{config.Sink{Keys: config.NewKeys(httpout.Config{URL: "http://127.0.0.1:9093"})}, nil},
		{config.Sink{}, []string{"url"}},
		{config.Sink{Keys: config.NewKeys(httpout.Config{URL: "127.0.0.1:9093"})}, []string{"url"}},
		{config.Sink{Keys: config.NewKeys(webhook.Config{Config: httpout.Config{URL: "http://am:9093"}, Template: "slack", SecretFile: "/s"})}, []string{"secret_file", "template"}},
	} {
		var got []string
		tc.cfg.Type = alertmanager.Type
		_, errs := adapters.Registry.CheckChannel(tc.cfg)
		for _, e := range errs {
			got = append(got, e.Key)
		}
		slices.Sort(got)
		if !slices.Equal(got, tc.keys) {
			t.Errorf("Check(%+v) keys %v, want %v", tc.cfg, got, tc.keys)
		}
	}
}

// --- a real Alertmanager -----------------------------------------------------

// Binary is the Alertmanager of Debian's prometheus-alertmanager package.
const binary = "/usr/bin/prometheus-alertmanager"

func findAlertmanager(t *testing.T) string {
	t.Helper()
	for _, p := range []string{binary} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	for _, name := range []string{"prometheus-alertmanager", "alertmanager"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("Alertmanager not installed (Debian package prometheus-alertmanager)")
	return ""
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startAlertmanager runs Alertmanager on a free loopback port with a
// receiver that sends nowhere, and returns its base URL.
func startAlertmanager(t *testing.T) string {
	t.Helper()
	bin := findAlertmanager(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfg, []byte(`route:
  receiver: blackhole
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: blackhole
`), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	out := &lockedBuffer{}
	cmd := exec.Command(bin,
		"--config.file="+cfg,
		"--storage.path="+filepath.Join(dir, "data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port),
		"--cluster.listen-address=",
		"--log.level=warn",
	)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("alertmanager output:\n%s", out.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("alertmanager exited: %v\n%s", err, out.String())
		default:
		}
		if resp, err := http.Get(base + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("alertmanager not ready on %s after 30s:\n%s", base, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type gettableAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
	Status      struct {
		State string `json:"state"`
	} `json:"status"`
}

// activeAlerts asks Alertmanager for its active alerts from portsync.
func activeAlerts(t *testing.T, base string) map[string]gettableAlert {
	t.Helper()
	q := url.Values{"active": {"true"}, "filter": {`terminal="CNSHA-T1"`}}
	resp, err := http.Get(base + "/api/v2/alerts?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET alerts: %s: %s", resp.Status, body)
	}
	var list []gettableAlert
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatalf("GET alerts: %v: %s", err, body)
	}
	out := map[string]gettableAlert{}
	for _, a := range list {
		out[a.Labels["portsync_id"]] = a
	}
	return out
}

// waitFor polls Alertmanager until ok holds for its active alerts.
func waitFor(t *testing.T, base, what string, ok func(map[string]gettableAlert) bool) map[string]gettableAlert {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := activeAlerts(t, base)
		if ok(got) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("Alertmanager: %s: not within 20s; active alerts: %+v", what, got)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestRealAlertmanager(t *testing.T) {
	base := startAlertmanager(t)
	n := newChannel(t, config.Sink{Keys: config.NewKeys(httpout.Config{URL: base})}, &adapters.Env{Config: &config.Config{Terminal: "CNSHA-T1"}})

	since := time.Now().Add(-3 * time.Minute).Truncate(time.Second)
	hold, dep := stale("MSCU1234566", since), departure(since)
	if err := n.Notify(context.Background(), []state.Alert{hold, dep}); err != nil {
		t.Fatalf("fire: %v", err)
	}
	got := waitFor(t, base, "both alerts active", func(m map[string]gettableAlert) bool {
		return m[hold.ID].Status.State == "active" && m[dep.ID].Status.State == "active"
	})
	a := got[hold.ID]
	want := map[string]string{
		"alertname": "stale_hold", "kind": "stale_hold", "severity": "warning", "terminal": "CNSHA-T1",
		"container": "MSCU1234566", "agency": "customs", "portsync_id": hold.ID,
	}
	if fmt.Sprint(a.Labels) != fmt.Sprint(want) {
		t.Errorf("labels %v, want %v", a.Labels, want)
	}
	if a.Annotations["summary"] != hold.Summary {
		t.Errorf("summary %q", a.Annotations["summary"])
	}
	if !a.StartsAt.Equal(since) {
		t.Errorf("startsAt %v, want %v", a.StartsAt, since)
	}
	if d := time.Until(a.EndsAt); d < 50*time.Minute {
		t.Errorf("endsAt %v only %v ahead", a.EndsAt, d)
	}
	if l := got[dep.ID].Labels; l["severity"] != "critical" || l["alertname"] != "unauthorized_departure" || l["agency"] != "" {
		t.Errorf("departure labels %v", l)
	}

	// A repeat keeps it active; the resolution ends it.
	if err := n.Notify(context.Background(), []state.Alert{hold}); err != nil {
		t.Fatalf("repeat: %v", err)
	}
	hold.State, hold.At = state.Resolved, time.Now()
	if err := n.Notify(context.Background(), []state.Alert{hold}); err != nil {
		t.Fatalf("resolve: %v", err)
	}
	waitFor(t, base, "stale_hold resolved, departure still active", func(m map[string]gettableAlert) bool {
		_, firing := m[hold.ID]
		return !firing && m[dep.ID].Status.State == "active"
	})
}
