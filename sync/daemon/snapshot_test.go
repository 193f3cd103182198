package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/portsync/portsync/adapters/httpout"
	"github.com/portsync/portsync/adapters/tossnapshot"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/internal/testtos"
	"github.com/portsync/portsync/state"
	"github.com/portsync/portsync/sync"
	"github.com/portsync/portsync/sync/httpapi"
)

func newSnapTOS(t *testing.T) (*testtos.Snapshot, config.Sink) {
	t.Helper()
	fake := &testtos.Snapshot{}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	tok := filepath.Join(t.TempDir(), "snapshot.token")
	if err := os.WriteFile(tok, []byte("tos-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return fake, config.Sink{Type: tossnapshot.Type, Keys: config.NewKeys(tossnapshot.Config{
		Config: httpout.Config{
			URL:       srv.URL + "/api/holds",
			TokenFile: tok,
			Headers:   map[string]string{"X-Terminal": "CNSHA-T1"},
		},
	})}
}

// snapSweep fetches the snapshot and applies it, as the daemon's sweep
// does, and returns the containers repaired.
func (h *harness) snapSweep(cfg config.Sink) int {
	h.t.Helper()
	snap, err := tossnapshot.Fetch(context.Background(), cfg)
	if err != nil {
		h.t.Fatalf("Fetch: %v", err)
	}
	res, err := h.daemon.engine().ApplySnapshot(context.Background(), snap, snap.At)
	n := res.Repaired
	if err != nil {
		h.t.Fatalf("ApplySnapshot: %v", err)
	}
	return n
}

// snapLookup returns a container's detail from the API, ok false while it
// is unknown.
func (h *harness) snapLookup(id string) (httpapi.ContainerDetail, bool) {
	h.t.Helper()
	resp, err := h.httpc.Get(h.base() + "/api/v1/containers/" + id)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var d httpapi.ContainerDetail
	if resp.StatusCode != http.StatusOK {
		return d, false
	}
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		h.t.Fatal(err)
	}
	return d, true
}

