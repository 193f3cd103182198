package daemon

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
	"github.com/portsync/portsync/sync"
)

// seen reports whether the daemon's store has the dedupe key of an event.
func (h *harness) seen(source, id string) bool {
	h.t.Helper()
	var ok bool
	if err := h.daemon.store.View(func(tx *state.Tx) error { ok = tx.Seen(source, id); return nil }); err != nil {
		h.t.Fatal(err)
	}
	return ok
}

// journalOf returns the journal of each container, from the store.
func (h *harness) journalOf(containers ...string) map[string][]state.JournalEntry {
	h.t.Helper()
	out := map[string][]state.JournalEntry{}
	err := h.daemon.store.View(func(tx *state.Tx) error {
		for _, c := range containers {
			hist, err := tx.History(c)
			if err != nil {
				return err
			}
			out[c] = hist
		}
		return nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

// storeLens returns the numbers of journal entries, index keys and
// dedupe keys in the daemon's store.
func (h *harness) storeLens() (journal, index, dedupe int) {
	h.t.Helper()
	err := h.daemon.store.View(func(tx *state.Tx) error {
		journal, index, dedupe = tx.JournalLen(), tx.JournalIndexLen(), tx.DedupeLen()
		return nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return
}

// metricValue sums the samples of a metric family whose labels include
// the given pairs.
func (h *harness) metricValue(name string, labels ...string) float64 {
	h.t.Helper()
	families, err := h.daemon.metrics.Registry.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue metrics
				}
			}
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			}
		}
	}
	return sum
}

func seqs(entries []state.JournalEntry) []uint64 {
	var out []uint64
	for _, e := range entries {
		out = append(out, e.Seq)
	}
	return out
}

