package config_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portsync/portsync/config"
)

// fakeRegistry stands in for the adapters package: it knows the adapter
// types and formats DESIGN section 4 names and checks a few of their keys
// the way real adapters do.
type fakeRegistry struct{}

func need(errs []config.KeyError, key, value string) []config.KeyError {
	if value == "" {
		errs = append(errs, config.KeyError{Key: key, Msg: "required"})
	}
	return errs
}

// fileDropKeys are the file_drop adapter's own keys.
type fileDropKeys struct {
	Dir           string        `yaml:"dir"`
	PartialSuffix string        `yaml:"partial_suffix"`
	Rescan        time.Duration `yaml:"rescan"`
	MaxBytes      int           `yaml:"max_bytes"`
}

// httpPollKeys are the http_poll adapter's own keys.
type httpPollKeys struct {
	URL      string            `yaml:"url"`
	Schedule string            `yaml:"schedule"`
	Cursor   config.Cursor     `yaml:"cursor"`
	Headers  map[string]string `yaml:"headers"`
	Timeout  time.Duration     `yaml:"timeout"`
}

// httpQueryKeys are the http_query adapter's own keys.
type httpQueryKeys struct {
	URL        string            `yaml:"url"`
	Schedule   string            `yaml:"schedule"`
	Headers    map[string]string `yaml:"headers"`
	Timeout    time.Duration     `yaml:"timeout"`
	Rate       int               `yaml:"rate"`
	QueryAfter time.Duration     `yaml:"query_after"`
}

// mqttKeys are the mqtt source adapter's own keys.
type mqttKeys struct {
	Topic string `yaml:"topic"`
	QoS   *int   `yaml:"qos"`
}

// mappedKeys and ediKeys are the keys of the mapped and EDI formats.
type mappedKeys struct {
	Mapping *config.Mapping `yaml:"mapping"`
}

type ediKeys struct {
	TimeZone    string            `yaml:"time_zone"`
	StatusCodes map[string]string `yaml:"status_codes"`
}

// formatKeys are, like the adapters', the formats that decode their own
// keys.
var formatKeys = map[string]func() any{
	"mapped_json": func() any { return new(mappedKeys) },
	"mapped_xml":  func() any { return new(mappedKeys) },
	"edifact":     func() any { return new(ediKeys) },
	"x12_350":     func() any { return new(ediKeys) },
}

// ownKeys are, like the adapters', the types that decode their own keys.
var ownKeys = map[string]func() any{
	"mqtt":       func() any { return new(mqttKeys) },
	"file_drop":  func() any { return new(fileDropKeys) },
	"http_poll":  func() any { return new(httpPollKeys) },
	"http_query": func() any { return new(httpQueryKeys) },
}

func (fakeRegistry) CheckSource(s config.Source) (bool, []config.KeyError) {
	var errs []config.KeyError
	var own []string
	if newOwn, ok := ownKeys[s.Type]; ok {
		o := newOwn()
		errs = append(errs, s.Keys.Decode(o)...)
		own = config.KeyNames(o)
		switch o := o.(type) {
		case *mqttKeys:
			errs = need(errs, "broker", s.Broker)
			errs = need(errs, "topic", o.Topic)
			if o.QoS != nil && (*o.QoS < 0 || *o.QoS > 2) {
				errs = append(errs, config.KeyError{Key: "qos", Msg: fmt.Sprintf("want 0, 1 or 2, got %d", *o.QoS)})
			}
		case *fileDropKeys:
			errs = need(errs, "dir", o.Dir)
		case *httpPollKeys:
			errs = need(errs, "url", o.URL)
			errs = cronKey(errs, o.Schedule)
		case *httpQueryKeys:
			errs = need(errs, "url", o.URL)
			errs = cronKey(errs, o.Schedule)
		}
	}
	switch s.Type {
	case "http_push", "mqtt", "file_drop", "http_poll", "http_query":
	default:
		return false, nil
	}
	// The keys of the source's format.
	if newFormat, ok := formatKeys[s.Format]; ok {
		f := newFormat()
		errs = append(errs, s.Keys.Decode(f)...)
		own = append(own, config.KeyNames(f)...)
		if f, ok := f.(*ediKeys); ok && f.TimeZone != "" {
			if _, err := time.LoadLocation(f.TimeZone); err != nil {
				errs = append(errs, config.KeyError{Key: "time_zone", Msg: fmt.Sprintf("unknown time zone %q: %v", f.TimeZone, err)})
			}
		}
	}
	// Like the adapters registry, it reports the keys the type and the
	// format do not read: another format's mapping, not its time_zone or
	// status_codes.
	for _, k := range s.Keys.Names() {
		switch {
		case slices.Contains(own, k), k == "time_zone", k == "status_codes":
			continue
		case k == "mapping":
			errs = append(errs, config.KeyError{Key: k, Msg: fmt.Sprintf("only used by formats mapped_json and mapped_xml, and this source's format is %q", s.Format)})
			continue
		}
		var users []string
		for typ, newOwn := range ownKeys {
			if slices.Contains(config.KeyNames(newOwn()), k) {
				users = append(users, typ)
			}
		}
		slices.Sort(users)
		msg := config.UnknownKey(slices.Sorted(slices.Values(append(config.KeyNames(config.Source{}), own...))))
		if len(users) > 0 {
			msg = fmt.Sprintf("only used by %s sources, and this source's type is %q", strings.Join(users, " and "), s.Type)
		}
		errs = append(errs, config.KeyError{Key: k, Msg: msg})
	}
	return true, errs
}

func cronKey(errs []config.KeyError, spec string) []config.KeyError {
	if _, err := config.CronParser.Parse(spec); spec != "" && err != nil {
		errs = append(errs, config.KeyError{Key: "schedule", Msg: fmt.Sprintf("bad cron expression %q: %v", spec, err)})
	}
	return errs
}

// sinkKeys are the own keys of the sink and channel types, all in one: the
// fake does not tell the types' keys apart.
type sinkKeys struct {
	Topic        string            `yaml:"topic"`
	URL          string            `yaml:"url"`
	Schedule     string            `yaml:"schedule"`
	TokenFile    string            `yaml:"token_file"`
	Headers      map[string]string `yaml:"headers"`
	Timeout      time.Duration     `yaml:"timeout"`
	TLS          config.TLS        `yaml:"tls"`
	Template     string            `yaml:"template"`
	SecretFile   string            `yaml:"secret_file"`
	SMTP         string            `yaml:"smtp"`
	From         string            `yaml:"from"`
	To           []string          `yaml:"to"`
	UsernameFile string            `yaml:"username_file"`
	PasswordFile string            `yaml:"password_file"`
}

// decodeSink decodes a sink's own keys, like the adapters registry, and
// reports those no type reads as unknown.
func decodeSink(s config.Sink) (*sinkKeys, []config.KeyError) {
	k := new(sinkKeys)
	errs := s.Keys.Decode(k)
	for _, name := range s.Keys.Names() {
		if !slices.Contains(config.KeyNames(k), name) {
			errs = append(errs, config.KeyError{Key: name, Msg: config.UnknownKey(config.KeyNames(k))})
		}
	}
	return k, errs
}

func (fakeRegistry) CheckSink(s config.Sink) (bool, []config.KeyError) {
	k, errs := decodeSink(s)
	switch s.Type {
	case "mqtt":
		errs = need(errs, "broker", s.Broker)
		errs = need(errs, "topic", k.Topic)
	case "http":
		errs = need(errs, "url", k.URL)
	default:
		return false, nil
	}
	return true, errs
}

