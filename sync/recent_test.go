package sync

import (
	"testing"

	"github.com/portsync/portsync/state"
)

// TestRecentAfterLargeGroup checks that a group journaling many more
// entries than the activity list holds still leaves its last recentSize
// entries there, newest first (the writer keeps only the tail of a group's
// entries).
func TestRecentAfterLargeGroup(t *testing.T) {
	e := newTestEngine(t, nil)
	const n = 5*recentSize + 37
	msgs, ids := tosArrivals(t, n)
	commitBatch(t, e, &batch{msgs: msgs, touch: map[string]bool{}})
	recent := e.Recent()
	if len(recent) != recentSize {
		t.Fatalf("Recent holds %d entries, want %d", len(recent), recentSize)
	}
	for i, r := range recent {
		if want := ids[n-1-i]; r.Container != want || r.Kind != state.JournalTOSEvent {
			t.Fatalf("Recent()[%d] = %s %s, want the arrival of %s", i, r.Kind, r.Container, want)
		}
		if i > 0 && r.Seq != recent[i-1].Seq-1 {
			t.Fatalf("Recent()[%d].Seq = %d after %d, want consecutive", i, r.Seq, recent[i-1].Seq)
		}
	}
}
