// Package mqtt owns portsync's MQTT transport: one shared connection per
// configured broker (a persistent session: fixed client id, clean session
// off, QoS 1, acknowledgement only after the store commit), and the mqtt
// source, TOS sink and alert channel types built on it.
package mqtt

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/config"
)

// The wait between connection attempts starts at minRetryWait and doubles
// after each failure up to maxRetryWait: a broker down for an hour sees
// about 120 attempts rather than 3600.
const (
	minRetryWait = time.Second
	maxRetryWait = 30 * time.Second
	// failureSummaryEvery bounds the log while a broker stays unreachable:
	// the first failure is logged, then a summary at most this often.
	failureSummaryEvery = time.Minute
)

// Conn is a connection to one broker, shared by every adapter that names it.
type Conn struct {
	name     string
	clientID string
	client   paho.Client
	log      *slog.Logger
	session  adapters.SessionFunc // nil when no one asks

	lost chan struct{} // a connection was lost (buffered: paho must not wait)
	stop chan struct{} // closed by Disconnect
	// tried is closed once the first connection attempt has ended, either
	// way. Publish waits for it: at a start with a backlog the writer has
	// commands before the connection is up, and failing them would report
	// the sink down for a race of milliseconds.
	tried     chan struct{}
	triedOnce sync.Once

	mu        sync.Mutex
	subs      map[string]byte // topic -> qos
	acked     map[string]bool // topic -> SUBACK received on this connection
	connected bool
	// resumed is set once paho's connect has finished, its resume of the
	// packets in its store included. Publish waits for it, so that a
	// publish is not both resumed and sent (copyingStore has the race
	// that the overlap used to be).
	resumed bool
	lastErr string
	running bool // Connect started run
	stopped bool // Disconnect was called; no connection may start after it
	// down is closed when the connection in use is lost: paho keeps QoS 1
	// publish tokens open across a reconnect, and a sender must not wait
	// out its whole timeout on a connection that is gone.
	down chan struct{}

	// pub, when the broker has a publish_client_id, is the connection
	// Publish uses. On the subscribing connection a PUBACK for a command
	// waits behind every message the broker has already sent portsync
	// (up to its max_inflight_messages), and during a backlog that is long
	// enough for the sink's sends to time out.
	pub *Conn
}

// NewConn prepares a connection to the broker cfg describes; it does not
// dial until Connect. session, if not nil, is told on every connection
// the broker accepts whether it still held portsync's session.
func NewConn(name string, cfg config.Broker, log *slog.Logger, session adapters.SessionFunc) (*Conn, error) {
	c, err := newConn(name, cfg, cfg.ClientID, false, log.With("broker", name), session)
	if err != nil || cfg.PublishClientID == "" {
		return c, err
	}
	// The publishing connection keeps no session: it subscribes to
	// nothing, and a command whose PUBACK was lost is sent again from the
	// outbox, not from paho's store.
	c.pub, err = newConn(name, cfg, cfg.PublishClientID, true, c.log.With("connection", "publish"), nil)
	return c, err
}

func newConn(name string, cfg config.Broker, clientID string, clean bool, log *slog.Logger, session adapters.SessionFunc) (*Conn, error) {
	c := &Conn{
		name: name, clientID: clientID, log: log, session: session,
		lost: make(chan struct{}, 1), stop: make(chan struct{}), tried: make(chan struct{}),
		subs: map[string]byte{}, acked: map[string]bool{}, down: make(chan struct{}),
	}
	// Reconnection is run's, not paho's: paho's reconnect does not report
	// the CONNACK session-present flag (client.go reconnect discards it),
	// and its first connection retries at a fixed interval.
	// MQTT 3.1.1 is fixed: otherwise paho dials every failed attempt a
	// second time to try 3.1.
	opts := paho.NewClientOptions().
		AddBroker(cfg.URL).
		SetClientID(clientID).
		SetProtocolVersion(4).
		SetCleanSession(clean).
		SetAutoAckDisabled(true).
		SetOrderMatters(true).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetKeepAlive(15 * time.Second).
		SetPingTimeout(5 * time.Second).
		SetConnectTimeout(10 * time.Second).
		SetWriteTimeout(10 * time.Second).
		SetCustomOpenConnectionFn(dial).
		SetStore(newCopyingStore()).
		SetOnConnectHandler(c.onConnect).
		SetConnectionLostHandler(c.onLost)
	if cfg.UsernameFile != "" {
		user, err := config.ReadSecret(cfg.UsernameFile)
		if err != nil {
			return nil, fmt.Errorf("broker %s: username_file: %w", name, err)
		}
		opts.SetUsername(user)
	}
	if cfg.PasswordFile != "" {
		pass, err := config.ReadSecret(cfg.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("broker %s: password_file: %w", name, err)
		}
		opts.SetPassword(pass)
	}
	if cfg.TLS != (config.TLS{}) {
		tc, err := tlsConfig(cfg.TLS, cfg.URL)
		if err != nil {
			return nil, fmt.Errorf("broker %s: %w", name, err)
		}
		opts.SetTLSConfig(tc)
	}
	c.client = paho.NewClient(opts)
	return c, nil
}

