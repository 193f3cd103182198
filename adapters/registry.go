// Package adapters owns the registry of portsync's transports and formats
// and the small interfaces they implement. Each sub-package is one transport
// or format and registers itself by its configuration type name in an init
// function, as CoreDNS plugins and Telegraf inputs do; the binary imports
// the sub-packages it ships.
package adapters

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

// MaxPayload is the largest inbound message portsync reads into memory;
// larger ones are dead-lettered as too_large without being read whole. A
// file_drop source reads files up to its max_bytes instead, through
// Message.Body.
const MaxPayload = 1 << 20

// MaxKept is how much of a message given as a Body is kept in its Payload,
// for its dead letter (the store keeps no more of any payload).
const MaxKept = 64 << 10

// Outcome is what became of a message once it is durable in the store.
type Outcome struct {
	// Reject is the first rejection among the message's records (nil if
	// none), for sources that file a message by its outcome.
	Reject *state.Rejection
}

// Message is one inbound message from a source. Done tells the source that
// the message is durable in the store, and what became of it; it is nil
// where the transport needs to know neither. Done is called exactly once,
// after the commit.
type Message struct {
	Payload    []byte
	TooLarge   bool // Payload was cut at MaxPayload
	Done       func(Outcome)
	ReceivedAt time.Time
	// Cursor, when set, is stored as the source's cursor in the same
	// transaction as the message's events, so that a crash neither loses
	// nor repeats a page.
	Cursor string
	// Body, when set, opens the whole message, which is too large to be
	// held in Payload: Payload then holds only its first MaxKept bytes,
	// for the dead letter. DecodeMessage reads it, as a stream when the
	// decoder can. It is called while the message is being decoded (by
	// the source's Deliver), never after.
	Body func() (io.ReadCloser, error)
	// Name, when set, is what the transport calls the message (a
	// file_drop source's file name); a file acknowledgement is named
	// after it.
	Name string
	// Reject, when set, is the transport's own verdict on a message it
	// could not read as one (a spool entry that is not a regular file, a
	// poll whose cursor went round in a circle): the engine dead-letters
	// it with this reason without decoding Payload, which then only
	// describes what was found.
	Reject *state.Rejection
}

// Deliver hands a message to the engine. It may block while the engine's
// queue is full, which is how back-pressure reaches the transport.
type Deliver func(Message)

// Source produces inbound messages.
type Source interface {
	// Start begins delivering messages; it must not block.
	Start(ctx context.Context, deliver Deliver) error
	// Stop stops delivering; messages already delivered may still be acked.
	Stop()
}

// Sink delivers TOS commands. Send returns nil once every command is
// accepted by the transport (for MQTT: PUBACK from the broker).
type Sink interface {
	Send(ctx context.Context, cmds []state.Command) error
}

// A Batcher is a Sink that says how many commands it takes in one Send;
// the dispatcher hands any other sink at most 512. The bound keeps one
// call within the dispatcher's send timeout (10 s) on a slow TOS: an HTTP
// TOS costs a request per command. A broker's publishes of one call are
// in flight together, so there a call costs one round trip however many
// it carries, and small calls only add round trips.
type Batcher interface {
	Sink
	MaxBatch() int
}

// Notifier delivers alerts to a channel.
type Notifier interface {
	Notify(ctx context.Context, alerts []state.Alert) error
}

// Outgoing is one message to publish.
type Outgoing struct {
	Topic    string
	Payload  []byte
	Retained bool
}

// Publisher publishes messages and returns once the broker has accepted
// them all, in order.
type Publisher interface {
	Publish(ctx context.Context, qos byte, msgs ...Outgoing) error
}

// Broker is a shared connection to an MQTT broker. Subscribe must be called
// before Connect, so that the backlog a persistent session holds is routed
// and acknowledged from the first packet.
type Broker interface {
	Publisher
	Subscribe(topic string, qos byte, handler func(Message))
	Connect(ctx context.Context) error
	Disconnect()
	// Ready reports whether the connection is up and every subscription
	// is acknowledged; reason says what is missing.
	Ready() (ok bool, reason string)
}

