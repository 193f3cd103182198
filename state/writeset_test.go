package state

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// writeSome does what a group commit does to a store: every kind of write
// the engine makes (puts, deletes, sequences, counters, prunes), varied by
// round.
func writeSome(t *testing.T, tx *Tx, round int) {
	t.Helper()
	at := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC).Add(time.Duration(round) * time.Minute)
	id := fmt.Sprintf("MSCU%06d", round%7)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	c, _, err := tx.Container(id)
	must(err)
	c.ID, c.Presence, c.TOSAt = id, InYard, at
	must(tx.PutContainer(c, Expected))
	must(tx.Journal(&JournalEntry{Kind: JournalAgencyEvent, Container: id, EventID: fmt.Sprint("ev-", round), At: at}))
	must(tx.MarkSeen("customs", fmt.Sprint("ev-", round), at, []byte{byte(round)}))
	cmdID, err := tx.NextCommandID()
	must(err)
	must(tx.PutCommand(Command{ID: cmdID, Container: id, Action: ReleaseHold}))
	if round%3 == 0 {
		cmds, err := tx.Commands()
		must(err)
		must(tx.DeleteCommand(cmds[0].ID))
	}
	must(tx.PutAck(&Ack{Body: AckBody{ID: fmt.Sprint("ref-", round), Source: "customs"}}))
	must(tx.AddCount("things", 1))
	must(tx.PutDeadLetter(&DeadLetter{Source: "customs", Code: "malformed", Payload: fmt.Sprint("junk ", round%4), ReceivedAt: at}))
	if round%5 == 4 {
		_, _, err := tx.PruneJournal(at.Add(-3*time.Minute), 100)
		must(err)
	}
}

// dump lists every bucket's sequence, keys and values.
func dump(t *testing.T, s *Store) string {
	t.Helper()
	var out bytes.Buffer
	err := s.db.View(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			b := tx.Bucket(name)
			fmt.Fprintf(&out, "%s seq=%d\n", name, b.Sequence())
			err := b.ForEach(func(k, v []byte) error {
				if string(k) == "meta/"+metaApplied {
					return nil
				}
				fmt.Fprintf(&out, "  %q=%q\n", k, v)
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func openTemp(t *testing.T, name string) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), name), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestRecordThenApplyEqualsUpdate: stores that apply the recorded write
// sets of a leader, the leader's own included, end up byte for byte as a
// store written by Update, and recording leaves the recording store
// untouched.
func TestRecordThenApplyEqualsUpdate(t *testing.T) {
	direct, leader, follower := openTemp(t, "direct.db"), openTemp(t, "leader.db"), openTemp(t, "follower.db")
	follower.epoch = "other" // a follower's own epoch must not matter
	direct.epoch = leader.epoch
	for round := range 40 {
		if err := direct.Update(func(tx *Tx) error { writeSome(t, tx, round); return nil }); err != nil {
			t.Fatal(err)
		}
		before := dump(t, leader)
		ws, err := leader.Record(func(tx *Tx) error { writeSome(t, tx, round); return nil })
		if err != nil {
			t.Fatal(err)
		}
		if dump(t, leader) != before {
			t.Fatalf("round %d: Record changed the store", round)
		}
		index := uint64(round + 1)
		for _, s := range []*Store{leader, follower} {
			if err := s.Apply(ws, index); err != nil {
				t.Fatal(err)
			}
		}
		// Applied again (a node replaying its log after a restart): no-op.
		if err := follower.Apply(ws, index); err != nil {
			t.Fatal(err)
		}
	}
	want := dump(t, direct)
	for name, s := range map[string]*Store{"leader": leader, "follower": follower} {
		if got := dump(t, s); got != want {
			t.Errorf("%s differs from a store written directly:\n%s\nwant\n%s", name, got, want)
		}
	}
	if follower.AppliedIndex() != 40 {
		t.Errorf("AppliedIndex = %d, want 40", follower.AppliedIndex())
	}
	// The command ids are the leader's, epoch and all.
	var ids []string
	_ = follower.View(func(tx *Tx) error {
		cmds, _ := tx.Commands()
		for _, c := range cmds {
			ids = append(ids, c.ID)
		}
		return nil
	})
	if len(ids) == 0 || !bytes.HasSuffix([]byte(ids[0]), []byte(leader.epoch)) {
		t.Errorf("follower's command ids %v do not carry the leader's epoch %s", ids, leader.epoch)
	}
}

func TestRecordFailureReturnsTheError(t *testing.T) {
	s := openTemp(t, "s.db")
	ws, err := s.Record(func(tx *Tx) error { return tx.PutMeta(string(make([]byte, 40<<10)), "x") })
	if err == nil || ws != nil {
		t.Fatalf("Record with a key too large = %d bytes, %v; want an error", len(ws), err)
	}
}

func TestApplyRejectsACorruptWriteSet(t *testing.T) {
	s := openTemp(t, "s.db")
	for _, ws := range []WriteSet{{opPut}, {opPut, 200}, {'x', 4, 'm', 'e', 't', 'a'}, {opPut, 3, 'n', 'o', 'b', 0, 0}} {
		if err := s.Apply(ws, 1); err == nil {
			t.Errorf("Apply(%q) = nil, want an error", ws)
		}
	}
	if s.AppliedIndex() != 0 {
		t.Errorf("a failed Apply moved the applied index to %d", s.AppliedIndex())
	}
}

// TestReplaceCopiesEverything: a snapshot (WriteTo) restored over a store
// with other contents leaves exactly the snapshot's.
func TestReplaceCopiesEverything(t *testing.T) {
	src, dst := openTemp(t, "src.db"), openTemp(t, "dst.db")
	for round := range 12 {
		if err := src.Update(func(tx *Tx) error { writeSome(t, tx, round); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if err := dst.Update(func(tx *Tx) error { writeSome(t, tx, 99); return nil }); err != nil {
		t.Fatal(err)
	}
	var snap bytes.Buffer
	if _, err := src.WriteTo(&snap); err != nil {
		t.Fatal(err)
	}
	if err := dst.Replace(&snap); err != nil {
		t.Fatal(err)
	}
	if got, want := dump(t, dst), dump(t, src); got != want {
		t.Errorf("after Replace:\n%s\nwant\n%s", got, want)
	}
}

// TestUpdateThatOnlyReadsDoesNotCommit: a transaction that writes nothing
// leaves the file as it was (no new meta page, no fsync); one that writes
// commits.
func TestUpdateThatOnlyReadsDoesNotCommit(t *testing.T) {
	s := openTemp(t, "s.db")
	txid := func() int {
		var id int
		_ = s.db.View(func(tx *bolt.Tx) error { id = tx.ID(); return nil })
		return id
	}
	before := txid()
	if err := s.Update(func(tx *Tx) error { _, _, err := tx.Container("MSCU1234565"); return err }); err != nil {
		t.Fatal(err)
	}
	if got := txid(); got != before {
		t.Errorf("a read-only Update committed: transaction id %d -> %d", before, got)
	}
	if err := s.Update(func(tx *Tx) error { return tx.PutMeta("k", "v") }); err != nil {
		t.Fatal(err)
	}
	if got := txid(); got != before+1 {
		t.Errorf("a writing Update: transaction id %d -> %d, want one commit", before, got)
	}
}
