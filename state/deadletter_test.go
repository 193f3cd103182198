package state_test

import (
	"testing"
	"time"

	"github.com/portsync/portsync/state"
)

func dlPut(t *testing.T, s *state.Store, d state.DeadLetter) state.DeadLetter {
	t.Helper()
	stUpdate(t, s, func(tx *state.Tx) error { return tx.PutDeadLetter(&d) })
	return d
}

func dlAll(t *testing.T, s *state.Store) []state.DeadLetter {
	t.Helper()
	var out []state.DeadLetter
	stView(t, s, func(tx *state.Tx) (err error) {
		out, err = tx.DeadLetters()
		return err
	})
	return out
}

// A source that sends the same bad message again and again (a poll whose
// cursor does not move) makes one dead letter that counts the arrivals,
// not one per arrival; the count survives a reopen.
func TestPutDeadLetterCountsRepeatsOfTheSamePayload(t *testing.T) {
	path := stPath(t)
	s := stOpen(t, path)
	first := dlPut(t, s, state.DeadLetter{Source: "customs-poll", Code: state.CodeMalformed, Reason: "not JSON", ReceivedAt: stT0, Payload: "{"})
	again := dlPut(t, s, state.DeadLetter{Source: "customs-poll", Code: state.CodeMalformed, Reason: "not JSON, again", ReceivedAt: stT0.Add(time.Minute), Payload: "{"})
	if again.ID != first.ID {
		t.Errorf("the repeat got id %s, want the first's %s", again.ID, first.ID)
	}
	// The same payload from another source, and another payload from the
	// same source, are dead letters of their own.
	other := dlPut(t, s, state.DeadLetter{Source: "tos", Code: state.CodeMalformed, Reason: "not JSON", ReceivedAt: stT0, Payload: "{"})
	diff := dlPut(t, s, state.DeadLetter{Source: "customs-poll", Code: state.CodeMalformed, Reason: "not JSON", ReceivedAt: stT0, Payload: "["})
	if other.ID == first.ID || diff.ID == first.ID || other.ID == diff.ID {
		t.Errorf("ids %s, %s, %s: want three dead letters", first.ID, other.ID, diff.ID)
	}
	s.Close()
	s = stOpen(t, path)
	third := dlPut(t, s, state.DeadLetter{Source: "customs-poll", Code: state.CodeMalformed, Reason: "not JSON", ReceivedAt: stT0.Add(2 * time.Minute), Payload: "{"})
	if third.ID != first.ID {
		t.Errorf("the repeat after a reopen got id %s, want %s", third.ID, first.ID)
	}
	all := dlAll(t, s)
	if len(all) != 3 {
		t.Fatalf("%d dead letters, want 3: %+v", len(all), all)
	}
	got := all[0]
	if got.ID != first.ID || got.Count != 3 || !got.ReceivedAt.Equal(stT0) || !got.LastAt.Equal(stT0.Add(2*time.Minute)) {
		t.Errorf("repeated dead letter = %+v, want count 3, received_at the first arrival, last_at the latest", got)
	}
	if got.Reason != "not JSON" || got.Code != state.CodeMalformed {
		t.Errorf("repeated dead letter says %s: %s, want the latest reason", got.Code, got.Reason)
	}
	for _, d := range all[1:] {
		if d.Count != 0 || !d.LastAt.IsZero() {
			t.Errorf("dead letter seen once = %+v, want no count and no last_at", d)
		}
	}
	stView(t, s, func(tx *state.Tx) error {
		if n := tx.DeadLetterIndexLen(); n != 3 {
			t.Errorf("DeadLetterIndexLen = %d, want 3", n)
		}
		return nil
	})
}

// Once a dead letter is deleted (retried successfully), the same payload
// arriving again is a new dead letter, not a count on a deleted one.
func TestDeleteDeadLetterForgetsItsPayload(t *testing.T) {
	s := stOpen(t, stPath(t))
	first := dlPut(t, s, state.DeadLetter{Source: "tos", Code: state.CodeMalformed, ReceivedAt: stT0, Payload: "{"})
	keep := dlPut(t, s, state.DeadLetter{Source: "tos", Code: state.CodeMalformed, ReceivedAt: stT0, Payload: "["})
	stUpdate(t, s, func(tx *state.Tx) error { return tx.DeleteDeadLetter(first.ID) })
	stView(t, s, func(tx *state.Tx) error {
		if n := tx.DeadLetterIndexLen(); n != 1 {
			t.Errorf("DeadLetterIndexLen after a delete = %d, want 1", n)
		}
		return nil
	})
	again := dlPut(t, s, state.DeadLetter{Source: "tos", Code: state.CodeMalformed, ReceivedAt: stT0.Add(time.Hour), Payload: "{"})
	if again.ID == first.ID || again.ID == keep.ID {
		t.Errorf("the payload after its dead letter was deleted got id %s", again.ID)
	}
	if all := dlAll(t, s); len(all) != 2 || all[1].Count != 0 {
		t.Errorf("dead letters %+v, want the kept one and a fresh one", all)
	}
}

// Deleting a dead letter drops the digest entry only if it is its own: a
// second dead letter with the same payload, stored under an id the caller
// chose, does not take the digest over, and deleting it leaves the first
// one counting.
func TestDeleteDeadLetterLeavesAnotherDeadLettersDigest(t *testing.T) {
	s := stOpen(t, stPath(t))
	given := dlPut(t, s, state.DeadLetter{ID: "dl-old", Source: "tos", Code: state.CodeMalformed, ReceivedAt: stT0, Payload: "{"})
	stUpdate(t, s, func(tx *state.Tx) error { return tx.DeleteDeadLetter(given.ID) })
	first := dlPut(t, s, state.DeadLetter{Source: "tos", Code: state.CodeMalformed, ReceivedAt: stT0, Payload: "{"})
	second := dlPut(t, s, state.DeadLetter{ID: "dl-manual", Source: "tos", Code: state.CodeMalformed, ReceivedAt: stT0, Payload: "{"})
	stUpdate(t, s, func(tx *state.Tx) error { return tx.DeleteDeadLetter(second.ID) })
	if again := dlPut(t, s, state.DeadLetter{Source: "tos", Code: state.CodeMalformed, ReceivedAt: stT0, Payload: "{"}); again.ID != first.ID {
		t.Errorf("repeat got id %s, want %s", again.ID, first.ID)
	}
}
