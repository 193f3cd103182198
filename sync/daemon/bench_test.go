package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"runtime/pprof"
	"strconv"
	stdsync "sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/internal/broker"
	"github.com/portsync/portsync/internal/testcfg"
	"github.com/portsync/portsync/state"
	"github.com/portsync/portsync/sync"
	"github.com/portsync/portsync/sync/internal/testseam"
)

// BenchmarkThroughput measures, against one test broker, with one payload
// (a ~250-byte agency event) and one publisher, the raw broker and then
// the daemon, and reports the daemon's rate as a ratio of the broker's.
// The target is a ratio of at least 0.5.
//
//   - raw_msg/s: a QoS 1 publisher to a QoS 1 subscriber with a persistent
//     session, from the first publish to the last message received.
//
//   - events/s: the daemon (MQTT in, durable commit, acknowledgement, TOS
//     command out): n customs releases, one per container already in the
//     yard under a CUSTOMS hold, from the first publish to the last
//     release_hold command received on tos/commands.
//
//   - committed/s: the same up to the commit that stores the last command;
//     the gap to events/s is the dispatcher's.
//
//   - relay_msg/s: a bare client that republishes each message it gets
//     (QoS 1 in, QoS 1 out, no store): the daemon's two broker hops with
//     no work between them, the ceiling for events/s on this broker.
//
//   - cpu_us/event and relay_cpu_us/msg: the processor time of the daemon
//     round and of the relay round, user and system, of this process (the
//     daemon or the relay, and the same publisher and watcher in both) and
//     of the broker's process, per event. On two cores both rounds keep
//     every core busy, so their ratio (cpu_ratio) follows the rate's
//     ratio; where it does not, a round waited rather than worked.
//
// Each operation runs one raw round and then one daemon round, so that the
// ratio compares rounds seconds, not minutes, apart on a shared machine:
//
//	go test -run XXX -bench Throughput -benchtime 1x -count 3 ./sync/
//
// One operation is -portsync.bench-events events (default 20000; the flag
// goes after the package: go test ./sync/ -bench ... -portsync.bench-events=5000);
// ns/op is suppressed. The sub-benchmark status_topic also publishes each
// container's status (DESIGN 3.5). The daemon's goroutines carry the pprof
// label side=daemon and the test clients' side=client, so a -cpuprofile
// narrows to the daemon with go tool pprof -tagfocus side=daemon.
func BenchmarkThroughput(b *testing.B) {
	br := testBroker(b)
	b.Run("daemon", func(b *testing.B) { benchThroughput(b, br, *benchEvents, false) })
	b.Run("status_topic", func(b *testing.B) { benchThroughput(b, br, *benchEvents, true) })
}

var benchEvents = flag.Int("portsync.bench-events", 20000, "events per operation of BenchmarkThroughput")

const (
	// benchWindow is how many QoS 1 publishes a publisher keeps in flight.
	benchWindow = 500
	// benchTimeout bounds every wait of the benchmark.
	benchTimeout = 3 * time.Minute
)

