package sync

import (
	"cmp"
	"container/heap"
	"slices"
	"time"

	"github.com/portsync/portsync/state"
)

// outboxEntry is a pending command and its place in the schedule.
type outboxEntry struct {
	cmd      state.Command
	attempts int
	next     time.Time
	// parked: the TOS rejected the command, so it is not sent again
	// until the next sweep (ResendAll) or restart.
	parked bool
	// rejected: a command_rejected alert fires for the command's
	// container and agency; it resolves when the command leaves the outbox.
	rejected bool
	index    int // in the outbox's queue; -1 while parked
}

// outbox holds the dispatcher's pending commands by id and, apart from the
// parked ones, in the order they fall due. A round then costs what it
// sends, not what is pending: during a TOS outage the outbox grows to
// hundreds of thousands of commands, and the writer wakes the dispatcher
// after every commit. It is not safe for concurrent use; the dispatcher's
// lock guards it.
type outbox struct {
	byID  map[string]*outboxEntry
	queue dueQueue
}

func newOutbox() *outbox { return &outbox{byID: map[string]*outboxEntry{}} }

func (o *outbox) len() int { return len(o.byID) }

func (o *outbox) get(id string) (*outboxEntry, bool) {
	e, ok := o.byID[id]
	return e, ok
}

// put adds e, in place of any entry with the same id.
func (o *outbox) put(e *outboxEntry) {
	o.remove(e.cmd.ID)
	o.byID[e.cmd.ID] = e
	e.index = -1
	if !e.parked {
		heap.Push(&o.queue, e)
	}
}

// remove drops the command id and returns its entry, if it was pending.
func (o *outbox) remove(id string) (*outboxEntry, bool) {
	e, ok := o.byID[id]
	if !ok {
		return nil, false
	}
	delete(o.byID, id)
	if e.index >= 0 {
		heap.Remove(&o.queue, e.index)
	}
	return e, true
}

// reschedule makes e due at next.
func (o *outbox) reschedule(e *outboxEntry, next time.Time) {
	e.next = next
	if e.index >= 0 {
		heap.Fix(&o.queue, e.index)
	}
}

// park takes e out of the schedule until resendAll.
func (o *outbox) park(e *outboxEntry) {
	e.parked = true
	if e.index >= 0 {
		heap.Remove(&o.queue, e.index)
	}
}

// resendAll makes every command due at now, the parked ones included.
func (o *outbox) resendAll(now time.Time) {
	o.queue = o.queue[:0]
	for _, e := range o.byID {
		e.next, e.parked = now, false
		e.index = len(o.queue)
		o.queue = append(o.queue, e)
	}
	heap.Init(&o.queue)
}

// take returns the commands due at now, oldest first. They stay in the
// schedule, due again at now+hold (hold > 0), so that one whose send never
// finishes is sent again; the sender reschedules each once it knows how
// the send went.
func (o *outbox) take(now time.Time, hold time.Duration) []state.Command {
	var due []state.Command
	for len(o.queue) > 0 && !o.queue[0].next.After(now) {
		e := o.queue[0]
		due = append(due, e.cmd)
		o.reschedule(e, now.Add(hold))
	}
	slices.SortFunc(due, func(a, b state.Command) int { return cmp.Compare(a.ID, b.ID) })
	return due
}

// nextDue is when the next command falls due, at most an hour after now.
func (o *outbox) nextDue(now time.Time) time.Time {
	limit := now.Add(time.Hour)
	if len(o.queue) == 0 || o.queue[0].next.After(limit) {
		return limit
	}
	return o.queue[0].next
}

// dueQueue is a min-heap of entries by when they fall due, then by id
// (container/heap).
type dueQueue []*outboxEntry

func (q dueQueue) Len() int { return len(q) }

func (q dueQueue) Less(i, j int) bool {
	if c := q[i].next.Compare(q[j].next); c != 0 {
		return c < 0
	}
	return q[i].cmd.ID < q[j].cmd.ID
}

func (q dueQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}

func (q *dueQueue) Push(x any) {
	e := x.(*outboxEntry)
	e.index = len(*q)
	*q = append(*q, e)
}

func (q *dueQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = nil
	e.index = -1
	*q = old[:len(old)-1]
	return e
}