func (fakeRegistry) CheckChannel(s config.Sink) (bool, []config.KeyError) {
	k, errs := decodeSink(s)
	switch s.Type {
	case "mqtt":
		errs = need(errs, "broker", s.Broker)
		errs = need(errs, "topic", k.Topic)
	case "webhook", "alertmanager":
		errs = need(errs, "url", k.URL)
	case "email":
		errs = need(errs, "smtp", k.SMTP)
	default:
		return false, nil
	}
	return true, errs
}

func (fakeRegistry) CheckSnapshot(s config.Sink) []config.KeyError {
	k, errs := decodeSink(s)
	errs = need(errs, "url", k.URL)
	errs = cronKey(errs, k.Schedule)
	if s.Broker != "" {
		errs = append(errs, config.KeyError{Key: "broker", Msg: "not used by tos.snapshot"})
	}
	return errs
}

func (fakeRegistry) HasFormat(name string) bool {
	return slices.Contains([]string{"json", "mapped_json", "mapped_xml", "edifact", "x12_350"}, name)
}

// writeSecret writes a secret file in dir and returns its path.
func writeSecret(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// lineOf returns the 1-based number of the first line of text that
// contains marker.
func lineOf(t *testing.T, text, marker string) int {
	t.Helper()
	for i, l := range strings.Split(text, "\n") {
		if strings.Contains(l, marker) {
			return i + 1
		}
	}
	t.Fatalf("marker %q not in config:\n%s", marker, text)
	return 0
}

// replaceOnce replaces old, which must occur exactly once, by new.
func replaceOnce(t *testing.T, text, old, new string) string {
	t.Helper()
	if n := strings.Count(text, old); n != 1 {
		t.Fatalf("%q occurs %d times in the config, want once", old, n)
	}
	return strings.Replace(text, old, new, 1)
}

func configErrors(t *testing.T, err error) config.Errors {
	t.Helper()
	if err == nil {
		t.Fatal("Parse succeeded, want errors")
	}
	var errs config.Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error is %T (%v), want config.Errors", err, err)
	}
	return errs
}

// designExample is the example of DESIGN section 4, with its secret files
// under DIR.
const designExample = `terminal: CNSHA-T1
state_dir: /var/lib/portsync          # the store is state_dir/portsync.db
log: {level: info, format: json}      # text|json

agencies:
  customs:    {tos_hold: CUSTOMS}                     # when_unknown: hold (default) | ignore
  quarantine: {tos_hold: CIQ, when_unknown: ignore}
release_policy:
  required: [customs, quarantine]

brokers:
  main:
    url: tcp://127.0.0.1:1883           # tcp://, ssl://, ws://
    client_id: portsync-CNSHA-T1        # fixed id: the broker keeps the session
    username_file: DIR/mqtt.user
    password_file: DIR/mqtt.pass
    tls: {ca_file: , cert_file: , key_file: }

sources:                                # where agency and TOS events come from
  - name: customs-mqtt
    type: mqtt                          # mqtt | http_poll | file_drop | http_push
    broker: main
    topic: customs/CNSHA-T1/releases
    qos: 1
    kind: agency                        # agency | tos
    agency: customs                     # this source speaks for customs only
    format: json                        # json (3.1/3.2) | mapped_json | edifact | x12_350
                                        # defaults: qos 1, format json
  - name: tos-events
    type: mqtt
    broker: main
    topic: tos/CNSHA-T1/events
    kind: tos
  - name: customs-poll
    type: http_poll
    url: https://customs.example/api/v1/releases
    schedule: "@every 30s"
    kind: agency
    agency: customs
    cursor: {param: since, field: next_cursor}
    token_file: DIR/customs.token
  - name: cusres-drop
    type: file_drop
    dir: /var/spool/portsync/cusres     # processed files move to dir/done, rejected to dir/rejected
    kind: agency
    agency: customs
    format: edifact

tos:
  sink:
    type: mqtt                          # mqtt | http
    broker: main
    topic: tos/CNSHA-T1/commands

sla:
  apply_within: 2m                      # a mismatch older than this raises an alert
  retry_after: 15s                      # first re-send of an unconfirmed command; doubles, at most 5m

alerts:
  repeat_interval: 30m
  channels:
    - {type: mqtt, broker: main, topic: portsync/CNSHA-T1/alerts}
    - {type: webhook, url: https://hooks.example/portsync}
    - {type: alertmanager, url: http://127.0.0.1:9093}

status_topic: portsync/CNSHA-T1/status   # optional, see 3.5 (uses broker main)

http:
  listen: 127.0.0.1:9740
  token_file: DIR/api.token   # when set, /api/ requires "Authorization: Bearer <token>"

schedules:
  sweep: "*/5 * * * *"
  retention: "0 3 * * *"
retention:
  journal: 2160h                        # 90 days
`

