package state_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/portsync/portsync/state"
)

// stLockTimeout is the lock timeout of stores opened by these tests.
const stLockTimeout = 200 * time.Millisecond

// stT0 is the fixed clock of the store tests.
var stT0 = time.Date(2026, 11, 28, 2, 20, 0, 0, time.UTC)

// stOpen opens the store at path and closes it when the test ends (closing
// twice is harmless for tests that close it themselves).
func stOpen(t *testing.T, path string) *state.Store {
	t.Helper()
	s, err := state.Open(path, stLockTimeout)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func stPath(t *testing.T) string {
	return filepath.Join(t.TempDir(), state.FileName)
}

func stUpdate(t *testing.T, s *state.Store, fn func(*state.Tx) error) {
	t.Helper()
	if err := s.Update(fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

func stView(t *testing.T, s *state.Store, fn func(*state.Tx) error) {
	t.Helper()
	if err := s.View(fn); err != nil {
		t.Fatalf("View: %v", err)
	}
}

// stFullContainer is a container with every field set.
func stFullContainer(id string, p state.Presence) state.Container {
	return state.Container{
		ID:       id,
		Presence: p,
		Agencies: map[string]state.AgencyState{
			"customs":    {Status: state.Released, At: stT0.Add(-time.Hour), EventID: "REL-1", Source: "customs-mqtt", ReceivedAt: stT0.Add(-59 * time.Minute)},
			"quarantine": {Status: state.Held, At: stT0.Add(-2 * time.Hour), EventID: "HLD-7", Source: "ciq-http", ReceivedAt: stT0.Add(-2 * time.Hour)},
		},
		TOSHolds:          []string{"CUSTOMS", "PAYMENT"},
		TOSAt:             stT0.Add(-30 * time.Minute),
		DepartedUncleared: true,
		Mismatches: map[string]state.Mismatch{
			"customs": {Container: id, Agency: "customs", Kind: state.KindStaleHold, Since: stT0.Add(-10 * time.Minute)},
		},
		Pending: map[string]state.PendingCommand{
			"CUSTOMS": {ID: "cmd-000000000001", Action: state.ReleaseHold, Hold: "CUSTOMS", Agency: "customs", Cause: "REL-1", IssuedAt: stT0.Add(-10 * time.Minute), CauseReceivedAt: stT0.Add(-59 * time.Minute)},
		},
		Alerts:       []string{state.KindStaleHold + "/" + id + "/customs"},
		BLs:          []string{"MEDUSH123456"},
		Declarations: []string{"220120261000123456"},
		UpdatedAt:    stT0,
	}
}

func TestOpenCreatesBuckets(t *testing.T) {
	// A parent directory that does not exist yet is created too.
	path := filepath.Join(t.TempDir(), "nested", "dir", state.FileName)
	s := stOpen(t, path)
	if s.Path() != path {
		t.Errorf("Path() = %q, want %q", s.Path(), path)
	}
	// Every read accessor works on a fresh store (a missing bucket would
	// make them fail or panic) and finds nothing.
	stView(t, s, func(tx *state.Tx) error {
		if _, ok, err := tx.Container("MSCU1234566"); ok || err != nil {
			t.Errorf("Container on empty store = %v, %v", ok, err)
		}
		if err := tx.ForEachContainer(func(c state.Container) error {
			t.Errorf("ForEachContainer on empty store visits %s", c.ID)
			return nil
		}); err != nil {
			t.Errorf("ForEachContainer: %v", err)
		}
		if h, err := tx.History("MSCU1234566"); err != nil || len(h) != 0 {
			t.Errorf("History on empty store = %v, %v", h, err)
		}
		if c, err := tx.Commands(); err != nil || len(c) != 0 {
			t.Errorf("Commands on empty store = %v, %v", c, err)
		}
		if m, err := tx.Mismatches(); err != nil || len(m) != 0 {
			t.Errorf("Mismatches on empty store = %v, %v", m, err)
		}
		if a, err := tx.Alerts(); err != nil || len(a) != 0 {
			t.Errorf("Alerts on empty store = %v, %v", a, err)
		}
		if _, ok, err := tx.Alert("x"); ok || err != nil {
			t.Errorf("Alert on empty store = %v, %v", ok, err)
		}
		if d, err := tx.DeadLetters(); err != nil || len(d) != 0 {
			t.Errorf("DeadLetters on empty store = %v, %v", d, err)
		}
		if _, ok, err := tx.DeadLetter("dl-000000000001"); ok || err != nil {
			t.Errorf("DeadLetter on empty store = %v, %v", ok, err)
		}
		if tx.Seen("src", "id") {
			t.Errorf("Seen on empty store = true")
		}
		if c := tx.Cursor("src"); c != "" {
			t.Errorf("Cursor on empty store = %q", c)
		}
		want := map[state.Presence]int64{state.Expected: 0, state.InYard: 0, state.Departed: 0}
		if got := tx.PresenceCounts(); !reflect.DeepEqual(got, want) {
			t.Errorf("PresenceCounts on empty store = %v, want %v", got, want)
		}
		return nil
	})
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	// The buckets are really in the file.
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatalf("bolt.Open: %v", err)
	}
	defer db.Close()
	var names []string
	if err := db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			names = append(names, string(name))
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"containers", "journal", "dedupe", "outbox", "alerts", "deadletters", "cursors", "mismatches", "meta"} {
		if !slices.Contains(names, want) {
			t.Errorf("bucket %q missing; file has %v", want, names)
		}
	}
}

func TestOpenExistingStoreKeepsData(t *testing.T) {
	path := stPath(t)
	s := stOpen(t, path)
	stUpdate(t, s, func(tx *state.Tx) error { return tx.PutCursor("poll", "c-1") })
	s.Close()
	// Opening again must not wipe the buckets it finds.
	s = stOpen(t, path)
	stView(t, s, func(tx *state.Tx) error {
		if got := tx.Cursor("poll"); got != "c-1" {
			t.Errorf("Cursor after reopen = %q, want c-1", got)
		}
		return nil
	})
}

func TestContainerRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		c    state.Container
	}{
		{name: "minimal expected", c: state.Container{ID: "MSCU1234566", Presence: state.Expected, TOSHolds: []string{}, UpdatedAt: stT0}},
		{name: "in yard with holds", c: state.Container{ID: "CSQU3054383", Presence: state.InYard, TOSHolds: []string{"CUSTOMS"}, TOSAt: stT0, UpdatedAt: stT0}},
		{name: "every field set", c: stFullContainer("TGHU1234567", state.Departed)},
		{name: "sub-second times", c: state.Container{ID: "BICU1234565", Presence: state.InYard, TOSHolds: []string{}, TOSAt: stT0.Add(123456789 * time.Nanosecond), UpdatedAt: stT0.Add(time.Nanosecond)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := stOpen(t, stPath(t))
			stUpdate(t, s, func(tx *state.Tx) error { return tx.PutContainer(tt.c, "") })
			stView(t, s, func(tx *state.Tx) error {
				got, ok, err := tx.Container(tt.c.ID)
				if err != nil || !ok {
					t.Fatalf("Container(%s) = ok %v, err %v", tt.c.ID, ok, err)
				}
				if !reflect.DeepEqual(got, tt.c) {
					t.Errorf("Container(%s) round trip\n got %+v\nwant %+v", tt.c.ID, got, tt.c)
				}
				return nil
			})
		})
	}
}

