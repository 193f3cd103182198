// Package tossnapshot fetches and decodes the TOS snapshot, the safety net
// for lost TOS events: the TOS answers one GET (tos.snapshot, type
// http_poll) with its full list of containers and their holds. The sweep
// hands the Snapshot to the engine (sync.Engine.ApplySnapshot), which
// compares it with the store and repairs every difference as if the TOS
// had sent the event that was lost.
//
// Snapshot format (the answer to GET tos.snapshot.url):
//
//	{
//	  "complete": true,
//	  "at": "2026-11-28T10:25:00+08:00",
//	  "containers": [
//	    {"container": "MSCU1234566", "holds": ["CUSTOMS", "PAYMENT"]},
//	    {"container": "TGHU1234567", "holds": []}
//	  ]
//	}
//
// The fields:
//
//   - containers (required, may be empty): every container the TOS has in
//     the yard that the list covers, each with "container" (ISO 6346,
//     normalised and check-digit verified as everywhere else) and "holds"
//     (required: the complete set of active hold codes, [] for none;
//     normalised like the holds of a TOS event).
//   - complete (optional boolean, default false): true says the list is the
//     whole yard, so that a container portsync has in the yard and the list
//     does not name has left. Without it nothing is ever marked departed.
//   - at (optional, RFC 3339 with offset): the TOS's time the list was
//     taken. A repair is applied like a TOS event with this time, so that a
//     TOS event newer than the snapshot is never undone by it. Without it,
//     the time portsync sent the request is used.
//
// Unknown fields are ignored. A bad entry does not fail the snapshot; it
// is skipped and logged: an entry whose container number is missing or
// invalid is skipped, and because it might be any container, a complete
// snapshot with such an entry is used as incomplete (nothing is marked
// departed from it); an entry with a valid number but unreadable holds,
// or two entries for one container that disagree, keep the container
// present but its holds are not compared. No object may repeat a name
// (package jsonstrict): a repeat among the snapshot's own fields or inside
// an unknown one fails the snapshot, and an entry with one is skipped like
// an entry without a valid number.
package tossnapshot

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/adapters/httpout"
	"github.com/portsync/portsync/adapters/jsonfmt"
	"github.com/portsync/portsync/adapters/jsonstrict"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

// Type is the only tos.snapshot type.
const Type = "http_poll"

func init() {
	adapters.RegisterSnapshot(adapters.SinkWithConfig[Config, any](nil, Check, unused))
}

// unused is the message of a key of a sink or channel type's.
const unused = "not used by tos.snapshot"

// Config is tos.snapshot's own keys; the common ones are in config.Sink.
type Config struct {
	httpout.Config `yaml:",inline"`
	// Schedule, when set, fetches the snapshot between sweeps too (every
	// sweep fetches it anyway).
	Schedule string `yaml:"schedule"`
}

// ConfigOf decodes tos.snapshot's own keys.
func ConfigOf(cfg config.Sink) (*Config, error) { return adapters.DecodeSinkConfig[Config](cfg) }

