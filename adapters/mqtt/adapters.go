package mqtt

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

// Type is the configuration type name of mqtt sources, sinks and alert
// channels.
const Type = "mqtt"

func init() {
	adapters.RegisterSource(Type, adapters.SourceWithConfig(newSource, CheckSource))
	// The keys of other sink and channel types pass on mqtt's, as they
	// always have.
	adapters.RegisterSink(Type, adapters.SinkWithConfig(newSink, CheckSink, ""))
	adapters.RegisterChannel(Type, adapters.SinkWithConfig(newChannel, CheckSink, ""))
}

// DefaultQoS is the QoS of an mqtt source's subscription when its
// configuration sets none.
const DefaultQoS = 1

// SourceConfig is an mqtt source's own keys; the common ones (broker and
// ack_topic among them) are in config.Source.
type SourceConfig struct {
	// Topic is the topic (or topic filter) the source subscribes to.
	Topic string `yaml:"topic"`
	// QoS is the subscription's QoS: 0, 1 or 2; nil means DefaultQoS.
	QoS *int `yaml:"qos"`
}

// SourceConfigOf decodes the own keys of an mqtt source.
func SourceConfigOf(src config.Source) (*SourceConfig, error) {
	return adapters.DecodeConfig[SourceConfig](src)
}

// qos returns the configured QoS or the default.
func (c *SourceConfig) qos() int {
	if c.QoS == nil {
		return DefaultQoS
	}
	return *c.QoS
}

// CheckSource checks an mqtt source's keys.
func CheckSource(cfg config.Source, c *SourceConfig) []config.KeyError {
	var errs []config.KeyError
	if cfg.Broker == "" {
		errs = append(errs, config.KeyError{Key: "broker", Msg: "required for an mqtt source"})
	}
	if c.Topic == "" {
		errs = append(errs, config.KeyError{Key: "topic", Msg: "required for an mqtt source"})
	}
	if q := c.qos(); q < 0 || q > 2 {
		errs = append(errs, config.KeyError{Key: "qos", Msg: fmt.Sprintf("want 0, 1 or 2, got %d", q)})
	}
	if cfg.AckTopic != "" && cfg.AckTopic == c.Topic && !strings.ContainsAny(cfg.AckTopic, "+#") { // a filter is config's to refuse
		errs = append(errs, config.KeyError{Key: "ack_topic", Msg: fmt.Sprintf("%q is the source's own topic: its acknowledgements would come back as input", cfg.AckTopic)})
	}
	return errs
}

// SinkConfig is the own keys of an mqtt sink or alert channel; the common
// ones (broker and qos among them) are in config.Sink.
type SinkConfig struct {
	// Topic is the topic commands or alerts are published on.
	Topic string `yaml:"topic"`
}

// CheckSink checks the keys of an mqtt sink or alert channel: its own, in
// c, and the common ones of cfg.
func CheckSink(cfg config.Sink, c *SinkConfig) []config.KeyError {
	var errs []config.KeyError
	if cfg.Broker == "" {
		errs = append(errs, config.KeyError{Key: "broker", Msg: "required for mqtt"})
	}
	if c.Topic == "" {
		errs = append(errs, config.KeyError{Key: "topic", Msg: "required for mqtt"})
	}
	return errs
}

// source subscribes to one topic on a shared connection.
type source struct {
	broker adapters.Broker
	topic  string
	qos    byte

	mu      sync.Mutex
	stopped bool
}

func newSource(env *adapters.Env, cfg config.Source, c *SourceConfig) (adapters.Source, error) {
	b, err := env.Broker(cfg.Broker)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", cfg.Name, err)
	}
	return &source{broker: b, topic: c.Topic, qos: byte(c.qos())}, nil
}

func (s *source) Start(_ context.Context, deliver adapters.Deliver) error {
	s.broker.Subscribe(s.topic, s.qos, func(m adapters.Message) {
		s.mu.Lock()
		stopped := s.stopped
		s.mu.Unlock()
		if stopped {
			return // not acknowledged: the broker delivers it again
		}
		deliver(m)
	})
	return nil
}

func (s *source) Stop() {
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
}

// sink publishes TOS commands (DESIGN 3.3) on one topic.
type sink struct {
	broker adapters.Broker
	topic  string
	qos    byte
}

func newSink(env *adapters.Env, cfg config.Sink, c *SinkConfig) (adapters.Sink, error) {
	b, err := env.Broker(cfg.Broker)
	if err != nil {
		return nil, fmt.Errorf("sink: %w", err)
	}
	return &sink{broker: b, topic: c.Topic, qos: byte(*cfg.QoS)}, nil
}

// sinkBatch is how many commands the sink publishes in one call: more
// than a group commit makes (1,000-2,000 under load), so that a
// dispatcher round is one call and one round trip, and few enough that
// publishing them takes well under the send timeout (at the 10,000-20,000
// publishes/s measured on two busy cores, 0.2-0.4 s).
const sinkBatch = 4096

// MaxBatch makes the sink an adapters.Batcher.
func (s *sink) MaxBatch() int { return sinkBatch }

func (s *sink) Send(ctx context.Context, cmds []state.Command) error {
	msgs := make([]adapters.Outgoing, len(cmds))
	for i, c := range cmds {
		p, err := json.Marshal(c)
		if err != nil {
			return fmt.Errorf("encode command %s: %w", c.ID, err)
		}
		msgs[i] = adapters.Outgoing{Topic: s.topic, Payload: p}
	}
	return s.broker.Publish(ctx, s.qos, msgs...)
}

// channel publishes alerts (DESIGN 3.4) on one topic.
type channel sink

func newChannel(env *adapters.Env, cfg config.Sink, c *SinkConfig) (adapters.Notifier, error) {
	b, err := env.Broker(cfg.Broker)
	if err != nil {
		return nil, fmt.Errorf("alert channel: %w", err)
	}
	return &channel{broker: b, topic: c.Topic, qos: byte(*cfg.QoS)}, nil
}

func (c *channel) Notify(ctx context.Context, alerts []state.Alert) error {
	msgs := make([]adapters.Outgoing, len(alerts))
	for i, a := range alerts {
		p, err := adapters.EncodeAlert(a)
		if err != nil {
			return err
		}
		msgs[i] = adapters.Outgoing{Topic: c.topic, Payload: p}
	}
	return c.broker.Publish(ctx, c.qos, msgs...)
}
