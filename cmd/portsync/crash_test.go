package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/portsync/portsync/internal/broker"
	"github.com/portsync/portsync/internal/testcfg"
	"github.com/portsync/portsync/state"
)

// The crash test kills the real daemon with SIGKILL while a publisher feeds
// it agency events, restarts it on the same store and the same MQTT session,
// and then checks DESIGN section 8: every event the broker accepted is
// applied, and each exactly once.

const (
	crashContainers   = 300
	crashPerContainer = 10 // events per container; 3000 in all
	crashBurst        = 100
	crashTopic        = "customs/releases"
	crashWait         = 60 * time.Second // for the daemon to apply everything
)

// newCrashRig writes the daemon's configuration into dir and returns a rig
// for the binary on it. At the end of the test it kills a daemon still
// running and, if the test failed, shows the daemon's log and the broker's
// (brokerLog, when not "").
func newCrashRig(t *testing.T, bin, dir, config string, port int, brokerLog string) *crashRig {
	t.Helper()
	cfgPath := filepath.Join(dir, "portsync.yaml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	r := &crashRig{
		t: t, bin: bin, config: cfgPath, logPath: filepath.Join(dir, "portsync.log"),
		base: fmt.Sprintf("http://127.0.0.1:%d", port),
		http: &http.Client{Timeout: 10 * time.Second},
	}
	t.Cleanup(func() {
		if r.daemon != nil {
			select {
			case <-r.daemon.done:
			default:
				r.daemon.cmd.Process.Kill()
				<-r.daemon.done
			}
		}
		if t.Failed() {
			crashDumpLog(t, "portsync", r.logPath, 150)
			if brokerLog != "" {
				crashDumpLog(t, "mosquitto", brokerLog, 40)
			}
		}
	})
	return r
}

// crashContainer is the i-th test container: owner TST, category U, serial
// i, with its check digit.
func crashContainer(i int) string {
	prefix := fmt.Sprintf("TSTU%06d", i)
	return prefix + strconv.Itoa(state.CheckDigit(prefix))
}

// crashStatus is the status of container c's k-th event: alternating, so
// that the last event decides and its status differs between containers.
func crashStatus(c, k int) state.Status {
	if (c+k)%2 == 0 {
		return state.Released
	}
	return state.Held
}

func crashEventID(c, k int) string { return fmt.Sprintf("CR-%04d-%02d", c, k) }

var crashBaseAt = time.Date(2026, 11, 28, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))

func crashEvent(c, k int) []byte {
	data, _ := json.Marshal(map[string]any{
		"id": crashEventID(c, k), "agency": "customs", "status": crashStatus(c, k),
		"containers": []string{crashContainer(c)},
		"at":         crashBaseAt.Add(time.Duration(k) * time.Minute).Format(time.RFC3339),
	})
	return data
}

// crashDaemon is one run of the portsync process.
type crashDaemon struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error // cmd.Wait's result, once done is closed
}

// crashRig is what the test runs: a broker, a config and the daemon runs.
type crashRig struct {
	t       testing.TB
	bin     string
	config  string
	logPath string
	base    string // http://127.0.0.1:PORT
	http    *http.Client
	daemon  *crashDaemon
	runs    int
}

func (r *crashRig) start() {
	r.t.Helper()
	r.runs++
	logf, err := os.OpenFile(r.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		r.t.Fatal(err)
	}
	fmt.Fprintf(logf, "=== run %d at %s\n", r.runs, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(r.bin, "run", "-config", r.config)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		r.t.Fatalf("start portsync: %v", err)
	}
	d := &crashDaemon{cmd: cmd, done: make(chan struct{})}
	go func() {
		d.err = cmd.Wait()
		logf.Close()
		close(d.done)
	}()
	r.daemon = d
}

// kill sends SIGKILL and waits for the process to go.
func (r *crashRig) kill() {
	r.t.Helper()
	d := r.daemon
	if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		r.t.Fatalf("SIGKILL: %v", err)
	}
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		r.t.Fatal("daemon still running 10s after SIGKILL")
	}
}