func TestParseDesignExample(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"mqtt.user", "mqtt.pass", "customs.token", "api.token"} {
		writeSecret(t, dir, name, "secret-"+name+"\n")
	}
	text := strings.ReplaceAll(designExample, "DIR", dir)
	c, err := config.Parse("portsync.yaml", []byte(text), fakeRegistry{})
	if err != nil {
		t.Fatalf("the example of DESIGN section 4 does not parse:\n%v", err)
	}
	if c.File != "portsync.yaml" {
		t.Errorf("File = %q", c.File)
	}
	if c.Terminal != "CNSHA-T1" || c.StateDir != "/var/lib/portsync" {
		t.Errorf("terminal, state_dir = %q, %q", c.Terminal, c.StateDir)
	}
	if c.Log != (config.Log{Level: "info", Format: "json"}) {
		t.Errorf("log = %+v", c.Log)
	}
	if got := c.Agencies["customs"]; !reflect.DeepEqual(got, config.Agency{TOSHold: "CUSTOMS", WhenUnknown: "hold"}) {
		t.Errorf("agencies.customs = %+v", got)
	}
	if got := c.Agencies["quarantine"]; !reflect.DeepEqual(got, config.Agency{TOSHold: "CIQ", WhenUnknown: "ignore"}) {
		t.Errorf("agencies.quarantine = %+v", got)
	}
	if !slices.Equal(c.ReleasePolicy.Required, []string{"customs", "quarantine"}) {
		t.Errorf("release_policy.required = %v", c.ReleasePolicy.Required)
	}
	b := c.Brokers["main"]
	if b.URL != "tcp://127.0.0.1:1883" || b.ClientID != "portsync-CNSHA-T1" ||
		b.UsernameFile != filepath.Join(dir, "mqtt.user") || b.PasswordFile != filepath.Join(dir, "mqtt.pass") {
		t.Errorf("brokers.main = %+v", b)
	}
	if b.TLS != (config.TLS{}) {
		t.Errorf("brokers.main.tls = %+v, want empty", b.TLS)
	}
	if len(c.Sources) != 4 {
		t.Fatalf("%d sources, want 4", len(c.Sources))
	}
	s0 := c.Sources[0]
	var sub0 mqttKeys
	if errs := s0.Keys.Decode(&sub0); len(errs) > 0 {
		t.Errorf("sources[0] keys: %v", errs)
	}
	if s0.Name != "customs-mqtt" || s0.Type != "mqtt" || s0.Broker != "main" || sub0.Topic != "customs/CNSHA-T1/releases" ||
		sub0.QoS == nil || *sub0.QoS != 1 || s0.Kind != "agency" || s0.Agency != "customs" || s0.Format != "json" {
		t.Errorf("sources[0] = %+v, own keys %+v", s0, sub0)
	}
	// The mqtt adapter defaults qos (mqtt.DefaultQoS); config leaves it
	// unset.
	s1 := c.Sources[1]
	var sub1 mqttKeys
	if errs := s1.Keys.Decode(&sub1); len(errs) > 0 {
		t.Errorf("sources[1] keys: %v", errs)
	}
	if s1.Kind != "tos" || s1.Agency != "" || sub1.Topic != "tos/CNSHA-T1/events" || sub1.QoS != nil || s1.Format != "json" {
		t.Errorf("sources[1] = %+v, own keys %+v (want the default format json, qos left to the adapter)", s1, sub1)
	}
	s2 := c.Sources[2]
	var poll httpPollKeys
	if errs := s2.Keys.Decode(&poll); len(errs) > 0 {
		t.Errorf("sources[2] keys: %v", errs)
	}
	if s2.Type != "http_poll" || poll.Schedule != "@every 30s" || poll.Cursor != (config.Cursor{Param: "since", Field: "next_cursor"}) ||
		s2.TokenFile != filepath.Join(dir, "customs.token") || poll.URL != "https://customs.example/api/v1/releases" {
		t.Errorf("sources[2] = %+v", s2)
	}
	s3 := c.Sources[3]
	var drop struct {
		Dir string `yaml:"dir"`
	}
	if errs := s3.Keys.Decode(&drop); len(errs) > 0 {
		t.Errorf("sources[3] keys: %v", errs)
	}
	if s3.Type != "file_drop" || drop.Dir != "/var/spool/portsync/cusres" || s3.Format != "edifact" {
		t.Errorf("sources[3] = %+v", s3)
	}
	if c.TOS.Sink.Type != "mqtt" || c.TOS.Sink.Keys.Scalar("topic") != "tos/CNSHA-T1/commands" || c.TOS.Sink.QoS == nil || *c.TOS.Sink.QoS != 1 {
		t.Errorf("tos.sink = %+v", c.TOS.Sink)
	}
	if c.SLA != (config.SLA{ApplyWithin: 2 * time.Minute, RetryAfter: 15 * time.Second}) {
		t.Errorf("sla = %+v", c.SLA)
	}
	if c.Alerts.RepeatInterval != 30*time.Minute || len(c.Alerts.Channels) != 3 {
		t.Fatalf("alerts = %+v", c.Alerts)
	}
	for i, typ := range []string{"mqtt", "webhook", "alertmanager"} {
		if c.Alerts.Channels[i].Type != typ {
			t.Errorf("alerts.channels[%d].type = %q, want %q", i, c.Alerts.Channels[i].Type, typ)
		}
	}
	if u := c.Alerts.Channels[1].Keys.Scalar("url"); u != "https://hooks.example/portsync" {
		t.Errorf("alerts.channels[1].url = %q", u)
	}
	if c.StatusTopic != "portsync/CNSHA-T1/status" {
		t.Errorf("status_topic = %q", c.StatusTopic)
	}
	if c.HTTP.Listen != "127.0.0.1:9740" || c.HTTP.TokenFile != filepath.Join(dir, "api.token") || c.HTTP.TLS != (config.TLS{}) {
		t.Errorf("http = %+v", c.HTTP)
	}
	if c.Schedules != (config.Schedules{Sweep: "*/5 * * * *", Retention: "0 3 * * *"}) {
		t.Errorf("schedules = %+v", c.Schedules)
	}
	if c.Retention.Journal != 2160*time.Hour {
		t.Errorf("retention.journal = %v", c.Retention.Journal)
	}
	// Line locates keys for messages that come after parsing.
	if got, want := c.Line("sources[2].schedule"), lineOf(t, text, `schedule: "@every 30s"`); got != want {
		t.Errorf(`Line("sources[2].schedule") = %d, want %d`, got, want)
	}
	if got, want := c.Line("sources[1].agency"), lineOf(t, text, "- name: tos-events"); got != want {
		t.Errorf(`Line("sources[1].agency") (absent key: its parent's line) = %d, want %d`, got, want)
	}
}

// minimalConfig sets only what has no default.
const minimalConfig = `terminal: T1
state_dir: /var/lib/portsync
agencies:
  customs:    {tos_hold: CUSTOMS}
  quarantine: {tos_hold: CIQ, when_unknown: ignore}
brokers:
  main: {url: tcp://127.0.0.1:1883}
sources:
  - {name: customs-mqtt, type: mqtt, broker: main, topic: customs/T1, kind: agency, agency: customs}
tos:
  sink: {type: mqtt, broker: main, topic: tos/T1/commands}
alerts:
  channels:
    - {type: mqtt, broker: main, topic: portsync/T1/alerts}
`

func TestParseDefaults(t *testing.T) {
	c, err := config.Parse("min.yaml", []byte(minimalConfig), fakeRegistry{})
	if err != nil {
		t.Fatalf("minimal config does not parse:\n%v", err)
	}
	if c.Log.Level != "info" || c.Log.Format != "json" {
		t.Errorf("log = %+v, want level info, format json", c.Log)
	}
	if got := c.Agencies["customs"].WhenUnknown; got != config.WhenUnknownHold {
		t.Errorf("agencies.customs.when_unknown = %q, want hold", got)
	}
	if got := c.Agencies["quarantine"].WhenUnknown; got != config.WhenUnknownIgnore {
		t.Errorf("agencies.quarantine.when_unknown = %q, want ignore (as written)", got)
	}
	if !slices.Equal(c.ReleasePolicy.Required, []string{"customs", "quarantine"}) {
		t.Errorf("release_policy.required = %v, want every agency [customs quarantine]", c.ReleasePolicy.Required)
	}
	if c.Brokers["main"].ClientID == "" {
		t.Errorf("brokers.main.client_id has no default")
	}
	// sources[].qos's default is the mqtt adapter's (adapters/mqtt).
	s := c.Sources[0]
	if s.Format != "json" {
		t.Errorf("sources[0].format = %q, want json", s.Format)
	}
	if q := c.TOS.Sink.QoS; q == nil || *q != 1 {
		t.Errorf("tos.sink.qos = %v, want 1", q)
	}
	if q := c.Alerts.Channels[0].QoS; q == nil || *q != 1 {
		t.Errorf("alerts.channels[0].qos = %v, want 1", q)
	}
	if c.SLA.ApplyWithin != 2*time.Minute || c.SLA.RetryAfter != 15*time.Second {
		t.Errorf("sla = %+v, want 2m and 15s", c.SLA)
	}
	if c.Alerts.RepeatInterval != 30*time.Minute {
		t.Errorf("alerts.repeat_interval = %v, want 30m", c.Alerts.RepeatInterval)
	}
	if c.HTTP.Listen != "127.0.0.1:9740" {
		t.Errorf("http.listen = %q, want 127.0.0.1:9740", c.HTTP.Listen)
	}
	if c.Schedules.Sweep != "*/5 * * * *" || c.Schedules.Retention != "0 3 * * *" {
		t.Errorf("schedules = %+v, want sweep */5 * * * *, retention 0 3 * * *", c.Schedules)
	}
	if _, err := config.CronParser.Parse(c.Schedules.Sweep); err != nil {
		t.Errorf("default sweep schedule does not parse: %v", err)
	}
	if c.Retention.Journal != 2160*time.Hour {
		t.Errorf("retention.journal = %v, want 2160h", c.Retention.Journal)
	}
	if c.StatusTopic != "" || c.TOS.Snapshot != nil || c.HTTP.TokenFile != "" {
		t.Errorf("optional settings not empty: status_topic %q, snapshot %+v, http.token_file %q",
			c.StatusTopic, c.TOS.Snapshot, c.HTTP.TokenFile)
	}
}

