package state

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// FileName is the store's file inside the state directory.
const FileName = "portsync.db"

var (
	bucketContainers    = []byte("containers")
	bucketJournal       = []byte("journal")
	bucketJournalIdx    = []byte("journal_idx")
	bucketDedupe        = []byte("dedupe")
	bucketOutbox        = []byte("outbox")
	bucketAlerts        = []byte("alerts")
	bucketDeadLetters   = []byte("deadletters")
	bucketDeadLetterIdx = []byte("deadletter_idx")
	bucketCursors       = []byte("cursors")
	bucketMismatches    = []byte("mismatches")
	bucketMeta          = []byte("meta")
	bucketRefs          = []byte("refs")
	bucketBLs           = []byte("bls")

	allBuckets = [][]byte{bucketContainers, bucketJournal, bucketJournalIdx, bucketDedupe, bucketOutbox,
		bucketAlerts, bucketDeadLetters, bucketDeadLetterIdx, bucketCursors, bucketMismatches, bucketMeta, bucketRefs,
		bucketBLs}
)

// ErrLocked is returned by Open when another process holds the store.
var ErrLocked = errors.New("store is locked by another process (is another portsync running?)")

// Store is portsync's bbolt file.
type Store struct {
	db *bolt.DB
	// epoch tells apart the command ids of two lives of one file: after a
	// backup is restored, the outbox sequence starts again from the
	// backup's, and a TOS that honours Idempotency-Key would drop a new
	// command that reused an old id. A restore cannot rewind a value drawn
	// afresh at every open.
	epoch string
}

// Open opens or creates the store at path, waiting at most lockTimeout for
// another process to release it.
func Open(path string, lockTimeout time.Duration) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	// The freelist is not written at each commit but rebuilt on open, and
	// kept as a map: both make group commits of scattered pages cheaper,
	// as etcd does.
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout: lockTimeout, NoFreelistSync: true, FreelistType: bolt.FreelistMapType,
	})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("open store %s: %w", path, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	var e [4]byte
	if _, err := rand.Read(e[:]); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: draw epoch: %w", path, err)
	}
	return &Store{db: db, epoch: hex.EncodeToString(e[:])}, nil
}

// Close closes the store.
func (s *Store) Close() error { return s.db.Close() }

// Path is the store's file.
func (s *Store) Path() string { return s.db.Path() }

// Update runs fn in one read-write transaction and commits it (with fsync)
// if fn returns nil and wrote anything. A transaction that only read (a
// sweep's group that finds nothing to change, a group of duplicates) is
// rolled back: there is nothing to make durable, and a commit would cost
// an fsync for a new meta page alone.
func (s *Store) Update(fn func(*Tx) error) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		t := &Tx{tx: tx, epoch: s.epoch}
		if err := fn(t); err != nil {
			return err
		}
		if !t.wrote {
			return errNothingWritten
		}
		return nil
	})
	if errors.Is(err, errNothingWritten) {
		return nil
	}
	return err
}

var errNothingWritten = errors.New("nothing written")

// Wrote reports whether the transaction has written anything so far.
func (t *Tx) Wrote() bool { return t.wrote }

// View runs fn in a read-only transaction.
func (s *Store) View(fn func(*Tx) error) error {
	return s.db.View(func(tx *bolt.Tx) error { return fn(&Tx{tx: tx, epoch: s.epoch}) })
}

// WriteTo writes a consistent copy of the whole store to w, taken in a
// read transaction so that writers carry on meanwhile.
func (s *Store) WriteTo(w io.Writer) (int64, error) {
	var n int64
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}

// Tx is a store transaction with typed accessors.
type Tx struct {
	tx    *bolt.Tx
	epoch string
	rec   *WriteSet // set by Store.Record: every write is also recorded
	wrote bool      // a write went through bucket: Update commits
	arena []byte    // where the values this transaction puts are encoded
	// decidedBLs holds, for containers in a form before containerV2, which
	// B/Ls have decided something, and their containers (restoreOwn).
	decidedBLs map[string]decidedBL
}

// decidedBL is what restoreOwn needs of a B/L: whether it has decided
// anything and the containers it lists, in order.
type decidedBL struct {
	decided    bool
	containers []string
}

