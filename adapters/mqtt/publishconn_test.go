package mqtt

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/internal/broker"
)

// startBroker starts a mosquitto of the test's own, or the embedded broker
// where mosquitto is missing, and stops it when the test ends.
func startBroker(t *testing.T) *broker.Broker {
	t.Helper()
	logs := &syncBuffer{}
	b, err := broker.StartLocal(t.TempDir(), logs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		b.Stop()
		if t.Failed() {
			t.Logf("broker log:\n%s", logs.String())
		}
	})
	return b
}

// TestPublishConnectionIsNotHeldUpByInbound shows why publish_client_id
// exists. A handler that has not returned holds up paho's reading of the
// subscribing connection, as a backlog does; the broker's PUBACK for a
// command is behind the inbound messages already sent. On the same
// connection the publish cannot be acknowledged; on a connection of its
// own it is at once.
func TestPublishConnectionIsNotHeldUpByInbound(t *testing.T) {
	const inbound = 50
	b := startBroker(t)
	feeder := newTestConn(t, "feeder", config.Broker{URL: b.URL(), ClientID: "portsync-test-feeder"})
	connect(t, feeder)
	waitReady(t, feeder)

	for _, tt := range []struct {
		name, publishID string
		want            bool // the publish is acknowledged
	}{
		{"shared connection", "", false},
		{"publish_client_id", "portsync-test-inbound-pub", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			topic := "portsync/test/inbound/" + strings.ReplaceAll(tt.name, " ", "-")
			c := newTestConn(t, "main", config.Broker{URL: b.URL(), ClientID: "portsync-test-inbound", PublishClientID: tt.publishID})
			arrived, release := make(chan struct{}, inbound), make(chan struct{})
			c.Subscribe(topic, 1, func(m adapters.Message) {
				arrived <- struct{}{}
				<-release
				m.Done(adapters.Outcome{})
			})
			connect(t, c)
			t.Cleanup(func() { close(release) }) // runs before Disconnect
			waitReady(t, c)

			// The feeder's PUBACKs mean the broker has the messages queued
			// for c before c's own publish reaches it: more of them than
			// paho's goroutines between its reader and the handler hold.
			var msgs []adapters.Outgoing
			for i := range inbound {
				msgs = append(msgs, adapters.Outgoing{Topic: topic, Payload: []byte(fmt.Sprint("m", i))})
			}
			publish(t, feeder, msgs...)
			select {
			case <-arrived: // the handler now holds up c's reader
			case <-time.After(10 * time.Second):
				t.Fatal("m1 did not arrive within 10s")
			}

			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			err := c.Publish(ctx, 1, adapters.Outgoing{Topic: "portsync/test/commands", Payload: []byte("cmd")})
			switch {
			case tt.want && err != nil:
				t.Fatalf("Publish with its own connection: %v", err)
			case !tt.want && err == nil:
				t.Fatal("Publish on the subscribing connection was acknowledged while its reader was held up; the test no longer shows the problem")
			case !tt.want && !errors.Is(err, context.DeadlineExceeded):
				t.Fatalf("Publish on the subscribing connection: %v, want the context's deadline", err)
			}
		})
	}
}

// TestPublishConnectionReadiness checks that the publishing connection is
// part of the broker's readiness: while another client has taken its
// client id, the broker is not ready and the reason says which connection.
func TestPublishConnectionReadiness(t *testing.T) {
	b := startBroker(t)
	cfg := config.Broker{URL: b.URL(), ClientID: "portsync-test-ready", PublishClientID: "portsync-test-ready-pub"}
	c := newTestConn(t, "main", cfg)
	connect(t, c)
	waitReady(t, c)

	intruder := newTestConn(t, "intruder", config.Broker{URL: b.URL(), ClientID: cfg.PublishClientID})
	connect(t, intruder)
	var reason string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var ok bool
		if ok, reason = c.Ready(); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("still ready 10s after another client took the publishing connection's client id")
		}
	}
	if !strings.Contains(reason, "publishing connection") || !strings.Contains(reason, cfg.PublishClientID) {
		t.Errorf("reason %q does not name the publishing connection and its client id", reason)
	}
	intruder.Disconnect()
	waitReady(t, c)
	publish(t, c, adapters.Outgoing{Topic: "portsync/test/after", Payload: []byte("x")})
}

// A publish that comes while the first connection is still being made
// (a start with a backlog: the writer has commands before the publishing
// connection is up) waits for it rather than fail and report the sink
// down for a race of milliseconds. Once the first attempt has failed, a
// publish fails at once, so that a broker that is down shows.
func TestPublishWaitsForTheFirstConnection(t *testing.T) {
	b := startBroker(t)
	for _, publishID := range []string{"", "portsync-test-first-pub"} {
		c := newTestConn(t, "main", config.Broker{URL: b.URL(), ClientID: "portsync-test-first", PublishClientID: publishID})
		connect(t, c)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := c.Publish(ctx, 1, adapters.Outgoing{Topic: "portsync/test/first", Payload: []byte("cmd")})
		cancel()
		if err != nil {
			t.Errorf("publish_client_id %q: the first publish: %v", publishID, err)
		}
		c.Disconnect()
	}

	port, err := broker.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	down := newTestConn(t, "down", config.Broker{URL: fmt.Sprintf("tcp://127.0.0.1:%d", port), ClientID: "portsync-test-down"})
	connect(t, down)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = down.Publish(ctx, 1, adapters.Outgoing{Topic: "portsync/test/first", Payload: []byte("cmd")})
	if err == nil || errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "not connected") {
		t.Fatalf("publish to a broker that is not there: %v, want not connected once the first attempt failed", err)
	}
}