func tlsConfig(t config.TLS, brokerURL string) (*tls.Config, error) {
	tc, err := t.ClientConfig()
	if err != nil {
		return nil, err
	}
	// paho leaves the server name out when it dials through a proxy; the
	// broker's certificate is checked against the host of its URL.
	if u, err := url.Parse(brokerURL); err == nil {
		tc.ServerName = u.Hostname()
	}
	return tc, nil
}

// Subscribe routes messages on topic to handler. It must be called before
// Connect: paho delivers a persistent session's backlog as soon as the
// connection opens, before any SUBSCRIBE, and a message without a route is
// never acknowledged, which jams the session.
func (c *Conn) Subscribe(topic string, qos byte, handler func(adapters.Message)) {
	c.mu.Lock()
	c.subs[topic] = qos
	c.mu.Unlock()
	c.client.AddRoute(routeTopic(topic), func(_ paho.Client, m paho.Message) {
		handler(toMessage(m))
	})
}

// routeTopic is the filter paho matches a shared subscription's messages
// against: without the $share/group/ prefix.
func routeTopic(topic string) string {
	if rest, ok := strings.CutPrefix(topic, "$share/"); ok {
		if _, filter, ok := strings.Cut(rest, "/"); ok {
			return filter
		}
	}
	return topic
}

func toMessage(m paho.Message) adapters.Message {
	msg := adapters.Message{Payload: m.Payload(), Done: func(adapters.Outcome) { m.Ack() }, ReceivedAt: time.Now()}
	if len(msg.Payload) > adapters.MaxPayload {
		// paho has read it already: paho v1.5.1 has no limit on incoming
		// packets (packets.ReadPacket allocates the whole remaining
		// length, packets/packets.go:146, and ClientOptions has no
		// option), and MQTT 3.1.1 has no way to tell the broker one.
		// The broker's message_size_limit is what bounds it (README,
		// Broker requirements). Keep only a copy of a prefix for the dead
		// letter, so that the whole packet is not kept alive with it.
		msg.Payload = bytes.Clone(msg.Payload[:1024])
		msg.TooLarge = true
	}
	return msg
}

func (c *Conn) onConnect(client paho.Client) {
	c.mu.Lock()
	c.connected = true
	c.lastErr = ""
	c.down = make(chan struct{})
	subs := make(map[string]byte, len(c.subs))
	for t, q := range c.subs {
		subs[t] = q
		c.acked[t] = false
	}
	c.mu.Unlock()
	for topic, qos := range subs {
		go c.subscribe(client, topic, qos)
	}
}

func (c *Conn) subscribe(client paho.Client, topic string, qos byte) {
	tok := client.Subscribe(topic, qos, nil)
	tok.Wait()
	err := tok.Error()
	if err == nil {
		if granted, ok := tok.(*paho.SubscribeToken).Result()[topic]; ok && granted == 0x80 {
			err = errors.New("broker refused the subscription (SUBACK 0x80); check its ACL")
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.lastErr = fmt.Sprintf("subscribe %s: %v", topic, err)
		c.log.Error("subscribe failed", "topic", topic, "err", err)
		return
	}
	c.acked[topic] = true
	c.log.Info("subscribed", "topic", topic, "qos", qos)
}

func (c *Conn) onLost(_ paho.Client, err error) {
	c.mu.Lock()
	if c.connected {
		close(c.down)
	}
	c.connected = false
	c.resumed = false
	c.lastErr = "connection lost: " + err.Error()
	for t := range c.acked {
		c.acked[t] = false
	}
	c.mu.Unlock()
	c.log.Warn("connection to broker lost", "err", err)
	select {
	case c.lost <- struct{}{}:
	default:
	}
}

// Connect starts connecting in the background; run retries until the
// broker answers and connects again whenever the connection is lost.
func (c *Conn) Connect(ctx context.Context) error {
	if c.pub != nil {
		c.pub.Connect(ctx)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.running && !c.stopped {
		c.running = true
		go c.run()
	}
	return nil
}

// Disconnect closes the connection after flushing queued acknowledgements.
func (c *Conn) Disconnect() {
	c.mu.Lock()
	if !c.stopped {
		c.stopped = true
		close(c.stop)
	}
	c.mu.Unlock()
	c.client.Disconnect(500)
	if c.pub != nil {
		c.pub.Disconnect()
	}
}

// run connects, and connects again whenever the connection is lost,
// waiting longer after each failure, until Disconnect.
func (c *Conn) run() {
	wait := minRetryWait
	var fails failureLog
	for {
		tok, ok := c.dial()
		if !ok {
			return
		}
		select {
		case <-tok.Done():
		case <-c.stop:
			return
		}
		if err := tok.Error(); err != nil {
			c.mu.Lock()
			c.lastErr = "connect: " + err.Error()
			c.mu.Unlock()
			c.triedOnce.Do(func() { close(c.tried) })
			fails.failed(c.log, err, time.Now())
			if !c.sleep(wait) {
				return
			}
			wait = min(2*wait, maxRetryWait)
			continue
		}
		c.mu.Lock()
		c.resumed = true
		c.mu.Unlock()
		c.triedOnce.Do(func() { close(c.tried) })
		present := tok.(*paho.ConnectToken).SessionPresent()
		c.log.Info("connected to broker", "client_id", c.clientID, "session_present", present, "failed_attempts", fails.n)
		fails = failureLog{}
		if c.session != nil {
			c.session(c.name, c.clientID, present)
		}
		up := time.Now()
		select {
		case <-c.lost:
		case <-c.stop:
			return
		}
		// A connection that lasted is tried again at once; one the broker
		// drops straight away (another process took over the client id)
		// goes on backing off.
		if time.Since(up) >= maxRetryWait {
			wait = minRetryWait
			continue
		}
		if !c.sleep(wait) {
			return
		}
		wait = min(2*wait, maxRetryWait)
	}
}

// dial starts one connection attempt unless Disconnect was called. The
// lock makes the two exclusive: paho's Disconnect waits for an attempt
// under way, but one started after it would stay connected.
func (c *Conn) dial() (paho.Token, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return nil, false
	}
	return c.client.Connect(), true
}

// sleep waits d, or returns false at once on Disconnect.
func (c *Conn) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.stop:
		return false
	}
}

