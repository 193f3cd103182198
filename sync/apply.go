package sync

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/state"
	"github.com/portsync/portsync/sync/internal/testseam"
)

// txn is the writer's work inside one store transaction: it applies
// records to containers, decides the containers they touched and writes
// everything that follows, collecting what to publish after the commit.
type txn struct {
	e      *Engine
	tx     *state.Tx
	now    time.Time
	policy *policy

	work  map[string]*work
	dirty map[string]bool
	bl    blTxn // bills of lading (txnbl.go)
	c     *committed
	// quiet is set in a trial transaction (Engine.isolate), which is
	// rolled back: it must not log what it would have done.
	quiet bool
	// listContainers is whether a listener reads the containers the
	// transaction changes (changes.Containers), as it was when it began.
	listContainers bool
}

// work is a container loaded in this transaction.
type work struct {
	c       state.Container
	old     state.Presence // presence as stored, "" for a new container
	changed bool           // an event changed it in this transaction
	cleared bool           // cleared and in the yard, as stored
	tosAt   time.Time      // TOS time as stored
	cached  bool           // it came from the writer's cache
}

// newTxn starts the work of a transaction of about n messages. The group's
// lists and maps are made at that size: grown from nothing, they were a
// tenth of the bytes the writer allocated per event. The hint is capped:
// a group that touches many containers (deadlines that all passed during
// an outage) grows its lists as it goes rather than reserving them whole.
func newTxn(e *Engine, tx *state.Tx, now time.Time, n int) *txn {
	n = min(n, 4096)
	t := &txn{
		e: e, tx: tx, now: now, policy: e.policy.Load(),
		work: make(map[string]*work, n), dirty: make(map[string]bool, n),
		c: &committed{
			events: map[[2]string]int{}, dead: map[[2]string]int{},
			due: make(map[string]time.Time, n), srcDue: map[string]time.Time{},
			outcomes: make([]Outcome, 0, n),
			stored:   make([]state.Container, 0, n),
		},
	}
	if t.listContainers = e.containerListeners.Load() > 0; t.listContainers {
		t.c.changes.Containers = make([]state.Container, 0, n)
	}
	return t
}

// load returns the container, from this transaction's working set or the
// store; an unknown container starts as expected.
func (t *txn) load(id string) (*work, error) {
	if w, ok := t.work[id]; ok {
		return w, nil
	}
	c, fromCache := t.e.cached(id)
	ok := fromCache
	if !ok {
		var err error
		if c, ok, err = t.tx.Container(id); err != nil {
			return nil, err
		}
	}
	w := &work{c: c, old: c.Presence, cleared: clearedInYard(&c, *t.policy), tosAt: c.TOSAt, cached: fromCache}
	if !ok {
		w = &work{c: state.Container{ID: id, Presence: state.Expected, TOSHolds: []string{}}}
	}
	t.work[id] = w
	return w, nil
}

// message applies every record of one inbound message. The records that
// are rejected make one dead letter for the message (a document of many
// records stores its payload once), naming each rejected record; retrying
// it re-decodes the whole message, and the records already applied are
// then recognised as duplicates.
func (t *txn) message(in inbound, records []adapters.Record) (Outcome, error) {
	var o Outcome
	var rejected []*state.Rejection
	for _, r := range records {
		result, rej, err := t.record(in, r)
		if err != nil {
			return o, err
		}
		o.Results = append(o.Results, result)
		t.c.events[countKey(in.src.Name, result)]++
		if rej != nil {
			rejected = append(rejected, rej)
		}
	}
	if len(rejected) > 0 {
		o.Reject = summarise(rejected, len(records))
		if in.retryOf == "" { // a retry that fails leaves its dead letter as it is
			if err := t.deadLetter(in, o.Reject); err != nil {
				return o, err
			}
			for _, rej := range rejected {
				t.c.dead[countKey(in.src.Name, rej.Code)]++
			}
		}
	}
	if in.msg.Cursor != "" {
		if err := t.tx.PutCursor(in.src.Name, in.msg.Cursor); err != nil {
			return o, err
		}
	}
	if in.retryOf != "" && o.Reject == nil {
		if err := t.tx.DeleteDeadLetter(in.retryOf); err != nil {
			return o, err
		}
	}
	return o, t.acknowledge(in, records, &o)
}