// SessionFunc is told, on every connection a broker accepts, whether the
// broker still held portsync's persistent session (the CONNACK
// session-present flag). A broker that answers false after holding one has
// dropped the messages it queued for portsync.
type SessionFunc func(broker, clientID string, present bool)

// Env is what a factory may use to build an adapter.
type Env struct {
	Config  *config.Config
	Logger  *slog.Logger
	Brokers map[string]Broker
	// Cursor returns a source's stored cursor ("" if none).
	Cursor func(source string) (string, error)
	// BreakerChanged reports an adapter's own circuit breaker's new state
	// (portsync_breaker_state{name}); nil in tests.
	BreakerChanged func(name string, to gobreaker.State)
	// SourceFailed reports a failure of a source's own transport, such as
	// a poll: reason labels it (portsync_source_failures_total{source,reason})
	// and err says what went wrong. It starts or extends the source's
	// failure streak, which source_down and the dashboard follow; nil in
	// tests.
	SourceFailed func(source, reason string, err error)
	// SourceOK reports that a source's own transport worked (a poll was
	// answered), which ends its failure streak; nil in tests.
	SourceOK func(source string)
	// BrokerSession is given to every broker connection built with this
	// environment; nil in tests.
	BrokerSession SessionFunc
	// Candidates reads, from the store, the containers an agency may be
	// asked about (an http_query source); nil where there is no store
	// (portsync check).
	Candidates func(ctx context.Context, q CandidateQuery) (CandidatePage, error)
}

// CandidateQuery asks for one page of the containers in the yard an agency
// may be asked about: those not cleared and not released by the agency,
// unchanged for at least OlderThan, and those with a mismatch of the
// agency open for at least OlderThan; with Mismatched, only the latter,
// from the store's list of open mismatches.
type CandidateQuery struct {
	Agency     string
	OlderThan  time.Duration
	Mismatched bool
	// After resumes the walk after this key ("" from the first): the Next
	// of the page before.
	After string
	// Limit bounds the candidates of the page; the walk also stops after
	// a bounded number of containers read, so a page may hold none and
	// still have a Next.
	Limit int
}

// CandidatePage is one page of candidates, in the order of the walk.
type CandidatePage struct {
	Candidates []Candidate
	// Next is the After of the next page; "" when the walk reached the
	// end.
	Next string
}

// Candidate is a container to ask an agency about, with its bills of
// lading.
type Candidate struct {
	Container string
	BLs       []string
}

// ReportBreaker calls BreakerChanged if it is set.
func (e *Env) ReportBreaker(name string, to gobreaker.State) {
	if e != nil && e.BreakerChanged != nil {
		e.BreakerChanged(name, to)
	}
}

// ReportFailure calls SourceFailed if it is set.
func (e *Env) ReportFailure(source, reason string, err error) {
	if e != nil && e.SourceFailed != nil {
		e.SourceFailed(source, reason, err)
	}
}

// ReportOK calls SourceOK if it is set.
func (e *Env) ReportOK(source string) {
	if e != nil && e.SourceOK != nil {
		e.SourceOK(source)
	}
}

// Broker returns the named broker or an error naming it.
func (e *Env) Broker(name string) (Broker, error) {
	b, ok := e.Brokers[name]
	if !ok {
		return nil, fmt.Errorf("unknown broker %q", name)
	}
	return b, nil
}

// Record is one event decoded from a message, or the reason it could not be.
// Position locates the record in a multi-record message ("record 3",
// "segment 12") for the dead letter.
type Record struct {
	Agency   *state.AgencyEvent
	TOS      *state.TOSEvent
	Manifest *state.ManifestEvent
	Err      error
	Position string
}

// Decoder turns a payload into records.
type Decoder interface {
	Decode(payload []byte) []Record
}

// StreamDecoder is a Decoder that can also read a message from a reader,
// handing each record to emit as soon as it is decoded, so that a large
// file is never held whole in memory.
type StreamDecoder interface {
	Decoder
	DecodeStream(r io.Reader, emit func(Record))
}

// CodeUnreadable is the rejection of a message whose Body could not be
// read (a spool file that vanished or failed while it was read).
const CodeUnreadable = "unreadable_file"

