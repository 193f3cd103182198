package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/portsync/portsync/internal/broker"
	"github.com/portsync/portsync/internal/demo"
	"github.com/portsync/portsync/state"
	"github.com/portsync/portsync/sync/daemon"
	"github.com/portsync/portsync/sync/httpapi"
)

// The demo tests run `portsync demo` as a real process (it starts, prints
// its address, serves the dashboard and stops on SIGTERM), and run the same
// demo in process with short times to see that the simulation produces
// every behaviour issue 3 lists, and that the daemon sees each of them.

const demoAlertTopic = "portsync/DEMO-T1/alerts"

var dashboardLine = regexp.MustCompile(`^dashboard: (http://127\.0\.0\.1:[0-9]+/)$`)

func TestDemoCommandStarts(t *testing.T) {
	cmd := exec.Command(portsyncBinary(t), "demo", "-http", "127.0.0.1:0", "-state-dir", t.TempDir())
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// exited is closed once the process is reaped; the reader finishes first,
	// as Wait wants.
	exited := make(chan struct{})
	var waitErr error
	urls := make(chan string, 1)
	var stdoutText lockedBuffer
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			fmt.Fprintln(&stdoutText, sc.Text())
			if m := dashboardLine.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case urls <- m[1]:
				default:
				}
			}
		}
		waitErr = cmd.Wait()
		close(exited)
	}()
	defer func() {
		select {
		case <-exited:
		default:
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("demo stdout:\n%s\ndemo stderr (tail):\n%s", stdoutText.String(), tail(stderr.String(), 4000))
		}
	}()

	var base string
	select {
	case base = <-urls:
	case <-exited:
		t.Fatalf("demo exited before printing its address: %v", waitErr)
	case <-time.After(30 * time.Second):
		t.Fatal("no `dashboard: http://127.0.0.1:PORT/` line on stdout within 30s")
	}
	t.Logf("demo serves %s", base)
	client := &http.Client{Timeout: 10 * time.Second}

	resp, body := httpGet(t, client, base)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(body), "portsync") {
		t.Errorf("GET / = %d %q, body %.200q; want 200 text/html mentioning portsync", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	resp, body = httpGet(t, client, base+"api/v1/overview")
	var o httpapi.Overview
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Errorf("GET /api/v1/overview = %d %q; want 200 JSON", resp.StatusCode, resp.Header.Get("Content-Type"))
	} else if err := json.Unmarshal(body, &o); err != nil || o.Terminal != "DEMO-T1" {
		t.Errorf("overview: terminal %q, err %v; want DEMO-T1 (%.300s)", o.Terminal, err, body)
	}
	// The line is printed as the daemon starts; readiness follows once the
	// broker connection and its subscriptions are acknowledged.
	if err := pollUntil(15*time.Second, func() error {
		resp, body := httpGet(t, client, base+"readyz")
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /readyz = %d %s", resp.StatusCode, body)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		if waitErr != nil {
			t.Errorf("demo after SIGTERM: %v; want exit status 0", waitErr)
		}
	case <-time.After(5 * time.Second):
		t.Error("demo still running 5s after SIGTERM")
	}
}

func TestDemoShowsEveryBehaviour(t *testing.T) {
	// The story is deterministic in its schedule; the TOS's misses depend
	// on when commands arrive, so a seed might in principle not show every
	// behaviour in time: then the next seed is tried.
	var failures []string
	for seed := uint64(1); seed <= 5; seed++ {
		missing := demoBehaviours(t, seed)
		if len(missing) == 0 {
			t.Logf("seed %d showed every behaviour", seed)
			return
		}
		failures = append(failures, fmt.Sprintf("seed %d: missing %s", seed, strings.Join(missing, "; ")))
		t.Logf("%s", failures[len(failures)-1])
	}
	t.Fatalf("no seed showed every behaviour in time:\n%s", strings.Join(failures, "\n"))
}

// demoBehaviourWait bounds the wait for one seed to show everything.
const demoBehaviourWait = 60 * time.Second

