// Package config owns portsync's configuration file (DESIGN section 4): its
// types, a strict YAML decoder that reports every problem with its line and
// key, defaults, and validation. It depends on nothing else in portsync:
// the keys of an adapter's type reach the adapter undecoded, as Keys, and
// its checks come in through the Registry interface.
package config

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"go.yaml.in/yaml/v3"
)

// Config is the whole configuration file.
type Config struct {
	Terminal      string            `yaml:"terminal"`
	StateDir      string            `yaml:"state_dir"`
	Log           Log               `yaml:"log"`
	Agencies      map[string]Agency `yaml:"agencies"`
	ReleasePolicy ReleasePolicy     `yaml:"release_policy"`
	Brokers       map[string]Broker `yaml:"brokers"`
	Sources       []Source          `yaml:"sources"`
	TOS           TOS               `yaml:"tos"`
	SLA           SLA               `yaml:"sla"`
	Alerts        Alerts            `yaml:"alerts"`
	StatusTopic   string            `yaml:"status_topic"`
	HTTP          HTTP              `yaml:"http"`
	Schedules     Schedules         `yaml:"schedules"`
	Retention     Retention         `yaml:"retention"`
	// MaxClockSkew is how far ahead of the daemon's clock an agency or TOS
	// time may lie; later ones are rejected (a release stamped 2099 could
	// never be revoked). Default 15m.
	MaxClockSkew time.Duration `yaml:"max_clock_skew"`
	// Cluster, when set, makes this process one node of a replicated
	// cluster; nil is the single node.
	Cluster *Cluster `yaml:"cluster"`

	// File is the path the configuration was read from.
	File string `yaml:"-"`
	// Hash is the SHA-256 of the file's contents, hex, for the logs and the
	// config-hash metric.
	Hash string `yaml:"-"`
	// lines maps dotted keys to their line in File.
	lines map[string]int
}

// Cluster makes portsync one of three (or five) nodes that replicate the
// store through Raft; only the leader acts (docs/operations.md).
type Cluster struct {
	NodeID string `yaml:"node_id"`
	// Listen is the address of the replication traffic; the peer entry of
	// this node names the address the others dial.
	Listen string `yaml:"listen"`
	// Peers lists every node, this one included, as id=host:port.
	Peers []string `yaml:"peers"`
	// APIs maps a node id to the URL of its HTTP API, where it differs
	// from the default: the host of the node's peer address with the port
	// of http.listen (https when http.tls is set). Writes sent to a
	// follower are redirected there, and GET /api/v1/cluster asks each node.
	APIs map[string]string `yaml:"apis"`
	// TLS, when set, secures the replication traffic with mutual TLS:
	// every node presents cert_file and accepts only peers whose
	// certificate ca_file signed.
	TLS TLS `yaml:"tls"`
}

// Peer is one node of Cluster.Peers.
type Peer struct{ ID, Addr string }