// Check checks tos.snapshot's keys: its own, in c, and the common ones of
// cfg (name and qos are let by, unused).
func Check(cfg config.Sink, c *Config) []config.KeyError {
	var errs []config.KeyError
	fail := func(key, format string, args ...any) {
		errs = append(errs, config.KeyError{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	switch u, err := url.Parse(c.URL); {
	case c.URL == "":
		fail("url", "required")
	case err != nil:
		fail("url", "bad URL %q: %v", c.URL, err)
	case u.Scheme != "http" && u.Scheme != "https":
		fail("url", "want an http:// or https:// URL, got %q", c.URL)
	case u.Host == "":
		fail("url", "no host in %q", c.URL)
	case u.Scheme == "http" && c.TLS != (config.TLS{}):
		fail("tls", "set, but url %q is not https", u.Redacted())
	}
	if c.Timeout < 0 {
		fail("timeout", "must not be negative")
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		fail("tls", "cert_file and key_file go together")
	}
	if _, err := config.CronParser.Parse(c.Schedule); c.Schedule != "" && err != nil {
		fail("schedule", "bad cron expression %q: %v", c.Schedule, err)
	}
	for name, value := range c.Headers {
		if strings.ContainsAny(value, "\r\n\x00") {
			fail("headers."+name, "value must be one line")
		}
	}
	return append(errs, httpout.BrokerUnused(cfg, unused)...)
}

// DefaultTimeout bounds one snapshot GET when tos.snapshot.timeout is not
// set: a whole yard is a larger answer than one command.
const DefaultTimeout = 60 * time.Second

// MaxBytes bounds a snapshot answer (a yard of 100,000 containers is
// about 6 MB).
const MaxBytes = 64 << 20

// maxProblems bounds the skipped entries a Snapshot describes one
// by one; the rest are counted.
const maxProblems = 20

// Snapshot is the TOS's list of the containers in its yard with their
// holds.
type Snapshot struct {
	// Complete says the list is the whole yard: containers missing from it
	// have left.
	Complete bool
	// At is the TOS's time of the list (or when it was asked for).
	At time.Time
	// Skipped is the number of entries that could not be used fully;
	// Problems says why, for the first few.
	Skipped  int
	Problems []string

	// entries are the listed containers, sorted by number, one per
	// container, packed: a yard of a million containers as Entry values
	// (48 bytes and two or three allocations each) took 82 MiB of heap for
	// the whole sweep; packed, it is 16 bytes an entry in one array, and
	// Chunks hands them out as Entry a group at a time.
	entries []entry
	// holdSets are the distinct hold sets of the entries, which name
	// theirs by index: a yard has few (no hold, CUSTOMS, ...).
	holdSets [][]string
}

// entry is one container of a snapshot, packed.
type entry struct {
	id      [idLen]byte
	unknown bool   // Entry.HoldsUnknown
	holds   uint32 // its hold set, an index in Snapshot.holdSets
}

// idLen is the length of every container number state.ParseContainer
// accepts.
const idLen = 11

// Entry is one container of a snapshot.
type Entry struct {
	Container string
	// Holds are normalised: upper case, sorted, no repeats. Entries with
	// the same holds share the slice: read it, do not change it.
	Holds []string
	// HoldsUnknown is set when the container is in the yard but its holds
	// could not be read: it is not marked departed, and its holds are not
	// compared.
	HoldsUnknown bool
}

func (s *Snapshot) problem(format string, args ...any) {
	s.Skipped++
	if len(s.Problems) < maxProblems {
		s.Problems = append(s.Problems, fmt.Sprintf(format, args...))
	}
}

// Fetch GETs the TOS snapshot cfg describes (type http_poll: url,
// token_file sent as a bearer token, headers, timeout, tls) with an
// httpout client built for this fetch, and decodes it. An answer other
// than 2xx, a timeout or a body that is not a snapshot is an error; a bad
// entry is not (see Snapshot.Problems). At is the answer's, or else the
// time the request was sent.
func Fetch(ctx context.Context, s config.Sink) (Snapshot, error) {
	if s.Type != Type {
		return Snapshot{}, fmt.Errorf("tos.snapshot: type %q is not %q", s.Type, Type)
	}
	own, err := ConfigOf(s)
	if err != nil {
		return Snapshot{}, fmt.Errorf("tos.snapshot: %w", err)
	}
	cfg := own.Config
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	client, err := httpout.New(cfg, nil)
	if err != nil {
		return Snapshot{}, fmt.Errorf("tos.snapshot: %w", err)
	}
	defer client.CloseIdle()
	asked := time.Now()
	reply, err := client.Get(ctx, cfg.URL, MaxBytes)
	if err != nil {
		return Snapshot{}, fmt.Errorf("tos.snapshot: %w", err) // names the URL; says timeout, refused or the status
	}
	where := cfg.URL
	if u, err := url.Parse(cfg.URL); err == nil {
		where = u.Redacted()
	}
	if len(reply.Body) > MaxBytes {
		return Snapshot{}, fmt.Errorf("tos.snapshot: GET %s: answer larger than %d bytes", where, MaxBytes)
	}
	snap, err := Decode(reply.Body)
	if err != nil {
		return Snapshot{}, fmt.Errorf("tos.snapshot: GET %s: %w", where, err)
	}
	if snap.At.IsZero() {
		snap.At = asked
	}
	return snap, nil
}

// Decode decodes a snapshot answer (see the format above). At is
// zero when the answer has none.
func Decode(data []byte) (Snapshot, error) {
	// The list is read item by item from a stream: a snapshot of a million
	// containers is tens of MiB, and holding it twice (raw and decoded)
	// would cost more than the whole daemon otherwise does.
	dec := json.NewDecoder(bytes.NewReader(data))
	notSnapshot := func(err error) (Snapshot, error) {
		return Snapshot{}, fmt.Errorf("the answer is not a snapshot: %v (starts %s)", err, httpout.Snippet(data, 80))
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		if err == nil {
			err = fmt.Errorf("want a JSON object, got %v", tok)
		}
		return notSnapshot(err)
	}
	var snap Snapshot
	seenContainers, unidentified, i := false, 0, 0
	// The entries are checked one by one, as they are read, rather than
	// the whole answer first: one entry with a repeat is skipped, not the
	// snapshot.
	names := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return notSnapshot(err)
		}
		name, _ := tok.(string)
		if names[name] {
			return notSnapshot(&jsonstrict.DuplicateKeyError{Key: name, Path: "$"})
		}
		names[name] = true
		switch tok {
		case "complete":
			if err := dec.Decode(&snap.Complete); err != nil {
				return notSnapshot(fmt.Errorf(`field "complete": %v`, err))
			}
		case "at":
			var at string
			if err := dec.Decode(&at); err != nil {
				return notSnapshot(fmt.Errorf(`field "at": %v`, err))
			}
			t, err := time.Parse(time.RFC3339Nano, at)
			if err != nil || t.Year() < 1970 {
				return Snapshot{}, fmt.Errorf(`field "at": want an RFC 3339 time with offset such as 2026-11-28T10:25:00+08:00, got %q`, at)
			}
			// Repairs are stored with this time, which JSON cannot write
			// with an offset of 24 hours or more.
			if err := state.CheckOffset("at", t); err != nil {
				_, detail, _ := strings.Cut(state.AsRejection(err).Reason, ": ")
				return Snapshot{}, fmt.Errorf(`field "at": %q: %s`, at, detail)
			}
			snap.At = t
		case "containers":
			if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
				if err == nil {
					err = fmt.Errorf(`field "containers": want a list, got %v`, tok)
				}
				return notSnapshot(err)
			}
			seenContainers = true
			// Sized once from a count of the answer's "container" keys
			// (at least one for each valid entry, unless escaped), as
			// growing a million entries by append would hold the old
			// array and the new one at once, next to the whole answer.
			// No more than valid entries could fill the answer, so that
			// one of bare "container" strings gets no larger array.
			snap.entries = make([]entry, 0, min(bytes.Count(data, []byte(`"container"`)), len(data)/len(`{"container":"MSCU1234566"}`)+1))
			sets := map[string]uint32{} // hold set (its codes, each length-prefixed) → index in snap.holdSets
			var raw, key []byte         // reused from entry to entry
			for ; dec.More(); i++ {
				if err := dec.Decode((*json.RawMessage)(&raw)); err != nil {
					return notSnapshot(fmt.Errorf("entry %d: %v", i, err))
				}
				e, ok := snapshotItem(&snap, i, raw)
				if !ok {
					unidentified++
					continue
				}
				p := entry{unknown: e.HoldsUnknown}
				copy(p.id[:], e.Container)
				if !e.HoldsUnknown {
					key = key[:0]
					for _, h := range e.Holds {
						key = binary.AppendUvarint(key, uint64(len(h)))
						key = append(key, h...)
					}
					n, seen := sets[string(key)]
					if !seen {
						n = uint32(len(snap.holdSets))
						snap.holdSets = append(snap.holdSets, e.Holds)
						sets[string(key)] = n
					}
					p.holds = n
				}
				snap.entries = append(snap.entries, p)
			}
			if _, err := dec.Token(); err != nil {
				return notSnapshot(err)
			}
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return notSnapshot(err)
			}
			var dup *jsonstrict.DuplicateKeyError
			if errors.As(jsonstrict.Check(skip), &dup) {
				dup.Path = "$[" + strconv.Quote(name) + "]" + dup.Path[1:]
				return notSnapshot(dup)
			}
		}
	}
	if !seenContainers {
		return Snapshot{}, errors.New(`the answer has no "containers" list (send [] for an empty yard)`)
	}
	snap.entries = mergeDuplicates(&snap, snap.entries)
	if snap.Complete && unidentified > 0 {
		snap.Complete = false
		snap.problem("%d entries name no valid container: the snapshot says it is complete, but no container is marked departed from it", unidentified)
	}
	return snap, nil
}

