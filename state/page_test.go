package state_test

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/portsync/portsync/state"
)

// walkPages calls next with the cursor of each page until it returns ""
// and collects what the pages held.
func walkPages[T any](t *testing.T, s *state.Store, next func(tx *state.Tx, after string) ([]T, string, error)) ([]T, []int) {
	t.Helper()
	var all []T
	var sizes []int
	after := ""
	for {
		var got []T
		stView(t, s, func(tx *state.Tx) (err error) {
			got, after, err = next(tx, after)
			return err
		})
		if got == nil {
			t.Fatal("a page is nil, want [] when empty")
		}
		all = append(all, got...)
		sizes = append(sizes, len(got))
		if after == "" {
			return all, sizes
		}
		if len(sizes) > 1000 {
			t.Fatal("no end to the pages")
		}
	}
}

func TestDeadLettersPage(t *testing.T) {
	s := stOpen(t, stPath(t))
	stView(t, s, func(tx *state.Tx) error {
		got, next, err := tx.DeadLettersPage("", 10)
		if err != nil || len(got) != 0 || next != "" {
			t.Fatalf("empty store: %v %q %v", got, next, err)
		}
		return nil
	})
	var want []string
	stUpdate(t, s, func(tx *state.Tx) error {
		for i := range 25 {
			d := state.DeadLetter{Source: "s", Code: state.CodeMalformed, Payload: fmt.Sprint(i), ReceivedAt: stT0}
			if err := tx.PutDeadLetter(&d); err != nil {
				return err
			}
			want = append(want, d.ID)
		}
		return nil
	})
	all, sizes := walkPages(t, s, func(tx *state.Tx, after string) ([]state.DeadLetter, string, error) {
		return tx.DeadLettersPage(after, 10)
	})
	var got []string
	for _, d := range all {
		got = append(got, d.ID)
	}
	if !slices.Equal(got, want) || !slices.Equal(sizes, []int{10, 10, 5}) {
		t.Fatalf("pages %v of %v, want 10,10,5 of %v", sizes, got, want)
	}
	// An exact fit ends without an empty page.
	_, sizes = walkPages(t, s, func(tx *state.Tx, after string) ([]state.DeadLetter, string, error) {
		return tx.DeadLettersPage(after, 5)
	})
	if !slices.Equal(sizes, []int{5, 5, 5, 5, 5}) {
		t.Fatalf("pages of 5: %v", sizes)
	}
	// A cursor whose dead letter was retried away meanwhile still works.
	stUpdate(t, s, func(tx *state.Tx) error { return tx.DeleteDeadLetter(want[9]) })
	stView(t, s, func(tx *state.Tx) error {
		got, _, err := tx.DeadLettersPage(want[9], 3)
		if err != nil || len(got) != 3 || got[0].ID != want[10] {
			t.Fatalf("after a deleted cursor: %v %v", got, err)
		}
		return nil
	})
}