// PeerList parses Peers; Validate has checked them.
func (c *Cluster) PeerList() []Peer {
	var out []Peer
	for _, p := range c.Peers {
		id, addr, _ := strings.Cut(p, "=")
		out = append(out, Peer{ID: strings.TrimSpace(id), Addr: strings.TrimSpace(addr)})
	}
	return out
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

// Agency is a border agency and the TOS hold code it maps to.
type Agency struct {
	TOSHold     string `yaml:"tos_hold"`
	WhenUnknown string `yaml:"when_unknown"` // hold (default) or ignore
	// HoldCodes maps a hold type of the agency's (CBP 7H, an exam) to a
	// TOS hold code of its own, which an N4 terminal keeps apart from the
	// agency's general hold (7H -> CBP_EXAM). Unmapped types use TOSHold.
	HoldCodes map[string]string `yaml:"hold_codes"`
}

// Policies for an agency whose status is unknown.
const (
	WhenUnknownHold   = "hold"
	WhenUnknownIgnore = "ignore"
)

// ReleasePolicy says which agencies must release a container to clear it.
type ReleasePolicy struct {
	Required []string `yaml:"required"`
}

// Broker is an MQTT broker connection.
type Broker struct {
	URL      string `yaml:"url"`
	ClientID string `yaml:"client_id"`
	// PublishClientID, when set, gives publishing (the sink, alert
	// channels and acknowledgements) a connection of its own under this
	// client id, so that a backlog of inbound messages does not delay the
	// broker's acknowledgements of commands.
	PublishClientID string `yaml:"publish_client_id"`
	UsernameFile    string `yaml:"username_file"`
	PasswordFile    string `yaml:"password_file"`
	TLS             TLS    `yaml:"tls"`
}

// TLS names the files of a TLS client configuration.
type TLS struct {
	CAFile   string `yaml:"ca_file"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Source is where agency or TOS events come from. Which keys apply depends
// on Type and Format; the adapters registered for them check them. The
// keys of a type or a format that decodes its own (file_drop, http_poll,
// http_query and mqtt; mapping, time_zone, status_codes) are not fields
// here: they are in Keys, which the adapter decodes into its own struct.
type Source struct {
	Name      string `yaml:"name"`
	Type      string `yaml:"type"`
	Broker    string `yaml:"broker"`
	Kind      string `yaml:"kind"`   // agency or tos
	Agency    string `yaml:"agency"` // the only agency an agency source may speak for
	Format    string `yaml:"format"`
	TokenFile string `yaml:"token_file"`
	// HMACKeyFile holds the key agency messages must be signed with
	// (HMAC-SHA256 envelope); unsigned or forged ones are dead-lettered.
	HMACKeyFile string `yaml:"hmac_key_file"`
	// SilentAfter raises source_silent when the source has delivered no
	// message for this long (since the start or its last message); 0, the
	// default, never does. Any source type.
	SilentAfter time.Duration `yaml:"silent_after"`
	// AckTopic is where an mqtt source's processing acknowledgements go,
	// one per inbound message after its commit, on the source's own
	// broker at QoS 1; "" sends none.
	AckTopic string `yaml:"ack_topic"`
	// AckDir is where a file_drop source writes NAME.ack.json, one
	// acknowledgement per processed file; "" writes none.
	AckDir string `yaml:"ack_dir"`
	// Keys are the keys of the source's type and format that are not
	// fields here, for their adapters to decode.
	Keys Keys `yaml:"-"`
}

// Mapping, a source's mapping (formats mapped_json and mapped_xml, which
// decode it), says where the fields of an agency event are in a foreign
// document: as gjson paths (https://github.com/tidwall/gjson#path-syntax)
// in a JSON document (mapped_json), as XPath 1.0 expressions in an XML
// document (mapped_xml), where Records selects the record elements.
type Mapping struct {
	// Records is the path of an array of records in the document; empty
	// means the document is one record. Other paths are relative to a
	// record.
	Records     string `yaml:"records"`
	ID          string `yaml:"id"`
	Agency      string `yaml:"agency"` // default: the source's agency
	Status      string `yaml:"status"`
	Containers  string `yaml:"containers"` // a string or an array of strings
	BL          string `yaml:"bl"`
	Declaration string `yaml:"declaration"`
	Reason      string `yaml:"reason"`
	At          string `yaml:"at"`
	// AtLayout is the Go time layout of At; default RFC 3339. AtZone is
	// the IANA zone for layouts without an offset.
	AtLayout string `yaml:"at_layout"`
	AtZone   string `yaml:"at_zone"`
	// StatusValues maps their status words to released, held,
	// hold_removed or revoked (held and hold_removed optionally with
	// ":TYPE").
	StatusValues map[string]string `yaml:"status_values"`
	// Hold is the path of the hold type of held and hold_removed records
	// (DESIGN 3.1 "hold"); HoldValues, when set, maps their hold words to
	// hold types.
	Hold       string            `yaml:"hold"`
	HoldValues map[string]string `yaml:"hold_values"`
}

// Source kinds.
const (
	KindAgency = "agency"
	KindTOS    = "tos"
	// KindManifest sources link bills of lading to their containers
	// (manifests, a TOS's B/L data).
	KindManifest = "manifest"
)

// Cursor says how a polling source pages: the query parameter it sends and
// the answer field it reads the next value from.
type Cursor struct {
	Param string `yaml:"param"`
	Field string `yaml:"field"`
}

// TOS configures the terminal operating system side.
type TOS struct {
	Sink     Sink  `yaml:"sink"`
	Snapshot *Sink `yaml:"snapshot"`
}

// Sink is an outbound endpoint: a TOS command sink, a TOS snapshot poll or
// an alert channel. It holds the keys every type accepts; the keys of its
// type (url, topic, smtp, ...) are in Keys, which the adapter registered
// for the type decodes into its own struct and checks.
type Sink struct {
	Type   string `yaml:"type"`
	Name   string `yaml:"name"`
	Broker string `yaml:"broker"`
	// QoS is accepted, and checked, on every type; only mqtt publishes
	// with it.
	QoS *int `yaml:"qos"`
	// Keys are the keys of the sink's type, for the type's adapter to
	// decode.
	Keys Keys `yaml:"-"`
}

// SLA bounds how long a mismatch may last and how often commands are
// re-sent.
type SLA struct {
	ApplyWithin time.Duration `yaml:"apply_within"`
	RetryAfter  time.Duration `yaml:"retry_after"`
}

// MaxRetryAfter caps the doubling re-send interval of a command.
const MaxRetryAfter = 5 * time.Minute

// Alerts configures alert delivery.
type Alerts struct {
	RepeatInterval time.Duration `yaml:"repeat_interval"`
	Channels       []Sink        `yaml:"channels"`
}

// HTTP configures the API and dashboard listener.
type HTTP struct {
	Listen    string `yaml:"listen"`
	TokenFile string `yaml:"token_file"`
	// OverrideTokenFile holds the token POST /api/v1/containers/{id}/override
	// (portsync override) needs, and nothing else accepts; without it
	// manual overrides are off. It must differ from the API token and from
	// every push source's token.
	OverrideTokenFile string `yaml:"override_token_file"`
	// Hosts are the Host names accepted besides the listen address and
	// loopback, compared without case and port; any other Host is
	// refused, which defeats DNS rebinding.
	Hosts []string `yaml:"hosts"`
	// TLS serves HTTPS with this certificate and key (CAFile unused).
	TLS TLS `yaml:"tls"`
}

// Schedules are cron specs for periodic work.
type Schedules struct {
	Sweep     string `yaml:"sweep"`
	Retention string `yaml:"retention"`
}

// Retention bounds how long the journal and dedupe keys are kept.
type Retention struct {
	Journal time.Duration `yaml:"journal"`
}

// Defaults.
const (
	DefaultListen = "127.0.0.1:9740"
	// DefaultMaxClockSkew is max_clock_skew's default.
	DefaultMaxClockSkew = 15 * time.Minute
	// DefaultQoS is the qos of a TOS sink or alert channel published over
	// MQTT; an mqtt source's is the mqtt adapter's.
	DefaultQoS    = 1
	DefaultFormat = "json"
)

// Error is one problem in a configuration file.
type Error struct {
	File string
	Line int
	Key  string
	Msg  string
}

func (e Error) Error() string {
	if e.Key == "" {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Key, e.Msg)
}

// Errors is every problem found in a configuration file, one a line.
type Errors []Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// ErrorAt is err as a problem of the element at key (such as
// "sources[2]"), on that key's line: for what the daemon finds when it
// builds the element, after validation.
func (c *Config) ErrorAt(key string, err error) error {
	return Errors{{File: c.File, Line: c.Line(key), Key: key, Msg: err.Error()}}
}

// KeyError is a problem an adapter found in its part of the configuration;
// Key is relative to that part (e.g. "topic").
type KeyError struct {
	Key string
	Msg string
}

// Registry answers which adapter types exist and checks their settings.
// The adapters package implements it; config does not depend on adapters.
type Registry interface {
	CheckSource(s Source) (known bool, errs []KeyError)
	CheckSink(s Sink) (known bool, errs []KeyError)
	CheckChannel(s Sink) (known bool, errs []KeyError)
	// CheckSnapshot checks tos.snapshot's keys, whatever its type (which
	// config checks).
	CheckSnapshot(s Sink) []KeyError
	HasFormat(name string) bool
}

// Load reads, decodes, defaults and validates the file at path. The error,
// if any, is an Errors listing every problem.
func Load(path string, reg Registry) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, Errors{{File: path, Line: 0, Msg: err.Error()}}
	}
	return Parse(path, data, reg)
}

// Parse is Load for a file already read.
func Parse(path string, data []byte, reg Registry) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, Errors{{File: path, Line: yamlErrorLine(err), Msg: "invalid YAML: " + err.Error()}}
	}
	sum := sha256.Sum256(data)
	c := &Config{File: path, Hash: hex.EncodeToString(sum[:])}
	d := &decoder{lines: map[string]int{}}
	if len(root.Content) > 0 {
		d.decode(&root, reflect.ValueOf(c).Elem(), "")
	}
	c.lines = d.lines
	c.setDefaults()
	// Validate even after decode errors, so that one pass lists every
	// problem; a key that did not decode is not reported again.
	errs := d.errs
	for _, e := range c.validate(reg, d.errs) {
		if !underAny(e.Key, d.errs) {
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		for i := range errs {
			errs[i].File = path
		}
		slices.SortStableFunc(errs, func(a, b Error) int { return a.Line - b.Line })
		return nil, Errors(errs)
	}
	return c, nil
}

// underAny reports whether key is, or is inside, a key with an error.
func underAny(key string, errs []Error) bool {
	for _, e := range errs {
		if key == e.Key || strings.HasPrefix(key, e.Key+".") || strings.HasPrefix(key, e.Key+"[") {
			return true
		}
	}
	return false
}

// yamlErrorLine takes the line from a YAML syntax error. The parser names
// the start of the block it was reading, which may be a few lines above
// the mistake; an error without a line is reported on line 1.
func yamlErrorLine(err error) int {
	var n int
	if _, scanErr := fmt.Sscanf(strings.TrimPrefix(err.Error(), "yaml: "), "line %d:", &n); scanErr == nil && n > 0 {
		return n
	}
	return 1
}

// Line returns the line of a dotted key in the file, or of its nearest
// parent that has one; a key missing at the top level is on line 1.
func (c *Config) Line(key string) int {
	for key != "" {
		if n, ok := c.lines[key]; ok {
			return n
		}
		i := strings.LastIndexAny(key, ".[")
		if i < 0 {
			break
		}
		key = key[:i]
	}
	return 1
}

func (c *Config) setDefaults() {
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "json"
	}
	for name, a := range c.Agencies {
		if a.WhenUnknown == "" {
			a.WhenUnknown = WhenUnknownHold
			c.Agencies[name] = a
		}
	}
	if len(c.ReleasePolicy.Required) == 0 {
		c.ReleasePolicy.Required = c.AgencyNames()
	}
	for name, b := range c.Brokers {
		if b.ClientID == "" {
			b.ClientID = "portsync-" + c.Terminal + "-" + name
			c.Brokers[name] = b
		}
	}
	for i := range c.Sources {
		s := &c.Sources[i]
		if s.Format == "" {
			s.Format = DefaultFormat
		}
	}
	if c.TOS.Sink.QoS == nil {
		c.TOS.Sink.QoS = ptr(DefaultQoS)
	}
	for i := range c.Alerts.Channels {
		ch := &c.Alerts.Channels[i]
		if ch.QoS == nil {
			ch.QoS = ptr(DefaultQoS)
		}
		if ch.Name == "" {
			ch.Name = ch.derivedName()
		}
	}
	if c.TOS.Sink.Name == "" {
		c.TOS.Sink.Name = "tos-" + c.TOS.Sink.Type
	}
	if c.SLA.ApplyWithin == 0 {
		c.SLA.ApplyWithin = 2 * time.Minute
	}
	if c.SLA.RetryAfter == 0 {
		c.SLA.RetryAfter = 15 * time.Second
	}
	if c.Alerts.RepeatInterval == 0 {
		c.Alerts.RepeatInterval = 30 * time.Minute
	}
	if c.HTTP.Listen == "" {
		c.HTTP.Listen = DefaultListen
	}
	if c.Schedules.Sweep == "" {
		c.Schedules.Sweep = "*/5 * * * *"
	}
	if c.Schedules.Retention == "" {
		c.Schedules.Retention = "0 3 * * *"
	}
	if c.MaxClockSkew == 0 {
		c.MaxClockSkew = DefaultMaxClockSkew
	}
	if c.Retention.Journal == 0 {
		c.Retention.Journal = 90 * 24 * time.Hour
	}
}

func ptr[T any](v T) *T { return &v }

// AgencyNames returns the configured agencies, sorted.
func (c *Config) AgencyNames() []string {
	names := make([]string, 0, len(c.Agencies))
	for name := range c.Agencies {
		names = append(names, name)
	}
	sortStrings(names)
	return names
}

func sortStrings(s []string) { slices.Sort(s) }

// CronParser parses the schedule specs portsync accepts: five fields, or a
// descriptor such as @hourly or "@every 30s".
var CronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ReadSecret reads a secret file, trimmed of surrounding white space.
func ReadSecret(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s := strings.TrimSpace(string(data))
	if s == "" {
		return "", errors.New("file is empty")
	}
	return s, nil
}
