package sync

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

const bl1 = "MEDUSH123456"

// submitOutcome submits one record from a source of kind (customs', for
// an agency record) and returns its outcome.
func submitOutcome(e *Engine, kind string, r adapters.Record) Outcome {
	src := &SourceInfo{Name: kind + "-src", Kind: kind, Decoder: records{r}}
	if kind == config.KindAgency {
		src.Agency = "customs"
	}
	return e.Submit(context.Background(), src, adapters.Message{Payload: []byte(recordID(r))})
}

// submitRecord submits one record that must apply, or be stale or a
// duplicate, and returns its result.
func submitRecord(t *testing.T, e *Engine, kind string, r adapters.Record) string {
	t.Helper()
	o := submitOutcome(e, kind, r)
	if o.Err != nil || o.Reject != nil || len(o.Results) != 1 {
		t.Fatalf("%s: %+v", recordID(r), o)
	}
	return o.Results[0]
}

func blEvent(t *testing.T, e *Engine, id string, st state.Status, hold string, at time.Time, containers ...string) string {
	t.Helper()
	return submitRecord(t, e, config.KindAgency, adapters.Record{Agency: &state.AgencyEvent{
		ID: id, Agency: "customs", Status: st, Hold: hold, BL: bl1, Containers: containers, At: at}})
}

func manifest(t *testing.T, e *Engine, id string, at time.Time, containers ...string) string {
	t.Helper()
	return submitRecord(t, e, config.KindManifest, adapters.Record{Manifest: &state.ManifestEvent{
		ID: id, BL: bl1, Containers: containers, At: at}})
}

func arrive(t *testing.T, e *Engine, id, container string, at time.Time, holds ...string) {
	t.Helper()
	if holds == nil {
		holds = []string{}
	}
	submitRecord(t, e, config.KindTOS, adapters.Record{TOS: &state.TOSEvent{
		ID: id, Container: container, Event: state.TOSArrived, Holds: holds, HasHolds: true, At: at}})
}

func statusOf(t *testing.T, e *Engine, id string) state.Status {
	t.Helper()
	c, _ := readContainer(t, e, id)
	return agencyStatus(&c, "customs")
}