// bbolt keeps the values a transaction puts, uncopied, in its dirty nodes
// until the commit, so each value needs memory of its own for that long.
// Each used to be a buffer grown by appends from nothing, a dozen
// allocations per event; the values of one transaction are now encoded one
// after another into chunks that grow with the transaction, from 1 KiB (a
// commit of one event) to 64 KiB (a group of thousands).
const (
	arenaFirst = 1 << 10
	arenaMax   = 64 << 10
)

// room makes sure the arena has room for a typical value and returns
// where the next one starts; the caller appends it to t.arena and takes it
// with cut. A value longer than the room left grows the arena by append,
// which copies the chunk and leaves the values cut from it where they are.
func (t *Tx) room() int {
	if cap(t.arena)-len(t.arena) < arenaFirst {
		t.arena = make([]byte, 0, min(max(2*cap(t.arena), arenaFirst), arenaMax))
	}
	return len(t.arena)
}

// cut returns the value appended to the arena since start, capped so that
// the values appended after it cannot overwrite it.
func (t *Tx) cut(start int) []byte { return t.arena[start:len(t.arena):len(t.arena)] }

func (t *Tx) get(bucket []byte, key string, v any) (bool, error) {
	data := t.bucket(bucket).Get([]byte(key))
	if data == nil {
		return false, nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return false, fmt.Errorf("decode %s/%s: %w", bucket, key, err)
	}
	return true, nil
}

func (t *Tx) put(bucket []byte, key string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s/%s: %w", bucket, key, err)
	}
	return t.bucket(bucket).Put([]byte(key), data)
}

func forEach[T any](t *Tx, bucket []byte, prefix []byte, fn func(T) error) error {
	c := t.bucket(bucket).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var x T
		if err := json.Unmarshal(v, &x); err != nil {
			return fmt.Errorf("decode %s/%s: %w", bucket, k, err)
		}
		if err := fn(x); err != nil {
			return err
		}
	}
	return nil
}

func collect[T any](t *Tx, bucket []byte, prefix []byte) ([]T, error) {
	out := []T{}
	err := forEach(t, bucket, prefix, func(x T) error { out = append(out, x); return nil })
	return out, err
}

// page returns at most n values of bucket whose keys follow after ("" for
// the first) and that keep accepts (nil keeps all), in key order, and the
// key to pass as after for the next page: "" when no accepted value
// follows.
func page[T any](t *Tx, bucket []byte, after string, n int, keep func(*T) bool) ([]T, string, error) {
	out := []T{}
	var last []byte
	c := t.bucket(bucket).Cursor()
	k, v := c.First()
	if after != "" {
		k, v = c.Seek([]byte(after))
		if k != nil && string(k) == after {
			k, v = c.Next()
		}
	}
	for ; k != nil; k, v = c.Next() {
		var x T
		if err := json.Unmarshal(v, &x); err != nil {
			return nil, "", fmt.Errorf("decode %s/%s: %w", bucket, k, err)
		}
		if keep != nil && !keep(&x) {
			continue
		}
		if len(out) == n {
			return out, string(last), nil
		}
		out = append(out, x)
		last = k
	}
	return out, "", nil
}

// Container returns the container with the given id, and whether it exists.
func (t *Tx) Container(id string) (Container, bool, error) {
	var c Container
	data := t.bucket(bucketContainers).Get([]byte(id))
	if data == nil {
		return c, false, nil
	}
	if err := t.decodeContainer(data, &c); err != nil {
		return c, false, fmt.Errorf("decode %s/%s: %w", bucketContainers, id, err)
	}
	return c, true, nil
}

// decodeContainer decodes a stored container, mending the Own of the
// forms that could not keep it (restoreOwn).
func (t *Tx) decodeContainer(data []byte, c *Container) error {
	exact, err := unmarshalContainer(data, c)
	if err != nil || exact {
		return err
	}
	return t.restoreOwn(c)
}

