package state_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/portsync/portsync/state"
)

// rtCutoff is the retention cutoff of these tests: entries before it go.
var rtCutoff = stT0.Add(-90 * 24 * time.Hour)

// rtSeed journals, in time order, old entries (before rtCutoff) for
// containers a and b, then new ones for b and c, one transaction each
// (as the writer would), and returns the event ids of each group.
func rtSeed(t *testing.T, s *state.Store, old, young int) (oldIDs, youngIDs []string) {
	t.Helper()
	for i := range old {
		id := fmt.Sprintf("OLD-%03d", i)
		c := []string{"MSCU1234566", "TGHU1234567"}[i%2]
		at := rtCutoff.Add(-time.Duration(old-i) * time.Minute)
		stUpdate(t, s, func(tx *state.Tx) error {
			return tx.Journal(&state.JournalEntry{At: at, Kind: state.JournalAgencyEvent, Container: c, Source: "customs-mqtt", EventID: id})
		})
		oldIDs = append(oldIDs, id)
	}
	for i := range young {
		id := fmt.Sprintf("NEW-%03d", i)
		c := []string{"TGHU1234567", "CSQU3054383"}[i%2]
		at := rtCutoff.Add(time.Duration(i) * time.Minute) // the first is exactly at the cutoff: kept
		stUpdate(t, s, func(tx *state.Tx) error {
			return tx.Journal(&state.JournalEntry{At: at, Kind: state.JournalAgencyEvent, Container: c, Source: "customs-mqtt", EventID: id})
		})
		youngIDs = append(youngIDs, id)
	}
	return oldIDs, youngIDs
}

func rtEventIDs(t *testing.T, s *state.Store, container string) []string {
	t.Helper()
	var ids []string
	stView(t, s, func(tx *state.Tx) error {
		h, err := tx.History(container)
		if err != nil {
			return err
		}
		for _, e := range h {
			ids = append(ids, e.EventID)
		}
		return nil
	})
	return ids
}

func TestPruneJournalDeletesOldEntriesInChunks(t *testing.T) {
	path := stPath(t)
	s := stOpen(t, path)
	oldIDs, youngIDs := rtSeed(t, s, 25, 10)

	var chunks, total int
	for more := true; more; {
		var n int
		stUpdate(t, s, func(tx *state.Tx) error {
			var err error
			n, more, err = tx.PruneJournal(rtCutoff, 7)
			return err
		})
		if n > 7 {
			t.Fatalf("PruneJournal(max 7) deleted %d", n)
		}
		chunks++
		total += n
		if chunks > 10 {
			t.Fatal("PruneJournal keeps saying more")
		}
	}
	if total != len(oldIDs) {
		t.Errorf("pruned %d entries, want %d", total, len(oldIDs))
	}
	// 25 old entries at 7 a chunk: 7, 7, 7, 4 and no empty fifth chunk.
	if chunks != 4 {
		t.Errorf("pruning took %d chunks, want 4", chunks)
	}

	// Only the young entries remain, in History and in the index.
	if got, want := rtEventIDs(t, s, "MSCU1234566"), []string(nil); !slices.Equal(got, want) {
		t.Errorf("history of MSCU1234566 (old only) = %v, want none", got)
	}
	var wantB, wantC []string
	for i, id := range youngIDs {
		if i%2 == 0 {
			wantB = append(wantB, id)
		} else {
			wantC = append(wantC, id)
		}
	}
	if got := rtEventIDs(t, s, "TGHU1234567"); !slices.Equal(got, wantB) {
		t.Errorf("history of TGHU1234567 = %v, want %v", got, wantB)
	}
	if got := rtEventIDs(t, s, "CSQU3054383"); !slices.Equal(got, wantC) {
		t.Errorf("history of CSQU3054383 = %v, want %v", got, wantC)
	}
	stView(t, s, func(tx *state.Tx) error {
		if n := tx.JournalLen(); n != len(youngIDs) {
			t.Errorf("JournalLen = %d, want %d", n, len(youngIDs))
		}
		if n := tx.JournalIndexLen(); n != len(youngIDs) {
			t.Errorf("JournalIndexLen = %d, want %d: index keys of pruned entries left behind", n, len(youngIDs))
		}
		return nil
	})

	// Nothing more to do; a later run finds nothing and says so.
	stUpdate(t, s, func(tx *state.Tx) error {
		n, more, err := tx.PruneJournal(rtCutoff, 7)
		if n != 0 || more || err != nil {
			t.Errorf("second PruneJournal = %d, %v, %v; want 0, false, nil", n, more, err)
		}
		return nil
	})

	// New entries keep their sequence after pruning (no reuse) and the
	// survivors outlive a reopen.
	stUpdate(t, s, func(tx *state.Tx) error {
		return tx.Journal(&state.JournalEntry{At: stT0, Kind: state.JournalTOSEvent, Container: "CSQU3054383", EventID: "LATER"})
	})
	s.Close()
	s = stOpen(t, path)
	stView(t, s, func(tx *state.Tx) error {
		h, err := tx.History("CSQU3054383")
		if err != nil {
			return err
		}
		last := h[len(h)-1]
		if last.EventID != "LATER" || last.Seq != uint64(len(oldIDs)+len(youngIDs)+1) {
			t.Errorf("entry after pruning = %+v, want LATER with seq %d", last, len(oldIDs)+len(youngIDs)+1)
		}
		return nil
	})
}

