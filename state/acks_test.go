package state

import (
	"path/filepath"
	"testing"
	"time"
)

// TestAckOutbox: acknowledgements keep their commit order, survive a
// reopen, and leave once deleted.
func TestAckOutbox(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	s, err := Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 28, 2, 20, 0, 0, time.UTC)
	err = s.Update(func(tx *Tx) error {
		for _, id := range []string{"A", "B", "C"} {
			a := Ack{Body: AckBody{ID: id, Source: "s", Result: "applied", At: at}, Broker: "main", Topic: "acks"}
			if err := tx.PutAck(&a); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = Open(path, time.Second); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var got []Ack
	err = s.Update(func(tx *Tx) error {
		acks, err := tx.Acks()
		if err != nil {
			return err
		}
		if len(acks) != 3 || acks[0].Body.ID != "A" || acks[2].Body.ID != "C" || acks[0].Seq >= acks[1].Seq {
			t.Fatalf("after reopen: %+v", acks)
		}
		if err := tx.DeleteAck(acks[1].Seq); err != nil {
			return err
		}
		got, err = tx.Acks()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Body.ID != "A" || got[1].Body.ID != "C" || !got[1].Body.At.Equal(at) {
		t.Fatalf("after delete: %+v", got)
	}
}
