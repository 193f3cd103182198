package sync

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/portsync/portsync/state"
)

func outboxIDs(cmds []state.Command) []string {
	ids := make([]string, len(cmds))
	for i, c := range cmds {
		ids[i] = c.ID
	}
	return ids
}

func TestOutboxSchedule(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	entry := func(id string, next time.Duration) *outboxEntry {
		return &outboxEntry{cmd: state.Command{ID: id}, next: t0.Add(next)}
	}
	type step struct {
		do   func(o *outbox)
		at   time.Duration // take at t0+at
		want []string
		next time.Duration // nextDue after the take, from t0
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"due ones oldest first, the rest later", []step{{
			do: func(o *outbox) {
				o.put(entry("cmd-3", 0))
				o.put(entry("cmd-1", time.Second))
				o.put(entry("cmd-2", -time.Second))
				o.put(entry("cmd-4", time.Minute))
			},
			at: time.Second, want: []string{"cmd-1", "cmd-2", "cmd-3"}, next: 11 * time.Second, // held, then cmd-4
		}}},
		{"taken commands are held until rescheduled", []step{
			{do: func(o *outbox) { o.put(entry("cmd-1", 0)) }, at: 0, want: []string{"cmd-1"}, next: 10 * time.Second},
			{at: 9 * time.Second, next: 10 * time.Second},
			{at: 10 * time.Second, want: []string{"cmd-1"}, next: 20 * time.Second},
		}},
		{"a rescheduled command falls due at its new time", []step{
			{do: func(o *outbox) { o.put(entry("cmd-1", 0)) }, at: 0, want: []string{"cmd-1"}, next: 10 * time.Second},
			{do: func(o *outbox) {
				e, _ := o.get("cmd-1")
				o.reschedule(e, t0.Add(3*time.Second))
			}, at: 2 * time.Second, next: 3 * time.Second},
			{at: 3 * time.Second, want: []string{"cmd-1"}, next: 13 * time.Second},
		}},
		{"parked until resendAll", []step{
			{do: func(o *outbox) {
				o.put(entry("cmd-1", 0))
				o.put(entry("cmd-2", 0))
				e, _ := o.get("cmd-1")
				o.park(e)
			}, at: 0, want: []string{"cmd-2"}, next: 10 * time.Second},
			{at: 20 * time.Second, want: []string{"cmd-2"}, next: 30 * time.Second},
			{do: func(o *outbox) { o.resendAll(t0.Add(21 * time.Second)) }, at: 21 * time.Second, want: []string{"cmd-1", "cmd-2"}, next: 31 * time.Second},
		}},
		{"removed and replaced", []step{
			{do: func(o *outbox) {
				o.put(entry("cmd-1", 0))
				o.put(entry("cmd-2", 0))
				o.remove("cmd-1")
				o.put(entry("cmd-2", 5*time.Second)) // the same id again
			}, at: 0, next: 5 * time.Second},
			{at: 5 * time.Second, want: []string{"cmd-2"}, next: 15 * time.Second},
		}},
		{"empty: an hour", []step{{at: 0, next: time.Hour}}},
		{"far off: an hour", []step{{do: func(o *outbox) { o.put(entry("cmd-1", 48*time.Hour)) }, at: 0, next: time.Hour}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newOutbox()
			for i, s := range tt.steps {
				if s.do != nil {
					s.do(o)
				}
				now := t0.Add(s.at)
				if got := outboxIDs(o.take(now, 10*time.Second)); !slices.Equal(got, s.want) && len(got)+len(s.want) > 0 {
					t.Errorf("step %d: take at +%s = %v, want %v", i, s.at, got, s.want)
				}
				if got := o.nextDue(now); !got.Equal(t0.Add(s.next)) {
					t.Errorf("step %d: nextDue at +%s = +%s, want +%s", i, s.at, got.Sub(t0), s.next)
				}
			}
		})
	}
}

// TestOutboxMatchesAScan checks the schedule against what the dispatcher
// did before it had one: look at every pending command.
func TestOutboxMatchesAScan(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(1, 2))
	o := newOutbox()
	model := map[string]*outboxEntry{} // copies, kept as the old map was
	now := t0
	for step := range 20000 {
		id := fmt.Sprintf("cmd-%03d", rng.IntN(200))
		switch op := rng.IntN(10); {
		case op < 3:
			next := now.Add(time.Duration(rng.IntN(20)-5) * time.Second)
			o.put(&outboxEntry{cmd: state.Command{ID: id}, next: next})
			model[id] = &outboxEntry{cmd: state.Command{ID: id}, next: next}
		case op < 4:
			o.remove(id)
			delete(model, id)
		case op < 6:
			if e, ok := o.get(id); ok {
				next := now.Add(time.Duration(rng.IntN(20)) * time.Second)
				o.reschedule(e, next)
				model[id].next = next
			}
		case op < 7:
			if e, ok := o.get(id); ok {
				o.park(e)
				model[id].parked = true
			}
		case op < 8 && rng.IntN(20) == 0:
			o.resendAll(now)
			for _, e := range model {
				e.next, e.parked = now, false
			}
		default:
			now = now.Add(time.Duration(rng.IntN(3000)) * time.Millisecond)
			var want []string
			for _, e := range model {
				if !e.parked && !e.next.After(now) {
					want = append(want, e.cmd.ID)
					e.next = now.Add(10 * time.Second)
				}
			}
			slices.Sort(want)
			if got := outboxIDs(o.take(now, 10*time.Second)); !slices.Equal(got, want) && len(got)+len(want) > 0 {
				t.Fatalf("step %d: take = %v, want %v", step, got, want)
			}
		}
		if o.len() != len(model) {
			t.Fatalf("step %d: len = %d, want %d", step, o.len(), len(model))
		}
	}
}