// failureLog logs the failed attempts of one outage: the first, then a
// summary at most every failureSummaryEvery.
type failureLog struct {
	n      int
	since  time.Time
	logged time.Time
}

func (f *failureLog) failed(log *slog.Logger, err error, now time.Time) {
	f.n++
	switch {
	case f.n == 1:
		f.since, f.logged = now, now
		log.Warn("cannot connect to broker; retrying with backoff", "err", err, "max_wait", maxRetryWait)
	case now.Sub(f.logged) >= failureSummaryEvery:
		f.logged = now
		log.Warn("still cannot connect to broker", "err", err, "attempts", f.n, "since", f.since)
	}
}

// Ready reports whether the connection is up and every subscription has
// been acknowledged by the broker on it, and whether the publishing
// connection, if there is one, is up.
func (c *Conn) Ready() (bool, string) {
	if ok, reason := c.ready(); !ok {
		return false, reason
	}
	if c.pub != nil {
		if ok, reason := c.pub.ready(); !ok {
			return false, reason + " (the publishing connection, " + c.pub.clientID + ")"
		}
	}
	return true, ""
}

func (c *Conn) ready() (bool, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.connected {
		reason := "not connected"
		if c.lastErr != "" {
			reason += " (" + c.lastErr + ")"
		}
		return false, fmt.Sprintf("broker %s: %s", c.name, reason)
	}
	var missing []string
	for t, ok := range c.acked {
		if !ok {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return false, fmt.Sprintf("broker %s: subscriptions not acknowledged: %s", c.name, strings.Join(missing, ", "))
	}
	return true, ""
}

// Publish publishes msgs in order and waits until the broker has
// acknowledged them all. Publishing them together rather than one by one
// turns n round trips into one.
func (c *Conn) Publish(ctx context.Context, qos byte, msgs ...adapters.Outgoing) error {
	if c.pub != nil {
		return c.pub.Publish(ctx, qos, msgs...)
	}
	select {
	case <-c.tried:
	case <-c.stop:
	case <-ctx.Done():
		return fmt.Errorf("broker %s: not connected yet: %w", c.name, ctx.Err())
	}
	c.mu.Lock()
	down, resumed := c.down, c.resumed
	c.mu.Unlock()
	if !resumed || !c.client.IsConnectionOpen() {
		return fmt.Errorf("broker %s: not connected", c.name)
	}
	toks := make([]paho.Token, len(msgs))
	for i, m := range msgs {
		toks[i] = c.client.Publish(m.Topic, qos, m.Retained, m.Payload)
	}
	for _, tok := range toks {
		if err := c.wait(ctx, tok, down); err != nil {
			return err
		}
	}
	return nil
}

func (c *Conn) wait(ctx context.Context, tok paho.Token, down <-chan struct{}) error {
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return fmt.Errorf("broker %s: publish: %w", c.name, err)
		}
		return nil
	case <-down:
		return fmt.Errorf("broker %s: publish: connection lost before the broker acknowledged it", c.name)
	case <-ctx.Done():
		return fmt.Errorf("broker %s: publish: %w", c.name, ctx.Err())
	}
}