// DecodeMessage decodes a message with dec: its Body when it has one
// (streamed if dec is a StreamDecoder, else read whole), else its Payload.
func DecodeMessage(dec Decoder, m Message) []Record {
	if m.Body == nil {
		return dec.Decode(m.Payload)
	}
	body, err := m.Body()
	if err != nil {
		return []Record{{Err: state.Reject(CodeUnreadable, "the message could not be read: %v", err)}}
	}
	defer body.Close()
	if sd, ok := dec.(StreamDecoder); ok {
		var out []Record
		sd.DecodeStream(body, func(r Record) { out = append(out, r) })
		return out
	}
	data, err := io.ReadAll(body)
	if err != nil {
		return []Record{{Err: state.Reject(CodeUnreadable, "the message could not be read: %v", err)}}
	}
	return dec.Decode(data)
}

// SourceType builds sources of one configuration type. A type whose keys
// are not config.Source fields is built with SourceWithConfig, which
// decodes them from the source's config.Keys into the type's own struct.
type SourceType struct {
	New   func(env *Env, cfg config.Source) (Source, error)
	Check func(cfg config.Source) []config.KeyError
	// keys are the keys the type decodes from config.Keys, into a value
	// like conf (nil for a type built without SourceWithConfig, which
	// takes none).
	keys []string
	conf any
}

// SourceWithConfig is the SourceType of a type that decodes its own keys
// into a C, a struct with yaml tags, from the source's config.Keys, as
// strictly as the rest of the file (a value of the wrong type is
// FILE:LINE: sources[N].KEY: message). New and check are given the
// decoded struct; check may be nil.
func SourceWithConfig[C any](newSource func(env *Env, src config.Source, c *C) (Source, error), check func(src config.Source, c *C) []config.KeyError) SourceType {
	return SourceType{
		New: func(env *Env, src config.Source) (Source, error) {
			c, err := DecodeConfig[C](src)
			if err != nil {
				return nil, err
			}
			return newSource(env, src, c)
		},
		Check: func(src config.Source) []config.KeyError {
			c := new(C)
			return checked(src.Keys.Decode(c), check, src, c)
		},
		keys: config.KeyNames(new(C)),
		conf: new(C),
	}
}

// DecodeConfig decodes a source's own keys (config.Keys) into a new C,
// for its adapter; the error names the source and every key that did not
// decode. portsync check reports the same problems with their lines.
func DecodeConfig[C any](src config.Source) (*C, error) {
	c := new(C)
	if err := keyErrors(src.Keys.Decode(c)); err != nil {
		return nil, fmt.Errorf("source %s: %w", src.Name, err)
	}
	return c, nil
}

// SinkType builds TOS command sinks or alert channels of one type, or
// checks the TOS snapshot. A type whose keys are not config.Sink fields
// is built with SinkWithConfig, which decodes them from the sink's
// config.Keys into the type's own struct.
type SinkType[T any] struct {
	New   func(env *Env, cfg config.Sink) (T, error)
	Check func(cfg config.Sink) []config.KeyError
	// keys are the keys the type decodes from config.Keys, into a value
	// like conf (nil for a type built without SinkWithConfig).
	keys []string
	conf any
	// unused is the message of a key another type reads and this one
	// does not; "" lets such keys by.
	unused string
}

// SinkWithConfig is the SinkType of a type that decodes its own keys into
// a C, a struct with yaml tags, from the sink's config.Keys, as strictly
// as the rest of the file (FILE:LINE: tos.sink.KEY: message). New and
// check are given the decoded struct; check may be nil, and so may
// newSink for the TOS snapshot, which is fetched rather than built.
// unused is the message of a key of another type's, such as "not used by
// webhook channels"; "" lets them by (an mqtt sink or channel, which
// always has).
func SinkWithConfig[C, T any](newSink func(env *Env, s config.Sink, c *C) (T, error), check func(s config.Sink, c *C) []config.KeyError, unused string) SinkType[T] {
	t := SinkType[T]{
		Check: func(s config.Sink) []config.KeyError {
			c := new(C)
			return checked(s.Keys.Decode(c), check, s, c)
		},
		keys:   config.KeyNames(new(C)),
		conf:   new(C),
		unused: unused,
	}
	if newSink != nil {
		t.New = func(env *Env, s config.Sink) (T, error) {
			c, err := DecodeSinkConfig[C](s)
			if err != nil {
				var zero T
				return zero, err
			}
			return newSink(env, s, c)
		}
	}
	return t
}