func TestPruneJournalStopsAtFirstYoungEntry(t *testing.T) {
	s := stOpen(t, stPath(t))
	// The clock stepped back: an old entry behind a young one stays until
	// the young one is old enough (time order is assumed, not searched).
	for i, at := range []time.Time{rtCutoff.Add(-time.Hour), rtCutoff.Add(time.Hour), rtCutoff.Add(-2 * time.Hour)} {
		stUpdate(t, s, func(tx *state.Tx) error {
			return tx.Journal(&state.JournalEntry{At: at, Kind: state.JournalAgencyEvent, Container: "MSCU1234566", EventID: fmt.Sprint(i)})
		})
	}
	stUpdate(t, s, func(tx *state.Tx) error {
		n, more, err := tx.PruneJournal(rtCutoff, 100)
		if n != 1 || more || err != nil {
			t.Errorf("PruneJournal = %d, %v, %v; want 1, false, nil", n, more, err)
		}
		return nil
	})
	if got := rtEventIDs(t, s, "MSCU1234566"); !slices.Equal(got, []string{"1", "2"}) {
		t.Errorf("history = %v, want [1 2]", got)
	}
}

func TestPruneJournalEmptyAndZeroMax(t *testing.T) {
	s := stOpen(t, stPath(t))
	stUpdate(t, s, func(tx *state.Tx) error {
		if n, more, err := tx.PruneJournal(stT0, 10); n != 0 || more || err != nil {
			t.Errorf("PruneJournal on an empty journal = %d, %v, %v", n, more, err)
		}
		return nil
	})
	rtSeed(t, s, 3, 0)
	stUpdate(t, s, func(tx *state.Tx) error {
		if n, more, err := tx.PruneJournal(stT0, 0); n != 0 || more || err != nil {
			t.Errorf("PruneJournal(max 0) = %d, %v, %v", n, more, err)
		}
		return nil
	})
}

func TestPruneDedupeByAgeInChunks(t *testing.T) {
	path := stPath(t)
	s := stOpen(t, path)
	// Keys in an order that has nothing to do with their age: old and
	// young interleave across sources.
	type key struct {
		source, id string
		old        bool
	}
	var keys []key
	for i := range 300 {
		src := []string{"customs-mqtt", "tos-events", "ciq-http"}[i%3]
		keys = append(keys, key{src, fmt.Sprintf("EV-%04d", (i*7919)%1000), i%4 != 0})
	}
	stUpdate(t, s, func(tx *state.Tx) error {
		for i, k := range keys {
			at := rtCutoff.Add(time.Duration(i+1) * time.Second)
			if k.old {
				at = rtCutoff.Add(-time.Duration(i+1) * time.Second)
			}
			if err := tx.MarkSeen(k.source, k.id, at, nil); err != nil {
				return err
			}
		}
		return nil
	})
	var old int
	for _, k := range keys {
		if k.old {
			old++
		}
	}

	const max = 20
	var after []byte
	chunks, total := 0, 0
	for first := true; first || after != nil; first = false {
		var n int
		from := after
		stUpdate(t, s, func(tx *state.Tx) error {
			var err error
			n, after, err = tx.PruneDedupe(rtCutoff, from, max)
			return err
		})
		if n > max {
			t.Fatalf("PruneDedupe(max %d) deleted %d", max, n)
		}
		if after != nil && from != nil && string(after) <= string(from) {
			t.Fatalf("PruneDedupe went backwards: %q after %q", after, from)
		}
		chunks++
		total += n
		if chunks > 100 {
			t.Fatal("PruneDedupe does not finish")
		}
	}
	if total != old {
		t.Errorf("pruned %d dedupe keys, want %d", total, old)
	}
	if want := (old + max - 1) / max; chunks < want {
		t.Errorf("pruning took %d chunks, want at least %d", chunks, want)
	}
	s.Close()
	s = stOpen(t, path)
	stView(t, s, func(tx *state.Tx) error {
		for _, k := range keys {
			if got := tx.Seen(k.source, k.id); got == k.old {
				t.Errorf("Seen(%s, %s) = %v after pruning; old = %v", k.source, k.id, got, k.old)
			}
		}
		if n := tx.DedupeLen(); n != len(keys)-old {
			t.Errorf("DedupeLen = %d, want %d", n, len(keys)-old)
		}
		return nil
	})
}

