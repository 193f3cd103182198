package mqtt

import (
	"slices"
	"strings"
	"testing"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/config"
)

// mqttSrc is an mqtt source's configuration: the common keys and its own.
type mqttSrc struct {
	config.Source
	SourceConfig
}

// source is the configuration as config.Parse gives it, own keys in Keys.
func (m mqttSrc) source() config.Source {
	s := m.Source
	s.Keys = config.NewKeys(m.SourceConfig)
	return s
}

func testSrc(edit func(*mqttSrc)) config.Source {
	m := mqttSrc{
		Source:       config.Source{Name: "customs-mqtt", Type: Type, Broker: "main", Kind: config.KindAgency, Agency: "customs", Format: "json"},
		SourceConfig: SourceConfig{Topic: "customs/releases"},
	}
	if edit != nil {
		edit(&m)
	}
	return m.source()
}

func ptr(i int) *int { return &i }

// TestSourceQoS: qos defaults to 1 (DefaultQoS), an explicit 0 is kept,
// and the source subscribes with it.
func TestSourceQoS(t *testing.T) {
	if DefaultQoS != 1 {
		t.Errorf("DefaultQoS = %d, want 1", DefaultQoS)
	}
	env := &adapters.Env{Brokers: map[string]adapters.Broker{"main": nil}}
	for _, tc := range []struct {
		qos  *int
		want byte
	}{{nil, 1}, {ptr(0), 0}, {ptr(2), 2}} {
		src, err := adapters.NewSource(env, testSrc(func(m *mqttSrc) { m.QoS = tc.qos }))
		if err != nil {
			t.Fatal(err)
		}
		if s := src.(*source); s.qos != tc.want || s.topic != "customs/releases" {
			t.Errorf("qos %v: subscribes to %q at qos %d, want customs/releases at %d", tc.qos, s.topic, s.qos, tc.want)
		}
	}
}

func TestSourceCheck(t *testing.T) {
	check := func(src config.Source) []config.KeyError {
		known, errs := adapters.Registry.CheckSource(src)
		if !known {
			t.Fatalf("type %q unknown", src.Type)
		}
		return errs
	}
	if errs := check(testSrc(nil)); len(errs) > 0 {
		t.Fatalf("good config: %v", errs)
	}
	for _, tc := range []struct {
		name string
		edit func(*mqttSrc)
		key  string
		msg  string
	}{
		{"no broker", func(m *mqttSrc) { m.Broker = "" }, "broker", "required"},
		{"no topic", func(m *mqttSrc) { m.Topic = "" }, "topic", "required"},
		{"qos 3", func(m *mqttSrc) { m.QoS = ptr(3) }, "qos", "want 0, 1 or 2, got 3"},
		{"qos -1", func(m *mqttSrc) { m.QoS = ptr(-1) }, "qos", "want 0, 1 or 2, got -1"},
		{"ack_topic is the topic", func(m *mqttSrc) { m.AckTopic = "customs/releases" }, "ack_topic", "own topic"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := check(testSrc(tc.edit))
			if !slices.ContainsFunc(errs, func(e config.KeyError) bool { return e.Key == tc.key && strings.Contains(e.Msg, tc.msg) }) {
				t.Errorf("errors %v, want one on %s saying %q", errs, tc.key, tc.msg)
			}
		})
	}
	// A value of the wrong type is the decoder's error, not checked again.
	src := testSrc(nil)
	src.Keys = config.NewKeys(struct {
		Topic string `yaml:"topic"`
		QoS   string `yaml:"qos"`
	}{"customs/releases", "one"})
	if errs := check(src); len(errs) != 1 || errs[0].Key != "qos" || !strings.Contains(errs[0].Msg, "integer") {
		t.Errorf("qos one: %v, want one error on qos wanting an integer", errs)
	}
}
