package cluster

import (
	"errors"
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
	// failing is the last apply error, nil while applies succeed.
	failing atomic.Pointer[error]
}

// Apply commits one entry's write set. An error here is the disk's (the
// leader checked the writes in its own transaction), and a Raft state
// machine cannot skip an entry: it retries until the store takes it, as
// the single node's writer does, and the node meanwhile falls behind
// rather than apart.
func (f *fsm) Apply(l *raft.Log) any {
	wait := 100 * time.Millisecond
	for {
		err := f.store.Apply(state.WriteSet(l.Data), l.Index)
		if err == nil {
			f.failing.Store(nil)
			return nil
		}
		f.failing.Store(&err)
		if f.closing.Load() {
			return err
		}
		f.log.Error("cannot apply a replicated entry to the store; retrying", "index", l.Index, "err", err, "retry_in", wait)
		time.Sleep(wait)
		wait = min(wait*2, 5*time.Second)
	}
}

// Snapshot takes a read transaction at once, so that the snapshot is the
// store as of the last entry applied; Persist streams it.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
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