// demoBehaviours runs the demo with seed until it has shown every behaviour
// or demoBehaviourWait passes, and returns what it did not show.
func demoBehaviours(t *testing.T, seed uint64) []string {
	t.Helper()
	start := time.Now()
	rig := startDemoRig(t,
		demoOptions{HTTP: "127.0.0.1:0", StateDir: t.TempDir(), ApplyWithin: 500 * time.Millisecond, RetryAfter: time.Second},
		demo.Options{Seed: seed, Tick: 20 * time.Millisecond, VesselEvery: 25})
	defer rig.stop()

	var missing []string
	err := pollUntil(demoBehaviourWait, func() error {
		missing = rig.missingBehaviours()
		if len(missing) > 0 {
			return fmt.Errorf("missing %s", strings.Join(missing, "; "))
		}
		return nil
	})
	if err == nil {
		st := rig.sim.Snapshot()
		t.Logf("seed %d: every behaviour within %v: %+v; world saw %s", seed, time.Since(start).Round(time.Millisecond), st, rig.world.summary())
	} else {
		t.Logf("seed %d: sim stats %+v; world saw %s", seed, rig.sim.Snapshot(), rig.world.summary())
	}
	return missing
}

// missingBehaviours lists what the simulation has not shown yet, as counted
// by the simulation, observed on the broker and seen by the daemon.
func (r *demoRig) missingBehaviours() []string {
	var missing []string
	need := func(ok bool, what string) {
		if !ok {
			missing = append(missing, what)
		}
	}
	st := r.sim.Snapshot()
	need(st.Vessels >= 2, "sim: two vessels")
	need(st.Duplicates >= 1, "sim: a duplicate")
	need(st.OutOfOrder >= 1, "sim: an out-of-order event")
	need(st.Revoked >= 1, "sim: a revoked release")
	need(st.Malformed >= 1, "sim: a malformed message")
	need(st.CommandsMissed >= 1, "sim: a missed command")
	need(st.HeldDepartures >= 1, "sim: a held container gated out")

	w := r.world.counts()
	need(w.batches >= 2, "broker: two vessels discharging batches of several containers")
	need(w.customsBefore >= 1, "broker: a customs decision before discharge")
	need(w.customsAfter >= 1, "broker: a customs decision after discharge")
	need(w.quarantineAfter >= 1, "broker: a quarantine decision after discharge")
	need(w.staleHoldCycle, "alerts topic: a stale_hold firing, then the same id resolved")
	need(w.departureAlert, "alerts topic: unauthorized_departure firing")

	metrics, err := r.metrics()
	if err != nil {
		return append(missing, "daemon: "+err.Error())
	}
	need(metrics.sum("portsync_events_total", `result="applied"`) > 0, "daemon: applied events")
	need(metrics.sum("portsync_events_total", `result="duplicate"`) > 0, "daemon: a duplicate counted")
	need(metrics.sum("portsync_events_total", `result="stale"`) > 0, "daemon: a stale (out-of-order) event counted")
	need(metrics.sum("portsync_deadletters_total", "") > 0, "daemon: a dead letter counted")
	need(metrics.sum("portsync_commands_total", `action="add_hold"`) > 0, "daemon: an add_hold command (after a revoked release)")
	need(metrics.sum("portsync_commands_total", `result="confirmed"`) > 0, "daemon: a command confirmed by the TOS")

	o, err := r.overview()
	if err != nil {
		return append(missing, "daemon: "+err.Error())
	}
	need(o.DeadLetterCount > 0, "overview: dead letters")
	need(o.Presence[state.InYard]+o.Presence[state.Departed] >= 12, "overview: a dozen containers discharged")
	need(slices.ContainsFunc(o.Alerts, func(a state.Alert) bool {
		return a.Kind == "unauthorized_departure" && a.State == state.Firing
	}), "overview: unauthorized_departure firing")
	return missing
}

// ---- the demo in process --------------------------------------------------

// demoRig is the demo run in process: the broker, the daemon, the
// simulation and a client watching the broker.
type demoRig struct {
	t      *testing.T
	d      *daemon.Daemon
	b      *broker.Broker
	sim    *demo.Sim
	world  *demoWorld
	watch  paho.Client
	cancel context.CancelFunc
	ran    chan error // d.Run's result
	simRan chan struct{}
	logs   *lockedBuffer
	http   *http.Client
	once   sync.Once
}

