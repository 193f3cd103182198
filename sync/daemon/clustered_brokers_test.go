package daemon

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	stdsync "sync"
	"testing"
	"time"

	"github.com/portsync/portsync/internal/broker"
	"github.com/portsync/portsync/state"
	"github.com/portsync/portsync/sync"
)

// clusteredScenarios are the MQTT integration tests that TestClusteredBrokers
// runs on brokers other than mosquitto, in this order: the two that
// restart the broker come last, so that a failure in them cannot leave the
// earlier ones without a broker.
var clusteredScenarios = []struct {
	name string
	run  func(*testing.T, *broker.Broker)
}{
	// A release is applied and its command published.
	{"ReleaseApplied", onHarness(releaseBeforeArrival)},
	// A duplicate is recognised by id and content, applied once.
	{"DuplicateAppliedOnce", onHarness(duplicateAppliedOnce)},
	// Messages are acknowledged only once committed: those the store could
	// not commit come back to the next daemon.
	{"AckOnlyAfterCommit", cbAckOnlyAfterCommit},
	// /readyz follows the broker through a restart and the daemon resumes;
	// events published while the daemon is stopped wait in its persistent
	// session and are each applied once when it is back.
	{"BrokerRestartReadinessAndResume", onHarness(brRestartReadinessAndResume)},
	// The session's queue and subscriptions survive a broker restart while
	// the daemon is down.
	{"QueueKeptAcrossBrokerRestart", onHarness(brQueueKeptWhileDaemonDown)},
}

// onHarness runs a scenario on a harness of its own on the broker b.
func onHarness(scenario func(*testing.T, *harness)) func(*testing.T, *broker.Broker) {
	return func(t *testing.T, b *broker.Broker) { scenario(t, newHarnessOn(t, b, nil)) }
}

// TestClusteredBrokers shows that portsync is not tied to mosquitto: the
// integration scenarios above run against the MQTT support of NATS
// (JetStream) and RabbitMQ (the MQTT plugin), each a broker process of the
// test's own on free loopback ports, with its store in a temporary
// directory, shared in turn by the scenarios of its kind (a RabbitMQ node
// takes seconds to start). Acknowledgement after commit is also shown at
// the transport by TestPersistentSessionRedeliversUnacked in adapters/mqtt,
// which runs on the same brokers. Each kind is skipped where its server is
// not installed; what differs between brokers is in docs/operations.md
// ("Other MQTT brokers: NATS and RabbitMQ").
func TestClusteredBrokers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts NATS and RabbitMQ brokers and restarts them; skipped with -short")
	}
	for _, p := range broker.Processes {
		if p.Kind == "mosquitto" {
			// Every other integration test of the package runs on it.
			continue
		}
		t.Run(p.Kind, func(t *testing.T) {
			if !p.Installed() {
				t.Skipf("%s is not installed", p.Kind)
			}
			// The broker's log is kept and shown only on failure:
			// RabbitMQ's alone is hundreds of lines a start.
			logs := &cbLog{}
			began := time.Now()
			b, err := p.Start(t.TempDir(), logs)
			t.Cleanup(func() {
				if b != nil {
					b.Stop()
				}
				if t.Failed() {
					t.Logf("%s log:\n%s", p.Kind, logs.String())
				}
			})
			if err != nil {
				t.Fatalf("start %s: %v", p.Kind, err)
			}
			t.Logf("%s listening on %s after %v", p.Kind, b.Addr, time.Since(began).Round(time.Millisecond))
			for _, sc := range clusteredScenarios {
				if !t.Run(sc.name, func(t *testing.T) { sc.run(t, b) }) {
					// The scenario may have left the broker stopped; the
					// next ones would only fail for that.
					t.Fatalf("%s failed: the remaining scenarios on %s are not run", sc.name, p.Kind)
				}
			}
		})
	}
}