func TestPruneDedupeScanIsBounded(t *testing.T) {
	s := stOpen(t, stPath(t))
	// Only young keys: a call examines at most DedupeScanFactor*max keys,
	// deletes nothing, and says where to go on.
	const n, max = 100, 2
	stUpdate(t, s, func(tx *state.Tx) error {
		for i := range n {
			if err := tx.MarkSeen("src", fmt.Sprintf("%04d", i), stT0, nil); err != nil {
				return err
			}
		}
		return nil
	})
	var after []byte
	calls := 0
	for first := true; first || after != nil; first = false {
		from := after
		stUpdate(t, s, func(tx *state.Tx) error {
			deleted, next, err := tx.PruneDedupe(rtCutoff, from, max)
			if deleted != 0 || err != nil {
				t.Errorf("PruneDedupe of young keys = %d, %v", deleted, err)
			}
			after = next
			return nil
		})
		calls++
		if calls > n {
			t.Fatal("PruneDedupe does not finish")
		}
	}
	if want := (n + state.DedupeScanFactor*max - 1) / (state.DedupeScanFactor * max); calls != want {
		t.Errorf("scanning %d young keys took %d calls, want %d", n, calls, want)
	}
}

func TestPruneDedupeInOneCall(t *testing.T) {
	s := stOpen(t, stPath(t))
	stUpdate(t, s, func(tx *state.Tx) error {
		if err := tx.MarkSeen("src", "old", rtCutoff.Add(-time.Hour), nil); err != nil {
			return err
		}
		n, next, err := tx.PruneDedupe(rtCutoff, nil, 10)
		if n != 1 || next != nil || err != nil {
			t.Errorf("PruneDedupe = %d, %q, %v; want 1, nil, nil", n, next, err)
		}
		if tx.Seen("src", "old") {
			t.Error("old key survived")
		}
		return nil
	})
}

// TestPruneDeadLettersByLastSeenInChunks: dead letters last seen before
// the cutoff go with their digests, in chunks; one received before the
// cutoff but seen again after it stays.
func TestPruneDeadLettersByLastSeenInChunks(t *testing.T) {
	s := stOpen(t, stPath(t))
	var oldIDs []string
	for i := range 5 {
		d := state.DeadLetter{Source: "customs-poll", Code: state.CodeMalformed, ReceivedAt: rtCutoff.Add(-time.Duration(5-i) * time.Hour), Payload: fmt.Sprintf("old %d", i)}
		stUpdate(t, s, func(tx *state.Tx) error { return tx.PutDeadLetter(&d) })
		oldIDs = append(oldIDs, d.ID)
	}
	for _, d := range []state.DeadLetter{
		{Source: "customs-poll", Code: state.CodeMalformed, ReceivedAt: rtCutoff.Add(-time.Hour), Payload: "seen again"},
		{Source: "customs-poll", Code: state.CodeMalformed, ReceivedAt: rtCutoff.Add(time.Minute), Payload: "seen again"},
		{Source: "customs-poll", Code: state.CodeMalformed, ReceivedAt: rtCutoff, Payload: "at the cutoff"},
	} {
		stUpdate(t, s, func(tx *state.Tx) error { return tx.PutDeadLetter(&d) })
	}

	var total, chunks int
	var after []byte
	for first := true; first || after != nil; first = false {
		var n int
		from := after
		stUpdate(t, s, func(tx *state.Tx) error {
			var err error
			n, after, err = tx.PruneDeadLetters(rtCutoff, from, 2)
			return err
		})
		if n > 2 {
			t.Fatalf("PruneDeadLetters(max 2) deleted %d", n)
		}
		total += n
		if chunks++; chunks > 10 {
			t.Fatal("PruneDeadLetters never reaches the end")
		}
	}
	if total != len(oldIDs) {
		t.Errorf("pruned %d dead letters, want %d", total, len(oldIDs))
	}
	var left []string
	stView(t, s, func(tx *state.Tx) error {
		dls, err := tx.DeadLetters()
		for _, d := range dls {
			left = append(left, d.Payload)
		}
		if n := tx.DeadLetterIndexLen(); n != len(dls) {
			t.Errorf("DeadLetterIndexLen = %d with %d dead letters: digests of pruned ones left behind", n, len(dls))
		}
		return err
	})
	if want := []string{"seen again", "at the cutoff"}; !slices.Equal(left, want) {
		t.Errorf("dead letters after pruning: %q, want %q", left, want)
	}
	stUpdate(t, s, func(tx *state.Tx) error {
		n, next, err := tx.PruneDeadLetters(rtCutoff, nil, 0)
		if n != 0 || next != nil || err != nil {
			t.Errorf("PruneDeadLetters(max 0) = %d, %x, %v", n, next, err)
		}
		return nil
	})
}
