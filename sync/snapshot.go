package sync

// The TOS snapshot sweep: the safety net for lost TOS events. The TOS
// answers one GET (tos.snapshot, type http_poll) with its full list of
// containers and their holds; the sweep compares it with the store and
// repairs every difference as if the TOS had sent the event that was lost.
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

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/portsync/portsync/adapters/jsonfmt"
	"github.com/portsync/portsync/adapters/jsonstrict"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

// SnapshotSource is the journal source of the events a snapshot repair
// applies.
const SnapshotSource = "tos-snapshot"

// SnapshotType is the only tos.snapshot type.
const SnapshotType = "http_poll"

// DefaultSnapshotTimeout bounds one snapshot GET when tos.snapshot.timeout
// is not set: a whole yard is a larger answer than one command.
const DefaultSnapshotTimeout = 60 * time.Second

// MaxSnapshotBytes bounds a snapshot answer (a yard of 100,000 containers
// is about 6 MB).
const MaxSnapshotBytes = 64 << 20

// snapshotGroup is how many containers one store transaction repairs.
const snapshotGroup = 500

// maxSnapshotProblems bounds the skipped entries a Snapshot describes one
// by one; the rest are counted.
const maxSnapshotProblems = 20

// Snapshot is the TOS's list of the containers in its yard with their
// holds.
type Snapshot struct {
	// Complete says the list is the whole yard: containers missing from it
	// have left.
	Complete bool
	// At is the TOS's time of the list (or when it was asked for).
	At         time.Time
	Containers []SnapshotEntry
	// Skipped is the number of entries that could not be used fully;
	// Problems says why, for the first few.
	Skipped  int
	Problems []string
}

// SnapshotEntry is one container of a snapshot.
type SnapshotEntry struct {
	Container string
	Holds     []string // normalised: upper case, sorted, no repeats
	// HoldsUnknown is set when the container is in the yard but its holds
	// could not be read: it is not marked departed, and its holds are not
	// compared.
	HoldsUnknown bool
}

func (s *Snapshot) problem(format string, args ...any) {
	s.Skipped++
	if len(s.Problems) < maxSnapshotProblems {
		s.Problems = append(s.Problems, fmt.Sprintf(format, args...))
	}
}

// SnapshotClient builds the HTTP client for cfg's tls.
func SnapshotClient(cfg config.Sink) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if cfg.TLS != (config.TLS{}) {
		tc, err := cfg.TLS.ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("tos.snapshot: %w", err)
		}
		tr.TLSClientConfig = tc
	}
	return &http.Client{Transport: tr}, nil
}

// FetchSnapshot GETs the TOS snapshot cfg describes (type http_poll: url,
// token_file sent as a bearer token and read at each fetch, headers,
// timeout, tls) and decodes it. client may be nil, for a client built from
// cfg.tls. An answer other than 2xx, a timeout or a body that is not a
// snapshot is an error; a bad entry is not (see Snapshot.Problems).
func FetchSnapshot(ctx context.Context, cfg config.Sink, client *http.Client) (Snapshot, error) {
	if cfg.Type != SnapshotType {
		return Snapshot{}, fmt.Errorf("tos.snapshot: type %q is not %q", cfg.Type, SnapshotType)
	}
	if client == nil {
		var err error
		if client, err = SnapshotClient(cfg); err != nil {
			return Snapshot{}, err
		}
		defer client.CloseIdleConnections()
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultSnapshotTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cfg.URL, nil)
	if err != nil {
		return Snapshot{}, fmt.Errorf("tos.snapshot: %w", err)
	}
	req.Header.Set("User-Agent", "portsync")
	for k, v := range cfg.Headers {
		req.Header.Set(k, v)
	}
	if cfg.TokenFile != "" {
		tok, err := config.ReadSecret(cfg.TokenFile)
		if err != nil {
			return Snapshot{}, fmt.Errorf("tos.snapshot: token_file: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	req.Header.Set("Accept", "application/json")
	asked := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return Snapshot{}, fmt.Errorf("tos.snapshot: %w", err) // names the URL, says timeout or refused
	}
	defer resp.Body.Close()
	where := req.URL.Redacted()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return Snapshot{}, fmt.Errorf("tos.snapshot: GET %s: HTTP %d %s: %s", where, resp.StatusCode,
			http.StatusText(resp.StatusCode), oneLine(data, 200))
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxSnapshotBytes+1))
	if err != nil {
		return Snapshot{}, fmt.Errorf("tos.snapshot: GET %s: reading the answer: %w", where, err)
	}
	if len(data) > MaxSnapshotBytes {
		return Snapshot{}, fmt.Errorf("tos.snapshot: GET %s: answer larger than %d bytes", where, MaxSnapshotBytes)
	}
	snap, err := DecodeSnapshot(data)
	if err != nil {
		return Snapshot{}, fmt.Errorf("tos.snapshot: GET %s: %w", where, err)
	}
	if snap.At.IsZero() {
		snap.At = asked
	}
	return snap, nil
}