// cbLog collects a broker's output, written from the process's output
// goroutine, for the test log.
type cbLog struct {
	mu  stdsync.Mutex
	buf bytes.Buffer
}

func (l *cbLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *cbLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// cbAckEvents is how many holds cbAckOnlyAfterCommit sends while the
// store's disk is full.
const cbAckEvents = 20

// cbAckOnlyAfterCommit: the store's disk is full, so holds cannot be
// committed; the daemon is stopped, space returns and a new daemon starts
// on the same store and session. The holds the first daemon did not commit
// were never acknowledged: the broker delivers them again and each is
// applied, and those it did commit are not applied twice (DESIGN 8, as
// TestDiskFullStopsAcknowledgementAndResumes does on mosquitto, at a
// smaller scale). It needs a tmpfs of its own for the store, so root.
func cbAckOnlyAfterCommit(t *testing.T, b *broker.Broker) {
	mnt := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(mnt, 0o750); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs for the store (needs root, or CAP_SYS_ADMIN): %v: %s", err, strings.TrimSpace(string(out)))
	}
	// Registered before the harness: runs after the daemon has stopped.
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	h := newHarnessOn(t, b, func(y string) string {
		y = regexp.MustCompile(`(?m)^state_dir: .*$`).ReplaceAllString(y, "state_dir: "+mnt)
		// No re-sends or SLA alerts: the writes under test are the events'.
		return strings.Replace(y, "sla: {apply_within: 2s, retry_after: 1s}", "sla: {apply_within: 1h, retry_after: 30m}", 1)
	})
	ids := make([]string, cbAckEvents)
	for i := range ids {
		p := fmt.Sprintf("ACKU%06d", i)
		ids[i] = fmt.Sprintf("%s%d", p, state.CheckDigit(p))
	}
	applied := func() float64 {
		return counterSum(h.daemon.metrics, "portsync_events_total", map[string]string{"source": "customs-mqtt", "result": sync.ResultApplied})
	}
	for i, id := range ids {
		h.agency(fmt.Sprintf("ACK-REL-%d", i), "customs", state.Released, "2026-11-28T10:00:00+08:00", id)
	}
	brWaitFor(t, dfTimeout, "releases applied", func() bool { return applied() == cbAckEvents })

	filler := filepath.Join(mnt, "filler")
	dfFill(t, filler, 0)
	// Reasons of the longest kept length, so that the holds cannot fit in
	// the store file's free pages and must meet the full disk.
	longReason := strings.Repeat("r", state.MaxReasonLen)
	for i, id := range ids {
		h.publish("customs/releases", map[string]any{"id": fmt.Sprintf("ACK-HOLD-%d", i), "agency": "customs",
			"status": state.Held, "containers": []string{id}, "at": "2026-11-28T11:00:00+08:00", "reason": longReason})
	}
	dfWaitUnhealthy(t, h)
	h.stop()
	// Counted once the writer has stopped: a retry of the failing group
	// can get through until then.
	committed := applied() - cbAckEvents
	t.Logf("holds committed before the stop: %v of %d", committed, cbAckEvents)
	if committed >= cbAckEvents {
		t.Fatalf("every hold committed (%v): the disk never filled", committed)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	h.start()
	brWaitFor(t, dfTimeout, "the holds not committed before the stop applied by the next daemon", func() bool {
		return applied() >= cbAckEvents-committed
	})
	// Let stragglers (copies of what was committed) arrive.
	time.Sleep(time.Second)
	for i, id := range ids {
		want := map[string]int{fmt.Sprintf("ACK-REL-%d", i): 1, fmt.Sprintf("ACK-HOLD-%d", i): 1}
		if got := brEventCounts(h, id); !maps.Equal(got, want) {
			t.Errorf("%s: journal has agency events %v, want %v", id, got, want)
		}
		if !brStatusIs(h, id, "customs", state.Held) {
			t.Errorf("%s: customs is not held after the restart", id)
		}
	}
}
