package state

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"github.com/portsync/portsync/internal/mapkeys"
)

// The container, read and rewritten at nearly every event and by every
// sweep, is stored in a compact binary form: decoding its JSON was the
// largest cost of a sweep, and its JSON was the largest bucket of the
// file (docs/performance.md). Stores written before hold JSON containers;
// the reader takes both: a JSON container starts with '{', a binary one
// with its version, containerV1 or containerV2.
//
// Binary form, version 2: the byte containerV2, then every field in a
// fixed order. A string is a uvarint length and its bytes; a time is a
// byte 0 for the zero time, or 1 and the time as appendTime writes it; a
// list is a uvarint of its length plus one, 0 for nil (and for an empty
// list the reader gives back as nil); a map a uvarint of its length and
// its entries in key order, except Own (below). A struct's
// fields follow each other in the order of the struct. A new field means a
// new version: the reader refuses a version it does not know rather than
// drop a field.
//
// Version 1 wrote Own as any other map, and so an empty Own (a container
// that takes a linked B/L's decisions and has none of its own) as none,
// which means that no B/L contributes. Version 2 writes Own as a nullable
// map, a uvarint 0 for nil or its length plus one, then its entries. The
// reader still takes version 1 and JSON, whose Own Tx.restoreOwn mends.
const (
	containerV1 = 2 // not 1: tells a container apart from a journal entry in a hex dump
	containerV2 = 3
)

func appendContainer(b []byte, c *Container) []byte {
	b = append(b, containerV2)
	b = appendString(b, c.ID)
	b = appendString(b, string(c.Presence)) // second: ForEachPresence reads no further
	b = appendAgencies(b, c.Agencies)
	b = appendStrings(b, c.TOSHolds, true)
	b = appendOptTime(b, c.TOSAt)
	b = appendBool(b, c.DepartedUncleared)
	b = binary.AppendUvarint(b, uint64(len(c.Mismatches)))
	var buf [8]string
	for _, k := range mapkeys.AppendSorted(buf[:0], c.Mismatches) {
		m := c.Mismatches[k]
		b = appendString(b, k)
		b = appendString(b, m.Container)
		b = appendString(b, m.Agency)
		b = appendString(b, m.Hold)
		b = appendString(b, m.Kind)
		b = appendOptTime(b, m.Since)
	}
	b = binary.AppendUvarint(b, uint64(len(c.Pending)))
	for _, k := range mapkeys.AppendSorted(buf[:0], c.Pending) {
		p := c.Pending[k]
		b = appendString(b, k)
		b = appendString(b, p.ID)
		b = appendString(b, p.Action)
		b = appendString(b, p.Hold)
		b = appendString(b, p.Agency)
		b = appendString(b, p.Cause)
		b = appendOptTime(b, p.IssuedAt)
		b = appendOptTime(b, p.CauseReceivedAt)
	}
	b = appendStrings(b, c.Alerts, false)
	b = appendStrings(b, c.BLs, false)
	b = appendStrings(b, c.Declarations, false)
	b = appendOptTime(b, c.UpdatedAt)
	if c.Own == nil {
		return append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(c.Own))+1)
	return appendAgencyEntries(b, c.Own)
}

func appendAgencies(b []byte, m map[string]AgencyState) []byte {
	return appendAgencyEntries(binary.AppendUvarint(b, uint64(len(m))), m)
}

// appendAgencyEntries appends a ledger's entries, in agency order, after
// its length.
func appendAgencyEntries(b []byte, m map[string]AgencyState) []byte {
	var buf, holds [8]string
	for _, k := range mapkeys.AppendSorted(buf[:0], m) {
		a := m[k]
		b = appendString(b, k)
		b = appendString(b, string(a.Status))
		b = appendOptTime(b, a.At)
		b = appendString(b, a.EventID)
		b = appendString(b, a.Source)
		b = appendOptTime(b, a.ReceivedAt)
		b = appendLedgerEntry(b, a.Release)
		b = binary.AppendUvarint(b, uint64(len(a.Holds)))
		for _, h := range mapkeys.AppendSorted(holds[:0], a.Holds) {
			b = appendString(b, h)
			b = appendLedgerEntry(b, a.Holds[h])
		}
	}
	return b
}

func appendLedgerEntry(b []byte, e LedgerEntry) []byte {
	b = appendString(b, e.State)
	b = appendOptTime(b, e.At)
	b = appendString(b, e.EventID)
	b = appendString(b, e.Source)
	return appendOptTime(b, e.ReceivedAt)
}

// appendStrings appends a list. keepEmpty is as for decoder.strings:
// without it an empty list is written as nil, as it reads back.
func appendStrings(b []byte, list []string, keepEmpty bool) []byte {
	if list == nil || len(list) == 0 && !keepEmpty {
		return append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(list))+1)
	for _, s := range list {
		b = appendString(b, s)
	}
	return b
}

func appendOptTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	return appendTime(append(b, 1), t)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// checkContainerTimes refuses a container whose times JSON cannot write:
// the API serves it as JSON (see checkJournalTimes).
func checkContainerTimes(c *Container) error {
	var err error
	check := func(t time.Time) {
		if err == nil {
			err = jsonTime(t)
		}
	}
	check(c.TOSAt)
	check(c.UpdatedAt)
	for _, m := range c.Mismatches {
		check(m.Since)
	}
	for _, p := range c.Pending {
		check(p.IssuedAt)
		check(p.CauseReceivedAt)
	}
	for _, agencies := range [...]map[string]AgencyState{c.Agencies, c.Own} {
		for _, a := range agencies {
			check(a.At)
			check(a.ReceivedAt)
			check(a.Release.At)
			check(a.Release.ReceivedAt)
			for _, h := range a.Holds {
				check(h.At)
				check(h.ReceivedAt)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("encode container %s: %w", c.ID, err)
	}
	return nil
}

// unmarshalContainer decodes a container in any of its forms. exact is
// false for the forms before version 2, which could not tell an empty Own
// from none (Tx.restoreOwn).
func unmarshalContainer(data []byte, c *Container) (exact bool, err error) {
	if len(data) > 0 && data[0] == '{' {
		return false, json.Unmarshal(data, c)
	}
	if len(data) == 0 {
		return false, fmt.Errorf("empty container")
	}
	if data[0] != containerV1 && data[0] != containerV2 {
		return false, fmt.Errorf("unknown container form %d (written by a newer version?)", data[0])
	}
	version := data[0]
	d := decoder{p: data[1:]}
	*c = Container{ID: d.string(), Presence: Presence(d.string())}
	c.Agencies = d.agencies()
	c.TOSHolds = d.strings(true)
	c.TOSAt = d.optTime()
	c.DepartedUncleared = d.bool()
	if n := d.count(); n > 0 {
		c.Mismatches = make(map[string]Mismatch, n)
		for range n {
			k := d.string()
			c.Mismatches[k] = Mismatch{Container: d.string(), Agency: d.string(), Hold: d.string(), Kind: d.string(), Since: d.optTime()}
		}
	}
	if n := d.count(); n > 0 {
		c.Pending = make(map[string]PendingCommand, n)
		for range n {
			k := d.string()
			c.Pending[k] = PendingCommand{ID: d.string(), Action: d.string(), Hold: d.string(), Agency: d.string(),
				Cause: d.string(), IssuedAt: d.optTime(), CauseReceivedAt: d.optTime()}
		}
	}
	c.Alerts = d.strings(false)
	c.BLs = d.strings(false)
	c.Declarations = d.strings(false)
	c.UpdatedAt = d.optTime()
	if version == containerV1 {
		c.Own = d.agencies()
	} else if n := d.uvarint(); n > uint64(len(d.p))+1 {
		d.fail()
	} else if n > 0 {
		c.Own = d.agencyEntries(n - 1)
	}
	if d.err == nil && len(d.p) != 0 {
		return false, fmt.Errorf("container has %d bytes after its fields", len(d.p))
	}
	return version == containerV2, d.err
}

// presenceOf reads only a container's presence, in either form.
func presenceOf(data []byte) (Presence, error) {
	if len(data) > 0 && (data[0] == containerV1 || data[0] == containerV2) {
		d := decoder{p: data[1:]}
		d.string()
		p := Presence(d.string())
		return p, d.err
	}
	var v struct {
		Presence Presence `json:"presence"`
	}
	err := json.Unmarshal(data, &v)
	return v.Presence, err
}

func (d *decoder) agencies() map[string]AgencyState {
	n := d.count()
	if n == 0 {
		return nil // as JSON reads a map that omitempty left out
	}
	return d.agencyEntries(n)
}

// agencyEntries reads a ledger's n entries, after its length.
func (d *decoder) agencyEntries(n uint64) map[string]AgencyState {
	m := make(map[string]AgencyState, n)
	for range n {
		k := d.string()
		a := AgencyState{Status: Status(d.string()), At: d.optTime(), EventID: d.string(), Source: d.string(),
			ReceivedAt: d.optTime(), Release: d.ledgerEntry()}
		if h := d.count(); h > 0 {
			a.Holds = make(map[string]LedgerEntry, h)
			for range h {
				hk := d.string()
				a.Holds[hk] = d.ledgerEntry()
			}
		}
		m[k] = a
	}
	return m
}

func (d *decoder) ledgerEntry() LedgerEntry {
	return LedgerEntry{State: d.string(), At: d.optTime(), EventID: d.string(), Source: d.string(), ReceivedAt: d.optTime()}
}

// count reads a map's length, bounded by what is left (an entry takes at
// least a byte), so that a damaged length cannot make a huge map.
func (d *decoder) count() uint64 {
	n := d.uvarint()
	if n > uint64(len(d.p)) {
		d.fail()
		return 0
	}
	return n
}

// strings reads a list; keepEmpty keeps an empty list apart from nil, as
// JSON does for a field without omitempty.
func (d *decoder) strings(keepEmpty bool) []string {
	n := d.uvarint()
	if n == 0 || d.err != nil {
		return nil
	}
	n--
	if n > uint64(len(d.p)) {
		d.fail()
		return nil
	}
	if n == 0 && !keepEmpty {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = d.string()
	}
	return out
}

func (d *decoder) optTime() time.Time {
	if d.byte() == 0 {
		return time.Time{}
	}
	return d.time()
}

func (d *decoder) bool() bool { return d.byte() == 1 }