// restoreOwn gives a container read from a form before containerV2 the
// Own it was written with. Those forms wrote an empty Own, a container
// that takes a linked B/L's decisions and has none of its own, as none,
// which means that no B/L contributes: the B/Ls' decisions merged into
// Agencies would then pass for the container's own, and stay with it
// when it leaves the B/L. By its definition Own was set, and so empty,
// when a linked B/L had decided something; that is certain for a B/L
// that lists the container, because every change of a B/L's decisions
// rewrites the containers it lists in the same transaction. A container
// that names a B/L which does not list it (the B/L was full) is left as
// it reads: it was not rewritten when the B/L decided, so its Agencies
// may well be its own, and taking them for the B/L's would drop them.
//
// Containers of one B/L are read together (a sweep, a B/L decision), so
// each B/L is decoded once a transaction, as the transaction first read
// it: the container was written before the transaction began. (The writer
// reads every container of a group before it writes any B/L.)
func (t *Tx) restoreOwn(c *Container) error {
	if c.Own != nil {
		return nil
	}
	for _, id := range c.BLs {
		b, ok := t.decidedBLs[id]
		if !ok {
			full, found, err := t.BL(id)
			if err != nil {
				return err
			}
			b = decidedBL{decided: found && len(full.Agencies) > 0, containers: full.Containers}
			if t.decidedBLs == nil {
				t.decidedBLs = map[string]decidedBL{}
			}
			t.decidedBLs[id] = b
		}
		if _, listed := slices.BinarySearch(b.containers, c.ID); b.decided && listed {
			c.Own = map[string]AgencyState{}
			return nil
		}
	}
	return nil
}

// PutContainer stores c. old is the presence it had before ("" for a new
// container), which keeps the per-presence counts right.
func (t *Tx) PutContainer(c Container, old Presence) error {
	if old != c.Presence {
		if old != "" {
			if err := t.addCount("presence/"+string(old), -1); err != nil {
				return err
			}
		}
		if err := t.addCount("presence/"+string(c.Presence), 1); err != nil {
			return err
		}
	}
	if err := checkContainerTimes(&c); err != nil {
		return err
	}
	start := t.room()
	t.arena = appendContainer(t.arena, &c)
	return t.bucket(bucketContainers).Put([]byte(c.ID), t.cut(start))
}

// ForEachContainer calls fn for every container, in id order.
func (t *Tx) ForEachContainer(fn func(Container) error) error {
	c := t.bucket(bucketContainers).Cursor()
	for k, data := c.First(); k != nil; k, data = c.Next() {
		var x Container
		if err := t.decodeContainer(data, &x); err != nil {
			return fmt.Errorf("decode %s/%s: %w", bucketContainers, k, err)
		}
		if err := fn(x); err != nil {
			return err
		}
	}
	return nil
}

// ForEachPresence calls fn with every container's id and presence, in id
// order, decoding nothing else: a pass over a million containers that needs
// only where they are.
func (t *Tx) ForEachPresence(fn func(id string, p Presence) error) error {
	c := t.bucket(bucketContainers).Cursor()
	for k, data := c.First(); k != nil; k, data = c.Next() {
		p, err := presenceOf(data)
		if err != nil {
			return fmt.Errorf("decode %s/%s: %w", bucketContainers, k, err)
		}
		if err := fn(string(k), p); err != nil {
			return err
		}
	}
	return nil
}

// ContainerIDs returns at most n container ids after the given one (from
// the first if ""), in id order, without decoding the containers.
func (t *Tx) ContainerIDs(after string, n int) []string {
	c := t.bucket(bucketContainers).Cursor()
	k, _ := c.First()
	if after != "" {
		k, _ = c.Seek([]byte(after))
		if k != nil && string(k) == after {
			k, _ = c.Next()
		}
	}
	var ids []string
	for ; k != nil && len(ids) < n; k, _ = c.Next() {
		ids = append(ids, string(k))
	}
	return ids
}

// PresenceCounts returns the number of containers in each presence.
func (t *Tx) PresenceCounts() map[Presence]int64 {
	out := map[Presence]int64{Expected: 0, InYard: 0, Departed: 0}
	c := t.bucket(bucketMeta).Cursor()
	prefix := []byte("presence/")
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		out[Presence(k[len(prefix):])] = int64(binary.BigEndian.Uint64(v))
	}
	return out
}

// AddCount adds delta to a named counter kept with the data it counts.
func (t *Tx) AddCount(name string, delta int64) error { return t.addCount("count/"+name, delta) }

// Count returns a named counter.
func (t *Tx) Count(name string) int64 {
	if v := t.bucket(bucketMeta).Get([]byte("count/" + name)); v != nil {
		return int64(binary.BigEndian.Uint64(v))
	}
	return 0
}

// Meta returns a small named value kept with the store's counters ("" if
// none).
func (t *Tx) Meta(name string) string {
	return string(t.bucket(bucketMeta).Get([]byte("meta/" + name)))
}

// PutMeta stores a small named value for Meta.
func (t *Tx) PutMeta(name, value string) error {
	return t.bucket(bucketMeta).Put([]byte("meta/"+name), []byte(value))
}