// DecodeSinkConfig decodes a sink's own keys (config.Keys) into a new C,
// for its adapter; the error names every key that did not decode, for the
// caller to say which sink. portsync check reports the same problems with
// their lines.
func DecodeSinkConfig[C any](s config.Sink) (*C, error) {
	c := new(C)
	if err := keyErrors(s.Keys.Decode(c)); err != nil {
		return nil, err
	}
	return c, nil
}

// keyErrors joins errs into one error, nil if there are none.
func keyErrors(errs []config.KeyError) error {
	if len(errs) == 0 {
		return nil
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Key + ": " + e.Msg
	}
	return errors.New(strings.Join(msgs, "; "))
}

// checked adds to decoded, the errors of decoding c, those of check (if
// any) but for the keys that did not decode, which are not checked again.
func checked[S, C any](decoded []config.KeyError, check func(S, *C) []config.KeyError, s S, c *C) []config.KeyError {
	if check == nil {
		return decoded
	}
	errs := decoded
	for _, e := range check(s, c) {
		if !slices.ContainsFunc(decoded, func(d config.KeyError) bool { return d.Key == e.Key || strings.HasPrefix(d.Key, e.Key+".") }) {
			errs = append(errs, e)
		}
	}
	return errs
}

// Format builds decoders for one configuration format name.
type Format struct {
	New func(cfg config.Source) (Decoder, error)
	// Check validates the format's own keys of a source (e.g. mapping);
	// nil if it has none.
	Check func(cfg config.Source) []config.KeyError
	// keys are the keys of a source the format decodes from config.Keys,
	// into a value like conf (none for a format without FormatKeys).
	keys []string
	conf any
	// refused says whether a source of another format is refused the
	// format's keys, or let by.
	refused bool
}

// FormatKeys returns f as the Format of a format whose own keys are those
// of C, a struct with yaml tags, which its New and Check decode from the
// source's config.Keys (DecodeConfig). refused says whether a source of
// another format is refused them ("only used by formats ...": mapping)
// or let by (time_zone and status_codes, which every source has always
// accepted). What is inside a key that did not decode is not reported:
// the key's own error says what is wrong.
func FormatKeys[C any](f Format, refused bool) Format {
	f.keys, f.conf, f.refused = config.KeyNames(new(C)), new(C), refused
	if check := f.Check; check != nil {
		f.Check = func(src config.Source) []config.KeyError {
			broken := src.Keys.Decode(new(C))
			var errs []config.KeyError
			for _, e := range check(src) {
				if slices.Contains(broken, e) || !slices.ContainsFunc(broken, func(b config.KeyError) bool { return under(e.Key, b.Key) }) {
					errs = append(errs, e)
				}
			}
			return errs
		}
	}
	return f
}

// under reports whether key is parent or inside it.
func under(key, parent string) bool {
	return key == parent || strings.HasPrefix(key, parent+".") || strings.HasPrefix(key, parent+"[")
}

var (
	mu       sync.RWMutex
	sources  = map[string]SourceType{}
	sinks    = map[string]SinkType[Sink]{}
	channels = map[string]SinkType[Notifier]{}
	formats  = map[string]Format{}
	// snapshot checks tos.snapshot; nil until the tossnapshot package
	// registers it.
	snapshot *SinkType[any]
)

func register[T any](m map[string]T, kind, name string, v T) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := m[name]; dup {
		panic(fmt.Sprintf("adapters: %s type %q registered twice", kind, name))
	}
	m[name] = v
}

func lookup[T any](m map[string]T, name string) (T, bool) {
	mu.RLock()
	defer mu.RUnlock()
	v, ok := m[name]
	return v, ok
}

// RegisterSource registers a source type. It panics on a duplicate name.
func RegisterSource(name string, t SourceType) { register(sources, "source", name, t) }

// RegisterSink registers a TOS sink type.
func RegisterSink(name string, t SinkType[Sink]) { register(sinks, "sink", name, t) }

