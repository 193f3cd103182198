package state

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// A WriteSet is the writes of one transaction, in order: what a cluster
// replicates. The leader works out a group commit in a transaction that it
// records and rolls back (Record), and every node, the leader included,
// applies the same bytes (Apply). Replicating the writes rather than the
// inputs makes every replica's file the same by construction: a follower
// runs no decision code, so neither its configuration nor its clock can
// make it differ.
//
// The encoding is a sequence of operations, each an op byte, the bucket's
// name and its arguments, every byte string preceded by its length as a
// uvarint.
type WriteSet []byte

const (
	opPut    byte = 'p' // bucket, key, value
	opDelete byte = 'd' // bucket, key
	opSeq    byte = 's' // bucket, uvarint sequence
)

func (w *WriteSet) bytes(b []byte) {
	*w = binary.AppendUvarint(*w, uint64(len(b)))
	*w = append(*w, b...)
}

func (w *WriteSet) put(bucket, key, value []byte) {
	*w = append(*w, opPut)
	w.bytes(bucket)
	w.bytes(key)
	w.bytes(value)
}

func (w *WriteSet) delete(bucket, key []byte) {
	*w = append(*w, opDelete)
	w.bytes(bucket)
	w.bytes(key)
}

func (w *WriteSet) sequence(bucket []byte, seq uint64) {
	*w = append(*w, opSeq)
	w.bytes(bucket)
	*w = binary.AppendUvarint(*w, seq)
}

// wbucket is a bucket of a transaction that notes that it wrote, and may
// be recording its writes.
type wbucket struct {
	*bolt.Bucket
	name []byte
	tx   *Tx
	rec  *WriteSet // nil: not recording
}

func (t *Tx) bucket(name []byte) wbucket {
	return wbucket{Bucket: t.tx.Bucket(name), name: name, tx: t, rec: t.rec}
}

func (b wbucket) Put(key, value []byte) error {
	if err := b.Bucket.Put(key, value); err != nil {
		return err
	}
	b.tx.wrote = true
	if b.rec != nil {
		b.rec.put(b.name, key, value)
	}
	return nil
}

func (b wbucket) Delete(key []byte) error {
	if err := b.Bucket.Delete(key); err != nil {
		return err
	}
	b.tx.wrote = true
	if b.rec != nil {
		b.rec.delete(b.name, key)
	}
	return nil
}

func (b wbucket) NextSequence() (uint64, error) {
	seq, err := b.Bucket.NextSequence()
	if err == nil {
		b.tx.wrote = true
		if b.rec != nil {
			b.rec.sequence(b.name, seq)
		}
	}
	return seq, err
}

// errRecorded rolls back a recording transaction that succeeded.
var errRecorded = errors.New("recorded")

// Record runs fn in a read-write transaction like Update, but rolls it
// back and returns what it wrote instead of committing it. fn sees its
// own writes as in Update.
func (s *Store) Record(fn func(*Tx) error) (WriteSet, error) {
	var ws WriteSet
	err := s.db.Update(func(tx *bolt.Tx) error {
		ws = ws[:0]
		if err := fn(&Tx{tx: tx, epoch: s.epoch, rec: &ws}); err != nil {
			return err
		}
		return errRecorded
	})
	if !errors.Is(err, errRecorded) {
		return nil, err
	}
	return ws, nil
}

// metaApplied is where Apply keeps the index of the last write set it
// applied, in the same transaction as its writes.
const metaApplied = "cluster_applied"

// Apply commits a recorded write set as the write set numbered index
// (the replicated log's index), unless a write set at index or later was
// applied already: a node that restarts is handed again the log entries
// after its last snapshot, some of which its file already holds.
func (s *Store) Apply(ws WriteSet, index uint64) error {
	return s.db.Update(func(btx *bolt.Tx) error {
		t := &Tx{tx: btx, epoch: s.epoch}
		if index <= t.applied() {
			return nil
		}
		if err := t.apply(ws); err != nil {
			return fmt.Errorf("apply write set %d: %w", index, err)
		}
		return t.bucket(bucketMeta).Put([]byte("meta/"+metaApplied), []byte(strconv.FormatUint(index, 10)))
	})
}

// AppliedIndex is the index of the last write set Apply committed, 0 if
// none.
func (s *Store) AppliedIndex() uint64 {
	var n uint64
	_ = s.db.View(func(tx *bolt.Tx) error {
		n = (&Tx{tx: tx}).applied()
		return nil
	})
	return n
}

// SetAppliedIndex records that the store holds every write set up to
// index: 0 when a node starts a new log over an existing store (a restored
// backup), the snapshot's index after a restore from one.
func (s *Store) SetAppliedIndex(index uint64) error {
	return s.db.Update(func(btx *bolt.Tx) error {
		t := &Tx{tx: btx}
		return t.bucket(bucketMeta).Put([]byte("meta/"+metaApplied), []byte(strconv.FormatUint(index, 10)))
	})
}

