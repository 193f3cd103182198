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

// The ring keeps the last recentSize entries over any sequence of adds,
// newest first, and remembering allocates nothing.
func TestRecentRing(t *testing.T) {
	entries := func(from, to int) []state.JournalEntry {
		var out []state.JournalEntry
		for seq := from; seq < to; seq++ {
			out = append(out, state.JournalEntry{Seq: uint64(seq)})
		}
		return out
	}
	tests := []struct {
		name  string
		adds  [][2]int // each adds the entries of sequences [from, to)
		first uint64   // the newest sequence held
		n     int
	}{
		{"nothing", nil, 0, 0},
		{"fewer than it holds", [][2]int{{1, 4}, {4, 5}}, 4, 4},
		{"exactly full", [][2]int{{1, recentSize + 1}}, recentSize, recentSize},
		{"wrapped by one at a time", [][2]int{{1, 150}, {150, 260}, {260, 261}}, 260, recentSize},
		{"one add larger than the ring", [][2]int{{1, 10}, {10, 10 + 3*recentSize + 7}}, 9 + 3*recentSize + 7, recentSize},
	}
	for _, tt := range tests {
		var r recentRing
		for _, a := range tt.adds {
			r.add(entries(a[0], a[1]))
		}
		got := r.newestFirst()
		if len(got) != tt.n {
			t.Errorf("%s: holds %d entries, want %d", tt.name, len(got), tt.n)
			continue
		}
		for i, e := range got {
			if want := tt.first - uint64(i); e.Seq != want {
				t.Errorf("%s: entry %d is sequence %d, want %d", tt.name, i, e.Seq, want)
				break
			}
		}
	}
	var r recentRing
	batch := entries(1, 4)
	if allocs := testing.AllocsPerRun(100, func() { r.add(batch) }); allocs != 0 {
		t.Errorf("add allocates %v times, want none", allocs)
	}
}