// RegisterChannel registers an alert channel type.
func RegisterChannel(name string, t SinkType[Notifier]) { register(channels, "channel", name, t) }

// RegisterSnapshot registers the check of tos.snapshot's keys. It panics
// if one is registered already.
func RegisterSnapshot(t SinkType[any]) {
	mu.Lock()
	defer mu.Unlock()
	if snapshot != nil {
		panic("adapters: tos.snapshot registered twice")
	}
	snapshot = &t
}

// Configs returns, for each place in the configuration file whose
// elements' adapters decode their own keys ("sources[]", "tos.sink",
// "alerts.channels[]", "tos.snapshot"), a zero value of the struct of
// each such adapter's keys (a pointer), for documentation.
func Configs() map[string][]any {
	mu.RLock()
	defer mu.RUnlock()
	out := map[string][]any{}
	add := func(place string, conf any) {
		if conf != nil {
			out[place] = append(out[place], conf)
		}
	}
	for _, t := range sources {
		add("sources[]", t.conf)
	}
	for _, f := range formats {
		add("sources[]", f.conf)
	}
	for _, t := range sinks {
		add("tos.sink", t.conf)
	}
	for _, t := range channels {
		add("alerts.channels[]", t.conf)
	}
	if snapshot != nil {
		add("tos.snapshot", snapshot.conf)
	}
	return out
}

// RegisterFormat registers a message format.
func RegisterFormat(name string, f Format) { register(formats, "format", name, f) }

// NewSource builds the source cfg describes.
func NewSource(env *Env, cfg config.Source) (Source, error) {
	t, ok := lookup(sources, cfg.Type)
	if !ok {
		return nil, fmt.Errorf("source %s: unknown type %q", cfg.Name, cfg.Type)
	}
	return t.New(env, cfg)
}

// NewSink builds the TOS sink cfg describes.
func NewSink(env *Env, cfg config.Sink) (Sink, error) {
	t, ok := lookup(sinks, cfg.Type)
	if !ok {
		return nil, fmt.Errorf("sink: unknown type %q", cfg.Type)
	}
	return t.New(env, cfg)
}

// NewChannel builds the alert channel cfg describes.
func NewChannel(env *Env, cfg config.Sink) (Notifier, error) {
	t, ok := lookup(channels, cfg.Type)
	if !ok {
		return nil, fmt.Errorf("alert channel: unknown type %q", cfg.Type)
	}
	return t.New(env, cfg)
}

// NewDecoder builds the decoder for a source's format.
func NewDecoder(cfg config.Source) (Decoder, error) {
	f, ok := lookup(formats, cfg.Format)
	if !ok {
		return nil, fmt.Errorf("source %s: unknown format %q", cfg.Name, cfg.Format)
	}
	return f.New(cfg)
}

// Registry is the registry as config.Registry, for validation.
var Registry config.Registry = registry{}

type registry struct{}

func check[T any](m map[string]T, name string, c func(T) []config.KeyError) (bool, []config.KeyError) {
	t, ok := lookup(m, name)
	if !ok {
		return false, nil
	}
	return true, c(t)
}

func (registry) CheckSource(s config.Source) (bool, []config.KeyError) {
	f, hasFormat := lookup(formats, s.Format)
	known, errs := check(sources, s.Type, func(t SourceType) []config.KeyError {
		return append(foreignKeys(s, slices.Concat(t.keys, f.keys)), callCheck(t.Check, s)...)
	})
	if hasFormat {
		errs = append(errs, callCheck(f.Check, s)...)
	}
	return known, errs
}

