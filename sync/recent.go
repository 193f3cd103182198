package sync

import "github.com/portsync/portsync/state"

// recentSize is how many journal entries the dashboard's activity list
// keeps in memory.
const recentSize = 200

// recentRing holds the last recentSize journal entries the writer
// committed, for the dashboard's activity list. It is a fixed ring, so
// that remembering a commit's entries only copies them: the slice it
// replaced was copied whole at every commit once full, 200 entries and
// about 20 KB a commit, a quarter of what the daemon allocated at 1,000
// events/s, where each event is a commit of its own.
type recentRing struct {
	entries [recentSize]state.JournalEntry
	next    int // where the next entry goes
	n       int // how many it holds
}

// add remembers entries, oldest first; only the last recentSize of them
// can stay.
func (r *recentRing) add(entries []state.JournalEntry) {
	if len(entries) > recentSize {
		entries = entries[len(entries)-recentSize:]
	}
	for _, e := range entries {
		r.entries[r.next] = e
		r.next = (r.next + 1) % recentSize
	}
	r.n = min(r.n+len(entries), recentSize)
}

// newestFirst returns a copy of the entries held, newest first.
func (r *recentRing) newestFirst() []state.JournalEntry {
	out := make([]state.JournalEntry, r.n)
	for i := range out {
		out[i] = r.entries[(r.next-1-i+recentSize)%recentSize]
	}
	return out
}