func TestParseExplicitValuesOverrideDefaults(t *testing.T) {
	text := minimalConfig + `log: {level: debug, format: text}
release_policy: {required: [customs]}
sla: {apply_within: 5m, retry_after: 1m}
http: {listen: "0.0.0.0:8080"}
schedules: {sweep: "@every 1m", retention: "30 4 * * *"}
retention: {journal: 24h}
`
	text = replaceOnce(t, text, "agency: customs}", "agency: customs, qos: 0, format: edifact}")
	c, err := config.Parse("x.yaml", []byte(text), fakeRegistry{})
	if err != nil {
		t.Fatalf("config does not parse:\n%v", err)
	}
	if c.Log != (config.Log{Level: "debug", Format: "text"}) {
		t.Errorf("log = %+v", c.Log)
	}
	if !slices.Equal(c.ReleasePolicy.Required, []string{"customs"}) {
		t.Errorf("release_policy.required = %v, want [customs]", c.ReleasePolicy.Required)
	}
	if c.SLA != (config.SLA{ApplyWithin: 5 * time.Minute, RetryAfter: time.Minute}) {
		t.Errorf("sla = %+v", c.SLA)
	}
	if c.HTTP.Listen != "0.0.0.0:8080" || c.Schedules.Sweep != "@every 1m" || c.Schedules.Retention != "30 4 * * *" {
		t.Errorf("http = %+v, schedules = %+v", c.HTTP, c.Schedules)
	}
	if c.Retention.Journal != 24*time.Hour {
		t.Errorf("retention.journal = %v", c.Retention.Journal)
	}
	var sub mqttKeys
	if errs := c.Sources[0].Keys.Decode(&sub); len(errs) > 0 {
		t.Errorf("sources[0] keys: %v", errs)
	}
	if s := c.Sources[0]; sub.QoS == nil || *sub.QoS != 0 || s.Format != "edifact" {
		t.Errorf("sources[0] qos %v format %q, want explicit qos 0 and format edifact", sub.QoS, s.Format)
	}
}

// baseConfig is a valid configuration that the error cases break one
// problem at a time. SECRETS is replaced by a directory holding mqtt.pass.
const baseConfig = `terminal: CNSHA-T1
state_dir: /var/lib/portsync
log: {level: info, format: text}
agencies:
  customs: {tos_hold: CUSTOMS}
  quarantine:
    tos_hold: CIQ
    when_unknown: ignore
release_policy:
  required: [customs, quarantine]
brokers:
  main:
    url: tcp://127.0.0.1:1883
    password_file: SECRETS/mqtt.pass
sources:
  - name: customs-mqtt
    type: mqtt
    broker: main
    topic: customs/CNSHA-T1/releases
    qos: 1
    kind: agency
    agency: customs
  - name: tos-events
    type: mqtt
    broker: main
    topic: tos/CNSHA-T1/events
    kind: tos
tos:
  sink:
    type: mqtt
    broker: main
    topic: tos/CNSHA-T1/commands
sla:
  apply_within: 2m
  retry_after: 15s
alerts:
  repeat_interval: 30m
  channels:
    - {type: mqtt, broker: main, topic: portsync/CNSHA-T1/alerts}
status_topic: portsync/CNSHA-T1/status
http:
  listen: 127.0.0.1:9740
schedules:
  sweep: "*/5 * * * *"
  retention: "0 3 * * *"
retention:
  journal: 2160h
`

// baseText returns baseConfig with its secret file written to a new
// temporary directory.
func baseText(t *testing.T) (text, dir string) {
	t.Helper()
	dir = t.TempDir()
	writeSecret(t, dir, "mqtt.pass", "hunter2\n")
	return strings.ReplaceAll(baseConfig, "SECRETS", dir), dir
}

func TestParseBaseConfigIsValid(t *testing.T) {
	text, _ := baseText(t)
	if _, err := config.Parse("base.yaml", []byte(text), fakeRegistry{}); err != nil {
		t.Fatalf("base config does not parse:\n%v", err)
	}
}