func benchThroughput(b *testing.B, br *broker.Broker, n int, statusTopic bool) {
	// Raw side: a publisher and a persistent QoS 1 subscriber.
	sub := newCounter()
	subClient := benchClient(b, br, "bench-raw-sub", false)
	if tok := subClient.Subscribe("bench/raw", 1, sub.handle); !tok.WaitTimeout(benchTimeout) || tok.Error() != nil {
		b.Fatalf("subscribe: %v", tok.Error())
	}
	rawPub := benchClient(b, br, "bench-raw-pub", true)
	// Daemon side: a publisher of the same kind and a watcher of the same
	// kind as the raw subscriber, on tos/commands.
	watcher := newCounter()
	wc := benchClient(b, br, "bench-watcher", false)
	if tok := wc.Subscribe("tos/commands", 1, watcher.handle); !tok.WaitTimeout(benchTimeout) || tok.Error() != nil {
		b.Fatalf("subscribe: %v", tok.Error())
	}
	pub := benchClient(b, br, "bench-daemon-pub", true)
	// Relay side: the daemon's MQTT path with no work in between, one
	// message in and one out per event, to show what two hops cost here.
	relayOut := newCounter()
	roc := benchClient(b, br, "bench-relay-watch", false)
	if tok := roc.Subscribe("bench/relay-out", 1, relayOut.handle); !tok.WaitTimeout(benchTimeout) || tok.Error() != nil {
		b.Fatalf("subscribe: %v", tok.Error())
	}
	relay := benchClient(b, br, "bench-relay", false)
	relayHandler := func(c paho.Client, m paho.Message) { c.Publish("bench/relay-out", 1, false, m.Payload()) }
	if tok := relay.Subscribe("bench/relay-in", 1, relayHandler); !tok.WaitTimeout(benchTimeout) || tok.Error() != nil {
		b.Fatalf("subscribe: %v", tok.Error())
	}
	relayPub := benchClient(b, br, "bench-relay-pub", true)

	var rawTotal, relayTotal, total, durable, relayCPU, daemonCPU time.Duration
	b.StopTimer()
	b.ResetTimer()
	for op := range b.N {
		base := op * n
		releases := releasePayloads(base, n)

		// Raw round.
		sub.reset(n)
		b.StartTimer()
		start := time.Now()
		if err := publishAll(rawPub, "bench/raw", releases); err != nil {
			b.Fatal(err)
		}
		if err := sub.wait(); err != nil {
			b.Fatalf("raw: %v", err)
		}
		rawTook := time.Since(start)

		// Relay round.
		relayOut.reset(n)
		cpu0 := cpuSpent(br)
		start = time.Now()
		if err := publishAll(relayPub, "bench/relay-in", releases); err != nil {
			b.Fatal(err)
		}
		if err := relayOut.wait(); err != nil {
			b.Fatalf("relay: %v", err)
		}
		relayTook := time.Since(start)
		relayCPUOne := cpuSpent(br) - cpu0
		b.StopTimer()

		// Daemon round, on a fresh store. Pre-load, off the clock: every
		// container arrives with a CUSTOMS hold, which is what customs'
		// unknown status asks for, so no command follows.
		d, lis, stop := startBenchDaemon(b, br, statusTopic)
		watcher.reset(n)
		if err := publishAll(pub, "tos/events", arrivalPayloads(base, n)); err != nil {
			b.Fatal(err)
		}
		waitCounter(b, d, "portsync_events_total", map[string]string{"source": "tos-events", "result": sync.ResultApplied}, n)
		if got := watcher.count(); got != 0 {
			b.Fatalf("pre-load caused %d commands, want none", got)
		}
		watcher.reset(n)
		lis.reset(n)
		commits0, commitSecs0 := histogramSum(d.metrics, "portsync_commit_seconds")
		batches0, batched0 := histogramSum(d.metrics, "portsync_commit_batch_messages")
		b.StartTimer()
		cpu0 = cpuSpent(br)
		start = time.Now()
		if err := publishAll(pub, "customs/releases", releases); err != nil {
			b.Fatal(err)
		}
		if err := watcher.wait(); err != nil {
			b.Fatalf("daemon: %v (releases applied %v, commands committed %d, sent %v)", err,
				counterSum(d.metrics, "portsync_events_total", map[string]string{"source": "customs-mqtt"}),
				lis.commands.Load(), counterSum(d.metrics, "portsync_commands_total", map[string]string{"result": "sent"}))
		}
		took := time.Since(start)
		daemonCPUOne := cpuSpent(br) - cpu0
		b.StopTimer()
		committedTook := time.Duration(lis.at() - start.UnixNano())

		commits, commitSecs := histogramSum(d.metrics, "portsync_commit_seconds")
		batches, batched := histogramSum(d.metrics, "portsync_commit_batch_messages")
		commits, commitSecs = commits-commits0, commitSecs-commitSecs0
		batches, batched = batches-batches0, batched-batched0
		checkBenchRound(b, d, watcher, base, n)
		stop()

		rawTotal += rawTook
		relayTotal += relayTook
		total += took
		durable += committedTook
		relayCPU += relayCPUOne
		daemonCPU += daemonCPUOne
		raw, relayed, daemon := float64(n)/rawTook.Seconds(), float64(n)/relayTook.Seconds(), float64(n)/took.Seconds()
		b.Logf("raw broker %.0f msg/s, daemon %.0f events/s, ratio %.2f; bare two-hop relay %.0f msg/s, daemon/relay %.2f (%s, %d events of %d bytes, QoS 1)",
			raw, daemon, daemon/raw, relayed, daemon/relayed, br.Kind, n, len(releases[0]))
		b.Logf("  daemon: last command committed after %s, sent after %s; %d commits (%.0f ms in commit, %.1f ms each), %.0f messages per group",
			committedTook.Round(time.Millisecond), took.Round(time.Millisecond), commits, commitSecs*1000,
			commitSecs*1000/max(float64(commits), 1), batched/max(float64(batches), 1))
		b.Logf("  CPU, this process and the broker: relay %.1f µs/msg, daemon %.1f µs/event, ratio %.2f",
			perEvent(relayCPUOne, n), perEvent(daemonCPUOne, n), relayCPUOne.Seconds()/daemonCPUOne.Seconds())
	}
	events := float64(n * b.N)
	b.ReportMetric(events/rawTotal.Seconds(), "raw_msg/s")
	b.ReportMetric(events/total.Seconds(), "events/s")
	b.ReportMetric(events/durable.Seconds(), "committed/s")
	b.ReportMetric(rawTotal.Seconds()/total.Seconds(), "ratio")
	b.ReportMetric(events/relayTotal.Seconds(), "relay_msg/s")
	b.ReportMetric(relayTotal.Seconds()/total.Seconds(), "ratio_to_relay")
	b.ReportMetric(perEvent(daemonCPU, n*b.N), "cpu_us/event")
	b.ReportMetric(perEvent(relayCPU, n*b.N), "relay_cpu_us/msg")
	b.ReportMetric(relayCPU.Seconds()/daemonCPU.Seconds(), "cpu_ratio")
	b.ReportMetric(0, "ns/op") // one op is 2n messages; the rates are the figures
}