func TestPutContainerReplaces(t *testing.T) {
	s := stOpen(t, stPath(t))
	c := state.Container{ID: "MSCU1234566", Presence: state.Expected, TOSHolds: []string{}}
	stUpdate(t, s, func(tx *state.Tx) error { return tx.PutContainer(c, "") })
	c2 := c.Clone()
	c2.Presence, c2.TOSHolds = state.InYard, []string{"CUSTOMS"}
	stUpdate(t, s, func(tx *state.Tx) error { return tx.PutContainer(c2, state.Expected) })
	stView(t, s, func(tx *state.Tx) error {
		got, ok, err := tx.Container(c.ID)
		if err != nil || !ok || !reflect.DeepEqual(got, c2) {
			t.Errorf("Container after replace = %+v, %v, %v; want %+v", got, ok, err, c2)
		}
		return nil
	})
}

func TestUpdateErrorRollsBack(t *testing.T) {
	s := stOpen(t, stPath(t))
	boom := errors.New("boom")
	err := s.Update(func(tx *state.Tx) error {
		if err := tx.PutContainer(state.Container{ID: "MSCU1234566", Presence: state.InYard, TOSHolds: []string{}}, ""); err != nil {
			return err
		}
		if err := tx.Journal(&state.JournalEntry{Container: "MSCU1234566", Kind: state.JournalTOSEvent, At: stT0}); err != nil {
			return err
		}
		if err := tx.MarkSeen("tos", "N4-1", stT0, nil); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update error = %v, want %v", err, boom)
	}
	stView(t, s, func(tx *state.Tx) error {
		if _, ok, _ := tx.Container("MSCU1234566"); ok {
			t.Error("container of a failed transaction was stored")
		}
		if h, _ := tx.History("MSCU1234566"); len(h) != 0 {
			t.Errorf("journal of a failed transaction was stored: %v", h)
		}
		if tx.Seen("tos", "N4-1") {
			t.Error("dedupe key of a failed transaction was stored")
		}
		if got := tx.PresenceCounts()[state.InYard]; got != 0 {
			t.Errorf("presence count of a failed transaction = %d, want 0", got)
		}
		return nil
	})
}

// stFixture is a store's worth of data of every kind, written by populate
// and checked by check.
type stFixture struct {
	containers  []state.Container // in id order
	journal     []state.JournalEntry
	commands    []state.Command // in id order
	alerts      []state.Alert   // in id order
	deadLetters []state.DeadLetter
	mismatches  []state.Mismatch // in key order
	seen        [][2]string
	cursors     map[string]string
	counts      map[state.Presence]int64
	dlIDs       []string // filled by populate
}

func stNewFixture() *stFixture {
	a := stFullContainer("CSQU3054383", state.InYard)
	b := state.Container{ID: "MSCU1234566", Presence: state.Expected, TOSHolds: []string{}, UpdatedAt: stT0}
	c := state.Container{ID: "TGHU1234567", Presence: state.Departed, TOSHolds: []string{"PAYMENT"}, TOSAt: stT0, UpdatedAt: stT0}
	return &stFixture{
		containers: []state.Container{a, b, c},
		journal: []state.JournalEntry{
			{At: stT0, Kind: state.JournalAgencyEvent, Container: "CSQU3054383", Source: "customs-mqtt", EventID: "REL-1", Agency: "customs", Status: "released", EventAt: stT0.Add(-time.Hour), Result: "applied"},
			{At: stT0.Add(time.Second), Kind: state.JournalTOSEvent, Container: "CSQU3054383", Source: "tos", EventID: "N4-1", Holds: []string{"CUSTOMS"}, EventAt: stT0, Result: "applied"},
			{At: stT0.Add(2 * time.Second), Kind: state.JournalCommand, Container: "CSQU3054383", EventID: "REL-1", Command: "cmd-000000000001", Action: state.ReleaseHold, Hold: "CUSTOMS", Detail: "customs released"},
			{At: stT0.Add(3 * time.Second), Kind: state.JournalAgencyEvent, Container: "MSCU1234566", Source: "customs-mqtt", EventID: "REL-2", Agency: "customs", Status: "released", Result: "applied"},
		},
		commands: []state.Command{
			{ID: "cmd-000000000001", Terminal: "CNSHA-T1", Container: "CSQU3054383", Action: state.ReleaseHold, Hold: "CUSTOMS", Agency: "customs", Cause: "REL-1", Reason: "customs released at 2026-11-28T01:20:00Z", IssuedAt: stT0},
			{ID: "cmd-000000000002", Terminal: "CNSHA-T1", Container: "MSCU1234566", Action: state.AddHold, Hold: "QUARANTINE", Agency: "quarantine", Cause: state.CausePolicyUnknown, Reason: "quarantine has not decided", IssuedAt: stT0},
		},
		alerts: []state.Alert{
			{ID: "stale_hold/CSQU3054383/customs", Kind: state.KindStaleHold, Severity: "warning", State: state.Firing, Terminal: "CNSHA-T1", Container: "CSQU3054383", Agency: "customs", Since: stT0, Summary: "s", At: stT0, Notified: map[string]time.Time{"ops-webhook": stT0}},
			{ID: "unauthorized_departure/TGHU1234567", Kind: state.KindUnauthorizedDeparture, Severity: "critical", State: state.Resolved, Terminal: "CNSHA-T1", Container: "TGHU1234567", Since: stT0, Summary: "d", At: stT0.Add(time.Minute)},
		},
		deadLetters: []state.DeadLetter{
			{Source: "customs-mqtt", Code: state.CodeBadCheckDigit, Reason: "check digit", ReceivedAt: stT0, Payload: `{"id":"x"}`},
			{Source: "tos", Code: state.CodeMalformed, Reason: "not JSON", ReceivedAt: stT0.Add(time.Second), Payload: "{"},
		},
		mismatches: []state.Mismatch{
			{Container: "CSQU3054383", Agency: "customs", Kind: state.KindStaleHold, Since: stT0},
			{Container: "MSCU1234566", Agency: "quarantine", Kind: state.KindMissingHold, Since: stT0.Add(time.Second)},
		},
		seen:    [][2]string{{"customs-mqtt", "REL-1"}, {"tos", "N4-1"}},
		cursors: map[string]string{"customs-http": "page=7", "ciq-file": "2026-11-28T02:00:00Z"},
		counts:  map[state.Presence]int64{state.Expected: 1, state.InYard: 1, state.Departed: 1},
	}
}

func (f *stFixture) populate(t *testing.T, s *state.Store) {
	t.Helper()
	stUpdate(t, s, func(tx *state.Tx) error {
		for _, c := range f.containers {
			if err := tx.PutContainer(c, ""); err != nil {
				return err
			}
		}
		for _, e := range f.journal {
			if err := tx.Journal(&e); err != nil {
				return err
			}
		}
		for _, c := range f.commands {
			if err := tx.PutCommand(c); err != nil {
				return err
			}
		}
		for _, a := range f.alerts {
			if err := tx.PutAlert(a); err != nil {
				return err
			}
		}
		for i := range f.deadLetters {
			d := f.deadLetters[i]
			if err := tx.PutDeadLetter(&d); err != nil {
				return err
			}
			if d.ID == "" {
				t.Errorf("PutDeadLetter gave no id")
			}
			f.dlIDs = append(f.dlIDs, d.ID)
			f.deadLetters[i].ID = d.ID
		}
		for _, m := range f.mismatches {
			if err := tx.PutMismatch(m.Agency, m); err != nil {
				return err
			}
		}
		for _, k := range f.seen {
			if err := tx.MarkSeen(k[0], k[1], stT0, nil); err != nil {
				return err
			}
		}
		for src, cur := range f.cursors {
			if err := tx.PutCursor(src, cur); err != nil {
				return err
			}
		}
		return nil
	})
}

func (f *stFixture) check(t *testing.T, s *state.Store) {
	t.Helper()
	stView(t, s, func(tx *state.Tx) error {
		var got []state.Container
		if err := tx.ForEachContainer(func(c state.Container) error { got = append(got, c); return nil }); err != nil {
			t.Fatalf("ForEachContainer: %v", err)
		}
		if !reflect.DeepEqual(got, f.containers) {
			t.Errorf("containers\n got %+v\nwant %+v", got, f.containers)
		}
		for _, c := range f.containers {
			if one, ok, err := tx.Container(c.ID); err != nil || !ok || !reflect.DeepEqual(one, c) {
				t.Errorf("Container(%s) = %+v, %v, %v", c.ID, one, ok, err)
			}
		}

		for _, id := range []string{"CSQU3054383", "MSCU1234566", "TGHU1234567"} {
			var want []state.JournalEntry
			for _, e := range f.journal {
				if e.Container == id {
					want = append(want, e)
				}
			}
			h, err := tx.History(id)
			if err != nil {
				t.Fatalf("History(%s): %v", id, err)
			}
			if len(h) != len(want) {
				t.Errorf("History(%s) has %d entries, want %d: %+v", id, len(h), len(want), h)
				continue
			}
			for i := range h {
				if h[i].Seq == 0 {
					t.Errorf("History(%s)[%d] has no sequence number", id, i)
				}
				w := want[i]
				w.Seq = h[i].Seq
				if !reflect.DeepEqual(h[i], w) {
					t.Errorf("History(%s)[%d]\n got %+v\nwant %+v", id, i, h[i], w)
				}
			}
		}

		if cmds, err := tx.Commands(); err != nil || !reflect.DeepEqual(cmds, f.commands) {
			t.Errorf("Commands = %+v, %v; want %+v", cmds, err, f.commands)
		}
		if alerts, err := tx.Alerts(); err != nil || !reflect.DeepEqual(alerts, f.alerts) {
			t.Errorf("Alerts = %+v, %v; want %+v", alerts, err, f.alerts)
		}
		for _, a := range f.alerts {
			if one, ok, err := tx.Alert(a.ID); err != nil || !ok || !reflect.DeepEqual(one, a) {
				t.Errorf("Alert(%s) = %+v, %v, %v", a.ID, one, ok, err)
			}
		}
		if dls, err := tx.DeadLetters(); err != nil || !reflect.DeepEqual(dls, f.deadLetters) {
			t.Errorf("DeadLetters = %+v, %v; want %+v", dls, err, f.deadLetters)
		}
		for _, d := range f.deadLetters {
			if one, ok, err := tx.DeadLetter(d.ID); err != nil || !ok || !reflect.DeepEqual(one, d) {
				t.Errorf("DeadLetter(%s) = %+v, %v, %v", d.ID, one, ok, err)
			}
		}
		if ms, err := tx.Mismatches(); err != nil || !reflect.DeepEqual(ms, f.mismatches) {
			t.Errorf("Mismatches = %+v, %v; want %+v", ms, err, f.mismatches)
		}
		for _, k := range f.seen {
			if !tx.Seen(k[0], k[1]) {
				t.Errorf("Seen(%q, %q) = false, want true", k[0], k[1])
			}
		}
		// Dedupe is per source: the same id from another source is new.
		if tx.Seen("other-source", "REL-1") {
			t.Error(`Seen("other-source", "REL-1") = true, want false`)
		}
		if tx.Seen("customs-mqtt", "REL-") || tx.Seen("customs-mqt", "tREL-1") {
			t.Error("Seen matches a different (source, id) with the same concatenation")
		}
		for src, cur := range f.cursors {
			if got := tx.Cursor(src); got != cur {
				t.Errorf("Cursor(%q) = %q, want %q", src, got, cur)
			}
		}
		if got := tx.PresenceCounts(); !reflect.DeepEqual(got, f.counts) {
			t.Errorf("PresenceCounts = %v, want %v", got, f.counts)
		}
		return nil
	})
}

func TestStoreSurvivesReopen(t *testing.T) {
	path := stPath(t)
	s := stOpen(t, path)
	f := stNewFixture()
	f.populate(t, s)
	f.check(t, s)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s2 := stOpen(t, path)
	f.check(t, s2)
}

func TestStoreWriteToIsAStore(t *testing.T) {
	s := stOpen(t, stPath(t))
	f := stNewFixture()
	f.populate(t, s)

	backup := filepath.Join(t.TempDir(), "backup.db")
	out, err := os.Create(backup)
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.WriteTo(out)
	if err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(backup)
	if err != nil {
		t.Fatal(err)
	}
	if n <= 0 || n != fi.Size() {
		t.Errorf("WriteTo returned %d bytes, file has %d", n, fi.Size())
	}
	// The original stays usable and open while the copy is opened.
	b := stOpen(t, backup)
	f.check(t, b)
	f.check(t, s)

	// The copy is independent of the original.
	stUpdate(t, s, func(tx *state.Tx) error { return tx.PutCursor("customs-http", "page=8") })
	stView(t, b, func(tx *state.Tx) error {
		if got := tx.Cursor("customs-http"); got != "page=7" {
			t.Errorf("backup cursor = %q after changing the original, want page=7", got)
		}
		return nil
	})
}

func TestHistoryPerContainerOldestFirst(t *testing.T) {
	s := stOpen(t, stPath(t))
	// Interleave entries of containers whose ids are prefixes of one another.
	ids := []string{"MSCU1234566", "MSCU123456", "MSCU12345660", "MSCU1", "CSQU3054383"}
	const perContainer = 5
	stUpdate(t, s, func(tx *state.Tx) error {
		for i := 0; i < perContainer; i++ {
			for _, id := range ids {
				e := state.JournalEntry{At: stT0.Add(time.Duration(i) * time.Second), Kind: state.JournalTOSEvent, Container: id, EventID: id + "#" + string(rune('0'+i))}
				if err := tx.Journal(&e); err != nil {
					return err
				}
			}
		}
		return nil
	})
	// One more entry in a later transaction, after many others.
	stUpdate(t, s, func(tx *state.Tx) error {
		return tx.Journal(&state.JournalEntry{At: stT0.Add(time.Hour), Kind: state.JournalCommand, Container: "MSCU1234566", EventID: "MSCU1234566#last"})
	})
	stView(t, s, func(tx *state.Tx) error {
		for _, id := range ids {
			h, err := tx.History(id)
			if err != nil {
				t.Fatalf("History(%s): %v", id, err)
			}
			want := perContainer
			if id == "MSCU1234566" {
				want++
			}
			if len(h) != want {
				t.Errorf("History(%s) has %d entries, want %d", id, len(h), want)
			}
			for i, e := range h {
				if e.Container != id {
					t.Errorf("History(%s)[%d] belongs to %s", id, i, e.Container)
				}
				if i > 0 && e.Seq <= h[i-1].Seq {
					t.Errorf("History(%s) not oldest first: seq %d after %d", id, e.Seq, h[i-1].Seq)
				}
				wantEv := id + "#" + string(rune('0'+i))
				if i == perContainer {
					wantEv = id + "#last"
				}
				if e.EventID != wantEv {
					t.Errorf("History(%s)[%d] = %s, want %s", id, i, e.EventID, wantEv)
				}
			}
		}
		if h, err := tx.History("MSCU12"); err != nil || len(h) != 0 {
			t.Errorf("History of a container with no journal but a prefix of others = %d entries, %v", len(h), err)
		}
		return nil
	})
}

func TestHistoryOrderBeyond256Entries(t *testing.T) {
	// Sequence numbers must order numerically, not as text, past one byte.
	s := stOpen(t, stPath(t))
	const n = 300
	stUpdate(t, s, func(tx *state.Tx) error {
		for i := 0; i < n; i++ {
			if err := tx.Journal(&state.JournalEntry{At: stT0.Add(time.Duration(i) * time.Second), Kind: state.JournalTOSEvent, Container: "MSCU1234566"}); err != nil {
				return err
			}
		}
		return nil
	})
	stView(t, s, func(tx *state.Tx) error {
		h, err := tx.History("MSCU1234566")
		if err != nil || len(h) != n {
			t.Fatalf("History = %d entries, %v; want %d", len(h), err, n)
		}
		for i := 1; i < n; i++ {
			if !h[i].At.After(h[i-1].At) || h[i].Seq <= h[i-1].Seq {
				t.Fatalf("History not oldest first at %d: %v (seq %d) after %v (seq %d)", i, h[i].At, h[i].Seq, h[i-1].At, h[i-1].Seq)
			}
		}
		return nil
	})
}

func TestNextCommandIDNeverRepeats(t *testing.T) {
	path := stPath(t)
	seen := map[string]bool{}
	var order []string
	next := func(s *state.Store, k int) {
		t.Helper()
		stUpdate(t, s, func(tx *state.Tx) error {
			for i := 0; i < k; i++ {
				id, err := tx.NextCommandID()
				if err != nil {
					return err
				}
				if id == "" {
					t.Error("NextCommandID returned an empty id")
				}
				if seen[id] {
					t.Errorf("NextCommandID repeated %s", id)
				}
				seen[id] = true
				order = append(order, id)
			}
			return nil
		})
	}
	s := stOpen(t, path)
	next(s, 3)
	next(s, 2) // a second transaction
	// Putting and deleting commands does not free their ids for reuse.
	stUpdate(t, s, func(tx *state.Tx) error {
		for _, id := range order {
			if err := tx.PutCommand(state.Command{ID: id}); err != nil {
				return err
			}
		}
		for _, id := range order {
			if err := tx.DeleteCommand(id); err != nil {
				return err
			}
		}
		return nil
	})
	s.Close()
	for round := 0; round < 3; round++ {
		s = stOpen(t, path)
		next(s, 4)
		s.Close()
	}
	if len(order) != 17 {
		t.Fatalf("got %d ids, want 17", len(order))
	}
	// Ids sort in issue order, so the outbox lists commands oldest first.
	if !slices.IsSorted(order) {
		t.Errorf("command ids do not sort in issue order: %v", order)
	}
}

func TestDeadLetterIDsNeverRepeatAcrossReopen(t *testing.T) {
	path := stPath(t)
	ids := map[string]bool{}
	for round := 0; round < 3; round++ {
		s := stOpen(t, path)
		stUpdate(t, s, func(tx *state.Tx) error {
			for i := 0; i < 2; i++ {
				d := state.DeadLetter{Source: "tos", Code: state.CodeMalformed, ReceivedAt: stT0}
				if err := tx.PutDeadLetter(&d); err != nil {
					return err
				}
				if ids[d.ID] {
					t.Errorf("dead letter id %s repeated", d.ID)
				}
				ids[d.ID] = true
				if err := tx.DeleteDeadLetter(d.ID); err != nil {
					return err
				}
			}
			return nil
		})
		s.Close()
	}
	// An id given by the caller is kept.
	s := stOpen(t, stPath(t))
	stUpdate(t, s, func(tx *state.Tx) error {
		d := state.DeadLetter{ID: "mine", Source: "tos"}
		if err := tx.PutDeadLetter(&d); err != nil {
			return err
		}
		if d.ID != "mine" {
			t.Errorf("PutDeadLetter changed a given id to %q", d.ID)
		}
		return nil
	})
}

func TestPresenceCountsFollowPresence(t *testing.T) {
	type count = map[state.Presence]int64
	steps := []struct {
		name string
		id   string
		old  state.Presence
		new  state.Presence
		want count
	}{
		{name: "new expected container", id: "MSCU1234566", old: "", new: state.Expected, want: count{state.Expected: 1, state.InYard: 0, state.Departed: 0}},
		{name: "new container straight in the yard", id: "CSQU3054383", old: "", new: state.InYard, want: count{state.Expected: 1, state.InYard: 1, state.Departed: 0}},
		{name: "expected arrives", id: "MSCU1234566", old: state.Expected, new: state.InYard, want: count{state.Expected: 0, state.InYard: 2, state.Departed: 0}},
		{name: "same presence again changes nothing", id: "MSCU1234566", old: state.InYard, new: state.InYard, want: count{state.Expected: 0, state.InYard: 2, state.Departed: 0}},
		{name: "one departs", id: "CSQU3054383", old: state.InYard, new: state.Departed, want: count{state.Expected: 0, state.InYard: 1, state.Departed: 1}},
		{name: "new departed container", id: "TGHU1234567", old: "", new: state.Departed, want: count{state.Expected: 0, state.InYard: 1, state.Departed: 2}},
		{name: "departed one arrives again", id: "CSQU3054383", old: state.Departed, new: state.InYard, want: count{state.Expected: 0, state.InYard: 2, state.Departed: 1}},
		{name: "new expected again", id: "BICU1234565", old: "", new: state.Expected, want: count{state.Expected: 1, state.InYard: 2, state.Departed: 1}},
	}
	path := stPath(t)
	s := stOpen(t, path)
	for _, st := range steps {
		stUpdate(t, s, func(tx *state.Tx) error {
			return tx.PutContainer(state.Container{ID: st.id, Presence: st.new, TOSHolds: []string{}}, st.old)
		})
		stView(t, s, func(tx *state.Tx) error {
			if got := tx.PresenceCounts(); !reflect.DeepEqual(got, st.want) {
				t.Errorf("%s: PresenceCounts = %v, want %v", st.name, got, st.want)
			}
			return nil
		})
	}
	// The counts agree with the containers and survive a reopen.
	s.Close()
	s = stOpen(t, path)
	stView(t, s, func(tx *state.Tx) error {
		actual := map[state.Presence]int64{state.Expected: 0, state.InYard: 0, state.Departed: 0}
		if err := tx.ForEachContainer(func(c state.Container) error { actual[c.Presence]++; return nil }); err != nil {
			t.Fatal(err)
		}
		want := steps[len(steps)-1].want
		if !reflect.DeepEqual(actual, want) {
			t.Errorf("containers by presence = %v, want %v", actual, want)
		}
		if got := tx.PresenceCounts(); !reflect.DeepEqual(got, want) {
			t.Errorf("PresenceCounts after reopen = %v, want %v", got, want)
		}
		return nil
	})
}

func TestDeletes(t *testing.T) {
	s := stOpen(t, stPath(t))
	f := stNewFixture()
	f.populate(t, s)
	stUpdate(t, s, func(tx *state.Tx) error {
		if err := tx.DeleteCommand("cmd-000000000001"); err != nil {
			return err
		}
		if err := tx.DeleteMismatch("CSQU3054383", "customs"); err != nil {
			return err
		}
		if err := tx.DeleteAlert("stale_hold/CSQU3054383/customs"); err != nil {
			return err
		}
		return tx.DeleteDeadLetter(f.dlIDs[0])
	})
	stView(t, s, func(tx *state.Tx) error {
		if cmds, _ := tx.Commands(); len(cmds) != 1 || cmds[0].ID != "cmd-000000000002" {
			t.Errorf("Commands after delete = %+v", cmds)
		}
		if ms, _ := tx.Mismatches(); len(ms) != 1 || ms[0].Container != "MSCU1234566" {
			t.Errorf("Mismatches after delete = %+v", ms)
		}
		if _, ok, _ := tx.Alert("stale_hold/CSQU3054383/customs"); ok {
			t.Error("deleted alert still there")
		}
		if as, _ := tx.Alerts(); len(as) != 1 {
			t.Errorf("Alerts after delete = %+v", as)
		}
		if _, ok, _ := tx.DeadLetter(f.dlIDs[0]); ok {
			t.Error("deleted dead letter still there")
		}
		if dls, _ := tx.DeadLetters(); len(dls) != 1 || dls[0].ID != f.dlIDs[1] {
			t.Errorf("DeadLetters after delete = %+v", dls)
		}
		return nil
	})
}

func TestOpenLockedStoreFailsWithErrLocked(t *testing.T) {
	path := stPath(t)
	first := stOpen(t, path)

	type result struct {
		s       *state.Store
		err     error
		elapsed time.Duration
	}
	done := make(chan result, 1)
	go func() {
		start := time.Now()
		s, err := state.Open(path, stLockTimeout)
		done <- result{s, err, time.Since(start)}
	}()
	var r result
	select {
	case r = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("second Open of a locked store hangs instead of failing after its lock timeout")
	}
	if r.err == nil {
		r.s.Close()
		t.Fatal("second Open of a locked store succeeded")
	}
	if !errors.Is(r.err, state.ErrLocked) {
		t.Errorf("second Open error = %v, want one wrapping state.ErrLocked", r.err)
	}
	if r.elapsed < stLockTimeout/2 {
		t.Errorf("second Open failed after %v, before its lock timeout %v", r.elapsed, stLockTimeout)
	}

	// The first store is unharmed and, once closed, the file opens again.
	stUpdate(t, first, func(tx *state.Tx) error { return tx.PutCursor("a", "b") })
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again := stOpen(t, path)
	stView(t, again, func(tx *state.Tx) error {
		if got := tx.Cursor("a"); got != "b" {
			t.Errorf("Cursor after reopen = %q, want b", got)
		}
		return nil
	})
}

// TestValuesOfOneTransactionStayIntact: the values a transaction puts are
// encoded one after another into shared chunks (Tx.room), and bbolt keeps
// them uncopied until the commit. Many values in one transaction, one of
// them longer than any chunk, must each read back as it was put, within
// the transaction and after the commit.
func TestValuesOfOneTransactionStayIntact(t *testing.T) {
	s := stOpen(t, stPath(t))
	var want []state.Container
	for i := range 3000 {
		c := stFullContainer(fmt.Sprintf("TSTU%06d%d", i, i%10), state.InYard)
		if i%2 == 0 {
			c.Alerts = nil // values of two lengths, so no two neighbours are alike
		}
		if i == 1500 {
			for j := range 5000 { // about 100 KiB: more than a chunk holds
				c.Alerts = append(c.Alerts, fmt.Sprintf("%s/%s/agency-%05d", state.KindStaleHold, c.ID, j))
			}
		}
		want = append(want, c)
	}
	check := func(tx *state.Tx) error {
		for _, c := range want {
			got, ok, err := tx.Container(c.ID)
			if err != nil || !ok || !reflect.DeepEqual(got, c) {
				t.Fatalf("Container(%s): ok %v, err %v\n got %+v\nwant %+v", c.ID, ok, err, got, c)
			}
		}
		return nil
	}
	stUpdate(t, s, func(tx *state.Tx) error {
		for i, c := range want {
			if err := tx.PutContainer(c, ""); err != nil {
				return err
			}
			if err := tx.MarkSeen("src", c.ID, stT0, []byte{byte(i), 1, 2, 3}); err != nil {
				return err
			}
		}
		return check(tx)
	})
	stView(t, s, func(tx *state.Tx) error {
		for i, c := range want {
			if seen, same := tx.SeenContent("src", c.ID, []byte{byte(i), 1, 2, 3}); !seen || !same {
				t.Fatalf("SeenContent(%s) = %v, %v after the commit", c.ID, seen, same)
			}
		}
		return check(tx)
	})
}