// snapHistory returns a container's journal, from the store.
func (h *harness) snapHistory(id string) []state.JournalEntry {
	h.t.Helper()
	var out []state.JournalEntry
	err := h.daemon.store.View(func(tx *state.Tx) error {
		var err error
		out, err = tx.History(id)
		return err
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

// validContainer completes a ten-character prefix with its check digit.
func validContainer(prefix string) string {
	id := prefix + strconv.Itoa(state.CheckDigit(prefix))
	if _, err := state.ParseContainer(id); err != nil {
		panic(err)
	}
	return id
}

func TestSnapshotRepairsLostTOSEvents(t *testing.T) {
	h := newHarness(t, nil)
	tos, cfg := newSnapTOS(t)
	c4 := validContainer("APZU000001")

	// c1: customs released, the TOS still holds it: release_hold issued.
	h.agency("REL-1", "customs", state.Released, "2026-11-28T10:15:00+08:00", c1)
	h.tos("N4-1", c1, state.TOSArrived, "2026-11-28T10:20:00+08:00", "CUSTOMS", "PAYMENT")
	rel := h.waitCommand(c1, state.ReleaseHold, "CUSTOMS")
	// c2: customs holds it and the TOS has the hold: nothing to do.
	h.agency("HLD-2", "customs", state.Held, "2026-11-28T10:00:00+08:00", c2)
	h.tos("N4-2", c2, state.TOSArrived, "2026-11-28T10:05:00+08:00", "CUSTOMS")
	// c3: arrived with the hold that customs' unknown status asks for.
	h.tos("N4-3", c3, state.TOSArrived, "2026-11-28T10:05:00+08:00", "CUSTOMS")
	h.eventually("c2 and c3 in the yard", func() bool {
		d2, ok2 := h.snapLookup(c2)
		d3, ok3 := h.snapLookup(c3)
		return ok2 && ok3 && d2.Presence == state.InYard && d2.Agencies["customs"] == state.Held && d3.Presence == state.InYard
	})

	// The TOS lost two events: it released c1's CUSTOMS hold (as asked)
	// and someone removed c2's CUSTOMS hold; it also has c4, whose arrival
	// portsync never heard of. The list leaves c3 out and is not complete.
	tos.Serve(http.StatusOK, testtos.JSON(false, "2026-11-28T10:30:00+08:00", map[string][]string{
		c1: {"PAYMENT"}, c2: {}, c4: {"CUSTOMS"},
	}))
	if n := h.snapSweep(cfg); n != 3 {
		t.Errorf("repaired %d containers, want 3 (c1, c2, c4)", n)
	}

	// c1: the release_hold is confirmed by the repaired holds.
	h.eventually("c1's release_hold confirmed", func() bool {
		d, _ := h.snapLookup(c1)
		return len(d.PendingCommands) == 0 && !d.Mismatch && slices.Equal(d.TOSHolds, []string{"PAYMENT"})
	})
	var sawRepair, sawConfirm bool
	for _, e := range h.snapHistory(c1) {
		if e.Kind == state.JournalTOSEvent && e.Source == snapshotSource {
			sawRepair = true
			if e.EventID != "snapshot:2026-11-28T02:30:00Z" || e.Status != state.TOSHolds || e.Result != sync.ResultApplied ||
				!strings.Contains(e.Detail, "TOS snapshot") {
				t.Errorf("repair journalled as %+v", e)
			}
		}
		if e.Kind == state.JournalConfirmed && e.Command == rel.ID {
			sawConfirm = true
		}
	}
	if !sawRepair || !sawConfirm {
		t.Errorf("c1's journal: repair %v, confirmation %v, want both:\n%+v", sawRepair, sawConfirm, h.snapHistory(c1))
	}

	// c2: customs holds it, the TOS no longer does: add_hold.
	add := h.waitCommand(c2, state.AddHold, "CUSTOMS")
	if add.Cause != "HLD-2" {
		t.Errorf("add_hold %+v, want cause HLD-2", add)
	}
	if d, _ := h.snapLookup(c2); !d.Mismatch || len(d.TOSHolds) != 0 {
		t.Errorf("c2: mismatch %v holds %v, want a missing hold", d.Mismatch, d.TOSHolds)
	}

	// c4: known from the snapshot alone, in the yard with its hold.
	if d, ok := h.snapLookup(c4); !ok || d.Presence != state.InYard || !slices.Equal(d.TOSHolds, []string{"CUSTOMS"}) || d.Mismatch {
		t.Errorf("c4: %+v (known %v), want in the yard with CUSTOMS and no mismatch", d.View, ok)
	}

	// c3: not listed by an incomplete snapshot: untouched.
	if d, _ := h.snapLookup(c3); d.Presence != state.InYard || !slices.Equal(d.TOSHolds, []string{"CUSTOMS"}) {
		t.Errorf("c3 after an incomplete snapshot: %+v, want untouched in the yard", d.View)
	}

	// The same snapshot again repairs nothing: dedupe played no part, the
	// store simply agrees now.
	if n := h.snapSweep(cfg); n != 0 {
		t.Errorf("the same snapshot again repaired %d, want 0", n)
	}

	// A complete snapshot without c3: c3 has left, while customs had not
	// decided on it, which is an unauthorized departure.
	tos.Serve(http.StatusOK, testtos.JSON(true, "2026-11-28T10:40:00+08:00", map[string][]string{
		c1: {"PAYMENT"}, c2: {}, c4: {"CUSTOMS"},
	}))
	if n := h.snapSweep(cfg); n != 1 {
		t.Errorf("complete snapshot repaired %d, want 1 (c3)", n)
	}
	if d, _ := h.snapLookup(c3); d.Presence != state.Departed || !slices.Equal(d.TOSHolds, []string{"CUSTOMS"}) {
		t.Errorf("c3 after a complete snapshot: %+v, want departed with its last holds", d.View)
	}
	h.eventually("unauthorized_departure for c3", func() bool {
		return len(h.alertsFor(sync.AlertID(state.KindUnauthorizedDeparture, c3, ""))) > 0
	})
	// The others are listed: still in the yard.
	for _, id := range []string{c1, c2, c4} {
		if d, _ := h.snapLookup(id); d.Presence != state.InYard {
			t.Errorf("%s: %s after a complete snapshot that lists it", id, d.Presence)
		}
	}
}

func TestSnapshotNeverUndoesNewerTOSEvents(t *testing.T) {
	h := newHarness(t, nil)
	tos, cfg := newSnapTOS(t)
	h.tos("N4-1", c1, state.TOSArrived, "2026-11-28T10:20:00+08:00", "CUSTOMS")
	h.eventually("c1 in the yard", func() bool { d, ok := h.snapLookup(c1); return ok && d.Presence == state.InYard })

	// Taken before c1 arrived: it neither drops c1's hold nor sends it away.
	tos.Serve(http.StatusOK, testtos.JSON(false, "2026-11-28T10:10:00+08:00", map[string][]string{c1: {}}))
	if n := h.snapSweep(cfg); n != 0 {
		t.Errorf("an older snapshot repaired %d, want 0", n)
	}
	tos.Serve(http.StatusOK, testtos.JSON(true, "2026-11-28T10:10:00+08:00", map[string][]string{c2: {}}))
	if n := h.snapSweep(cfg); n != 1 {
		t.Errorf("an older complete snapshot repaired %d, want 1 (c2, new)", n)
	}
	d, _ := h.snapLookup(c1)
	if d.Presence != state.InYard || !slices.Equal(d.TOSHolds, []string{"CUSTOMS"}) {
		t.Errorf("c1 after older snapshots: %+v, want in the yard with CUSTOMS", d.View)
	}
	for _, e := range h.snapHistory(c1) {
		if e.Source == snapshotSource {
			t.Errorf("a stale snapshot was journalled: %+v", e)
		}
	}

	// An empty "complete" list is not believed.
	tos.Serve(http.StatusOK, `{"complete": true, "at": "2026-11-28T11:00:00+08:00", "containers": []}`)
	if n := h.snapSweep(cfg); n != 0 {
		t.Errorf("an empty complete snapshot repaired %d, want 0", n)
	}
	if d, _ := h.snapLookup(c1); d.Presence != state.InYard {
		t.Errorf("c1 %s after an empty complete snapshot, want in the yard", d.Presence)
	}

	// A departed container the TOS lists again, later, has come back.
	h.tos("N4-2", c1, state.TOSDeparted, "2026-11-28T11:10:00+08:00")
	h.eventually("c1 departed", func() bool { d, _ := h.snapLookup(c1); return d.Presence == state.Departed })
	tos.Serve(http.StatusOK, testtos.JSON(false, "2026-11-28T12:00:00+08:00", map[string][]string{c1: {"CUSTOMS"}, c2: {}}))
	if n := h.snapSweep(cfg); n != 1 {
		t.Errorf("repaired %d, want 1 (c1 back)", n)
	}
	if d, _ := h.snapLookup(c1); d.Presence != state.InYard {
		t.Errorf("c1 %s after a later snapshot lists it, want in the yard", d.Presence)
	}
	hist := h.snapHistory(c1)
	if last := hist[len(hist)-1]; last.Source == snapshotSource && last.Status != state.TOSArrived {
		t.Errorf("c1 came back as %q, want arrived", last.Status)
	}
}

// snapshotGroup is how many containers one transaction of the snapshot
// repair takes (sync's snapshotGroup).
const snapshotGroup = 500

func TestSnapshotInGroups(t *testing.T) {
	h := newHarness(t, nil)
	tos, cfg := newSnapTOS(t)
	holds := map[string][]string{}
	for i := range snapshotGroup*2 + 7 {
		holds[validContainer(fmt.Sprintf("GRPU%06d", i))] = []string{"CUSTOMS"}
	}
	tos.Serve(http.StatusOK, testtos.JSON(true, "2026-11-28T10:30:00+08:00", holds))
	if n := h.snapSweep(cfg); n != len(holds) {
		t.Errorf("repaired %d, want %d", n, len(holds))
	}
	var inYard int
	h.daemon.store.View(func(tx *state.Tx) error {
		inYard = int(tx.PresenceCounts()[state.InYard])
		return nil
	})
	if inYard != len(holds) {
		t.Errorf("%d in the yard, want %d", inYard, len(holds))
	}
}

func TestSnapshotEntryWithUnknownHoldsKeepsContainer(t *testing.T) {
	h := newHarness(t, nil)
	tos, cfg := newSnapTOS(t)
	h.tos("N4-1", c1, state.TOSArrived, "2026-11-28T10:20:00+08:00", "CUSTOMS")
	h.eventually("c1 in the yard", func() bool { d, ok := h.snapLookup(c1); return ok && d.Presence == state.InYard })
	tos.Serve(http.StatusOK, `{"complete": true, "at": "2026-11-28T10:30:00+08:00", "containers": [
		{"container": "`+c1+`", "holds": [""]}]}`)
	if n := h.snapSweep(cfg); n != 0 {
		t.Errorf("repaired %d, want 0", n)
	}
	if d, _ := h.snapLookup(c1); d.Presence != state.InYard || !slices.Equal(d.TOSHolds, []string{"CUSTOMS"}) {
		t.Errorf("c1 %+v, want untouched", d.View)
	}
}

// snapshotSource is the journal source of the events a snapshot repair
// makes, as the API shows it.
const snapshotSource = "tos-snapshot"