// benchYAML is the harness's configuration with what a throughput run
// needs changed: log level warn, an SLA long enough that no command is
// re-sent and no alert fires during the run, and no sweep (a sweep would
// re-send the whole outbox mid-run).
func benchYAML(dir, url string) string {
	return testcfg.Daemon{
		StateDir: dir, BrokerURL: url, ClientID: "portsync-bench", LogLevel: "warn",
		ApplyWithin: "30m", RetryAfter: "5m", Extra: []string{`schedules: {sweep: "@yearly"}`},
	}.YAML()
}

// startBenchDaemon starts a daemon on a fresh store and waits until it is
// ready. The returned function stops it.
func startBenchDaemon(b *testing.B, br *broker.Broker, statusTopic bool) (*Daemon, *commitListener, func()) {
	b.Helper()
	yaml := benchYAML(b.TempDir(), br.URL())
	if statusTopic {
		yaml += "status_topic: portsync/status\n"
	}
	cfg, err := config.Parse("bench.yaml", []byte(yaml), adapters.Registry)
	if err != nil {
		b.Fatalf("config: %v", err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))
	d, err := New(cfg, log)
	if err != nil {
		b.Fatal(err)
	}
	lis := &commitListener{}
	testseam.CommandsCommitted(d.engine(), lis.committed)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	// Goroutines inherit the label: every goroutine of the daemon, its
	// MQTT connection included, is side=daemon in a CPU profile.
	pprof.Do(ctx, pprof.Labels("side", "daemon"), func(ctx context.Context) {
		go func() { done <- d.Run(ctx) }()
	})
	var once stdsync.Once
	stop := func() { once.Do(func() { stopBenchDaemon(b, cancel, done) }) }
	// A failed round must not leave a daemon behind holding the client id.
	b.Cleanup(stop)
	deadline := time.Now().Add(15 * time.Second)
	for {
		ok, why := d.Ready()
		if ok {
			break
		}
		if time.Now().After(deadline) {
			stop()
			b.Fatalf("daemon not ready: %v", why)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return d, lis, stop
}

func stopBenchDaemon(b *testing.B, cancel context.CancelFunc, done <-chan error) {
	cancel()
	select {
	case err := <-done:
		if err != nil {
			b.Errorf("daemon stopped with %v", err)
		}
	case <-time.After(10 * time.Second):
		b.Errorf("daemon did not stop within 10s")
	}
}

// checkBenchRound checks, outside the clock, that the round did what it
// claims: n releases applied, none rejected, n release_hold commands sent
// once each, one per container, caused by its release.
func checkBenchRound(b *testing.B, d *Daemon, w *counter, base, n int) {
	b.Helper()
	src := map[string]string{"source": "customs-mqtt"}
	if got := counterSum(d.metrics, "portsync_events_total", map[string]string{"source": "customs-mqtt", "result": sync.ResultApplied}); got != float64(n) {
		b.Fatalf("applied %v releases, want %d (all: %v)", got, n, counterSum(d.metrics, "portsync_events_total", src))
	}
	// The watcher may have a command before the daemon has the broker's
	// acknowledgement of it, which is when it counts the command sent.
	sent := map[string]string{"result": "sent"}
	waitCounter(b, d, "portsync_commands_total", sent, n)
	if got := counterSum(d.metrics, "portsync_commands_total", sent); got != float64(n) {
		b.Fatalf("sent %v commands, want %d", got, n)
	}
	seen := make(map[string]bool, n)
	for _, p := range w.payloads() {
		var c state.Command
		if err := json.Unmarshal(p, &c); err != nil {
			b.Fatalf("bad command %s: %v", p, err)
		}
		if c.Action != state.ReleaseHold || c.Hold != "CUSTOMS" || seen[c.Container] {
			b.Fatalf("unexpected command %s", p)
		}
		seen[c.Container] = true
	}
	for i := range n {
		id := benchContainer(base + i)
		if !seen[id] {
			b.Fatalf("no command for %s", id)
		}
	}
}

// commitListener notes when the commit that stores the n-th command ends.
type commitListener struct {
	target   atomic.Int64
	commands atomic.Int64
	doneAt   atomic.Int64
}

func (l *commitListener) reset(n int) {
	l.commands.Store(0)
	l.doneAt.Store(0)
	l.target.Store(int64(n))
}

func (l *commitListener) committed(commands []state.Command) {
	if len(commands) == 0 {
		return
	}
	if l.commands.Add(int64(len(commands))) >= l.target.Load() && l.doneAt.Load() == 0 {
		l.doneAt.Store(time.Now().UnixNano())
	}
}

func (l *commitListener) at() int64 { return l.doneAt.Load() }

// counter counts the messages a subscriber receives and keeps their
// payloads, to check them after the clock stops.
type counter struct {
	mu     stdsync.Mutex
	got    [][]byte
	target int
	done   chan struct{}
}

func newCounter() *counter { return &counter{done: make(chan struct{})} }

func (c *counter) reset(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = make([][]byte, 0, n)
	c.target = n
	c.done = make(chan struct{})
}

func (c *counter) handle(_ paho.Client, m paho.Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, m.Payload())
	if len(c.got) == c.target {
		close(c.done)
	}
}

func (c *counter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.got)
}