func (t *Tx) applied() uint64 {
	n, _ := strconv.ParseUint(t.Meta(metaApplied), 10, 64)
	return n
}

func (t *Tx) apply(ws WriteSet) error {
	r := bytes.NewReader(ws)
	next := func() ([]byte, error) {
		n, err := binary.ReadUvarint(r)
		if err != nil {
			return nil, err
		}
		if n > uint64(r.Len()) {
			return nil, io.ErrUnexpectedEOF
		}
		b := make([]byte, n)
		_, err = io.ReadFull(r, b)
		return b, err
	}
	for r.Len() > 0 {
		op, _ := r.ReadByte()
		name, err := next()
		if err != nil {
			return fmt.Errorf("bucket name: %w", err)
		}
		b := t.tx.Bucket(name)
		if b == nil {
			return fmt.Errorf("no bucket %q", name)
		}
		if bytes.Equal(name, bucketJournal) || bytes.Equal(name, bucketAcks) {
			b.FillPercent = appendFill
		}
		switch op {
		case opPut:
			k, err := next()
			if err != nil {
				return fmt.Errorf("key in %s: %w", name, err)
			}
			v, err := next()
			if err != nil {
				return fmt.Errorf("value of %s/%x: %w", name, k, err)
			}
			if err := b.Put(k, v); err != nil {
				return fmt.Errorf("put %s/%x: %w", name, k, err)
			}
		case opDelete:
			k, err := next()
			if err != nil {
				return fmt.Errorf("key in %s: %w", name, err)
			}
			if err := b.Delete(k); err != nil {
				return fmt.Errorf("delete %s/%x: %w", name, k, err)
			}
		case opSeq:
			seq, err := binary.ReadUvarint(r)
			if err != nil {
				return fmt.Errorf("sequence of %s: %w", name, err)
			}
			if err := b.SetSequence(seq); err != nil {
				return fmt.Errorf("sequence of %s: %w", name, err)
			}
		default:
			return fmt.Errorf("unknown operation %q", op)
		}
	}
	return nil
}

// Replace makes the store's contents those of the store file that r
// streams (a cluster snapshot, written by WriteTo), in one transaction:
// the open handle stays valid for everyone who holds it. The copy is
// written to a temporary file in the store's directory first.
func (s *Store) Replace(r io.Reader) error {
	f, err := os.CreateTemp(filepath.Dir(s.Path()), "restore-*.db")
	if err != nil {
		return fmt.Errorf("replace store: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return fmt.Errorf("replace store: write %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("replace store: %w", err)
	}
	src, err := bolt.Open(tmp, 0o400, &bolt.Options{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("replace store: open snapshot: %w", err)
	}
	defer src.Close()
	return src.View(func(from *bolt.Tx) error {
		return s.db.Update(func(to *bolt.Tx) error {
			for _, name := range allBuckets {
				if err := to.DeleteBucket(name); err != nil && !errors.Is(err, bolterrors.ErrBucketNotFound) {
					return fmt.Errorf("replace store: clear %s: %w", name, err)
				}
				dst, err := to.CreateBucket(name)
				if err != nil {
					return fmt.Errorf("replace store: create %s: %w", name, err)
				}
				if bytes.Equal(name, bucketJournal) || bytes.Equal(name, bucketAcks) {
					dst.FillPercent = appendFill
				}
				b := from.Bucket(name)
				if b == nil {
					continue
				}
				if err := b.ForEach(func(k, v []byte) error { return dst.Put(k, v) }); err != nil {
					return fmt.Errorf("replace store: copy %s: %w", name, err)
				}
				if err := dst.SetSequence(b.Sequence()); err != nil {
					return fmt.Errorf("replace store: %w", err)
				}
			}
			return nil
		})
	})
}

// Snapshot is a consistent read view of the whole store, held open until
// Release, for a cluster snapshot taken at one point of the log.
type Snapshot struct{ tx *bolt.Tx }

// Snapshot begins a read transaction over the whole store. Writers go on
// meanwhile, except that a commit that must grow the file waits for
// Release (bbolt remaps the file only without readers).
func (s *Store) Snapshot() (*Snapshot, error) {
	tx, err := s.db.Begin(false)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	return &Snapshot{tx: tx}, nil
}

// WriteTo writes the store as of the snapshot to w.
func (s *Snapshot) WriteTo(w io.Writer) (int64, error) { return s.tx.WriteTo(w) }

// Release ends the snapshot's read transaction.
func (s *Snapshot) Release() { _ = s.tx.Rollback() }