func (t *Tx) addCount(key string, delta int64) error {
	b := t.bucket(bucketMeta)
	var n int64
	if v := b.Get([]byte(key)); v != nil {
		n = int64(binary.BigEndian.Uint64(v))
	}
	return b.Put([]byte(key), binary.BigEndian.AppendUint64(nil, uint64(n+delta)))
}

func dedupeKey(source, id string) []byte {
	return []byte(source + "\x00" + id)
}

// Seen reports whether the event id from source has been recorded before.
func (t *Tx) Seen(source, id string) bool {
	return t.bucket(bucketDedupe).Get(dedupeKey(source, id)) != nil
}

// SeenContent reports whether the event id from source has been recorded
// before, and whether with the same content digest. A re-delivery is a
// duplicate only if its content is the same: senders reuse an entry
// number for a new decision (DESIGN 3.1). An id recorded without a digest
// (before digests were kept) matches any content.
func (t *Tx) SeenContent(source, id string, digest []byte) (seen, same bool) {
	v := t.bucket(bucketDedupe).Get(dedupeKey(source, id))
	if v == nil {
		return false, false
	}
	return true, len(v) == 8 || bytes.Equal(v[8:], digest)
}

// MarkSeen records the event id from source, with our clock and the
// content's digest (nil: none), for dedupe. The value starts with the
// clock so that retention reads it whatever follows.
func (t *Tx) MarkSeen(source, id string, at time.Time, digest []byte) error {
	start := t.room()
	t.arena = binary.BigEndian.AppendUint64(t.arena, uint64(at.UnixNano()))
	t.arena = append(t.arena, digest...)
	return t.bucket(bucketDedupe).Put(dedupeKey(source, id), t.cut(start))
}

// appendFill is the FillPercent of the buckets keyed by a sequence that
// only ever grows (the journal, the acknowledgement outbox). bbolt splits a
// full page at its default of 50%, leaving the left half for keys that
// sort inside it; a sequence never sorts there, so under the default every
// page of these buckets stayed half empty for good (the journal was 44% used,
// half the file). Filling pages before splitting them halves the journal;
// it changes only where pages split, never what a commit makes durable.
const appendFill = 1.0

// appendBucket returns the handle of a bucket whose keys are appended in
// order, set to fill its pages. FillPercent belongs to the handle, which a
// writable transaction keeps for its whole life, so setting it here, at
// every transaction that appends, covers the splits of that transaction's
// commit. Buckets whose keys arrive in any order (containers, the journal
// index by container, dedupe) keep bbolt's default: full pages there would
// split again at the next insert between their keys.
func (t *Tx) appendBucket(name []byte) wbucket {
	b := t.bucket(name)
	b.FillPercent = appendFill
	return b
}

// Journal appends e to the journal, numbering it. The journal is keyed by
// its sequence, so appends fill pages in order (cheap group commits, and
// retention prunes from the front); a small index by container serves
// History.
func (t *Tx) Journal(e *JournalEntry) error {
	b := t.appendBucket(bucketJournal)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	e.Seq = seq
	if err := checkJournalTimes(e); err != nil {
		return err
	}
	start := t.room()
	t.arena = appendJournalEntry(t.arena, e)
	if err := b.Put(seqKey(seq), t.cut(start)); err != nil {
		return err
	}
	return t.bucket(bucketJournalIdx).Put(journalIdxKey(journalOwner(e.Container, e.BL), seq), nil)
}

// journalOwner is the name a journal entry is indexed under: its
// container, or for an entry on a B/L's own timeline the B/L behind a
// prefix no container number can have.
func journalOwner(container, bl string) string {
	if container == "" && bl != "" {
		return blJournalPrefix + bl
	}
	return container
}

const blJournalPrefix = "B/L:"

// BLHistory returns the journal of a B/L's own timeline (its B/L-level
// decisions and manifests), oldest first.
func (t *Tx) BLHistory(bl string) ([]JournalEntry, error) {
	return t.History(blJournalPrefix + bl)
}

