package state

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// The journal entry, the most numerous record of the store, is written in
// a compact binary form: 40% of its JSON's size and several times faster
// to encode and decode (docs/performance.md, TestJournalEncodingSizes and
// BenchmarkJournalEncoding). Stores written before hold JSON entries; the
// reader takes both: a JSON entry starts with '{', a binary one with
// journalV1.
//
// Binary form, version 1: the byte journalV1; a uvarint bitmap of the
// fields present (journalBit*); At; the kind, as an index into
// journalKinds or, with journalBitKindText, as a string; then each field
// whose bit is set, in the order of the bits. A string is a uvarint length
// and its bytes; a time is a varint of Unix seconds, a uvarint of
// nanoseconds and a varint of the zone offset in seconds (what JSON keeps
// of it); Holds is a uvarint count and its strings; DetailOf a uvarint.
// Seq is the key and is not stored. A bit this version does not know makes
// the entry unreadable rather than silently incomplete.
const journalV1 = 1

// Field bits of the binary journal entry. Their values are part of the
// file format: never renumber them; a new field takes the next bit.
const (
	journalBitContainer = 1 << iota
	journalBitSource
	journalBitEventID
	journalBitAgency
	journalBitStatus
	journalBitCommand
	journalBitAction
	journalBitHold
	journalBitResult
	journalBitDetail
	journalBitBL
	journalBitKindText // the kind is a string, not in journalKinds
	journalBitEventAt
	journalBitHolds // Holds is not empty
	journalBitDetailOf
	journalBitReusedID

	journalBitsKnown = journalBitReusedID<<1 - 1
)

// journalKinds numbers the journal kinds for the binary form. Part of the
// file format: never reorder it; a new kind goes at the end (a kind not in
// it is stored as text).
var journalKinds = [...]string{JournalAgencyEvent, JournalTOSEvent, JournalCommand, JournalCommandSent, JournalConfirmed,
	JournalSuperseded, JournalRejected, JournalAlertFiring, JournalAlertResolve, JournalManifest}

// journalStrings lists the string fields of e in the order of their bits.
func journalStrings(e *JournalEntry) [11]*string {
	return [...]*string{&e.Container, &e.Source, &e.EventID, &e.Agency, &e.Status, &e.Command, &e.Action, &e.Hold,
		&e.Result, &e.Detail, &e.BL}
}

// appendJournalEntry appends the binary form of e to buf.
func appendJournalEntry(buf []byte, e *JournalEntry) []byte {
	var bits uint64
	for i, s := range journalStrings(e) {
		if *s != "" {
			bits |= 1 << i
		}
	}
	kind := -1
	for i, k := range journalKinds {
		if k == e.Kind {
			kind = i
			break
		}
	}
	if kind < 0 {
		bits |= journalBitKindText
	}
	if !e.EventAt.IsZero() {
		bits |= journalBitEventAt
	}
	if len(e.Holds) > 0 { // as JSON's omitempty: an empty list reads as nil
		bits |= journalBitHolds
	}
	if e.DetailOf != 0 {
		bits |= journalBitDetailOf
	}
	if e.ReusedID {
		bits |= journalBitReusedID
	}
	buf = append(buf, journalV1)
	buf = binary.AppendUvarint(buf, bits)
	buf = appendTime(buf, e.At)
	if kind < 0 {
		buf = appendString(buf, e.Kind)
	} else {
		buf = append(buf, byte(kind))
	}
	for _, s := range journalStrings(e) {
		if *s != "" {
			buf = appendString(buf, *s)
		}
	}
	if !e.EventAt.IsZero() {
		buf = appendTime(buf, e.EventAt)
	}
	if len(e.Holds) > 0 {
		buf = binary.AppendUvarint(buf, uint64(len(e.Holds)))
		for _, h := range e.Holds {
			buf = appendString(buf, h)
		}
	}
	if e.DetailOf != 0 {
		buf = binary.AppendUvarint(buf, e.DetailOf)
	}
	return buf
}

func appendString(buf []byte, s string) []byte {
	return append(binary.AppendUvarint(buf, uint64(len(s))), s...)
}

func appendTime(buf []byte, t time.Time) []byte {
	_, offset := t.Zone()
	buf = binary.AppendVarint(buf, t.Unix())
	buf = binary.AppendUvarint(buf, uint64(t.Nanosecond()))
	return binary.AppendVarint(buf, int64(offset))
}

var errJournalShort = errors.New("truncated")