// waitReady polls /readyz until it answers 200. The daemon must not exit
// meanwhile.
func (r *crashRig) waitReady() {
	r.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	last := ""
	for {
		select {
		case <-r.daemon.done:
			r.t.Fatalf("daemon exited before it was ready: %v", r.daemon.err)
		default:
		}
		resp, err := r.http.Get(r.base + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = fmt.Sprintf("HTTP %d %s", resp.StatusCode, bytes.TrimSpace(body))
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("daemon not ready within 30s: %s", last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// getJSON fetches path into v; it returns the status code, 0 when the
// daemon did not answer.
func (r *crashRig) getJSON(path string, v any) int {
	resp, err := r.http.Get(r.base + path)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0
	}
	if resp.StatusCode == http.StatusOK && v != nil {
		if err := json.Unmarshal(data, v); err != nil {
			r.t.Fatalf("GET %s: %v: %s", path, err, data)
		}
	}
	return resp.StatusCode
}

// eventStats summarises portsync_events_total for the customs source of
// the running process, for the log: the duplicates show that redelivered
// messages were recognised.
func (r *crashRig) eventStats() string {
	resp, err := r.http.Get(r.base + "/metrics")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	var parts []string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "portsync_events_total{") || !strings.Contains(line, `source="customs-mqtt"`) {
			continue
		}
		_, rest, _ := strings.Cut(line, `result="`)
		result, _, _ := strings.Cut(rest, `"`)
		fields := strings.Fields(line)
		parts = append(parts, result+"="+fields[len(fields)-1])
	}
	if len(parts) == 0 {
		return "none"
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

// killAndRestart SIGKILLs the daemon and starts it again at once.
func (r *crashRig) killAndRestart(i, sent int, began time.Time) {
	r.t.Helper()
	stats := r.eventStats()
	r.kill()
	r.t.Logf("kill %d: SIGKILL after the publisher sent %d events (run %d, %v in; the run's events just before: %s)",
		i, sent, r.runs, time.Since(began).Round(time.Millisecond), stats)
	r.start()
}

// stopGracefully sends SIGTERM and expects exit status 0 within 5 s.
func (r *crashRig) stopGracefully() {
	r.t.Helper()
	d := r.daemon
	start := time.Now()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		r.t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case <-d.done:
		if d.err != nil {
			r.t.Errorf("daemon exited with %v after SIGTERM, want status 0", d.err)
		}
		r.t.Logf("daemon stopped %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	case <-time.After(5 * time.Second):
		r.t.Errorf("daemon still running 5s after SIGTERM")
		d.cmd.Process.Kill()
		<-d.done
	}
}

// dumpLog shows the tail of a log file in the test output.
func crashDumpLog(t testing.TB, what, path string, lines int) {
	f, err := os.Open(path)
	if err != nil {
		t.Logf("%s log: %v", what, err)
		return
	}
	defer f.Close()
	var tail []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		tail = append(tail, sc.Text())
		if len(tail) > lines {
			tail = tail[1:]
		}
	}
	t.Logf("last %d lines of the %s log:\n%s", len(tail), what, strings.Join(tail, "\n"))
}

// crashConfigFor is the integration tests' configuration for the real
// binary: a fixed port, an SLA and repeat interval long enough that nothing
// is re-sent during a run.
func crashConfigFor(stateDir, url, clientID string, port int) testcfg.Daemon {
	return testcfg.Daemon{
		StateDir: stateDir, BrokerURL: url, ClientID: clientID, LogLevel: "info",
		Listen: fmt.Sprintf("127.0.0.1:%d", port), ApplyWithin: "2m", RetryAfter: "15s", RepeatInterval: "30m",
	}
}

// TestCrashKill9LosesNothing is DESIGN section 8's first promise with the
// real binary: SIGKILL twice while events stream in, restart on the same
// store and session, and every event the broker accepted is in the journal
// exactly once, with each container showing its last event's status.
func TestCrashKill9LosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon; skipped with -short")
	}
	bin := portsyncBinary(t)
	dir := t.TempDir()

	brokerLog := filepath.Join(dir, "mosquitto.log")
	var b *broker.Broker
	var err error
	crashes := true
	if broker.HasMosquitto() {
		bdir := filepath.Join(dir, "broker")
		if err := os.Mkdir(bdir, 0o700); err != nil {
			t.Fatal(err)
		}
		logf, err2 := os.Create(brokerLog)
		if err2 != nil {
			t.Fatal(err2)
		}
		defer logf.Close()
		b, err = broker.StartMosquitto(bdir, logf)
	} else {
		crashes = false
		t.Log("mosquitto is not installed: with the embedded broker this test checks a single run only, no SIGKILL and restart")
		b, err = broker.StartEmbedded("127.0.0.1:0", slog.New(slog.NewTextHandler(io.Discard, nil)))
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Stop() })

	port, err := broker.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	stateDir := filepath.Join(dir, "state")
	if err := os.Mkdir(stateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	var mosquittoLog string
	if b.Kind == "mosquitto" {
		mosquittoLog = brokerLog
	}
	r := newCrashRig(t, bin, dir, crashConfigFor(stateDir, b.URL(), fmt.Sprintf("portsync-crash-%d", os.Getpid()), port).YAML(), port, mosquittoLog)

	// The daemon's session must exist, with its subscriptions, before the
	// first event is published.
	began := time.Now()
	r.start()
	r.waitReady()
	t.Logf("daemon ready in %v", time.Since(began).Round(time.Millisecond))

	pub := crashPublisher(t, b.URL())

	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	t.Logf("seed %d", seed)
	total := crashContainers * crashPerContainer

	// Publish in bursts; each container's events are spread over the whole
	// run (event k of every container, then event k+1), so kills fall
	// between a container's events. The publisher asks for each kill in the
	// middle of a burst, while the daemon receives and commits it.
	killAt := []int{300 + rng.IntN(900), 1600 + rng.IntN(1000)}
	killNow := make(chan int, len(killAt))
	var published atomic.Int64
	pubErr := make(chan error, 1)
	go func() {
		defer close(pubErr)
		toks := make([]paho.Token, 0, crashBurst)
		n := 0
		for k := range crashPerContainer {
			for c := range crashContainers {
				toks = append(toks, pub.Publish(crashTopic, 1, false, crashEvent(c, k)))
				n++
				if crashes && slices.Contains(killAt, n) {
					killNow <- n
				}
				if len(toks) == crashBurst || n == total {
					for _, tok := range toks {
						if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
							pubErr <- fmt.Errorf("publish (after %d accepted): %v", published.Load(), tok.Error())
							return
						}
					}
					toks = toks[:0]
					published.Store(int64(n))
					time.Sleep(40 * time.Millisecond) // pacing: the stream lasts long enough for two kills and restarts
				}
			}
		}
	}()

	if crashes {
		for i := range killAt {
			var n int
			select {
			case n = <-killNow:
			case err := <-pubErr:
				if err != nil {
					t.Fatalf("publisher failed before kill %d: %v", i+1, err)
				}
				// The publisher is done (the daemon was slow to restart);
				// its request for this kill is waiting.
				n = <-killNow
			case <-time.After(60 * time.Second):
				t.Fatalf("publisher did not reach kill %d within 60s (%d accepted)", i+1, published.Load())
			}
			r.killAndRestart(i+1, n, began)
			r.waitReady()
			t.Logf("kill %d: restarted and ready after %v", i+1, time.Since(began).Round(time.Millisecond))
		}
	}
	if err := <-pubErr; err != nil {
		t.Fatal(err)
	}
	t.Logf("publisher done: %d events accepted by the broker (%v in)", published.Load(), time.Since(began).Round(time.Millisecond))

	// A sentinel event, published last: once it is applied, every earlier
	// message on the topic has reached the single writer before it.
	sentinel := crashContainers // container index past the others
	tok := pub.Publish(crashTopic, 1, false, crashEvent(sentinel, 0))
	if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatalf("publish sentinel: %v", tok.Error())
	}

	// Every container shows its last event's status.
	deadline := time.Now().Add(crashWait)
	pending := map[int]bool{sentinel: true}
	for c := range crashContainers {
		pending[c] = true
	}
	lastSeen := map[int]string{}
	for len(pending) > 0 {
		select {
		case <-r.daemon.done:
			t.Fatalf("daemon exited while applying events: %v", r.daemon.err)
		default:
		}
		for c := range pending {
			want := crashStatus(c, crashPerContainer-1)
			if c == sentinel {
				want = crashStatus(c, 0)
			}
			var v struct {
				Agencies map[string]state.Status `json:"agencies"`
			}
			code := r.getJSON("/api/v1/containers/"+crashContainer(c), &v)
			lastSeen[c] = fmt.Sprintf("HTTP %d customs=%s", code, v.Agencies["customs"])
			if code == http.StatusOK && v.Agencies["customs"] == want {
				delete(pending, c)
			}
		}
		if len(pending) == 0 {
			break
		}
		if time.Now().After(deadline) {
			var some []string
			for c := range pending {
				if len(some) < 10 {
					some = append(some, fmt.Sprintf("%s (want %s, got %s)", crashContainer(c), crashStatus(c, crashPerContainer-1), lastSeen[c]))
				}
			}
			t.Fatalf("after %v, %d containers do not show their last event's status, e.g. %s", crashWait, len(pending), strings.Join(some, "; "))
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("every container shows its last status (%v in)", time.Since(began).Round(time.Millisecond))

	// Every event is in its container's journal exactly once: none lost,
	// redeliveries recognised as duplicates. Missing events are polled for
	// a while (they might still be on their way); a duplicate fails at once.
	var missing, dups int
	var report []string
	for {
		missing, dups, report = 0, 0, nil
		for c := range crashContainers {
			counts := crashJournalCounts(t, r, crashContainer(c))
			for k := range crashPerContainer {
				id := crashEventID(c, k)
				switch n := counts[id]; {
				case n == 0:
					missing++
					if len(report) < 20 {
						report = append(report, id+" missing")
					}
				case n > 1:
					dups++
					if len(report) < 20 {
						report = append(report, fmt.Sprintf("%s journaled %d times", id, n))
					}
				}
				delete(counts, id)
			}
			for id, n := range counts {
				t.Errorf("%s: unexpected agency event %s in the journal (%d times)", crashContainer(c), id, n)
			}
		}
		if dups > 0 || missing == 0 || time.Now().After(deadline) {
			break
		}
		t.Logf("%d events not yet in the journal; polling again", missing)
		time.Sleep(500 * time.Millisecond)
	}
	if missing > 0 || dups > 0 {
		t.Errorf("of %d events: %d missing from the journal, %d journaled more than once: %s", total, missing, dups, strings.Join(report, "; "))
	} else {
		t.Logf("all %d events journaled exactly once (%v in)", total, time.Since(began).Round(time.Millisecond))
	}

	var dl struct {
		Deadletters []json.RawMessage `json:"deadletters"`
	}
	if code := r.getJSON("/api/v1/deadletters", &dl); code != http.StatusOK {
		t.Errorf("GET deadletters: HTTP %d", code)
	} else if len(dl.Deadletters) > 0 {
		t.Errorf("%d dead letters, want none: %s", len(dl.Deadletters), dl.Deadletters[0])
	}

	t.Logf("last run's events: %s", r.eventStats())
	r.stopGracefully()
	t.Logf("%d runs, %d events checked, total %v", r.runs, total, time.Since(began).Round(time.Millisecond))
}

// crashPublisher connects the test's publisher.
func crashPublisher(t testing.TB, url string) paho.Client {
	t.Helper()
	opts := paho.NewClientOptions().AddBroker(url).
		SetClientID(fmt.Sprintf("crash-publisher-%d", os.Getpid())).
		SetCleanSession(true).SetAutoReconnect(true).
		SetConnectRetry(true).SetConnectRetryInterval(100 * time.Millisecond)
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publisher connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

// crashJournalCounts counts a container's agency_event entries by event id.
func crashJournalCounts(t *testing.T, r *crashRig, container string) map[string]int {
	t.Helper()
	var body struct {
		History []state.JournalEntry `json:"history"`
	}
	if code := r.getJSON("/api/v1/containers/"+container+"/history", &body); code != http.StatusOK {
		t.Fatalf("GET history of %s: HTTP %d", container, code)
	}
	counts := map[string]int{}
	for _, e := range body.History {
		if e.Kind == state.JournalAgencyEvent {
			counts[e.EventID]++
		}
	}
	return counts
}