func (c *counter) payloads() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.got
}

func (c *counter) wait() error {
	c.mu.Lock()
	done := c.done
	c.mu.Unlock()
	select {
	case <-done:
		return nil
	case <-time.After(benchTimeout):
		return fmt.Errorf("received %d of %d messages within %s", c.count(), c.target, benchTimeout)
	}
}

// benchClient connects an MQTT client to br. A subscriber (clean false)
// keeps a persistent session, as the daemon does.
func benchClient(b *testing.B, br *broker.Broker, id string, clean bool) paho.Client {
	b.Helper()
	opts := paho.NewClientOptions().AddBroker(br.URL()).SetClientID(id).
		SetCleanSession(clean).SetOrderMatters(true).SetAutoReconnect(false).
		SetConnectTimeout(10 * time.Second).SetWriteTimeout(10 * time.Second)
	c := paho.NewClient(opts)
	// The client's goroutines are side=client in a CPU profile.
	pprof.Do(context.Background(), pprof.Labels("side", "client"), func(context.Context) {
		if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			b.Fatalf("connect %s: %v", id, tok.Error())
		}
	})
	b.Cleanup(func() { c.Disconnect(100) })
	return c
}

// publishAll publishes payloads at QoS 1 in order, keeping up to
// benchWindow unacknowledged, and returns when the broker has acknowledged
// them all. Both sides of the benchmark publish with it.
func publishAll(c paho.Client, topic string, payloads [][]byte) error {
	ring := make([]paho.Token, benchWindow)
	for i, p := range payloads {
		if tok := ring[i%benchWindow]; tok != nil {
			if err := waitToken(tok); err != nil {
				return err
			}
		}
		ring[i%benchWindow] = c.Publish(topic, 1, false, p)
	}
	for _, tok := range ring {
		if tok != nil {
			if err := waitToken(tok); err != nil {
				return err
			}
		}
	}
	return nil
}