// foreignKeys reports the keys of s that neither config.Source nor its
// type and format (whose own keys are own) read: as another type's when
// one reads it, as other formats' when they read it and refuse it to
// others (a key of formats that let it by passes), else as unknown.
func foreignKeys(s config.Source, own []string) []config.KeyError {
	var errs []config.KeyError
	for _, key := range s.Keys.Names() {
		if slices.Contains(own, key) {
			continue
		}
		var users, formatUsers []string
		refused := false
		mu.RLock()
		for name, t := range sources {
			if slices.Contains(t.keys, key) {
				users = append(users, name)
			}
		}
		for name, f := range formats {
			if slices.Contains(f.keys, key) {
				formatUsers = append(formatUsers, name)
				refused = refused || f.refused
			}
		}
		mu.RUnlock()
		slices.Sort(users)
		slices.Sort(formatUsers)
		var msg string
		switch {
		case len(users) > 0:
			msg = fmt.Sprintf("only used by %s sources, and this source's type is %q", strings.Join(users, " and "), s.Type)
		case len(formatUsers) > 0 && !refused:
			continue
		case len(formatUsers) > 0:
			msg = fmt.Sprintf("only used by formats %s, and this source's format is %q", strings.Join(formatUsers, " and "), s.Format)
		default:
			msg = config.UnknownKey(slices.Sorted(slices.Values(append(config.KeyNames(config.Source{}), own...))))
		}
		errs = append(errs, config.KeyError{Key: key, Msg: msg})
	}
	return errs
}

func (registry) CheckSink(s config.Sink) (bool, []config.KeyError) {
	return check(sinks, s.Type, func(t SinkType[Sink]) []config.KeyError { return checkSink(t, s) })
}

func (registry) CheckChannel(s config.Sink) (bool, []config.KeyError) {
	return check(channels, s.Type, func(t SinkType[Notifier]) []config.KeyError { return checkSink(t, s) })
}

func (registry) CheckSnapshot(s config.Sink) []config.KeyError {
	mu.RLock()
	t := snapshot
	mu.RUnlock()
	if t == nil {
		return nil
	}
	return checkSink(*t, s)
}

// checkSink checks a sink's keys with t's check, after those of its keys t
// does not read.
func checkSink[T any](t SinkType[T], s config.Sink) []config.KeyError {
	return append(foreignSinkKeys(s, t.keys, t.unused), callCheck(t.Check, s)...)
}

// foreignSinkKeys reports the keys of s that neither config.Sink nor its
// type (whose own keys are own) reads: with unused when another sink or
// channel type or the snapshot reads it (such keys pass when unused is
// ""), else as unknown.
func foreignSinkKeys(s config.Sink, own []string, unused string) []config.KeyError {
	mu.RLock()
	var others []string
	for _, t := range sinks {
		others = append(others, t.keys...)
	}
	for _, t := range channels {
		others = append(others, t.keys...)
	}
	if snapshot != nil {
		others = append(others, snapshot.keys...)
	}
	mu.RUnlock()
	var errs []config.KeyError
	for _, key := range s.Keys.Names() {
		switch {
		case slices.Contains(own, key):
		case slices.Contains(others, key):
			if unused != "" {
				errs = append(errs, config.KeyError{Key: key, Msg: unused})
			}
		default:
			known := slices.Sorted(slices.Values(append(config.KeyNames(config.Sink{}), own...)))
			errs = append(errs, config.KeyError{Key: key, Msg: config.UnknownKey(known)})
		}
	}
	return errs
}

func (registry) HasFormat(name string) bool {
	_, ok := lookup(formats, name)
	return ok
}

func callCheck[C any](f func(C) []config.KeyError, c C) []config.KeyError {
	if f == nil {
		return nil
	}
	return f(c)
}

// alertWire is the alert as it goes on the wire (DESIGN 3.4): the stored
// alert without its delivery bookkeeping.
type alertWire struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	Severity  string    `json:"severity"`
	State     string    `json:"state"`
	Terminal  string    `json:"terminal"`
	Container string    `json:"container,omitempty"`
	Agency    string    `json:"agency,omitempty"`
	Source    string    `json:"source,omitempty"`
	Since     time.Time `json:"since"`
	Summary   string    `json:"summary"`
	At        time.Time `json:"at"`
}

// EncodeAlert encodes a as the wire format of DESIGN 3.4.
func EncodeAlert(a state.Alert) ([]byte, error) {
	data, err := json.Marshal(alertWire{
		ID: a.ID, Kind: a.Kind, Severity: a.Severity, State: a.State, Terminal: a.Terminal,
		Container: a.Container, Agency: a.Agency, Source: a.Source,
		Since: a.Since.UTC(), Summary: a.Summary, At: a.At.UTC(),
	})
	if err != nil {
		return nil, fmt.Errorf("encode alert %s: %w", a.ID, err)
	}
	return data, nil
}