// decodeJournal decodes the journal entry stored under key and fills in a
// detail that was stored once for many containers (DetailOf).
func (t *Tx) decodeJournal(key, data []byte) (JournalEntry, error) {
	var e JournalEntry
	if err := unmarshalJournalEntry(binary.BigEndian.Uint64(key), data, &e); err != nil {
		return e, fmt.Errorf("decode journal entry %x: %w", key, err)
	}
	if e.DetailOf == 0 {
		return e, nil
	}
	// The entry holding the detail is older, so retention may have pruned
	// it first; the entry then reads without its detail.
	if d := t.bucket(bucketJournal).Get(seqKey(e.DetailOf)); d != nil {
		var holder JournalEntry
		if err := unmarshalJournalEntry(e.DetailOf, d, &holder); err != nil {
			return e, fmt.Errorf("decode journal entry %d: %w", e.DetailOf, err)
		}
		e.Detail = holder.Detail
	}
	e.DetailOf = 0
	return e, nil
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

func journalIdxKey(container string, seq uint64) []byte {
	k := append([]byte(container), 0)
	return binary.BigEndian.AppendUint64(k, seq)
}

// History returns a container's journal, oldest first.
func (t *Tx) History(container string) ([]JournalEntry, error) {
	out := []JournalEntry{}
	journal := t.bucket(bucketJournal)
	prefix := append([]byte(container), 0)
	c := t.bucket(bucketJournalIdx).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		if len(k) != len(prefix)+8 {
			continue
		}
		data := journal.Get(k[len(prefix):])
		if data == nil {
			continue // pruned by retention
		}
		e, err := t.decodeJournal(k[len(prefix):], data)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// HistoryPage returns at most n of a container's journal entries after
// sequence afterSeq (0 for the first), oldest first, and the sequence to
// pass as afterSeq for the next page: 0 when none follows.
func (t *Tx) HistoryPage(container string, afterSeq uint64, n int) ([]JournalEntry, uint64, error) {
	out := []JournalEntry{}
	if afterSeq == math.MaxUint64 {
		return out, 0, nil
	}
	journal := t.bucket(bucketJournal)
	prefix := append([]byte(container), 0)
	c := t.bucket(bucketJournalIdx).Cursor()
	for k, _ := c.Seek(journalIdxKey(container, afterSeq+1)); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		if len(k) != len(prefix)+8 {
			continue
		}
		data := journal.Get(k[len(prefix):])
		if data == nil {
			continue // pruned by retention
		}
		if len(out) == n {
			return out, out[n-1].Seq, nil
		}
		e, err := t.decodeJournal(k[len(prefix):], data)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, e)
	}
	return out, 0, nil
}

// NextCommandID returns a new, never reused command id: the outbox
// sequence (so ids sort in issue order) and the store's epoch (so a
// restored backup never issues an id again).
func (t *Tx) NextCommandID() (string, error) {
	seq, err := t.bucket(bucketOutbox).NextSequence()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("cmd-%012d-%s", seq, t.epoch), nil
}

// PutCommand puts cmd in the outbox.
func (t *Tx) PutCommand(cmd Command) error { return t.put(bucketOutbox, cmd.ID, cmd) }

// DeleteCommand removes a confirmed or superseded command from the outbox.
func (t *Tx) DeleteCommand(id string) error {
	return t.bucket(bucketOutbox).Delete([]byte(id))
}

// Commands returns every command in the outbox, oldest first.
func (t *Tx) Commands() ([]Command, error) { return collect[Command](t, bucketOutbox, nil) }

func mismatchKey(container, slot string) string { return container + "/" + slot }

// PutMismatch records an open mismatch in the index under its slot (the
// agency for its main hold code, agency/CODE for a typed one).
func (t *Tx) PutMismatch(slot string, m Mismatch) error {
	return t.put(bucketMismatches, mismatchKey(m.Container, slot), m)
}

// DeleteMismatch removes a closed mismatch from the index.
func (t *Tx) DeleteMismatch(container, slot string) error {
	return t.bucket(bucketMismatches).Delete([]byte(mismatchKey(container, slot)))
}

// Mismatches returns every open mismatch, by container and agency.
func (t *Tx) Mismatches() ([]Mismatch, error) { return collect[Mismatch](t, bucketMismatches, nil) }

// MismatchesPage returns at most n open mismatches after the cursor after
// ("" for the first), by container and agency, and the cursor of the next
// page: "" when none follows.
func (t *Tx) MismatchesPage(after string, n int) ([]Mismatch, string, error) {
	return page[Mismatch](t, bucketMismatches, after, n, nil)
}

// Alert returns the alert with the given id, and whether it exists.
func (t *Tx) Alert(id string) (Alert, bool, error) {
	var a Alert
	ok, err := t.get(bucketAlerts, id, &a)
	return a, ok, err
}