// wantErr is one error a broken configuration must report. Line is found
// as the first line containing marker; "" means line 0 or 1 (a key missing
// from the top level has no line of its own).
type wantErr struct {
	marker string
	key    string
	msg    []string // substrings of the message
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name string
		edit func(t *testing.T, text, dir string) string
		want []wantErr
	}{
		{
			name: "unknown top-level key",
			edit: func(t *testing.T, s, _ string) string {
				return replaceOnce(t, s, "state_dir: /var/lib/portsync\n", "state_dir: /var/lib/portsync\ncolour: blue\n")
			},
			want: []wantErr{{"colour: blue", "colour", []string{"unknown key", "state_dir", "sources"}}},
		},
		{
			name: "unknown key in a source",
			edit: func(t *testing.T, s, _ string) string {
				return replaceOnce(t, s, "    kind: tos\n", "    kind: tos\n    qoss: 1\n")
			},
			want: []wantErr{{"qoss: 1", "sources[1].qoss", []string{"unknown key", "qos"}}},
		},
		{
			name: "unknown key in an agency",
			edit: func(t *testing.T, s, _ string) string {
				return replaceOnce(t, s, "    when_unknown: ignore\n", "    when_unknwn: ignore\n")
			},
			want: []wantErr{{"when_unknwn", "agencies.quarantine.when_unknwn", []string{"unknown key", "when_unknown"}}},
		},
		{
			name: "unknown key in a flow mapping",
			edit: func(t *testing.T, s, _ string) string {
				return replaceOnce(t, s, "log: {level: info, format: text}", "log: {level: info, fromat: text}")
			},
			want: []wantErr{{"fromat", "log.fromat", []string{"unknown key", "format"}}},
		},
		{
			name: "unknown key in tos.sink",
			edit: func(t *testing.T, s, _ string) string {
				return replaceOnce(t, s, "    topic: tos/CNSHA-T1/commands\n", "    topic: tos/CNSHA-T1/commands\n    retain: true\n")
			},
			want: []wantErr{{"retain: true", "tos.sink.retain", []string{"unknown key"}}},
		},
		{
			name: "duplicate key",
			edit: func(t *testing.T, s, _ string) string {
				return replaceOnce(t, s, "status_topic: portsync/CNSHA-T1/status\n", "status_topic: portsync/CNSHA-T1/status\nstatus_topic: other\n")
			},
			want: []wantErr{{"status_topic: other", "status_topic", []string{"duplicate"}}},
		},
		{
			name: "string where a mapping is expected",
			edit: func(t *testing.T, s, _ string) string {
				return replaceOnce(t, s, "log: {level: info, format: text}", "log: verbose")
			},
			want: []wantErr{{"log: verbose", "log", []string{"want a mapping", `"verbose"`}}},
		},
		{
			name: "string where a mapping of agencies is expected",
			edit: func(t *testing.T, s, _ string) string {
				s = replaceOnce(t, s, "  customs: {tos_hold: CUSTOMS}\n  quarantine:\n    tos_hold: CIQ\n    when_unknown: ignore\n", "")
				return replaceOnce(t, s, "agencies:\n", "agencies: customs\n")
			},
			want: []wantErr{{"agencies: customs", "agencies", []string{"want a mapping"}}},
		},
		{
			name: "mapping where a list is expected",
			edit: func(t *testing.T, s, _ string) string {
				return replaceOnce(t, s, "  required: [customs, quarantine]", "  required: {customs: yes}")
			},
			want: []wantErr{{"required: {customs", "release_policy.required", []string{"want a list", "mapping"}}},
		},
		{
			name: "qos not a number",
			edit: func(t *testing.T, s, _ string) string {
				return replaceOnce(t, s, "    qos: 1\n", "    qos: \"one\"\n")
			},
			want: []wantErr{{`qos: "one"`, "sources[0].qos", []string{"integer", `"one"`}}},
		},
		{
			name: "duration not a duration",
			edit: func(t *testing.T, s, _ string) string {
				return replaceOnce(t, s, "apply_within: 2m", "apply_within: fast")
			},
			want: []wantErr{{"apply_within: fast", "sla.apply_within", []string{"duration", "fast"}}},
		},
		{
			name: "duration without unit",
			edit: func(t *testing.T, s, _ string) string {
				return replaceOnce(t, s, "journal: 2160h", "journal: 90")
			},
			want: []wantErr{{"journal: 90", "retention.journal", []string{"duration", "90"}}},
		},
		{
			name: "negative duration",
			edit: func(t *testing.T, s, _ string) string {
				return replaceOnce(t, s, "retry_after: 15s", "retry_after: -15s")
			},
			want: []wantErr{{"retry_after: -15s", "sla.retry_after", []string{"negative"}}},
		},
		{
			name: "boolean for a string",
			edit: func(t *testing.T, s, _ string) string {
				return replaceOnce(t, s, "    topic: tos/CNSHA-T1/commands\n", "    topic: true\n")
			},
			want: []wantErr{{"topic: true", "tos.sink.topic", []string{"want a string", "boolean true"}}},
		},
		{
			name: "list for a string",
			edit: func(t *testing.T, s, _ string) string {
				return replaceOnce(t, s, "state_dir: /var/lib/portsync", "state_dir: [/var/lib/a, /var/lib/b]")
			},
			want: []wantErr{{"state_dir:", "state_dir", []string{"want a string", "list"}}},
		},
		{
			name: "unknown agency in a source",
			edit: func(t *testing.T, s, _ string) string {
				return replaceOnce(t, s, "    agency: customs\n", "    agency: customz\n")
			},
			want: []wantErr{{"agency: customz", "sources[0].agency", []string{"unknown agency", `"customz"`, "customs", "quarantine"}}},
		},
		{
			name: "unknown agency in release_policy.required",
			edit: func(t *testing.T, s, _ string) string {
				return replaceOnce(t, s, "  required: [customs, quarantine]", "  required: [customs, port]")
			},
			want: []wantErr{{"required: [customs, port]", "release_policy.required[1]", []string{"unknown agency", `"port"`}}},
		},
		{
			name: "unknown agency in a block list of release_policy.required",
			edit: func(t *testing.T, s, _ string) string {
				return replaceOnce(t, s, "  required: [customs, quarantine]", "  required:\n    - customs\n    - harbour")
			},
			want: []wantErr{{"- harbour", "release_policy.required[1]", []string{"unknown agency", `"harbour"`}}},
		},
		{
			name: "bad cron expression in schedules.sweep",
			edit: func(t *testing.T, s, _ string) string {
				return replaceOnce(t, s, `sweep: "*/5 * * * *"`, `sweep: "every five minutes"`)
			},
			want: []wantErr{{"sweep:", "schedules.sweep", []string{"cron", "every five minutes"}}},
		},
		{
			name: "out-of-range cron expression in schedules.retention",
			edit: func(t *testing.T, s, _ string) string {
				return replaceOnce(t, s, `retention: "0 3 * * *"`, `retention: "0 25 * * *"`)
			},
			want: []wantErr{{`retention: "0 25`, "schedules.retention", []string{"cron"}}},
		},
		{
			name: "bad cron expression in a source's schedule",
			edit: func(t *testing.T, s, _ string) string {
				return replaceOnce(t, s, "    kind: tos\n", "    kind: tos\n  - name: poll\n    type: http_poll\n    url: https://customs.example/x\n    schedule: \"61 * * * *\"\n    kind: agency\n    agency: customs\n")
			},
			want: []wantErr{{"schedule: \"61", "sources[2].schedule", []string{"cron", "61 * * * *"}}},
		},
		{
			name: "bad cron expression in tos.snapshot",
			edit: func(t *testing.T, s, _ string) string {
				return replaceOnce(t, s, "sla:\n", "  snapshot:\n    type: http_poll\n    url: http://tos.local/api/holds\n    schedule: \"@sometimes\"\nsla:\n")
			},
			want: []wantErr{{"@sometimes", "tos.snapshot.schedule", []string{"cron"}}},
		},
		{
			name: "tos.snapshot of another type, without url",
			edit: func(t *testing.T, s, _ string) string {
				return replaceOnce(t, s, "sla:\n", "  snapshot:\n    type: websocket\n    broker: snapbroker\nsla:\n")
			},
			want: []wantErr{
				{"    type: websocket", "tos.snapshot.type", []string{"http_poll"}},
				{"  snapshot:", "tos.snapshot.url", []string{"required"}},
				{"    broker: snapbroker", "tos.snapshot.broker", []string{"not used"}},
			},
		},
		{
			name: "unknown broker in a source",
			edit: func(t *testing.T, s, _ string) string {
				return replaceOnce(t, s, "    broker: main\n    topic: customs/", "    broker: edge\n    topic: customs/")
			},
			want: []wantErr{{"broker: edge", "sources[0].broker", []string{"unknown broker", `"edge"`}}},
		},
		{
			name: "unknown broker in tos.sink",
			edit: func(t *testing.T, s, _ string) string {
				return replaceOnce(t, s, "    broker: main\n    topic: tos/CNSHA-T1/commands", "    broker: backup\n    topic: tos/CNSHA-T1/commands")
			},
			want: []wantErr{{"broker: backup", "tos.sink.broker", []string{"unknown broker", `"backup"`}}},
		},
		{
			name: "unknown broker in an alert channel",
			edit: func(t *testing.T, s, _ string) string {
				return replaceOnce(t, s, "{type: mqtt, broker: main,", "{type: mqtt, broker: alerts,")
			},
			want: []wantErr{{"broker: alerts", "alerts.channels[0].broker", []string{"unknown broker", `"alerts"`}}},
		},
		{
			name: "unknown source type",
			edit: func(t *testing.T, s, _ string) string {
				return replaceOnce(t, s, "    type: mqtt\n    broker: main\n    topic: tos/CNSHA-T1/events", "    type: amqp\n    broker: main\n    topic: tos/CNSHA-T1/events")
			},
			want: []wantErr{{"type: amqp", "sources[1].type", []string{"unknown source type", `"amqp"`}}},
		},
		{
			name: "unknown sink type",
			edit: func(t *testing.T, s, _ string) string {
				return replaceOnce(t, s, "    type: mqtt\n    broker: main\n    topic: tos/CNSHA-T1/commands", "    type: ftp\n    broker: main\n    topic: tos/CNSHA-T1/commands")
			},
			want: []wantErr{{"type: ftp", "tos.sink.type", []string{"unknown", `"ftp"`}}},
		},
		{
			name: "unknown alert channel type",
			edit: func(t *testing.T, s, _ string) string {
				return replaceOnce(t, s, "{type: mqtt, broker: main,", "{type: slack, broker: main,")
			},
			want: []wantErr{{"type: slack", "alerts.channels[0].type", []string{"unknown", `"slack"`}}},
		},
		{
			name: "unknown format",
			edit: func(t *testing.T, s, _ string) string {
				return replaceOnce(t, s, "    qos: 1\n", "    qos: 1\n    format: xml\n")
			},
			want: []wantErr{{"format: xml", "sources[0].format", []string{"unknown format", `"xml"`}}},
		},
		{
			name: "adapter's own check: mqtt source without topic",
			edit: func(t *testing.T, s, _ string) string {
				return replaceOnce(t, s, "    topic: tos/CNSHA-T1/events\n", "")
			},
			want: []wantErr{{"- name: tos-events", "sources[1].topic", []string{"required"}}},
		},
		{
			name: "duplicate source names",
			edit: func(t *testing.T, s, _ string) string {
				return replaceOnce(t, s, "  - name: tos-events\n", "  - name: customs-mqtt   # again\n")
			},
			want: []wantErr{{"# again", "sources[1].name", []string{"duplicate", `"customs-mqtt"`}}},
		},
		{
			name: "source without name",
			edit: func(t *testing.T, s, _ string) string {
				return replaceOnce(t, s, "  - name: tos-events\n    type: mqtt\n", "  - type: mqtt\n")
			},
			// Line: the list item's line, which is now "- type: mqtt" of sources[1].
			want: []wantErr{{"- type: mqtt", "sources[1].name", []string{"required"}}},
		},
		{
			name: "missing terminal",
			edit: func(t *testing.T, s, _ string) string {
				return replaceOnce(t, s, "terminal: CNSHA-T1\n", "")
			},
			want: []wantErr{{"", "terminal", []string{"required"}}},
		},
		{
			name: "missing state_dir",
			edit: func(t *testing.T, s, _ string) string {
				return replaceOnce(t, s, "state_dir: /var/lib/portsync\n", "")
			},
			want: []wantErr{{"", "state_dir", []string{"required"}}},
		},
		{
			name: "missing tos_hold",
			edit: func(t *testing.T, s, _ string) string {
				return replaceOnce(t, s, "  customs: {tos_hold: CUSTOMS}", "  customs: {when_unknown: hold}")
			},
			want: []wantErr{{"customs: {when_unknown", "agencies.customs.tos_hold", []string{"required"}}},
		},
		{
			name: "duplicate tos_hold",
			edit: func(t *testing.T, s, _ string) string {
				return replaceOnce(t, s, "    tos_hold: CIQ\n", "    tos_hold: CUSTOMS   # dup\n")
			},
			want: []wantErr{{"# dup", "agencies.quarantine.tos_hold", []string{"CUSTOMS", "customs"}}},
		},
		{
			name: "bad when_unknown",
			edit: func(t *testing.T, s, _ string) string {
				return replaceOnce(t, s, "    when_unknown: ignore\n", "    when_unknown: maybe\n")
			},
			want: []wantErr{{"when_unknown: maybe", "agencies.quarantine.when_unknown", []string{`"maybe"`, "hold", "ignore"}}},
		},
		{
			name: "no agencies",
			edit: func(t *testing.T, s, _ string) string {
				s = replaceOnce(t, s, "agencies:\n  customs: {tos_hold: CUSTOMS}\n  quarantine:\n    tos_hold: CIQ\n    when_unknown: ignore\n", "")
				s = replaceOnce(t, s, "release_policy:\n  required: [customs, quarantine]\n", "")
				return replaceOnce(t, s, "    kind: agency\n    agency: customs\n", "    kind: tos\n")
			},
			want: []wantErr{{"", "agencies", []string{"agency"}}},
		},
		{
			name: "bad log level",
			edit: func(t *testing.T, s, _ string) string {
				return replaceOnce(t, s, "log: {level: info, format: text}", "log: {level: loud, format: text}")
			},
			want: []wantErr{{"level: loud", "log.level", []string{`"loud"`}}},
		},
		{
			name: "bad log format",
			edit: func(t *testing.T, s, _ string) string {
				return replaceOnce(t, s, "log: {level: info, format: text}", "log: {level: info, format: xml}")
			},
			want: []wantErr{{"format: xml", "log.format", []string{`"xml"`, "text", "json"}}},
		},
		{
			name: "agency source without agency",
			edit: func(t *testing.T, s, _ string) string {
				return replaceOnce(t, s, "    agency: customs\n", "")
			},
			want: []wantErr{{"- name: customs-mqtt", "sources[0].agency", []string{"required", "agency"}}},
		},
		{
			name: "tos source with agency",
			edit: func(t *testing.T, s, _ string) string {
				return replaceOnce(t, s, "    kind: tos\n", "    kind: tos\n    agency: quarantine\n")
			},
			want: []wantErr{{"agency: quarantine", "sources[1].agency", []string{"tos source"}}},
		},
		{
			name: "bad source kind",
			edit: func(t *testing.T, s, _ string) string {
				return replaceOnce(t, s, "    kind: tos\n", "    kind: terminal\n")
			},
			want: []wantErr{{"kind: terminal", "sources[1].kind", []string{`"terminal"`, "agency", "tos"}}},
		},
		{
			name: "missing password_file",
			edit: func(t *testing.T, s, dir string) string {
				return replaceOnce(t, s, "/mqtt.pass", "/mqtt.pass.missing")
			},
			want: []wantErr{{"password_file:", "brokers.main.password_file", []string{"secret", "mqtt.pass.missing"}}},
		},
		{
			name: "missing token_file of a source",
			edit: func(t *testing.T, s, dir string) string {
				return replaceOnce(t, s, "    qos: 1\n", "    qos: 1\n    token_file: "+filepath.Join(dir, "customs.token")+"\n")
			},
			want: []wantErr{{"token_file:", "sources[0].token_file", []string{"secret", "customs.token"}}},
		},
		{
			name: "missing http.token_file",
			edit: func(t *testing.T, s, dir string) string {
				return replaceOnce(t, s, "  listen: 127.0.0.1:9740\n", "  listen: 127.0.0.1:9740\n  token_file: "+filepath.Join(dir, "api.token")+"\n")
			},
			want: []wantErr{{"token_file:", "http.token_file", []string{"secret", "api.token"}}},
		},
		{
			name: "empty secret file",
			edit: func(t *testing.T, s, dir string) string {
				p := writeSecret(t, dir, "empty.user", " \n\t\n")
				return replaceOnce(t, s, "    password_file:", "    username_file: "+p+"\n    password_file:")
			},
			want: []wantErr{{"username_file:", "brokers.main.username_file", []string{"empty", "empty.user"}}},
		},
		{
			name: "secret file is a directory",
			edit: func(t *testing.T, s, dir string) string {
				sub := filepath.Join(dir, "ca.d")
				if err := os.Mkdir(sub, 0o700); err != nil {
					t.Fatal(err)
				}
				return replaceOnce(t, s, "    password_file:", "    tls: {ca_file: "+sub+"}\n    password_file:")
			},
			want: []wantErr{{"tls: {ca_file", "brokers.main.tls.ca_file", []string{"secret", "ca.d"}}},
		},
		{
			name: "status_topic without a main broker",
			edit: func(t *testing.T, s, _ string) string {
				s = replaceOnce(t, s, "  main:\n", "  edge:\n")
				return strings.ReplaceAll(s, "broker: main", "broker: edge")
			},
			want: []wantErr{{"status_topic:", "status_topic", []string{"main"}}},
		},
		{
			name: "bad broker URL",
			edit: func(t *testing.T, s, _ string) string {
				return replaceOnce(t, s, "url: tcp://127.0.0.1:1883", "url: 127.0.0.1:1883")
			},
			want: []wantErr{{"url: 127.0.0.1:1883", "brokers.main.url", []string{"127.0.0.1:1883"}}},
		},
		{
			name: "publish_client_id equal to client_id",
			edit: func(t *testing.T, s, _ string) string {
				return replaceOnce(t, s, "url: tcp://127.0.0.1:1883\n", "url: tcp://127.0.0.1:1883\n    client_id: portsync-t1\n    publish_client_id: portsync-t1\n")
			},
			want: []wantErr{{"publish_client_id:", "brokers.main.publish_client_id", []string{"portsync-t1", "session"}}},
		},
		{
			name: "bad http.listen",
			edit: func(t *testing.T, s, _ string) string {
				return replaceOnce(t, s, "listen: 127.0.0.1:9740", "listen: 9740")
			},
			want: []wantErr{{"listen: 9740", "http.listen", []string{"host:port", "9740"}}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			base, dir := baseText(t)
			text := tc.edit(t, base, dir)
			_, err := config.Parse("bad.yaml", []byte(text), fakeRegistry{})
			errs := configErrors(t, err)
			checkErrors(t, text, errs, tc.want)
		})
	}
}

