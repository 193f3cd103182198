package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/portsync/portsync/state"
)

// fsm applies the replicated write sets to this node's store.
type fsm struct {
	store *state.Store
	log   *slog.Logger
	// closing is set at shutdown, so that an apply that keeps failing
	// gives up instead of holding the shutdown.
	closing atomic.Bool
	// broken is set when an entry was given up: every later one is
	// refused too, without touching the store, so that the store's
	// applied index stays before the missing entry and a restart replays
	// from there.
	broken atomic.Bool
	// failing is the last apply error, nil while applies succeed.
	failing atomic.Pointer[error]
}

// An entry is the term of the leader whose engine worked it out (8 bytes,
// big-endian), then the write set.
const termLen = 8

func entry(term uint64, ws state.WriteSet) []byte {
	return append(binary.BigEndian.AppendUint64(make([]byte, 0, termLen+len(ws)), term), ws...)
}

// errOtherTerm answers an entry worked out by an engine of another term
// than the one that appended it (see apply).
var errOtherTerm = errors.New("entry worked out in an earlier term: not applied")

// Apply commits one entry's write set. An error here is the disk's (the
// leader checked the writes in its own transaction), and a Raft state
// machine cannot skip an entry: it retries until the store takes it, as
// the single node's writer does, and the node meanwhile falls behind
// rather than apart.
func (f *fsm) Apply(l *raft.Log) any {
	if f.broken.Load() {
		return errBroken
	}
	wait := 100 * time.Millisecond
	for {
		err := f.apply(l)
		if err == nil || errors.Is(err, errOtherTerm) {
			f.failing.Store(nil)
			return err
		}
		f.failing.Store(&err)
		if f.closing.Load() {
			f.broken.Store(true)
			return err
		}
		f.log.Error("cannot apply a replicated entry to the store; retrying", "index", l.Index, "err", err, "retry_in", wait)
		time.Sleep(wait)
		wait = min(wait*2, 5*time.Second)
	}
}

var errBroken = errors.New("an earlier entry was not applied (the node is shutting down)")

// apply commits one command entry, unless the engine that worked it out
// belonged to another term than the entry's: a leader that lost its term
// and won a later one may still have had a group in flight from the old
// engine, whose cache predates the other leader's writes. Every node
// compares the same two numbers, so every node skips the same entries.
func (f *fsm) apply(l *raft.Log) error {
	if len(l.Data) < termLen {
		return fmt.Errorf("entry %d: %d bytes, shorter than its term", l.Index, len(l.Data))
	}
	if term := binary.BigEndian.Uint64(l.Data); term != l.Term {
		return fmt.Errorf("entry %d of term %d: %w (worked out in term %d)", l.Index, l.Term, errOtherTerm, term)
	}
	return f.store.Apply(state.WriteSet(l.Data[termLen:]), l.Index)
}

// Snapshot takes a read transaction at once, so that the snapshot is the
// store as of the last entry applied; Persist streams it.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	if f.broken.Load() {
		return nil, errBroken
	}
	snap, err := f.store.Snapshot()
	if err != nil {
		return nil, err
	}
	return &fsmSnapshot{snap: snap}, nil
}

// Restore replaces the store's contents with a snapshot from the leader:
// this node was too far behind for the log alone.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	f.log.Warn("restoring the store from the leader's snapshot: this node was too far behind for the log alone")
	return f.store.Replace(rc)
}

type fsmSnapshot struct{ snap *state.Snapshot }

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := s.snap.WriteTo(sink); err != nil {
		return errors.Join(err, sink.Cancel())
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() { s.snap.Release() }