// TestRetentionPrunesOldJournalAndDedupeKeys runs events in two groups
// with a cutoff between them and prunes, in chunks of 2 through the
// running daemon's writer: the first group's journal entries, index keys
// and dedupe keys go, the second's stay, and events go on being applied.
func TestRetentionPrunesOldJournalAndDedupeKeys(t *testing.T) {
	h := newHarness(t, nil)
	// Old: c1 and c2 held by customs, c1 arrives.
	h.agency("A-HLD-1", "customs", state.Held, "2026-11-28T08:00:00Z", c1, c2)
	h.tos("A-N4-1", c1, state.TOSArrived, "2026-11-28T08:05:00Z", "CUSTOMS")
	h.eventually("old events applied", func() bool {
		return h.seen("customs-mqtt", "A-HLD-1") && h.seen("tos-events", "A-N4-1")
	})
	time.Sleep(20 * time.Millisecond)
	cutoff := time.Now()
	time.Sleep(20 * time.Millisecond)
	// New: c2 and c3 released, c3 arrives.
	h.agency("B-REL-1", "customs", state.Released, "2026-11-28T09:00:00Z", c2, c3)
	h.tos("B-N4-1", c3, state.TOSArrived, "2026-11-28T09:05:00Z")
	h.eventually("new events applied", func() bool {
		return h.seen("customs-mqtt", "B-REL-1") && h.seen("tos-events", "B-N4-1")
	})

	before := h.journalOf(c1, c2, c3)
	var oldSeqs, youngSeqs []uint64
	for _, c := range []string{c1, c2, c3} {
		for _, e := range before[c] {
			if e.At.Before(cutoff) {
				oldSeqs = append(oldSeqs, e.Seq)
			} else {
				youngSeqs = append(youngSeqs, e.Seq)
			}
		}
	}
	if len(oldSeqs) < 3 || len(youngSeqs) < 3 {
		t.Fatalf("journal before pruning: old %v, young %v; want at least 3 of each", oldSeqs, youngSeqs)
	}
	journalBefore, _, dedupeBefore := h.storeLens()

	r, err := h.daemon.engine().Prune(context.Background(), cutoff, 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("pruned %+v; journal had %d entries (old %v), dedupe %d keys", r, journalBefore, oldSeqs, dedupeBefore)
	if r.Journal != len(oldSeqs) {
		t.Errorf("pruned %d journal entries, want the %d old ones", r.Journal, len(oldSeqs))
	}
	if r.Dedupe != 2 {
		t.Errorf("pruned %d dedupe keys, want 2 (A-HLD-1, A-N4-1)", r.Dedupe)
	}
	if min := (len(oldSeqs)+1)/2 + 1; r.Chunks < min {
		t.Errorf("pruning took %d transactions, want at least %d with chunks of 2", r.Chunks, min)
	}

	after := h.journalOf(c1, c2, c3)
	for _, c := range []string{c1, c2, c3} {
		for _, e := range after[c] {
			if e.At.Before(cutoff) {
				t.Errorf("%s: entry %d at %v, before the cutoff, survived", c, e.Seq, e.At)
			}
		}
		for _, e := range before[c] {
			if !e.At.Before(cutoff) && !slices.Contains(seqs(after[c]), e.Seq) {
				t.Errorf("%s: young entry %d (%s) was pruned", c, e.Seq, e.Kind)
			}
		}
	}
	// c1 had only old entries; its history now starts empty (or with
	// what the writer journaled since, e.g. a command sent).
	if hist := after[c1]; len(hist) > 0 && hist[0].EventID == "A-HLD-1" {
		t.Errorf("history of %s still starts with the pruned event: %+v", c1, hist)
	}
	journal, index, _ := h.storeLens()
	if journal != index {
		t.Errorf("after pruning the journal has %d entries and its index %d keys", journal, index)
	}
	var api struct {
		History []state.JournalEntry `json:"history"`
	}
	h.get("/api/v1/containers/"+c2+"/history", &api)
	for _, e := range api.History {
		if slices.Contains(oldSeqs, e.Seq) {
			t.Errorf("history API still shows pruned entry %+v", e)
		}
	}
	if len(api.History) == 0 {
		t.Errorf("history API of %s is empty; its young entries are gone", c2)
	}

	if h.seen("customs-mqtt", "A-HLD-1") || h.seen("tos-events", "A-N4-1") {
		t.Error("old dedupe keys survived")
	}
	if !h.seen("customs-mqtt", "B-REL-1") || !h.seen("tos-events", "B-N4-1") {
		t.Error("new dedupe keys were pruned")
	}
	if got := h.metricValue("portsync_retention_pruned_total", "what", "journal"); got != float64(r.Journal) {
		t.Errorf("portsync_retention_pruned_total{what=journal} = %v, want %d", got, r.Journal)
	}
	if got := h.metricValue("portsync_retention_pruned_total", "what", "dedupe"); got != 2 {
		t.Errorf("portsync_retention_pruned_total{what=dedupe} = %v, want 2", got)
	}

	// The documented price: an event redelivered after its dedupe key is
	// pruned is not a duplicate any more. (Here it changes nothing: it is
	// stale against the state it once made.)
	dups := h.metricValue("portsync_events_total", "source", "customs-mqtt", "result", sync.ResultDuplicate)
	h.agency("A-HLD-1", "customs", state.Held, "2026-11-28T08:00:00Z", c1, c2)
	h.eventually("redelivered event recorded again", func() bool { return h.seen("customs-mqtt", "A-HLD-1") })
	if got := h.metricValue("portsync_events_total", "source", "customs-mqtt", "result", sync.ResultDuplicate); got != dups {
		t.Errorf("redelivery after pruning counted as duplicate (%v -> %v)", dups, got)
	}
	// A duplicate of a young event is still a duplicate.
	h.agency("B-REL-1", "customs", state.Released, "2026-11-28T09:00:00Z", c2, c3)
	h.eventually("young duplicate recognised", func() bool {
		return h.metricValue("portsync_events_total", "source", "customs-mqtt", "result", sync.ResultDuplicate) == dups+1
	})

	// The daemon's own retention run, with the harness's long horizon, finds
	// nothing to prune and the writer is still healthy.
	journal, _, dedupe := h.storeLens()
	h.daemon.retention(context.Background())
	if j, _, d := h.storeLens(); j < journal || d < dedupe {
		t.Errorf("retention with a long horizon pruned young data: journal %d -> %d, dedupe %d -> %d", journal, j, dedupe, d)
	}
	if err := h.daemon.engine().Healthy(); err != nil {
		t.Errorf("writer unhealthy after retention: %v", err)
	}
}

// TestRetentionScheduleUsesConfig installs the retention job on a cron of
// the test's with a one-second schedule and retention.journal of 1s: it
// prunes the journal of events older than that on its own.
func TestRetentionScheduleUsesConfig(t *testing.T) {
	h := newHarness(t, func(y string) string { return strings.Replace(y, harnessRetention, "retention: {journal: 1s}\n", 1) })
	if got := h.metricValue("portsync_retention_pruned_total"); got != 0 {
		t.Fatalf("portsync_retention_pruned_total before any run = %v", got)
	}
	// Sent now: with retention.journal 1s, an older sender time is refused
	// as beyond the horizon.
	h.agency("HLD-1", "customs", state.Held, time.Now().UTC().Format(time.RFC3339), c1)
	h.eventually("event applied", func() bool { return h.seen("customs-mqtt", "HLD-1") })

	sched := cron.New(cron.WithParser(config.CronParser))
	cfg, err := config.Parse("test.yaml", []byte(strings.Replace(h.yaml, "retention: {journal: 1s}\n",
		"retention: {journal: 1s}\nschedules: {retention: \"@every 1s\"}\n", 1)), adapters.Registry)
	if err != nil {
		t.Fatal(err)
	}
	id, err := h.daemon.scheduleRetention(context.Background(), sched, cfg, 0)
	if err != nil || id == 0 {
		t.Fatalf("scheduleRetention = %v, %v", id, err)
	}
	// Replacing the job leaves one.
	id2, err := h.daemon.scheduleRetention(context.Background(), sched, cfg, id)
	if err != nil || id2 == id || len(sched.Entries()) != 1 {
		t.Fatalf("rescheduling: id %v -> %v, %d entries, %v", id, id2, len(sched.Entries()), err)
	}
	sched.Start()
	defer func() { <-sched.Stop().Done() }()
	h.eventually("scheduled retention pruned the old event", func() bool {
		return !h.seen("customs-mqtt", "HLD-1") && h.metricValue("portsync_retention_pruned_total", "what", "journal") > 0
	})
	for _, e := range h.journalOf(c1)[c1] {
		if e.EventID == "HLD-1" {
			t.Errorf("journal entry of HLD-1 survived: %+v", e)
		}
	}

	bad := *cfg
	bad.Schedules.Retention = "not a schedule"
	if _, err := h.daemon.scheduleRetention(context.Background(), sched, &bad, id2); err == nil || !strings.Contains(err.Error(), "schedules.retention") {
		t.Errorf("scheduleRetention with a bad spec: %v", err)
	}
	if len(sched.Entries()) != 1 {
		t.Errorf("a failed reschedule left %d jobs, want the old one", len(sched.Entries()))
	}
}

// TestRetentionStopsWithContext: a cancelled run stops before its first
// chunk and says why.
func TestRetentionStopsWithContext(t *testing.T) {
	h := newHarness(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.daemon.engine().Prune(ctx, time.Now(), 10); err == nil {
		t.Error("prune with a cancelled context succeeded")
	}
}

// deadLetters returns the daemon's dead letters, from the store.
func (h *harness) deadLetters() []state.DeadLetter {
	h.t.Helper()
	var out []state.DeadLetter
	if err := h.daemon.store.View(func(tx *state.Tx) (err error) { out, err = tx.DeadLetters(); return err }); err != nil {
		h.t.Fatal(err)
	}
	return out
}

// TestRetentionPrunesOldDeadLetters: the same bad message sent twice is
// one dead letter; retention deletes a dead letter last seen before the
// cutoff and keeps one first received before it but seen again since.
func TestRetentionPrunesOldDeadLetters(t *testing.T) {
	h := newHarness(t, nil)
	const gone, repeated, young = `{"gone":`, `{"repeated":`, `{"young":`
	h.publish("customs/releases", gone)
	h.publish("customs/releases", gone)
	h.publish("customs/releases", repeated)
	h.eventually("old dead letters stored", func() bool {
		return h.metricValue("portsync_deadletters_total", "source", "customs-mqtt") == 3
	})
	if dls := h.deadLetters(); len(dls) != 2 {
		t.Fatalf("%d dead letters after the same bad message twice and another: %+v; want 2", len(dls), dls)
	}
	time.Sleep(20 * time.Millisecond)
	cutoff := time.Now()
	time.Sleep(20 * time.Millisecond)
	h.publish("customs/releases", repeated)
	h.publish("customs/releases", young)
	h.eventually("young dead letters stored", func() bool {
		return h.metricValue("portsync_deadletters_total", "source", "customs-mqtt") == 5
	})

	r, err := h.daemon.engine().Prune(context.Background(), cutoff, 1)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, d := range h.deadLetters() {
		left = append(left, d.Payload)
	}
	if !slices.Equal(left, []string{repeated, young}) {
		t.Errorf("dead letters after pruning: %q, want %q", left, []string{repeated, young})
	}
	if got := h.metricValue("portsync_retention_pruned_total", "what", "deadletters"); got != 1 {
		t.Errorf("portsync_retention_pruned_total{what=deadletters} = %v, want 1 (pruned %+v)", got, r)
	}
	// The pruned message, should it come again, is a new dead letter.
	h.publish("customs/releases", gone)
	h.eventually("the pruned message dead-lettered again", func() bool { return len(h.deadLetters()) == 3 })
}