// PutAlert stores a.
func (t *Tx) PutAlert(a Alert) error { return t.put(bucketAlerts, a.ID, a) }

// DeleteAlert forgets an alert once its resolution has been delivered.
func (t *Tx) DeleteAlert(id string) error {
	return t.bucket(bucketAlerts).Delete([]byte(id))
}

// Alerts returns every stored alert, firing or resolved and not yet
// delivered, by id.
func (t *Tx) Alerts() ([]Alert, error) { return collect[Alert](t, bucketAlerts, nil) }

// FiringAlertsPage returns at most n firing alerts with ids after after
// ("" for the first), by id, and the id to pass as after for the next
// page: "" when no firing alert follows.
func (t *Tx) FiringAlertsPage(after string, n int) ([]Alert, string, error) {
	return page(t, bucketAlerts, after, n, func(a *Alert) bool { return a.State == Firing })
}

// PutDeadLetter stores d, giving it an id if it has none. A dead letter
// without an id whose source and payload are those of a stored one is not
// stored again: the stored one counts it (Count, LastAt, the latest code
// and reason) and d becomes the stored one, id included. Without this a
// source that sends the same bad message every round (a poll whose cursor
// does not move) would fill the store with copies.
//
// A dead letter given with an id is stored as given; it takes the payload's
// digest only if no other dead letter holds it.
func (t *Tx) PutDeadLetter(d *DeadLetter) error {
	idx := t.bucket(bucketDeadLetterIdx)
	key := deadLetterKey(d.Source, d.Payload)
	if d.ID == "" {
		if id := idx.Get(key); id != nil {
			stored, ok, err := t.DeadLetter(string(id))
			if err != nil {
				return err
			}
			// A digest names the payload; the check guards against an
			// entry left behind by a dead letter rewritten under its id.
			if ok && stored.Source == d.Source && stored.Payload == d.Payload {
				stored.Count = max(stored.Count, 1) + 1
				stored.LastAt = d.ReceivedAt
				stored.Code, stored.Reason = d.Code, d.Reason
				*d = stored
				return t.put(bucketDeadLetters, d.ID, d)
			}
		}
		seq, err := t.bucket(bucketDeadLetters).NextSequence()
		if err != nil {
			return err
		}
		d.ID = fmt.Sprintf("dl-%012d", seq)
	} else if held := idx.Get(key); held != nil && string(held) != d.ID {
		_, ok, err := t.DeadLetter(string(held))
		if err != nil {
			return err
		}
		if ok {
			return t.put(bucketDeadLetters, d.ID, d)
		}
	}
	if err := idx.Put(key, []byte(d.ID)); err != nil {
		return fmt.Errorf("index dead letter %s: %w", d.ID, err)
	}
	return t.put(bucketDeadLetters, d.ID, d)
}

// deadLetterKey is a dead letter's key in the digest index: its source and
// the SHA-256 of its payload.
func deadLetterKey(source, payload string) []byte {
	sum := sha256.Sum256([]byte(payload))
	return append([]byte(source+"\x00"), sum[:]...)
}

// DeadLetter returns the dead letter with the given id, and whether it
// exists.
func (t *Tx) DeadLetter(id string) (DeadLetter, bool, error) {
	var d DeadLetter
	ok, err := t.get(bucketDeadLetters, id, &d)
	return d, ok, err
}

// DeleteDeadLetter removes a dead letter (after a successful retry) and
// its digest, if the digest is its own. A dead letter that cannot be
// decoded is still removed; its digest entry, if any, then points nowhere,
// which PutDeadLetter treats as no entry.
func (t *Tx) DeleteDeadLetter(id string) error {
	var d DeadLetter
	if ok, err := t.get(bucketDeadLetters, id, &d); err == nil && ok {
		if err := t.unindexDeadLetter(id, d); err != nil {
			return err
		}
	}
	return t.bucket(bucketDeadLetters).Delete([]byte(id))
}

// unindexDeadLetter deletes d's digest entry if it names id.
func (t *Tx) unindexDeadLetter(id string, d DeadLetter) error {
	idx := t.bucket(bucketDeadLetterIdx)
	key := deadLetterKey(d.Source, d.Payload)
	if string(idx.Get(key)) != id {
		return nil
	}
	if err := idx.Delete(key); err != nil {
		return fmt.Errorf("delete dead letter %s from its index: %w", id, err)
	}
	return nil
}