// checkErrors asserts that errs holds each of want, and no error about a
// key that is not wanted.
func checkErrors(t *testing.T, text string, errs config.Errors, want []wantErr) {
	t.Helper()
	wantKeys := map[string]bool{}
	for _, w := range want {
		wantKeys[w.key] = true
		found := false
		for _, e := range errs {
			if e.Key != w.key {
				continue
			}
			found = true
			if w.marker == "" {
				if e.Line > 1 {
					t.Errorf("%s: line %d, want 0 or 1 (the key is absent)", w.key, e.Line)
				}
			} else if want := lineOf(t, text, w.marker); e.Line != want {
				t.Errorf("%s: line %d, want %d (%q)", w.key, e.Line, want, w.marker)
			}
			for _, sub := range w.msg {
				if !strings.Contains(e.Msg, sub) {
					t.Errorf("%s: message %q does not contain %q", w.key, e.Msg, sub)
				}
			}
			if e.File != "bad.yaml" {
				t.Errorf("%s: File = %q, want bad.yaml", w.key, e.File)
			}
			break
		}
		if !found {
			t.Errorf("no error for key %s; got:\n%v", w.key, errs)
		}
	}
	for _, e := range errs {
		if !wantKeys[e.Key] {
			t.Errorf("unexpected error: %v", e)
		}
	}
}