func waitToken(tok paho.Token) error {
	if !tok.WaitTimeout(benchTimeout) {
		return errors.New("publish not acknowledged in time")
	}
	return tok.Error()
}

// waitCounter waits until the counters name{labels} add up to n.
func waitCounter(b *testing.B, d *Daemon, name string, labels map[string]string, n int) {
	b.Helper()
	deadline := time.Now().Add(benchTimeout)
	for counterSum(d.metrics, name, labels) < float64(n) {
		if time.Now().After(deadline) {
			b.Fatalf("%s%v: %v, want %d", name, labels, counterSum(d.metrics, name, labels), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// counterSum adds up the counters named name whose labels include want.
func counterSum(m *sync.Metrics, name string, want map[string]string) float64 {
	mfs, err := m.Registry.Gather()
	if err != nil {
		return -1
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, mt := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range mt.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if have[k] != v {
					continue metric
				}
			}
			sum += mt.GetCounter().GetValue()
		}
	}
	return sum
}

// histogramSum returns the sample count and sum of the histogram name.
func histogramSum(m *sync.Metrics, name string) (uint64, float64) {
	mfs, err := m.Registry.Gather()
	if err != nil {
		return 0, 0
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) > 0 {
			h := mf.GetMetric()[0].GetHistogram()
			return h.GetSampleCount(), h.GetSampleSum()
		}
	}
	return 0, 0
}

// benchContainer is a valid container number: owner TSTU, the serial, and
// its ISO 6346 check digit.
func benchContainer(serial int) string {
	p := fmt.Sprintf("TSTU%06d", serial%1000000)
	return p + strconv.Itoa(state.CheckDigit(p))
}

// releaseEvent is an agency event of DESIGN 3.1's shape, about 250 bytes.
func releaseEvent(serial int) []byte {
	ev := struct {
		ID          string   `json:"id"`
		Agency      string   `json:"agency"`
		Status      string   `json:"status"`
		Containers  []string `json:"containers"`
		BL          string   `json:"bl"`
		Declaration string   `json:"declaration"`
		Reason      string   `json:"reason"`
		At          string   `json:"at"`
	}{
		ID:          fmt.Sprintf("REL-2026-%09d", serial),
		Agency:      "customs",
		Status:      "released",
		Containers:  []string{benchContainer(serial)},
		BL:          fmt.Sprintf("MEDUSH%06d", serial%1000000),
		Declaration: fmt.Sprintf("2201202610%08d", serial),
		Reason:      "documents checked, duties paid, no inspection required",
		At:          "2026-11-28T10:15:00+08:00",
	}
	data, err := json.Marshal(ev)
	if err != nil {
		panic(err)
	}
	return data
}

func releasePayloads(base, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = releaseEvent(base + i)
	}
	return out
}

// arrivalPayloads are TOS arrivals (DESIGN 3.2) of the same containers,
// each under a CUSTOMS hold.
func arrivalPayloads(base, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, `{"id":"N4-%09d","container":%q,"event":"arrived","holds":["CUSTOMS"],"at":"2026-11-28T10:20:00+08:00"}`,
			base+i, benchContainer(base+i))
	}
	return out
}

// cpuSpent is the processor time, user and system, used so far by this
// process and by the broker's, if it runs in a process of its own.
func cpuSpent(br *broker.Broker) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	brokerCPU, _ := br.CPU()
	return time.Duration(ru.Utime.Nano()+ru.Stime.Nano()) + brokerCPU
}

// perEvent is d per event of n, in microseconds.
func perEvent(d time.Duration, n int) float64 {
	return float64(d.Microseconds()) / float64(max(n, 1))
}
