package daemon

import (
	"bytes"
	stdsync "sync"
	"testing"
	"time"

	"github.com/portsync/portsync/internal/broker"
)

// clusteredScenarios are the MQTT integration tests that TestClusteredBrokers
// runs on brokers other than mosquitto, in this order: the two that
// restart the broker come last, so that a failure in them cannot leave the
// earlier ones without a broker.
var clusteredScenarios = []struct {
	name string
	run  func(*testing.T, *harness)
}{
	// A release is applied and its command published.
	{"ReleaseApplied", releaseBeforeArrival},
	// A duplicate is recognised by id and content, applied once.
	{"DuplicateAppliedOnce", duplicateAppliedOnce},
	// /readyz follows the broker through a restart and the daemon resumes;
	// events published while the daemon is stopped wait in its persistent
	// session and are each applied once when it is back.
	{"BrokerRestartReadinessAndResume", brRestartReadinessAndResume},
	// The session's queue and subscriptions survive a broker restart while
	// the daemon is down.
	{"QueueKeptAcrossBrokerRestart", brQueueKeptWhileDaemonDown},
}

// TestClusteredBrokers shows that portsync is not tied to mosquitto: the
// integration scenarios above run against the MQTT support of NATS
// (JetStream) and RabbitMQ (the MQTT plugin), each a broker process of the
// test's own on free loopback ports, with its store in a temporary
// directory, shared in turn by the scenarios of its kind (a RabbitMQ node
// takes seconds to start). Acknowledgement after commit, at the transport,
// is TestPersistentSessionRedeliversUnacked in adapters/mqtt, which runs on
// the same brokers. Each kind is skipped where its server is not
// installed; what differs between brokers is in docs/operations.md
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
				if !t.Run(sc.name, func(t *testing.T) { sc.run(t, newHarnessOn(t, b, nil)) }) {
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