// startDemoRig starts the demo as cmdDemo does, with a client that watches
// what the simulation and the daemon publish. It waits for the daemon to be
// ready before the simulation starts, so that nothing the simulation sends
// is lost on a subscription not yet acknowledged. The test's cleanup stops
// it all.
func startDemoRig(t *testing.T, opts demoOptions, simOpts demo.Options) *demoRig {
	t.Helper()
	logs := &lockedBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	opts.Log = log
	simOpts.Log = log.With("sim", "world")
	d, b, err := startDemo(opts)
	if err != nil {
		t.Fatalf("startDemo: %v", err)
	}
	r := &demoRig{t: t, d: d, b: b, world: newDemoWorld(), logs: logs, ran: make(chan error, 1), simRan: make(chan struct{}),
		http: &http.Client{Timeout: 10 * time.Second}}
	t.Cleanup(func() {
		r.stop()
		if t.Failed() {
			t.Logf("demo log (tail):\n%s", tail(logs.String(), 6000))
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.ran <- d.Run(ctx) }()

	// The watcher subscribes before the simulation publishes anything.
	copts := paho.NewClientOptions().AddBroker(b.URL()).SetClientID(fmt.Sprintf("demo-test-watch-%d", time.Now().UnixNano())).
		SetCleanSession(true).SetOrderMatters(true).SetConnectTimeout(10 * time.Second)
	r.watch = paho.NewClient(copts)
	if tok := r.watch.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("watcher: connect: %v", tok.Error())
	}
	topics := map[string]byte{demo.TopicCustoms: 1, demo.TopicQuarantine: 1, demo.TopicTOSEvents: 1, demoAlertTopic: 1}
	if tok := r.watch.SubscribeMultiple(topics, r.world.onMessage); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("watcher: subscribe: %v", tok.Error())
	}
	if err := pollUntil(20*time.Second, func() error {
		resp, err := r.http.Get("http://" + d.Addr() + "/readyz")
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz %d: %s", resp.StatusCode, body)
		}
		return nil
	}); err != nil {
		t.Fatalf("daemon not ready: %v", err)
	}
	r.sim, err = demo.New(b.URL(), simOpts)
	if err != nil {
		t.Fatalf("demo.New: %v", err)
	}
	go func() {
		defer close(r.simRan)
		r.sim.Run(ctx)
	}()
	return r
}

// stop stops the simulation, the daemon, the watcher and the broker, and
// waits for the daemon and the simulation to return.
func (r *demoRig) stop() {
	r.once.Do(func() {
		r.cancel()
		select {
		case err := <-r.ran:
			if err != nil {
				r.t.Errorf("daemon Run: %v", err)
			}
		case <-time.After(15 * time.Second):
			r.t.Error("daemon Run did not return within 15s of cancel")
		}
		if r.sim != nil {
			select {
			case <-r.simRan:
			case <-time.After(5 * time.Second):
				r.t.Error("simulation did not stop within 5s of cancel")
			}
		}
		if r.watch != nil {
			r.watch.Disconnect(100)
		}
		r.b.Stop()
	})
}

func (r *demoRig) base() string { return "http://" + r.d.Addr() }

func (r *demoRig) getJSON(path string, v any) error {
	resp, err := r.http.Get(r.base() + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: %v", path, err)
	}
	return nil
}

func (r *demoRig) overview() (httpapi.Overview, error) {
	var o httpapi.Overview
	err := r.getJSON("/api/v1/overview", &o)
	return o, err
}

func (r *demoRig) metrics() (promText, error) {
	resp, err := r.http.Get(r.base() + "/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET /metrics: %d", resp.StatusCode)
	}
	return promText(body), nil
}

// promText is a Prometheus text exposition.
type promText string

// sum adds the samples of metric (a counter or gauge, not a histogram's
// buckets) whose labels contain label ("" for all).
func (p promText) sum(metric, label string) float64 {
	var total float64
	for line := range strings.Lines(string(p)) {
		line = strings.TrimSpace(line)
		name, rest, ok := strings.Cut(line, "{")
		if !ok {
			name, rest, ok = strings.Cut(line, " ")
			if !ok || name != metric || label != "" {
				continue
			}
			rest = "} " + rest
		} else if name != metric {
			continue
		}
		labels, value, ok := strings.Cut(rest, "} ")
		if !ok || !strings.Contains(labels, label) {
			continue
		}
		if v, err := strconv.ParseFloat(strings.Fields(value)[0], 64); err == nil {
			total += v
		}
	}
	return total
}