// summarise makes one rejection of a message's rejected records: the first
// one's code, and a reason naming up to five of them.
func summarise(rejected []*state.Rejection, records int) *state.Rejection {
	if len(rejected) == 1 && records == 1 {
		return rejected[0]
	}
	const listed = 5
	var reasons []string
	for _, r := range rejected[:min(len(rejected), listed)] {
		reasons = append(reasons, r.Reason)
	}
	reason := fmt.Sprintf("%d of %d records rejected: %s", len(rejected), records, strings.Join(reasons, "; "))
	if len(rejected) > listed {
		reason += fmt.Sprintf("; and %d more", len(rejected)-listed)
	}
	return &state.Rejection{Code: rejected[0].Code, Reason: reason}
}

// messageOnly applies one message for a trial, without its outcome.
func (t *txn) messageOnly(in inbound, records []adapters.Record) error {
	_, err := t.message(in, records)
	return err
}

func (t *txn) record(in inbound, r adapters.Record) (string, *state.Rejection, error) {
	err := r.Err
	if err == nil {
		err = t.policy.admit(&r, t.now)
	}
	if err == nil && testseam.Admitted != nil {
		testseam.Admitted(&r)
	}
	if err == nil && r.Agency != nil {
		err = t.checkAgency(in.src, r.Agency)
	}
	if err != nil {
		return ResultRejected, asRejection(err, r.Position), nil
	}
	switch {
	case r.Agency != nil:
		return t.agencyEvent(in.src, r.Agency)
	case r.TOS != nil:
		return t.tosEvent(in.src, r.TOS)
	case r.Manifest != nil:
		return t.manifestEvent(in.src, r.Manifest)
	}
	// A decoder bug, but the message still needs an end: dead-lettering it
	// keeps the writer going.
	return ResultRejected, asRejection(state.Reject(state.CodeMalformed, "the %s decoder returned a record with no event", in.src.Name), r.Position), nil
}

func asRejection(err error, position string) *state.Rejection {
	rej := state.AsRejection(err)
	if position != "" {
		rej = &state.Rejection{Code: rej.Code, Reason: position + ": " + rej.Reason}
	}
	return rej
}

func (t *txn) checkAgency(src *SourceInfo, ev *state.AgencyEvent) error {
	return t.policy.CheckAgency(src, ev)
}

// firstSeen records an event's id and content for dedupe. It reports
// whether the event is a duplicate (the same id with the same content) and
// whether it reuses an id seen before with other content: a new decision
// under an old entry number, applied by the usual rules, never dropped.
func (t *txn) firstSeen(source, id string, ev any) (duplicate, reused bool, err error) {
	digest := contentDigest(ev)
	seen, same := t.tx.SeenContent(source, id, digest)
	if seen && same {
		return true, false, nil
	}
	return false, seen, t.tx.MarkSeen(source, id, t.now, digest)
}