// checkJournalTimes refuses an entry whose times JSON cannot write (a year
// beyond 9999, a zone offset of a day or more): the binary form could
// store them, but the API serves every entry as JSON, and a history that
// cannot be served is lost to its readers.
func checkJournalTimes(e *JournalEntry) error {
	if err := jsonTime(e.At); err != nil {
		return fmt.Errorf("encode journal entry: %w", err)
	}
	if err := jsonTime(e.EventAt); err != nil {
		return fmt.Errorf("encode journal entry: %w", err)
	}
	return nil
}

// jsonTime reports what time.Time.MarshalJSON would refuse of t, without
// writing it: this runs for every record the store writes.
func jsonTime(t time.Time) error {
	if y := t.Year(); y < 0 || y > 9999 {
		return fmt.Errorf("time %v: year outside of range [0,9999]", t.Unix())
	}
	if _, off := t.Zone(); off <= -24*3600 || off >= 24*3600 {
		return fmt.Errorf("time %v: timezone hour outside of range [0,23]", t.Unix())
	}
	return nil
}

// DecodeJournalEntry decodes a journal entry as the journal bucket holds
// it under key (its sequence, big-endian), in either form, without
// filling in a DetailOf: for tools and tests that read the file.
func DecodeJournalEntry(key, value []byte) (JournalEntry, error) {
	var e JournalEntry
	if len(key) != 8 {
		return e, fmt.Errorf("journal key %x is not a sequence", key)
	}
	err := unmarshalJournalEntry(binary.BigEndian.Uint64(key), value, &e)
	return e, err
}

// unmarshalJournalEntry decodes a journal entry stored under seq, in
// either form. Seq is set from the key.
func unmarshalJournalEntry(seq uint64, data []byte, e *JournalEntry) error {
	if len(data) > 0 && data[0] == '{' {
		return json.Unmarshal(data, e)
	}
	if len(data) == 0 || data[0] != journalV1 {
		return fmt.Errorf("unknown journal entry encoding")
	}
	d := decoder{p: data[1:]}
	bits := d.uvarint()
	if bits&^journalBitsKnown != 0 {
		return fmt.Errorf("journal entry has fields %#x unknown to this version", bits&^journalBitsKnown)
	}
	*e = JournalEntry{Seq: seq, At: d.time()}
	if bits&journalBitKindText != 0 {
		e.Kind = d.string()
	} else if k := d.byte(); int(k) < len(journalKinds) {
		e.Kind = journalKinds[k]
	} else if d.err == nil {
		return fmt.Errorf("journal entry kind %d unknown to this version", k)
	}
	for i, s := range journalStrings(e) {
		if bits&(1<<i) != 0 {
			*s = d.string()
		}
	}
	if bits&journalBitEventAt != 0 {
		e.EventAt = d.time()
	}
	if bits&journalBitHolds != 0 {
		n := d.uvarint()
		if n > uint64(len(d.p)) { // each hold takes at least a byte
			return errJournalShort
		}
		if n > 0 { // as JSON reads an empty list that omitempty left out: nil
			e.Holds = make([]string, n)
		}
		for i := range e.Holds {
			e.Holds[i] = d.string()
		}
	}
	if bits&journalBitDetailOf != 0 {
		e.DetailOf = d.uvarint()
	}
	e.ReusedID = bits&journalBitReusedID != 0
	if d.err == nil && len(d.p) != 0 {
		return fmt.Errorf("journal entry has %d bytes after its fields", len(d.p))
	}
	return d.err
}

// decoder reads the binary form; the first error sticks and every
// read after it returns a zero value.
type decoder struct {
	p   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.p)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.p = d.p[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.p)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.p = d.p[n:]
	return v
}

func (d *decoder) byte() byte {
	if len(d.p) == 0 {
		d.fail()
		return 0
	}
	b := d.p[0]
	d.p = d.p[1:]
	return b
}

func (d *decoder) string() string {
	n := d.uvarint()
	if n > uint64(len(d.p)) {
		d.fail()
		return ""
	}
	s := string(d.p[:n])
	d.p = d.p[n:]
	return s
}

// time reads a time as appendTime wrote it and gives it the zone JSON
// decoding would: UTC for offset 0, Local where the offset is Local's at
// that instant, else a fixed zone.
func (d *decoder) time() time.Time {
	sec, nsec, offset := d.varint(), d.uvarint(), d.varint()
	if d.err != nil || nsec >= 1e9 {
		d.fail()
		return time.Time{}
	}
	t := time.Unix(sec, int64(nsec))
	if offset == 0 {
		return t.UTC()
	}
	if _, local := t.Zone(); int64(local) == offset {
		return t
	}
	return t.In(time.FixedZone("", int(offset)))
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errJournalShort
	}
	d.p = nil
}
