// Package mqtt owns portsync's MQTT transport: one shared connection per
// configured broker (a persistent session: fixed client id, clean session
// off, QoS 1, acknowledgement only after the store commit), and the mqtt
// source, TOS sink and alert channel types built on it.
package mqtt

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sort"
	"strings"
	stdsync "sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/config"
)

// Conn is a connection to one broker, shared by every adapter that names it.
type Conn struct {
	name   string
	client paho.Client
	log    *slog.Logger

	mu        stdsync.Mutex
	subs      map[string]byte // topic -> qos
	acked     map[string]bool // topic -> SUBACK received on this connection
	connected bool
	lastErr   string
	// down is closed when the connection in use is lost: paho keeps QoS 1
	// publish tokens open across a reconnect, and a sender must not wait
	// out its whole timeout on a connection that is gone.
	down chan struct{}
}

// NewConn prepares a connection to the broker cfg describes; it does not
// dial until Connect.
func NewConn(name string, cfg config.Broker, log *slog.Logger) (*Conn, error) {
	c := &Conn{name: name, log: log.With("broker", name), subs: map[string]byte{}, acked: map[string]bool{}, down: make(chan struct{})}
	opts := paho.NewClientOptions().
		AddBroker(cfg.URL).
		SetClientID(cfg.ClientID).
		SetCleanSession(false).
		SetAutoAckDisabled(true).
		SetOrderMatters(true).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(10 * time.Second).
		SetKeepAlive(15 * time.Second).
		SetPingTimeout(5 * time.Second).
		SetConnectTimeout(10 * time.Second).
		SetWriteTimeout(10 * time.Second).
		SetOnConnectHandler(c.onConnect).
		SetConnectionLostHandler(c.onLost).
		SetReconnectingHandler(func(paho.Client, *paho.ClientOptions) {
			c.log.Debug("reconnecting to broker")
		}).
		SetConnectionNotificationHandler(c.onNotification)
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
	msg := adapters.Message{Payload: m.Payload(), Ack: m.Ack, ReceivedAt: time.Now()}
	if len(msg.Payload) > adapters.MaxPayload {
		// paho has read it already; keep only a prefix for the dead letter.
		msg.Payload = msg.Payload[:1024]
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
	c.log.Info("connected to broker", "subscriptions", len(subs))
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

// onNotification records why a connection attempt failed: paho retries on
// its own, and without this an untrusted certificate, a wrong password and a
// broker that is down would all read "not connected".
func (c *Conn) onNotification(_ paho.Client, n paho.ConnectionNotification) {
	var reason error
	switch n := n.(type) {
	case paho.ConnectionNotificationFailed:
		reason = n.Reason
	case paho.ConnectionNotificationBrokerFailed:
		reason = n.Reason
	default:
		return
	}
	if reason == nil {
		return
	}
	c.mu.Lock()
	repeated := c.lastErr == "connect: "+reason.Error()
	c.lastErr = "connect: " + reason.Error()
	c.mu.Unlock()
	if !repeated {
		c.log.Warn("cannot connect to broker; retrying", "err", reason)
	}
}

func (c *Conn) onLost(_ paho.Client, err error) {
	c.mu.Lock()
	if c.connected {
		close(c.down)
	}
	c.connected = false
	c.lastErr = "connection lost: " + err.Error()
	for t := range c.acked {
		c.acked[t] = false
	}
	c.mu.Unlock()
	c.log.Warn("connection to broker lost", "err", err)
}

// Connect starts connecting in the background; paho retries until the
// broker answers and then reconnects by itself whenever it is lost.
func (c *Conn) Connect(ctx context.Context) error {
	c.client.Connect()
	return nil
}

// Disconnect closes the connection after flushing queued acknowledgements.
func (c *Conn) Disconnect() { c.client.Disconnect(500) }

// Ready reports whether the connection is up and every subscription has
// been acknowledged by the broker on it.
func (c *Conn) Ready() (bool, string) {
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
	if !c.client.IsConnectionOpen() {
		return fmt.Errorf("broker %s: not connected", c.name)
	}
	c.mu.Lock()
	down := c.down
	c.mu.Unlock()
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