func TestHistoryPage(t *testing.T) {
	s := stOpen(t, stPath(t))
	const a, b = "MSCU1234566", "MSCU1234566X"
	stUpdate(t, s, func(tx *state.Tx) error {
		for i := range 23 {
			for _, c := range []string{a, b} {
				if err := tx.Journal(&state.JournalEntry{At: stT0.Add(time.Duration(i) * time.Second), Kind: state.JournalAgencyEvent, Container: c, EventID: fmt.Sprint(i)}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	var all []state.JournalEntry
	var sizes []int
	var after uint64
	for {
		var got []state.JournalEntry
		stView(t, s, func(tx *state.Tx) (err error) {
			got, after, err = tx.HistoryPage(a, after, 10)
			return err
		})
		all, sizes = append(all, got...), append(sizes, len(got))
		if after == 0 {
			break
		}
	}
	if !slices.Equal(sizes, []int{10, 10, 3}) {
		t.Fatalf("pages %v, want 10,10,3", sizes)
	}
	for i, e := range all {
		if e.Container != a || e.EventID != fmt.Sprint(i) {
			t.Fatalf("entry %d: %s %s, want %s %d (oldest first, this container only)", i, e.Container, e.EventID, a, i)
		}
	}
	stView(t, s, func(tx *state.Tx) error {
		full, _ := tx.History(a)
		if !slices.EqualFunc(full, all, func(x, y state.JournalEntry) bool { return x.Seq == y.Seq }) {
			t.Fatalf("pages differ from History")
		}
		if got, next, err := tx.HistoryPage(a, math.MaxUint64, 10); err != nil || len(got) != 0 || next != 0 {
			t.Fatalf("after the last sequence: %v %d %v", got, next, err)
		}
		if got, next, err := tx.HistoryPage("NONE0000000", 0, 10); err != nil || got == nil || len(got) != 0 || next != 0 {
			t.Fatalf("unknown container: %v %d %v", got, next, err)
		}
		return nil
	})
}

func TestMismatchesAndAlertsPages(t *testing.T) {
	s := stOpen(t, stPath(t))
	var mismatches, firing []string
	stUpdate(t, s, func(tx *state.Tx) error {
		for i := range 30 {
			id := fmt.Sprintf("TEST%07d", i)
			for _, agency := range []string{"customs", "quarantine"} {
				if err := tx.PutMismatch(agency, state.Mismatch{Container: id, Agency: agency, Kind: state.KindStaleHold, Since: stT0}); err != nil {
					return err
				}
				mismatches = append(mismatches, id+" "+agency)
			}
			st := state.Firing
			if i%3 != 0 {
				firing = append(firing, "a/"+id)
			} else {
				st = state.Resolved
			}
			if err := tx.PutAlert(state.Alert{ID: "a/" + id, State: st, Since: stT0, At: stT0}); err != nil {
				return err
			}
		}
		return nil
	})
	ms, sizes := walkPages(t, s, func(tx *state.Tx, after string) ([]state.Mismatch, string, error) {
		return tx.MismatchesPage(after, 7)
	})
	var got []string
	for _, m := range ms {
		got = append(got, m.Container+" "+m.Agency)
	}
	if !slices.Equal(got, mismatches) || len(sizes) != 9 {
		t.Fatalf("mismatch pages %v: %v", sizes, got)
	}
	as, sizes := walkPages(t, s, func(tx *state.Tx, after string) ([]state.Alert, string, error) {
		return tx.FiringAlertsPage(after, 4)
	})
	got = nil
	for _, a := range as {
		got = append(got, a.ID)
	}
	if !slices.Equal(got, firing) || !slices.Equal(sizes, []int{4, 4, 4, 4, 4}) {
		t.Fatalf("firing alert pages %v: %v, want %v", sizes, got, firing)
	}
}

func TestFindRefsAfter(t *testing.T) {
	s := stOpen(t, stPath(t))
	stUpdate(t, s, func(tx *state.Tx) error {
		for i := range 12 {
			id := fmt.Sprintf("TEST%07d", i)
			// Some containers are under the reference as a B/L and as a
			// declaration both: they come once.
			if i%2 == 0 {
				if err := tx.PutRef(state.RefBL, "R1", id); err != nil {
					return err
				}
			}
			if i%3 == 0 || i%2 == 1 {
				if err := tx.PutRef(state.RefDeclaration, "R1", id); err != nil {
					return err
				}
			}
			if err := tx.PutRef(state.RefBL, "R10", id); err != nil {
				return err
			}
		}
		return nil
	})
	stView(t, s, func(tx *state.Tx) error {
		want := tx.FindRefs("R1")
		if len(want) != 12 {
			t.Fatalf("FindRefs: %v", want)
		}
		var got []string
		after := ""
		for {
			p := tx.FindRefsAfter("R1", after, 5)
			got = append(got, p...)
			if len(p) < 5 {
				break
			}
			after = p[len(p)-1]
		}
		if !slices.Equal(got, want) {
			t.Fatalf("FindRefsAfter pages: %v, want %v", got, want)
		}
		return nil
	})
}