// contentDigest is the SHA-256 of an event's fields as decoded: two
// deliveries that decode alike are the same content, whatever their bytes
// (key order, white space, a format's envelope, the zone a time is written
// in). Each field is written with its length before it, so two different
// events never write the same bytes. It runs for every inbound record, so
// it writes the fields straight into the hash rather than encoding the
// event first.
func contentDigest(ev any) []byte {
	var scratch [512]byte
	b := scratch[:0]
	switch e := ev.(type) {
	case *state.AgencyEvent:
		b = digestStr(b, "agency", e.ID, e.Agency, string(e.Status), e.Hold, e.BL, e.Declaration, e.Reason)
		b = digestList(b, e.Containers)
		b = digestNum(b, uint64(e.At.UnixNano()))
	case *state.TOSEvent:
		b = digestStr(b, "tos", e.ID, e.Container, e.Event, e.BL)
		b = digestList(b, e.Holds)
		b = digestNum(b, boolNum(e.HasHolds))
		b = digestNum(b, uint64(e.At.UnixNano()))
	case *state.ManifestEvent:
		b = digestStr(b, "manifest", e.ID, e.BL)
		b = digestList(b, e.Containers)
		b = digestNum(b, uint64(e.At.UnixNano()))
	default:
		panic(fmt.Sprintf("contentDigest of %T", ev))
	}
	sum := sha256.Sum256(b)
	return sum[:]
}

// The digest's writers are functions over the buffer, not methods of a
// struct holding it: through a pointer receiver the compiler moved the
// caller's scratch array to the heap, an allocation per event.
func digestNum(b []byte, n uint64) []byte { return binary.BigEndian.AppendUint64(b, n) }

