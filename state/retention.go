package state

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"
)

// Retention: the journal and the dedupe keys grow with every event, the
// dead letters with every bad message; the retention job deletes what is
// older than retention.journal in small transactions, so that the single
// writer is never held up for long. The methods here do one such
// transaction's worth and say where to go on.
//
// Pruning a dedupe key forgets that the event was ever seen: an event
// redelivered after its key is gone is applied again. retention.journal
// must therefore exceed any redelivery window of the sources (broker
// sessions, polling cursors reset by hand, replays from an agency).

// DedupeScanFactor bounds the keys PruneDedupe examines in one call: at
// most DedupeScanFactor times the keys it may delete. Dedupe keys are not
// in time order, so most keys of a scan are usually young and kept;
// examining a key costs far less than deleting one.
const DedupeScanFactor = 16

// PruneJournal deletes journal entries recorded (by our clock) before
// before, oldest first, together with their per-container index keys, at
// most max of them. The journal is in sequence order, which is time order,
// so it stops at the first entry at or after before: should the clock have
// stepped back, an older entry behind a newer one waits until the newer one
// is old enough. more reports whether another call would find more to
// delete.
//
// An entry that cannot be decoded stops the pruning with an error; the
// entries deleted before it are counted in n and their deletions stand if
// the transaction commits.
func (t *Tx) PruneJournal(before time.Time, max int) (n int, more bool, err error) {
	if max <= 0 {
		return 0, false, nil
	}
	journal := t.bucket(bucketJournal)
	type victim struct {
		key       []byte
		container string
	}
	var victims []victim
	c := journal.Cursor()
	k, v := c.First()
	for ; k != nil; k, v = c.Next() {
		var seq uint64
		if len(k) == 8 {
			seq = binary.BigEndian.Uint64(k)
		}
		var s JournalEntry
		if derr := unmarshalJournalEntry(seq, v, &s); derr != nil {
			err = fmt.Errorf("prune journal: decode entry %x: %w", k, derr)
			break
		}
		if !s.At.Before(before) {
			break
		}
		if len(victims) == max {
			more = true
			break
		}
		victims = append(victims, victim{key: bytes.Clone(k), container: journalOwner(s.Container, s.BL)})
	}
	// Deleting while a cursor walks the bucket makes it skip keys; the
	// keys are collected first and deleted after.
	idx := t.bucket(bucketJournalIdx)
	for _, vc := range victims {
		if derr := journal.Delete(vc.key); derr != nil {
			return n, false, fmt.Errorf("prune journal: %w", derr)
		}
		if len(vc.key) == 8 {
			if derr := idx.Delete(journalIdxKey(vc.container, binary.BigEndian.Uint64(vc.key))); derr != nil {
				return n, false, fmt.Errorf("prune journal index: %w", derr)
			}
		}
		n++
	}
	if err != nil {
		more = false
	}
	return n, more, err
}

// PruneDedupe deletes dedupe keys received (by our clock) before before.
// Dedupe keys are ordered by source and event id, not by time, so it scans:
// it starts after the key after (from the first key when after is nil),
// deletes at most max keys and examines at most DedupeScanFactor*max, and
// returns the last key it examined as next, to pass as after to the next
// call; next is nil when the scan reached the end of the bucket. A value
// that does not start with a timestamp is kept.
func (t *Tx) PruneDedupe(before time.Time, after []byte, max int) (n int, next []byte, err error) {
	if max <= 0 {
		return 0, nil, nil
	}
	b := t.bucket(bucketDedupe)
	cutoff := before.UnixNano()
	var victims [][]byte
	c := b.Cursor()
	var k, v []byte
	if after == nil {
		k, v = c.First()
	} else {
		k, v = c.Seek(after)
		if k != nil && bytes.Equal(k, after) {
			k, v = c.Next()
		}
	}
	examined := 0
	for ; k != nil; k, v = c.Next() {
		examined++
		if len(v) >= 8 && int64(binary.BigEndian.Uint64(v)) < cutoff {
			victims = append(victims, bytes.Clone(k))
		}
		if len(victims) == max || examined == DedupeScanFactor*max {
			next = bytes.Clone(k)
			break
		}
	}
	// A scan that stopped on the bucket's last key has nothing further.
	if next != nil {
		if k, _ := c.Next(); k == nil {
			next = nil
		}
	}
	for _, key := range victims {
		if err := b.Delete(key); err != nil {
			return n, nil, fmt.Errorf("prune dedupe: %w", err)
		}
		n++
	}
	return n, next, nil
}

// PruneDeadLetters deletes dead letters last seen (LastAt, else
// ReceivedAt) before before, with their digest entries. A dead letter seen
// again moves its LastAt but not its place in the bucket, so the bucket is
// not in time order and it scans as PruneDedupe does: from the key after
// after (the first key when after is nil), deleting at most max and
// examining at most DedupeScanFactor*max, it returns the last key examined
// as next, nil at the end of the bucket. A dead letter that cannot be
// decoded is kept.
func (t *Tx) PruneDeadLetters(before time.Time, after []byte, max int) (n int, next []byte, err error) {
	if max <= 0 {
		return 0, nil, nil
	}
	type victim struct {
		key []byte
		dl  DeadLetter
	}
	var victims []victim
	c := t.bucket(bucketDeadLetters).Cursor()
	var k, v []byte
	if after == nil {
		k, v = c.First()
	} else {
		k, v = c.Seek(after)
		if k != nil && bytes.Equal(k, after) {
			k, v = c.Next()
		}
	}
	examined := 0
	for ; k != nil; k, v = c.Next() {
		examined++
		var d DeadLetter
		if json.Unmarshal(v, &d) == nil {
			last := d.ReceivedAt
			if d.LastAt.After(last) {
				last = d.LastAt
			}
			if last.Before(before) {
				victims = append(victims, victim{key: bytes.Clone(k), dl: d})
			}
		}
		if len(victims) == max || examined == DedupeScanFactor*max {
			next = bytes.Clone(k)
			break
		}
	}
	if next != nil {
		if k, _ := c.Next(); k == nil {
			next = nil
		}
	}
	for _, vc := range victims {
		if err := t.unindexDeadLetter(string(vc.key), vc.dl); err != nil {
			return n, nil, fmt.Errorf("prune dead letters: %w", err)
		}
		if err := t.bucket(bucketDeadLetters).Delete(vc.key); err != nil {
			return n, nil, fmt.Errorf("prune dead letters: %w", err)
		}
		n++
	}
	return n, next, nil
}

// JournalLen is the number of journal entries stored. Like DedupeLen and
// JournalIndexLen it walks the whole bucket: for tests and tools, not for
// the writer.
func (t *Tx) JournalLen() int { return t.bucket(bucketJournal).Stats().KeyN }

// DedupeLen is the number of dedupe keys stored.
func (t *Tx) DedupeLen() int { return t.bucket(bucketDedupe).Stats().KeyN }

// JournalIndexLen is the number of keys in the journal's per-container
// index; it equals JournalLen unless something is amiss.
func (t *Tx) JournalIndexLen() int { return t.bucket(bucketJournalIdx).Stats().KeyN }

// DeadLetterIndexLen is the number of keys in the dead letters' digest
// index; it equals the number of dead letters unless something is amiss.
func (t *Tx) DeadLetterIndexLen() int { return t.bucket(bucketDeadLetterIdx).Stats().KeyN }