// snapshotItem checks one entry of the list; ok is false when it names no
// valid container.
func snapshotItem(snap *Snapshot, i int, raw json.RawMessage) (Entry, bool) {
	var dup *jsonstrict.DuplicateKeyError
	if errors.As(jsonstrict.Check(raw), &dup) {
		snap.problem("entry %d: duplicate key %q in the object at $.containers[%d]%s", i, dup.Key, i, dup.Path[1:])
		return Entry{}, false
	}
	var item struct {
		Container *string         `json:"container"`
		Holds     json.RawMessage `json:"holds"`
	}
	if err := json.Unmarshal(raw, &item); err != nil || item.Container == nil {
		snap.problem("entry %d: want an object with a \"container\" string, got %s", i, httpout.Snippet(raw, 80))
		return Entry{}, false
	}
	rawHolds := item.Holds
	id, err := state.ParseContainer(*item.Container)
	if err != nil {
		snap.problem("entry %d: %v", i, rejectionReason(err))
		return Entry{}, false
	}
	e := Entry{Container: id}
	var holds []string
	switch {
	case len(rawHolds) == 0 || string(rawHolds) == "null":
		e.HoldsUnknown = true
		snap.problem("entry %d (%s): \"holds\" is required (send [] for none); its holds are not compared", i, id)
	case json.Unmarshal(rawHolds, &holds) != nil:
		e.HoldsUnknown = true
		snap.problem("entry %d (%s): \"holds\": want a list of strings, got %s; its holds are not compared", i, id, httpout.Snippet(rawHolds, 80))
	default:
		if e.Holds, err = jsonfmt.NormaliseHolds(holds); err != nil {
			e.HoldsUnknown = true
			snap.problem("entry %d (%s): %v; its holds are not compared", i, id, rejectionReason(err))
		}
	}
	return e, true
}