func TestParseInvalidYAML(t *testing.T) {
	cases := []struct {
		name     string
		text     string
		minLine  int // the reported line must lie in [minLine, maxLine]
		maxLine  int
		contains string
	}{
		{
			name:     "tab indentation",
			text:     "terminal: T1\nstate_dir: /x\nagencies:\n\tcustoms: {tos_hold: C}\n",
			minLine:  4,
			maxLine:  4,
			contains: "invalid YAML",
		},
		{
			name:     "mapping value in a plain scalar",
			text:     "terminal: T1\nstate_dir: /x\nlog: level: info\n",
			minLine:  3,
			maxLine:  3,
			contains: "invalid YAML",
		},
		{
			// The flow mapping opens on line 3 and is never closed; the
			// YAML parser names the block it was in, a line above.
			name:     "unclosed flow mapping",
			text:     "terminal: T1\nstate_dir: /x\nlog: {level: info\n",
			minLine:  2,
			maxLine:  4,
			contains: "invalid YAML",
		},
		{
			// "  kind: tos" (line 6) is indented less than the keys of the
			// list item that starts on line 4.
			name:     "bad indentation in a list item",
			text:     "terminal: T1\nstate_dir: /x\nsources:\n  - name: a\n    type: mqtt\n  kind: tos\n",
			minLine:  3,
			maxLine:  6,
			contains: "invalid YAML",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Parse("broken.yaml", []byte(tc.text), fakeRegistry{})
			errs := configErrors(t, err)
			if len(errs) != 1 {
				t.Fatalf("got %d errors, want 1:\n%v", len(errs), errs)
			}
			e := errs[0]
			if e.Line < tc.minLine || e.Line > tc.maxLine {
				t.Errorf("line %d, want %d..%d: %v", e.Line, tc.minLine, tc.maxLine, e)
			}
			if !strings.Contains(e.Msg, tc.contains) || e.File != "broken.yaml" {
				t.Errorf("error %+v: want file broken.yaml and message containing %q", e, tc.contains)
			}
		})
	}
}

func TestParseEmptyFile(t *testing.T) {
	_, err := config.Parse("empty.yaml", nil, fakeRegistry{})
	errs := configErrors(t, err)
	keys := map[string]bool{}
	for _, e := range errs {
		keys[e.Key] = true
	}
	for _, k := range []string{"terminal", "state_dir", "agencies", "tos.sink.type"} {
		if !keys[k] {
			t.Errorf("no error for %s in an empty file; got:\n%v", k, errs)
		}
	}
}

// assertSortedByLine fails unless errs are in line order.
func assertSortedByLine(t *testing.T, errs config.Errors) {
	t.Helper()
	if !slices.IsSortedFunc(errs, func(a, b config.Error) int { return a.Line - b.Line }) {
		t.Errorf("errors not sorted by line:\n%v", errs)
	}
}

func TestParseReportsEveryValidationProblem(t *testing.T) {
	base, dir := baseText(t)
	text := replaceOnce(t, base, `sweep: "*/5 * * * *"`, `sweep: "*/5 * * *"`)
	text = replaceOnce(t, text, "    agency: customs\n", "    agency: customz\n")
	text = replaceOnce(t, text, "    broker: main\n    topic: tos/CNSHA-T1/commands", "    broker: backup\n    topic: tos/CNSHA-T1/commands")
	text = replaceOnce(t, text, "/mqtt.pass", "/nope.pass")
	text = replaceOnce(t, text, "  required: [customs, quarantine]", "  required: [port, quarantine]")
	_ = dir
	_, err := config.Parse("bad.yaml", []byte(text), fakeRegistry{})
	errs := configErrors(t, err)
	checkErrors(t, text, errs, []wantErr{
		{"required: [port", "release_policy.required[0]", []string{"unknown agency", `"port"`}},
		{"password_file:", "brokers.main.password_file", []string{"nope.pass"}},
		{"agency: customz", "sources[0].agency", []string{"unknown agency"}},
		{"broker: backup", "tos.sink.broker", []string{"unknown broker"}},
		{"sweep:", "schedules.sweep", []string{"cron"}},
	})
	if len(errs) != 5 {
		t.Errorf("got %d errors, want 5:\n%v", len(errs), errs)
	}
	assertSortedByLine(t, errs)
}