// ---- what the broker carries ----------------------------------------------

// demoWorld records what the simulation and the daemon publish, as seen by
// a client of the broker: arrivals, agency decisions before and after
// discharge, and the alerts on the alert topic in the order they came.
type demoWorld struct {
	mu          sync.Mutex
	arrived     map[string]bool
	batchOf     map[string]string // container -> B/L of its vessel's batch
	batchSize   map[string]int    // B/L -> containers arrived
	decisions   map[[2]string]int // {agency, before|after} -> count
	alerts      []state.Alert     // in the order received
	undecodable int
}

type demoWorldCounts struct {
	batches                                    int // B/Ls with at least three containers arrived
	customsBefore, customsAfter                int
	quarantineBefore, quarantineAfter          int
	staleHoldCycle, departureAlert             bool
	staleHoldFired, staleHoldResolved, alerts  int
	unauthorizedDepartures, undecodableOnTopic int
}

func newDemoWorld() *demoWorld {
	return &demoWorld{arrived: map[string]bool{}, batchOf: map[string]string{}, batchSize: map[string]int{}, decisions: map[[2]string]int{}}
}

func (w *demoWorld) onMessage(_ paho.Client, m paho.Message) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch m.Topic() {
	case demoAlertTopic:
		var a state.Alert
		if err := json.Unmarshal(m.Payload(), &a); err != nil || a.ID == "" {
			w.undecodable++
			return
		}
		w.alerts = append(w.alerts, a)
	case demo.TopicTOSEvents:
		var e struct{ Container, Event string }
		if json.Unmarshal(m.Payload(), &e) != nil {
			w.undecodable++
			return
		}
		if e.Event == "arrived" {
			w.arrived[e.Container] = true
			if bl, ok := w.batchOf[e.Container]; ok {
				w.batchSize[bl]++
			}
		}
	default: // an agency feed
		var e struct {
			Agency     string
			BL         string
			Containers []string
		}
		if json.Unmarshal(m.Payload(), &e) != nil {
			w.undecodable++ // the simulation's broken JSON
			return
		}
		for _, c := range e.Containers {
			when := "after"
			if !w.arrived[c] {
				when = "before"
			}
			w.decisions[[2]string{e.Agency, when}]++
			if e.BL != "" {
				if _, ok := w.batchOf[c]; !ok {
					w.batchOf[c] = e.BL
					if w.arrived[c] {
						w.batchSize[e.BL]++
					}
				}
			}
		}
	}
}

func (w *demoWorld) counts() demoWorldCounts {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := demoWorldCounts{
		customsBefore: w.decisions[[2]string{"customs", "before"}], customsAfter: w.decisions[[2]string{"customs", "after"}],
		quarantineBefore: w.decisions[[2]string{"quarantine", "before"}], quarantineAfter: w.decisions[[2]string{"quarantine", "after"}],
		alerts: len(w.alerts), undecodableOnTopic: w.undecodable,
	}
	for _, n := range w.batchSize {
		if n >= 3 {
			c.batches++
		}
	}
	fired := map[string]bool{}
	for _, a := range w.alerts {
		switch {
		case a.Kind == "stale_hold" && a.State == state.Firing:
			c.staleHoldFired++
			fired[a.ID] = true
		case a.Kind == "stale_hold" && a.State == state.Resolved:
			c.staleHoldResolved++
			if fired[a.ID] {
				c.staleHoldCycle = true
			}
		case a.Kind == "unauthorized_departure" && a.State == state.Firing:
			c.unauthorizedDepartures++
			c.departureAlert = true
		}
	}
	return c
}

func (w *demoWorld) summary() string {
	return fmt.Sprintf("%+v", w.counts())
}

// ---- helpers ---------------------------------------------------------------

// pollUntil calls check every 100ms until it returns nil or within passes;
// it returns check's last error then.
func pollUntil(within time.Duration, check func() error) error {
	deadline := time.Now().Add(within)
	for {
		err := check()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %v: %w", within, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func httpGet(t *testing.T, c *http.Client, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp, body
}

// lockedBuffer is a buffer several goroutines write to.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// tail is the end of s, at most n bytes.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