func readBL(t *testing.T, e *Engine, id string) (state.BL, []state.JournalEntry) {
	t.Helper()
	var b state.BL
	var h []state.JournalEntry
	err := e.store.View(func(tx *state.Tx) (err error) {
		if b, _, err = tx.BL(id); err != nil {
			return err
		}
		h, err = tx.BLHistory(id)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return b, h
}

// A B/L release that comes before the manifest is kept and applied to
// the containers the manifest then links, as a release before arrival
// is; the command that frees the container cites the B/L decision.
func TestBLReleaseBeforeManifest(t *testing.T) {
	e, _ := startEngine(t)
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	if r := blEvent(t, e, "REL-BL", state.Released, "", base); r != ResultApplied {
		t.Fatalf("B/L release: %s", r)
	}
	arrive(t, e, "N4-1", c1, base, "CUSTOMS")
	if s := statusOf(t, e, c1); s != state.Unknown {
		t.Fatalf("before the manifest %s is %s", c1, s)
	}
	if r := manifest(t, e, "CUSCAR-1", base.Add(time.Minute), c1, c2); r != ResultApplied {
		t.Fatalf("manifest: %s", r)
	}
	for _, id := range []string{c1, c2} {
		if s := statusOf(t, e, id); s != state.Released {
			t.Fatalf("after the manifest %s is %s", id, s)
		}
	}
	c, h := readContainer(t, e, c1)
	if len(c.Pending) != 1 || c.Pending["CUSTOMS"].Cause != "REL-BL" || c.Pending["CUSTOMS"].Action != state.ReleaseHold {
		t.Fatalf("pending %+v, want release_hold caused by REL-BL", c.Pending)
	}
	if h[len(h)-1].Kind != state.JournalCommand {
		t.Fatalf("history %+v", h)
	}
	b, bh := readBL(t, e, bl1)
	if len(b.Containers) != 2 || b.Agencies["customs"].Status != state.Released || len(bh) != 2 {
		t.Fatalf("B/L %+v timeline %+v", b, bh)
	}
}

// A B/L release after the manifest reaches every linked container in the
// same commit.
func TestBLReleaseAfterManifest(t *testing.T) {
	e, _ := startEngine(t)
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	manifest(t, e, "CUSCAR-1", base, c1, c2, c3)
	blEvent(t, e, "REL-BL", state.Released, "", base.Add(time.Minute))
	for _, id := range []string{c1, c2, c3} {
		if s := statusOf(t, e, id); s != state.Released {
			t.Fatalf("%s is %s", id, s)
		}
		_, h := readContainer(t, e, id)
		if last := h[len(h)-1]; last.EventID != "REL-BL" || last.BL != bl1 {
			t.Fatalf("%s history %+v", id, h)
		}
	}
	// A repeat is a duplicate; an older B/L decision is stale.
	if r := blEvent(t, e, "REL-BL", state.Released, "", base.Add(time.Minute)); r != ResultDuplicate {
		t.Fatalf("repeat: %s", r)
	}
	if r := blEvent(t, e, "HOLD-OLD", state.Held, "", base); r != ResultStale {
		t.Fatalf("older hold: %s", r)
	}
}

// A B/L hold of a type is not lifted by a container-level release: the
// container stays held until the B/L's hold is removed.
func TestBLHoldThenContainerRelease(t *testing.T) {
	e, _ := startEngine(t)
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	manifest(t, e, "CUSCAR-1", base, c1, c2)
	blEvent(t, e, "EXAM-BL", state.Held, "exam", base.Add(time.Minute))
	customsEvent(t, e, "REL-C1", state.Released, "", base.Add(2*time.Minute))
	if s := statusOf(t, e, c1); s != state.Held {
		t.Fatalf("%s is %s, want held by the B/L's exam", c1, s)
	}
	c, _ := readContainer(t, e, c1)
	if c.Own["customs"].Status != state.Released || !c.Agencies["customs"].Release.At.Equal(base.Add(2*time.Minute)) {
		t.Fatalf("own %+v effective %+v", c.Own, c.Agencies)
	}
	blEvent(t, e, "EXAM-OFF", state.HoldRemoved, "exam", base.Add(3*time.Minute))
	if s := statusOf(t, e, c1); s != state.Released {
		t.Fatalf("after the B/L's hold is removed %s is %s", c1, s)
	}
	if s := statusOf(t, e, c2); s != state.Unknown {
		t.Fatalf("%s is %s: the exam was removed and nothing released it", c2, s)
	}
	// A general B/L hold older than the container's release loses to it
	// (latest wins); a newer one holds it again.
	blEvent(t, e, "HOLD-OLD", state.Held, "", base.Add(time.Minute+30*time.Second))
	if s := statusOf(t, e, c1); s != state.Released {
		t.Fatalf("older general B/L hold: %s is %s", c1, s)
	}
	blEvent(t, e, "HOLD-NEW", state.Held, "", base.Add(4*time.Minute))
	if s := statusOf(t, e, c1); s != state.Held {
		t.Fatalf("newer general B/L hold: %s is %s", c1, s)
	}
}

// A newer manifest replaces the list: a container it drops leaves the
// B/L's decisions, a container it adds takes them; an older one is stale.
func TestBLManifestChange(t *testing.T) {
	e, _ := startEngine(t)
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	manifest(t, e, "CUSCAR-1", base, c1, c2)
	blEvent(t, e, "REL-BL", state.Released, "", base.Add(time.Minute))
	if r := manifest(t, e, "CUSCAR-2", base.Add(2*time.Minute), c1, c3); r != ResultApplied {
		t.Fatalf("new manifest: %s", r)
	}
	want := map[string]state.Status{c1: state.Released, c2: state.Unknown, c3: state.Released}
	for id, st := range want {
		if s := statusOf(t, e, id); s != st {
			t.Fatalf("%s is %s, want %s", id, s, st)
		}
	}
	c, h := readContainer(t, e, c2)
	if len(c.BLs) != 0 || c.Own != nil || h[len(h)-1].Kind != state.JournalManifest {
		t.Fatalf("%s: %+v history %+v", c2, c, h)
	}
	if r := manifest(t, e, "CUSCAR-0", base.Add(-time.Minute), c2); r != ResultStale {
		t.Fatalf("older manifest: %s", r)
	}
	if s := statusOf(t, e, c2); s != state.Unknown {
		t.Fatalf("older manifest relinked %s: %s", c2, s)
	}
	var found []string
	e.store.View(func(tx *state.Tx) error { found = tx.RefContainers(state.RefBL, bl1); return nil })
	if len(found) != 2 || found[0] != c3 && found[1] != c3 {
		t.Fatalf("search index %v", found)
	}
}

// An event that names the B/L and some of its containers decides those
// only, and links them.
func TestBLPartialRelease(t *testing.T) {
	e, _ := startEngine(t)
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	manifest(t, e, "CUSCAR-1", base, c1, c2)
	blEvent(t, e, "HOLD-BL", state.Held, "", base.Add(time.Minute))
	if r := blEvent(t, e, "REL-PART", state.Released, "", base.Add(2*time.Minute), c1, c3); r != ResultApplied {
		t.Fatalf("partial release: %s", r)
	}
	want := map[string]state.Status{c1: state.Released, c2: state.Held, c3: state.Released}
	for id, st := range want {
		if s := statusOf(t, e, id); s != st {
			t.Fatalf("%s is %s, want %s", id, s, st)
		}
	}
	b, _ := readBL(t, e, bl1)
	if len(b.Containers) != 3 || b.Agencies["customs"].Status != state.Held {
		t.Fatalf("B/L %+v", b)
	}
}

// A TOS event with a bl links the container, which takes the B/L's
// decisions.
func TestBLLinkFromTOS(t *testing.T) {
	e, _ := startEngine(t)
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	blEvent(t, e, "REL-BL", state.Released, "", base)
	submitRecord(t, e, config.KindTOS, adapters.Record{TOS: &state.TOSEvent{
		ID: "N4-1", Container: c2, Event: state.TOSArrived, Holds: []string{"CUSTOMS"}, HasHolds: true, BL: bl1, At: base}})
	if s := statusOf(t, e, c2); s != state.Released {
		t.Fatalf("%s is %s", c2, s)
	}
}

// Only a manifest source may link by manifest.
func TestBLManifestFromOtherSourceRejected(t *testing.T) {
	e, _ := startEngine(t)
	src := &SourceInfo{Name: "tos", Kind: config.KindTOS, Decoder: records{{Manifest: &state.ManifestEvent{
		ID: "M", BL: bl1, Containers: []string{c1}, At: time.Now()}}}}
	o := e.Submit(context.Background(), src, adapters.Message{Payload: []byte("M")})
	if o.Reject == nil {
		t.Fatalf("outcome %+v", o)
	}
}

// An agency event that names a container and a B/L makes the container
// findable by the B/L (the search index) and links the two; a container
// that already has as many B/Ls as it may keep is still findable by the
// new one, though not linked to it.
func TestAgencyEventIndexesItsBL(t *testing.T) {
	e, _ := startEngine(t)
	at := time.Now().Add(-time.Hour).Truncate(time.Second)
	release := func(id, bl, container string) {
		t.Helper()
		submitRecord(t, e, config.KindAgency, adapters.Record{Agency: &state.AgencyEvent{
			ID: id, Agency: "customs", Status: state.Released, BL: bl, Containers: []string{container}, At: at}})
	}
	indexed := func(bl string) []string {
		var found []string
		e.store.View(func(tx *state.Tx) error { found = tx.RefContainers(state.RefBL, bl); return nil })
		return found
	}
	release("REL-1", bl1, c1)
	if got := indexed(bl1); !slices.Equal(got, []string{c1}) {
		t.Fatalf("index of %s lists %v, want %s", bl1, got, c1)
	}
	if c, _ := readContainer(t, e, c1); !slices.Equal(c.BLs, []string{bl1}) {
		t.Fatalf("%s has B/Ls %v, want %s", c1, c.BLs, bl1)
	}
	for i := range maxRefs {
		release(fmt.Sprintf("FULL-%d", i), fmt.Sprintf("FULL%08d", i), c2)
	}
	release("REL-MORE", "MORE00000001", c2)
	if got := indexed("MORE00000001"); !slices.Equal(got, []string{c2}) {
		t.Fatalf("index of a B/L beyond the container's bound lists %v, want %s", got, c2)
	}
	if c, _ := readContainer(t, e, c2); len(c.BLs) != maxRefs || slices.Contains(c.BLs, "MORE00000001") {
		t.Fatalf("%s has B/Ls %v, want the first %d only", c2, c.BLs, maxRefs)
	}
}

// restartEngine stops e and runs a new engine over its store, as a
// restart of the daemon does: nothing of e's memory, its cache of
// containers among it, carries over.
func restartEngine(t *testing.T, e *Engine, stop func()) (*Engine, func()) {
	t.Helper()
	stop()
	return runEngine(t, e.store)
}

// A container that takes a B/L's decisions and has none of its own keeps
// them apart from its own (an empty own ledger) in the store, not only in
// the writer's memory: read back from the store, after a restart or after
// a sweep has taken it out of the writer's cache, a manifest that drops
// it, or a B/L decision that changes, must still treat the B/L's release
// as the B/L's. The store once kept an empty own ledger as none, and a
// container dropped from a released B/L then stayed released.
func TestBLDecisionsStayTheBLsInTheStore(t *testing.T) {
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	forget := map[string]func(*testing.T, *Engine, func()) *Engine{
		"restart": func(t *testing.T, e *Engine, stop func()) *Engine {
			e, _ = restartEngine(t, e, stop)
			return e
		},
		"sweep": func(t *testing.T, e *Engine, _ func()) *Engine {
			if _, err := e.Sweep(context.Background()); err != nil {
				t.Fatal(err)
			}
			return e
		},
	}
	for _, tc := range []struct {
		name string
		// after runs once the containers were read back from the store;
		// want is customs' status of each container then.
		after func(*testing.T, *Engine)
		want  map[string]state.Status
	}{
		{"manifest drops the container", func(t *testing.T, e *Engine) {
			manifest(t, e, "CUSCAR-2", base.Add(3*time.Minute), c1, c3)
		}, map[string]state.Status{c1: state.Released, c2: state.Unknown, c3: state.Released}},
		{"B/L hold, then the container dropped", func(t *testing.T, e *Engine) {
			blEvent(t, e, "EXAM-BL", state.Held, "exam", base.Add(3*time.Minute))
			manifest(t, e, "CUSCAR-2", base.Add(4*time.Minute), c1)
		}, map[string]state.Status{c1: state.Held, c2: state.Unknown}},
		{"own hold, then the container dropped", func(t *testing.T, e *Engine) {
			blEvent(t, e, "EXAM-C2", state.Held, "exam", base.Add(3*time.Minute), c2)
			manifest(t, e, "CUSCAR-2", base.Add(4*time.Minute), c1)
		}, map[string]state.Status{c1: state.Released, c2: state.Held}},
		{"B/L release revoked", func(t *testing.T, e *Engine) {
			blEvent(t, e, "REVOKE-BL", state.Revoked, "", base.Add(3*time.Minute))
			manifest(t, e, "CUSCAR-2", base.Add(4*time.Minute), c1)
		}, map[string]state.Status{c1: state.Held, c2: state.Unknown}}, // a revoked release reads as held
	} {
		for how, forget := range forget {
			t.Run(tc.name+"/"+how, func(t *testing.T) {
				e, stop := startEngine(t)
				manifest(t, e, "CUSCAR-1", base, c1, c2)
				blEvent(t, e, "REL-BL", state.Released, "", base.Add(time.Minute))
				e = forget(t, e, stop)
				tc.after(t, e)
				for id, st := range tc.want {
					if s := statusOf(t, e, id); s != st {
						t.Errorf("%s is %s, want %s", id, s, st)
					}
				}
			})
		}
	}
}