func digestStr(b []byte, ss ...string) []byte {
	for _, s := range ss {
		b = digestNum(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

func digestList(b []byte, ss []string) []byte {
	return digestStr(digestNum(b, uint64(len(ss))), ss...)
}

func boolNum(v bool) uint64 {
	if v {
		return 1
	}
	return 0
}

func (t *txn) agencyEvent(src *SourceInfo, ev *state.AgencyEvent) (string, *state.Rejection, error) {
	dup, reused, err := t.firstSeen(src.Name, ev.ID, ev)
	if err != nil || dup {
		return ResultDuplicate, nil, err
	}
	if len(ev.Containers) == 0 {
		return t.blDecision(src, ev, reused)
	}
	result := ResultStale
	var detailOf uint64 // the journal entry that holds ev.Reason
	for _, id := range ev.Containers {
		w, err := t.load(id)
		if err != nil {
			return "", nil, err
		}
		r := ResultStale
		if applyAgencyEvent(&w.c, ev, src.Name, t.now) {
			r, result = ResultApplied, ResultApplied
			w.changed = true
		}
		if err := t.indexRefs(ev, id); err != nil {
			return "", nil, err
		}
		// After indexRefs: a B/L not stored yet is built from its index,
		// which then lists the container already.
		if err := t.linkEvent(ev.BL, w, true); err != nil {
			return "", nil, err
		}
		t.dirty[id] = true
		entry := state.JournalEntry{
			Kind: state.JournalAgencyEvent, Container: id, Source: src.Name, EventID: ev.ID,
			Agency: ev.Agency, Status: string(ev.Status), Hold: ev.Hold, EventAt: ev.At, Result: r, ReusedID: reused,
		}
		if detailOf == 0 {
			entry.Detail = ev.Reason
		} else {
			entry.DetailOf = detailOf
		}
		seq, err := t.journalSeq(entry)
		if err != nil {
			return "", nil, err
		}
		if detailOf == 0 && ev.Reason != "" {
			detailOf = seq
		}
		if r == ResultApplied {
			if err := t.manualOverride(src, ev, id); err != nil {
				return "", nil, err
			}
		}
	}
	return result, nil, nil
}

// manualOverride is the override step of an agency event's transaction,
// for one container it changed: an operator's override fires (or
// renews) the container's manual_override alert for the agency, and a
// decision of the agency itself that changes the ledger resolves it, for
// the agency has spoken since.
func (t *txn) manualOverride(src *SourceInfo, ev *state.AgencyEvent, container string) error {
	id := AlertID(state.KindManualOverride, container, ev.Agency)
	by, override := isOverride(src.Name)
	if !override {
		return t.resolveAlert(id)
	}
	a := manualOverrideAlert(ev, container, by, t.policy.Terminal, t.now)
	old, ok, err := t.tx.Alert(id)
	if err != nil {
		return err
	}
	if ok && old.State == state.Firing {
		a.Since = old.Since
	}
	if err := t.journalAlert(a, state.JournalAlertFiring); err != nil {
		return err
	}
	return t.putAlert(a)
}

func (t *txn) tosEvent(src *SourceInfo, ev *state.TOSEvent) (string, *state.Rejection, error) {
	dup, reused, err := t.firstSeen(src.Name, ev.ID, ev)
	if err != nil || dup {
		return ResultDuplicate, nil, err
	}
	w, err := t.load(ev.Container)
	if err != nil {
		return "", nil, err
	}
	result := ResultStale
	if applyTOSEvent(&w.c, ev, *t.policy) {
		result = ResultApplied
		w.changed = true
	}
	if err := t.linkEvent(ev.BL, w, false); err != nil {
		return "", nil, err
	}
	// A TOS event that changes nothing may still confirm a command, so the
	// container is decided again either way.
	t.dirty[ev.Container] = true
	err = t.journal(state.JournalEntry{
		Kind: state.JournalTOSEvent, Container: ev.Container, Source: src.Name, EventID: ev.ID,
		Status: ev.Event, EventAt: ev.At, Holds: ev.Holds, Result: result, ReusedID: reused,
	})
	return result, nil, err
}

// indexRefs makes the container findable by the event's B/L and
// declaration numbers.
func (t *txn) indexRefs(ev *state.AgencyEvent, container string) error {
	if ev.BL != "" {
		if err := t.tx.PutRef(state.RefBL, ev.BL, container); err != nil {
			return err
		}
	}
	if ev.Declaration != "" {
		return t.tx.PutRef(state.RefDeclaration, ev.Declaration, container)
	}
	return nil
}

func (t *txn) journal(e state.JournalEntry) error {
	_, err := t.journalSeq(e)
	return err
}

// journalSeq appends e to the journal and returns its sequence.
func (t *txn) journalSeq(e state.JournalEntry) (uint64, error) {
	e.At = t.now
	if err := t.tx.Journal(&e); err != nil {
		return 0, err
	}
	// Only a group's last recentSize entries are remembered (the
	// dashboard's activity list, Engine.remember). Keeping at most twice
	// that, by sliding the newer half down, spares a group of thousands of
	// events a growing copy of every entry it journals.
	if len(t.c.journal) == 2*recentSize {
		t.c.journal = t.c.journal[:copy(t.c.journal, t.c.journal[recentSize:])]
	}
	t.c.journal = append(t.c.journal, e)
	return e.Seq, nil
}

// countClearedInYard names the store counter of cleared containers in
// the yard, for the dashboard.
const countClearedInYard = "cleared_in_yard"

// clearedInYard is what the cleared_in_yard counter counts.
func clearedInYard(c *state.Container, p policy) bool {
	return c.Presence == state.InYard && isCleared(c, p)
}

func (t *txn) deadLetter(in inbound, rej *state.Rejection) error {
	payload := in.msg.Payload
	if len(payload) > maxDeadLetter {
		payload = payload[:maxDeadLetter]
	}
	text := string(payload)
	if !utf8.ValidString(text) {
		text = fmt.Sprintf("%q", payload)
	}
	d := state.DeadLetter{
		Source: in.src.Name, Code: rej.Code, Reason: rej.Reason,
		ReceivedAt: in.msg.ReceivedAt.UTC(), Payload: text,
	}
	if d.ReceivedAt.IsZero() {
		d.ReceivedAt = t.now.UTC()
	}
	if err := t.tx.PutDeadLetter(&d); err != nil {
		return err
	}
	if t.quiet {
		return t.invalidInput(in.src.Name, rej)
	}
	t.e.log.Warn("message dead-lettered", "source", in.src.Name, "code", rej.Code, "reason", rej.Reason, "deadletter", d.ID)
	return t.invalidInput(in.src.Name, rej)
}
