package mqtt

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/internal/broker"
)

// countingHandler is a slog handler that keeps every record, across the
// loggers derived from it with With.
type countingHandler struct {
	mu      *sync.Mutex
	records *[]slog.Record
}

func newCountingHandler() countingHandler {
	return countingHandler{mu: new(sync.Mutex), records: new([]slog.Record)}
}

func (h countingHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h countingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	*h.records = append(*h.records, r.Clone())
	return nil
}

func (h countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h countingHandler) WithGroup(string) slog.Handler      { return h }

func (h countingHandler) messages() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, r := range *h.records {
		out = append(out, r.Level.String()+" "+r.Message)
	}
	return out
}

// closingListener accepts TCP connections on loopback and closes each at
// once, counting them: a broker that is "up" but never answers CONNECT.
func closingListener(t *testing.T) (addr string, accepts *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepts = new(atomic.Int32)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepts.Add(1)
			c.Close()
		}
	}()
	return ln.Addr().String(), accepts
}

// TestConnectFailuresBackOffAndLogOnce: a broker that cannot be reached is
// retried with a growing wait, not every second, and its failure is logged
// once rather than (twice) on every attempt.
func TestConnectFailuresBackOffAndLogOnce(t *testing.T) {
	port, err := broker.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	logs := newCountingHandler()
	refused, err := NewConn("refused", config.Broker{URL: "tcp://127.0.0.1:" + strconv.Itoa(port), ClientID: "portsync-test-refused"}, slog.New(logs), nil)
	if err != nil {
		t.Fatal(err)
	}
	addr, accepts := closingListener(t)
	closing, err := NewConn("closing", config.Broker{URL: "tcp://" + addr, ClientID: "portsync-test-closing"}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	connect(t, refused)
	connect(t, closing)

	// Attempts at 0, 1, 3 and 7 s with a wait doubling from 1 s; every
	// second (and each attempt dialled twice, for MQTT 3.1.1 and then 3.1)
	// would be about 20.
	const window = 10 * time.Second
	time.Sleep(window)

	if n := accepts.Load(); n < 2 || n > 6 {
		t.Errorf("%d connection attempts in %v, want 2 to 6 (a backoff from 1 s)", n, window)
	}
	msgs := logs.messages()
	if len(msgs) == 0 || len(msgs) > 3 {
		t.Errorf("%d log lines in %v for a broker that refuses connections, want 1 to 3:\n%s", len(msgs), window, strings.Join(msgs, "\n"))
	}
	ok, reason := refused.Ready()
	if ok || !strings.Contains(reason, "connection refused") {
		t.Errorf("Ready() = %v, %q; want not ready, saying the connection was refused", ok, reason)
	}
}

// TestFailureLogSummarisesOncePerMinute: during one outage the first
// failure is logged, then at most one summary per failureSummaryEvery.
func TestFailureLogSummarisesOncePerMinute(t *testing.T) {
	logs := newCountingHandler()
	log := slog.New(logs)
	var f failureLog
	t0 := time.Now()
	for _, after := range []time.Duration{0, time.Second, 30 * time.Second, 61 * time.Second, 90 * time.Second, 122 * time.Second} {
		f.failed(log, io.ErrUnexpectedEOF, t0.Add(after))
	}
	want := []string{
		"WARN cannot connect to broker; retrying with backoff",
		"WARN still cannot connect to broker",
		"WARN still cannot connect to broker",
	}
	if got := logs.messages(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("logged\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