// DecodeSnapshot decodes a snapshot answer (see the format above). At is
// zero when the answer has none.
func DecodeSnapshot(data []byte) (Snapshot, error) {
	// The list is read item by item from a stream: a snapshot of a million
	// containers is tens of MiB, and holding it twice (raw and decoded)
	// would cost more than the whole daemon otherwise does.
	dec := json.NewDecoder(bytes.NewReader(data))
	notSnapshot := func(err error) (Snapshot, error) {
		return Snapshot{}, fmt.Errorf("the answer is not a snapshot: %v (starts %s)", err, oneLine(data, 80))
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
			for ; dec.More(); i++ {
				var raw json.RawMessage
				if err := dec.Decode(&raw); err != nil {
					return notSnapshot(fmt.Errorf("entry %d: %v", i, err))
				}
				e, ok := snapshotItem(&snap, i, raw)
				if !ok {
					unidentified++
					continue
				}
				snap.Containers = append(snap.Containers, e)
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
	snap.Containers = mergeDuplicates(&snap, snap.Containers)
	if snap.Complete && unidentified > 0 {
		snap.Complete = false
		snap.problem("%d entries name no valid container: the snapshot says it is complete, but no container is marked departed from it", unidentified)
	}
	return snap, nil
}

// snapshotItem checks one entry of the list; ok is false when it names no
// valid container.
func snapshotItem(snap *Snapshot, i int, raw json.RawMessage) (SnapshotEntry, bool) {
	var dup *jsonstrict.DuplicateKeyError
	if errors.As(jsonstrict.Check(raw), &dup) {
		snap.problem("entry %d: duplicate key %q in the object at $.containers[%d]%s", i, dup.Key, i, dup.Path[1:])
		return SnapshotEntry{}, false
	}
	var item struct {
		Container *string         `json:"container"`
		Holds     json.RawMessage `json:"holds"`
	}
	if err := json.Unmarshal(raw, &item); err != nil || item.Container == nil {
		snap.problem("entry %d: want an object with a \"container\" string, got %s", i, oneLine(raw, 80))
		return SnapshotEntry{}, false
	}
	rawHolds := item.Holds
	id, err := state.ParseContainer(*item.Container)
	if err != nil {
		snap.problem("entry %d: %v", i, rejectionReason(err))
		return SnapshotEntry{}, false
	}
	e := SnapshotEntry{Container: id}
	var holds []string
	switch {
	case len(rawHolds) == 0 || string(rawHolds) == "null":
		e.HoldsUnknown = true
		snap.problem("entry %d (%s): \"holds\" is required (send [] for none); its holds are not compared", i, id)
	case json.Unmarshal(rawHolds, &holds) != nil:
		e.HoldsUnknown = true
		snap.problem("entry %d (%s): \"holds\": want a list of strings, got %s; its holds are not compared", i, id, oneLine(rawHolds, 80))
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
// Sorted, the list also answers "is it listed?" by binary search, without
// a map of a million keys.
func mergeDuplicates(snap *Snapshot, entries []SnapshotEntry) []SnapshotEntry {
	slices.SortStableFunc(entries, func(a, b SnapshotEntry) int { return strings.Compare(a.Container, b.Container) })
	out := entries[:0]
	for _, e := range entries {
		if n := len(out); n > 0 && out[n-1].Container == e.Container {
			prev := &out[n-1]
			if !prev.HoldsUnknown && (e.HoldsUnknown || !slices.Equal(prev.Holds, e.Holds)) {
				prev.HoldsUnknown, prev.Holds = true, nil
				snap.problem("%s: listed again with other holds; its holds are not compared", e.Container)
			}
			continue
		}
		out = append(out, e)
	}
	return out
}

// listed reports whether a sorted snapshot names the container.
func (s *Snapshot) listed(id string) bool {
	_, found := slices.BinarySearchFunc(s.Containers, id, func(e SnapshotEntry, id string) int { return strings.Compare(e.Container, id) })
	return found
}

func rejectionReason(err error) string { return state.AsRejection(err).Reason }

func oneLine(b []byte, n int) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > n {
		s = s[:n] + "..."
	}
	return s
}

// SnapshotResult is what ApplySnapshot did.
type SnapshotResult struct {
	Repaired int `json:"repaired"` // containers whose presence or holds were repaired, departures included
	Departed int `json:"departed"` // of which marked departed
}

// ApplySnapshot compares snap, taken by the TOS at at, with the store and
// repairs every difference, snapshotGroup containers per transaction, and
// returns what it repaired. A container in the snapshot
// that portsync does not have in the yard, or whose TOS holds differ, gets
// the TOS event that was lost: "holds" (or "arrived" for one that had
// departed) with the snapshot's holds. A container portsync has in the yard
// that a complete snapshot does not list gets "departed", keeping its last
// holds. Each repair is applied like any TOS event stamped at, so one
// newer than the snapshot wins; it is journalled as a tos_event of source
// tos-snapshot, and the container is decided again, so that its commands,
// mismatches and alerts follow.
func (e *Engine) ApplySnapshot(ctx context.Context, snap Snapshot, at time.Time) (SnapshotResult, error) {
	var res SnapshotResult
	if at.IsZero() {
		return res, errors.New("snapshot: no time to apply it at")
	}
	// Repairs are TOS events stamped at: a time far ahead would make every
	// later real TOS event stale, as it would from any other source.
	if err := state.CheckClock("at", at, e.now(), e.policy.Load().MaxClockSkew, time.Time{}); err != nil {
		return res, fmt.Errorf("snapshot: %w", err)
	}
	for _, p := range snap.Problems {
		e.log.Warn("TOS snapshot entry skipped", "problem", p)
	}
	if more := snap.Skipped - len(snap.Problems); more > 0 {
		e.log.Warn("more TOS snapshot entries skipped", "count", more)
	}
	eventID := "snapshot:" + at.UTC().Format(time.RFC3339Nano)

	var gone []string
	if snap.Complete {
		inYard := 0
		err := e.store.View(func(tx *state.Tx) error {
			return tx.ForEachPresence(func(id string, p state.Presence) error {
				if p == state.InYard {
					inYard++
					if !snap.listed(id) {
						gone = append(gone, id)
					}
				}
				return nil
			})
		})
		if err != nil {
			return res, fmt.Errorf("snapshot: %w", err)
		}
		// An empty "complete" list is far likelier a TOS glitch than an
		// empty yard; emptying the yard would fire an alert for every
		// container not cleared.
		if len(snap.Containers) == 0 && inYard > 0 {
			e.log.Error("the TOS snapshot says it is complete but lists no container; no container is marked departed from it",
				"in_yard", inYard)
			gone = nil
		}
	}

	// In transactions of snapshotGroup containers, so that events go on
	// between them.
	for listed := range slices.Chunk(snap.Containers, snapshotGroup) {
		r := &snapshotRepair{listed: listed, at: at, eventID: eventID}
		if err := e.do(ctx, r); err != nil {
			return res, fmt.Errorf("snapshot: %w", err)
		}
		res.Repaired += r.repaired
	}
	for gone := range slices.Chunk(gone, snapshotGroup) {
		r := &snapshotRepair{gone: gone, at: at, eventID: eventID}
		if err := e.do(ctx, r); err != nil {
			return res, fmt.Errorf("snapshot: %w", err)
		}
		res.Repaired += r.repaired
		res.Departed += r.repaired
	}
	return res, nil
}

// peek returns a container as this transaction sees it without taking it
// into the working set (which would drop it from the writer's cache).
func (t *txn) peek(id string) (state.Container, bool, error) {
	if w, ok := t.work[id]; ok {
		return w.c, true, nil
	}
	if c, ok := t.e.cache[id]; ok {
		return c, true, nil
	}
	return t.tx.Container(id)
}

// sameHolds compares hold sets, whatever their order.
func sameHolds(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// snapshotEntry repairs one listed container if it differs from the
// snapshot, and reports whether it did.
func (t *txn) snapshotEntry(s SnapshotEntry, at time.Time, eventID string) (bool, error) {
	c, ok, err := t.peek(s.Container)
	if err != nil {
		return false, err
	}
	presence := state.Presence("")
	if ok {
		presence = c.Presence
		if presence == state.InYard && (s.HoldsUnknown || sameHolds(c.TOSHolds, s.Holds)) {
			return false, nil
		}
	}
	if s.HoldsUnknown {
		// Listed, so in the yard, but with holds we could not read: an
		// arrival with made-up holds would do more harm than waiting for
		// the TOS's next event.
		return false, nil
	}
	ev := &state.TOSEvent{
		ID: eventID, Container: s.Container, Event: state.TOSHolds,
		Holds: slices.Clone(s.Holds), HasHolds: true, At: at,
	}
	if presence == state.Departed {
		// A hold report leaves a departed container departed; the TOS has
		// it again, so the event that was lost is its arrival.
		ev.Event = state.TOSArrived
	}
	detail := fmt.Sprintf("repaired from the TOS snapshot: portsync had it %s with holds [%s], the TOS lists it with holds [%s]",
		presenceText(presence), strings.Join(c.TOSHolds, " "), strings.Join(s.Holds, " "))
	return t.snapshotEvent(ev, detail)
}

// snapshotMissing marks departed a container that a complete snapshot
// does not list, if it is still in the yard.
func (t *txn) snapshotMissing(id string, at time.Time, eventID string) (bool, error) {
	c, ok, err := t.peek(id)
	if err != nil || !ok || c.Presence != state.InYard {
		return false, err
	}
	ev := &state.TOSEvent{ID: eventID, Container: id, Event: state.TOSDeparted, At: at}
	return t.snapshotEvent(ev, "repaired from the TOS snapshot: portsync had it in the yard, the complete TOS list does not name it")
}

// snapshotEvent applies a synthetic TOS event like tosEvent does, without
// dedupe (its id is not unique per container, and not marked seen), and
// journals it only if it changed the container: a difference that a newer
// TOS event already explains is left alone, silently.
func (t *txn) snapshotEvent(ev *state.TOSEvent, detail string) (bool, error) {
	w, err := t.load(ev.Container)
	if err != nil {
		return false, err
	}
	if !applyTOSEvent(&w.c, ev, *t.policy) {
		t.e.log.Debug("TOS snapshot difference left alone: a TOS event newer than the snapshot explains it",
			"container", ev.Container, "snapshot_at", ev.At, "tos_at", w.c.TOSAt)
		if w.old == "" {
			delete(t.work, ev.Container) // never stored: leave no trace
		}
		return false, nil
	}
	w.changed = true
	t.dirty[ev.Container] = true
	err = t.journal(state.JournalEntry{
		Kind: state.JournalTOSEvent, Container: ev.Container, Source: SnapshotSource, EventID: ev.ID,
		Status: ev.Event, EventAt: ev.At, Holds: ev.Holds, Result: ResultApplied, Detail: detail,
	})
	return err == nil, err
}

func presenceText(p state.Presence) string {
	if p == "" {
		return "unknown"
	}
	return strings.ReplaceAll(string(p), "_", " ")
}
