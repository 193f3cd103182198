package sync

import (
	"testing"
	"time"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

// TestSweepDoesNotFillTheCache: a sweep reads every container once. The
// ones it reads without changing go back to the writer's cache only if
// they came from it, so that a sweep neither pushes out the containers the
// events are working on nor churns the cache for nothing.
func TestSweepDoesNotFillTheCache(t *testing.T) {
	e := newTestEngine(t, nil)
	e.containerListeners.Add(1) // so that a commit lists the containers it changed
	sweep := func() *committed {
		t.Helper()
		return commitBatch(t, e, &batch{reqs: []request{&sweepGroup{size: 100}}, touch: map[string]bool{}})
	}

	msgs, ids := tosArrivals(t, 10)
	commitBatch(t, e, &batch{msgs: msgs, touch: map[string]bool{}})
	sweep() // settles whatever the arrivals left to decide
	for _, id := range ids {
		if _, ok := e.cache[id]; !ok {
			t.Fatalf("%s: not cached after its arrival", id)
		}
	}
	for _, id := range ids[:5] {
		delete(e.cache, id) // evicted, as by other traffic
	}

	// One the sweep reads and does not decide: released before arrival,
	// nothing open.
	customs := &SourceInfo{Name: "customs", Kind: config.KindAgency, Agency: "customs", Decoder: records{{Agency: &state.AgencyEvent{
		ID: "REL-EARLY", Agency: "customs", Status: state.Released, Containers: []string{c1}, At: time.Now().Add(-time.Hour)}}}}
	early := inbound{src: customs, msg: adapters.Message{Payload: []byte("REL-EARLY")}}
	early.records = decode(customs, early.msg)
	if out := commitBatch(t, e, &batch{msgs: []inbound{early}, touch: map[string]bool{}}); out.outcomes[0].Results[0] != ResultApplied {
		t.Fatalf("early release: %+v", out.outcomes[0])
	}
	if _, ok := e.cache[c1]; !ok {
		t.Fatalf("%s: not cached after its release", c1)
	}

	if out := sweep(); len(out.changes.Containers) != 0 {
		t.Fatalf("the second sweep changed %d containers, want none (the test needs a sweep that changes nothing)", len(out.changes.Containers))
	}
	for i, id := range ids {
		_, ok := e.cache[id]
		if want := i >= 5; ok != want {
			t.Errorf("%s: cached %v after a sweep that did not change it, want %v (it was cached before: %v)", id, ok, want, want)
		}
	}
	if _, ok := e.cache[c1]; !ok {
		t.Errorf("%s: taken out of the cache by a sweep that did not decide it", c1)
	}
}

// TestChangedContainersCopiedOnlyWhenRead: a commit copies the containers
// it changed for its listeners only while one reads them (the status
// publisher), and lists them again once one does.
func TestChangedContainersCopiedOnlyWhenRead(t *testing.T) {
	e := newTestEngine(t, nil)
	msgs, _ := tosArrivals(t, 3)
	if out := commitBatch(t, e, &batch{msgs: msgs[:1], touch: map[string]bool{}}); len(out.changes.Containers) != 0 {
		t.Fatalf("with no reader, a commit listed %d containers", len(out.changes.Containers))
	}
	s := newStatusPublisher(e, e.log)
	s.SetTarget(&flakyPublisher{}, "tos/status")
	if out := commitBatch(t, e, &batch{msgs: msgs[1:2], touch: map[string]bool{}}); len(out.changes.Containers) != 1 {
		t.Fatalf("with the status publisher on, a commit listed %d containers, want 1", len(out.changes.Containers))
	}
	s.SetTarget(nil, "")
	if out := commitBatch(t, e, &batch{msgs: msgs[2:], touch: map[string]bool{}}); len(out.changes.Containers) != 0 {
		t.Fatalf("with the status publisher off again, a commit listed %d containers", len(out.changes.Containers))
	}
}