func TestParseReportsEveryDecodeProblem(t *testing.T) {
	base, _ := baseText(t)
	text := replaceOnce(t, base, "    kind: tos\n", "    kind: tos\n    qoss: 1\n")
	text = replaceOnce(t, text, "apply_within: 2m", "apply_within: fast")
	text = replaceOnce(t, text, "state_dir: /var/lib/portsync\n", "state_dir: /var/lib/portsync\ncolour: blue\n")
	text = replaceOnce(t, text, "    qos: 1\n", "    qos: \"one\"\n")
	_, err := config.Parse("bad.yaml", []byte(text), fakeRegistry{})
	errs := configErrors(t, err)
	checkErrors(t, text, errs, []wantErr{
		{"colour: blue", "colour", []string{"unknown key"}},
		{`qos: "one"`, "sources[0].qos", []string{"integer"}},
		{"qoss: 1", "sources[1].qoss", []string{"unknown key"}},
		{"apply_within: fast", "sla.apply_within", []string{"duration"}},
	})
	assertSortedByLine(t, errs)
}

// TestParseReportsDecodeAndValidationProblemsTogether: `portsync check`
// must list every problem of a file at once (DESIGN 4 and 5), so an
// unknown key must not hide an unknown agency or a bad cron expression
// elsewhere in the file.
func TestParseReportsDecodeAndValidationProblemsTogether(t *testing.T) {
	base, _ := baseText(t)
	text := replaceOnce(t, base, "    agency: customs\n", "    agency: customz\n")
	text = replaceOnce(t, text, `sweep: "*/5 * * * *"`, `sweep: "*/5 * * *"`)
	text = replaceOnce(t, text, "    kind: tos\n", "    kind: tos\n    qoss: 1\n")
	_, err := config.Parse("bad.yaml", []byte(text), fakeRegistry{})
	errs := configErrors(t, err)
	checkErrors(t, text, errs, []wantErr{
		{"agency: customz", "sources[0].agency", []string{"unknown agency", `"customz"`}},
		{"qoss: 1", "sources[1].qoss", []string{"unknown key"}},
		{"sweep:", "schedules.sweep", []string{"cron"}},
	})
	assertSortedByLine(t, errs)
}

func TestErrorsString(t *testing.T) {
	errs := config.Errors{
		{File: "a.yaml", Line: 3, Key: "sources[1].qoss", Msg: "unknown key"},
		{File: "a.yaml", Line: 7, Key: "schedules.sweep", Msg: `bad cron expression "x"`},
		{File: "a.yaml", Line: 1, Msg: "invalid YAML: boom"},
	}
	want := "a.yaml:3: sources[1].qoss: unknown key\n" +
		"a.yaml:7: schedules.sweep: bad cron expression \"x\"\n" +
		"a.yaml:1: invalid YAML: boom"
	if got := errs.Error(); got != want {
		t.Errorf("Errors.Error() =\n%s\nwant\n%s", got, want)
	}
	if got := errs[0].Error(); got != "a.yaml:3: sources[1].qoss: unknown key" {
		t.Errorf("Error.Error() = %q", got)
	}
}

func TestParseErrorStringFormat(t *testing.T) {
	base, _ := baseText(t)
	text := replaceOnce(t, base, "    agency: customs\n", "    agency: customz\n")
	text = replaceOnce(t, text, `sweep: "*/5 * * * *"`, `sweep: "often"`)
	text = replaceOnce(t, text, "    qos: 1\n", "    qos: 7\n")
	_, err := config.Parse("conf/bad.yaml", []byte(text), fakeRegistry{})
	if err == nil {
		t.Fatal("Parse succeeded")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 3 {
		t.Fatalf("error has %d lines, want 3:\n%v", len(lines), err)
	}
	re := regexp.MustCompile(`^conf/bad\.yaml:(\d+): ([a-z_.\[\]0-9]+): \S.*$`)
	wantKeys := []string{"sources[0].qos", "sources[0].agency", "schedules.sweep"}
	for i, l := range lines {
		m := re.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("line %q is not FILE:LINE: key: message", l)
			continue
		}
		if m[2] != wantKeys[i] {
			t.Errorf("line %d names key %s, want %s", i+1, m[2], wantKeys[i])
		}
	}
}

func TestLoad(t *testing.T) {
	text, dir := baseText(t)
	path := filepath.Join(dir, "portsync.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(path, fakeRegistry{})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.File != path || c.Terminal != "CNSHA-T1" {
		t.Errorf("File %q terminal %q", c.File, c.Terminal)
	}

	bad := replaceOnce(t, text, "    agency: customs\n", "    agency: customz\n")
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = config.Load(path, fakeRegistry{})
	var errs config.Errors
	if !errors.As(err, &errs) || len(errs) != 1 {
		t.Fatalf("Load of a bad file: %v, want one config.Error", err)
	}
	if errs[0].File != path || errs[0].Line != lineOf(t, bad, "agency: customz") {
		t.Errorf("error %+v: want file %s, line %d", errs[0], path, lineOf(t, bad, "agency: customz"))
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := config.Load(path, fakeRegistry{})
	var errs config.Errors
	if !errors.As(err, &errs) || len(errs) != 1 {
		t.Fatalf("Load of a missing file: %v, want one config.Error", err)
	}
	if errs[0].File != path || !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name %s", err, path)
	}
	if !errors.Is(err, os.ErrNotExist) && !strings.Contains(err.Error(), "no such file") {
		t.Errorf("error %q does not say the file is missing", err)
	}
}

func TestReadSecret(t *testing.T) {
	dir := t.TempDir()
	got, err := config.ReadSecret(writeSecret(t, dir, "tok", "  \t s3cr3t value \r\n\n"))
	if err != nil || got != "s3cr3t value" {
		t.Errorf("ReadSecret = %q, %v; want %q", got, err, "s3cr3t value")
	}
	if _, err := config.ReadSecret(writeSecret(t, dir, "blank", " \n\t\r\n")); err == nil {
		t.Error("ReadSecret of a blank file succeeded")
	} else if !strings.Contains(err.Error(), "empty") {
		t.Errorf("ReadSecret of a blank file: %v, want it to say empty", err)
	}
	if _, err := config.ReadSecret(writeSecret(t, dir, "zero", "")); err == nil {
		t.Error("ReadSecret of an empty file succeeded")
	}
	if _, err := config.ReadSecret(filepath.Join(dir, "missing")); err == nil {
		t.Error("ReadSecret of a missing file succeeded")
	}
}

func TestSecretFilePathsExpandEnvironment(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "api.token"), []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CREDENTIALS_DIRECTORY", dir)
	text := "terminal: T1\nstate_dir: /x\nagencies: {customs: {tos_hold: CUSTOMS}}\n" +
		"tos: {sink: {type: mqtt, broker: main, topic: t}}\nbrokers: {main: {url: tcp://127.0.0.1:1883}}\n" +
		"http:\n  token_file: ${CREDENTIALS_DIRECTORY}/api.token\n"
	c, err := config.Parse("env.yaml", []byte(text), fakeRegistry{})
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "api.token"); c.HTTP.TokenFile != want {
		t.Fatalf("token_file = %q, want %q", c.HTTP.TokenFile, want)
	}
	t.Setenv("CREDENTIALS_DIRECTORY", "")
	if _, err := config.Parse("env.yaml", []byte(text), fakeRegistry{}); err == nil || !strings.Contains(err.Error(), "http.token_file") {
		t.Fatalf("want an error naming http.token_file when the variable is unset, got %v", err)
	}
}