// DeadLetters returns every dead letter, oldest first.
func (t *Tx) DeadLetters() ([]DeadLetter, error) {
	return collect[DeadLetter](t, bucketDeadLetters, nil)
}

// DeadLettersPage returns at most n dead letters with ids after after (""
// for the first), oldest first, and the id to pass as after for the next
// page: "" when none follows.
func (t *Tx) DeadLettersPage(after string, n int) ([]DeadLetter, string, error) {
	return page[DeadLetter](t, bucketDeadLetters, after, n, nil)
}

// RecentDeadLetters returns at most n dead letters, newest first, and how
// many there are in all.
func (t *Tx) RecentDeadLetters(n int) ([]DeadLetter, int, error) {
	b := t.bucket(bucketDeadLetters)
	out := []DeadLetter{}
	c := b.Cursor()
	for k, v := c.Last(); k != nil && len(out) < n; k, v = c.Prev() {
		var d DeadLetter
		if err := json.Unmarshal(v, &d); err != nil {
			return nil, 0, fmt.Errorf("decode %s/%s: %w", bucketDeadLetters, k, err)
		}
		out = append(out, d)
	}
	return out, b.Stats().KeyN, nil
}

// Cursor returns a polling source's stored cursor, "" if none.
func (t *Tx) Cursor(source string) string {
	return string(t.bucket(bucketCursors).Get([]byte(source)))
}

// PutCursor stores a polling source's cursor, in the same transaction as
// the events it brought.
func (t *Tx) PutCursor(source, cursor string) error {
	return t.bucket(bucketCursors).Put([]byte(source), []byte(cursor))
}

// BL returns the bill of lading with the given number, and whether it
// exists.
func (t *Tx) BL(id string) (BL, bool, error) {
	var b BL
	ok, err := t.get(bucketBLs, id, &b)
	return b, ok, err
}

// PutBL stores b.
func (t *Tx) PutBL(b BL) error { return t.put(bucketBLs, b.ID, b) }

// Reference kinds indexed for search.
const (
	RefBL          = "bl"
	RefDeclaration = "declaration"
)

func refKey(kind, ref, container string) []byte {
	return []byte(kind + "\x00" + ref + "\x00" + container)
}

// PutRef indexes a bill of lading or declaration number to a container.
func (t *Tx) PutRef(kind, ref, container string) error {
	return t.bucket(bucketRefs).Put(refKey(kind, ref, container), nil)
}

// DeleteRef removes a container from a reference's index entry.
func (t *Tx) DeleteRef(kind, ref, container string) error {
	return t.bucket(bucketRefs).Delete(refKey(kind, ref, container))
}

// RefContainers returns the containers indexed under ref as kind, in id
// order.
func (t *Tx) RefContainers(kind, ref string) []string {
	var out []string
	prefix := []byte(kind + "\x00" + ref + "\x00")
	c := t.bucket(bucketRefs).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		out = append(out, string(k[len(prefix):]))
	}
	return out
}

// FindRefs returns the containers indexed under ref, as a B/L or as a
// declaration number, in id order and without repeats.
func (t *Tx) FindRefs(ref string) []string {
	seen := map[string]bool{}
	var out []string
	c := t.bucket(bucketRefs).Cursor()
	for _, kind := range []string{RefBL, RefDeclaration} {
		prefix := []byte(kind + "\x00" + ref + "\x00")
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			if id := string(k[len(prefix):]); !seen[id] {
				seen[id] = true
				out = append(out, id)
			}
		}
	}
	slices.Sort(out)
	return out
}

// FindRefsAfter returns at most n of the containers indexed under ref, as
// a B/L or as a declaration number, with ids after after ("" for the
// first), in id order and without repeats.
func (t *Tx) FindRefsAfter(ref, after string, n int) []string {
	var out []string
	c := t.bucket(bucketRefs).Cursor()
	for _, kind := range []string{RefBL, RefDeclaration} {
		prefix := []byte(kind + "\x00" + ref + "\x00")
		start := prefix
		if after != "" {
			start = refKey(kind, ref, after+"\x00")
		}
		taken := 0
		for k, _ := c.Seek(start); k != nil && bytes.HasPrefix(k, prefix) && taken < n; k, _ = c.Next() {
			out = append(out, string(k[len(prefix):]))
			taken++
		}
	}
	slices.Sort(out)
	out = slices.Compact(out)
	return out[:min(len(out), n)]
}