// mergeDuplicates sorts the entries by container and keeps one per
// container; one listed twice with other holds has its holds not compared.
// The sort is stable, so that of a container's entries the first listed
// is the one kept, as the problems say. Sorted, the list also answers "is
// it listed?" by binary search, without a map of a million keys.
func mergeDuplicates(snap *Snapshot, entries []entry) []entry {
	slices.SortStableFunc(entries, func(a, b entry) int { return bytes.Compare(a.id[:], b.id[:]) })
	out := entries[:0]
	for _, e := range entries {
		if n := len(out); n > 0 && out[n-1].id == e.id {
			prev := &out[n-1]
			if !prev.unknown && (e.unknown || prev.holds != e.holds) {
				prev.unknown = true
				snap.problem("%s: listed again with other holds; its holds are not compared", e.id[:])
			}
			continue
		}
		out = append(out, e)
	}
	return out
}

// Len is the number of containers the snapshot lists (each once).
func (s *Snapshot) Len() int { return len(s.entries) }

// Listed reports whether the snapshot names the container.
func (s *Snapshot) Listed(id string) bool {
	if len(id) != idLen {
		return false
	}
	var key [idLen]byte
	copy(key[:], id)
	_, found := slices.BinarySearchFunc(s.entries, key, func(e entry, key [idLen]byte) int { return bytes.Compare(e.id[:], key[:]) })
	return found
}

// Chunks yields the listed containers in order of their numbers, n (at
// least 1) at a time, each group a new slice: only the group in hand is
// ever unpacked.
func (s *Snapshot) Chunks(n int) iter.Seq[[]Entry] {
	return func(yield func([]Entry) bool) {
		for packed := range slices.Chunk(s.entries, n) {
			group := make([]Entry, len(packed))
			for i, p := range packed {
				group[i] = Entry{Container: string(p.id[:]), HoldsUnknown: p.unknown}
				if !p.unknown {
					group[i].Holds = s.holdSets[p.holds]
				}
			}
			if !yield(group) {
				return
			}
		}
	}
}

func rejectionReason(err error) string { return state.AsRejection(err).Reason }
