package state_test

import (
	"fmt"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/portsync/portsync/state"
)

// TestJournalPagesFilled checks that the journal, appended in sequence
// order over many transactions, fills its pages instead of leaving them at
// bbolt's default split of 50%, and that every entry reads back.
func TestJournalPagesFilled(t *testing.T) {
	path := stPath(t)
	s := stOpen(t, path)
	const groups, per = 20, 500
	for g := range groups {
		stUpdate(t, s, func(tx *state.Tx) error {
			for i := range per {
				id := fmt.Sprintf("MSCU%07d", g*per+i)
				err := tx.Journal(&state.JournalEntry{
					At: stT0, Kind: state.JournalTOSEvent, Container: id, Source: "tos-events",
					EventID: "N4-" + id, Status: "arrived", EventAt: stT0, Result: "applied",
				})
				if err != nil {
					return err
				}
			}
			return nil
		})
	}
	err := s.View(func(tx *state.Tx) error {
		h, err := tx.History("MSCU0009999")
		if err != nil {
			return err
		}
		if len(h) != 1 || h[0].Seq != groups*per || h[0].EventID != "N4-MSCU0009999" {
			t.Errorf("History of the last container = %+v, want its one entry with seq %d", h, groups*per)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		st := tx.Bucket([]byte("journal")).Stats()
		if st.KeyN != groups*per {
			t.Errorf("journal holds %d entries, want %d", st.KeyN, groups*per)
		}
		if used := float64(st.LeafInuse) / float64(st.LeafAlloc); used < 0.9 {
			t.Errorf("journal leaf pages %.0f%% used, want at least 90%%", 100*used)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
