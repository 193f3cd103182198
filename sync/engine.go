package sync

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	stdsync "sync"
	"sync/atomic"
	"time"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/internal/failpoint"
	"github.com/portsync/portsync/state"
)

// Tuning of the writer. A group is as large as what is waiting, up to
// maxBatch messages: under load many events share one fsync, idle a single
// event commits at once.
const (
	inboxSize     = 8192
	maxBatch      = 4096
	retryMin      = 200 * time.Millisecond
	retryMax      = 10 * time.Second
	maxDeadLetter = 64 << 10 // bytes of payload kept in a dead letter
)

// Result is what became of one inbound record.
const (
	ResultApplied   = "applied"
	ResultDuplicate = "duplicate"
	ResultStale     = "stale"
	ResultRejected  = "rejected"
)

// SourceInfo is what the engine knows of a source: its name, what it may
// speak for, and how to decode its messages.
type SourceInfo struct {
	Name    string
	Kind    string // config.KindAgency or config.KindTOS
	Agency  string // the only agency an agency source may speak for
	Decoder adapters.Decoder
	Ack     ackTo // where its acknowledgements go; zero: nowhere
}

// Outcome is what became of one message, for callers that wait (HTTP push,
// dead-letter retry): the results of its records and the first rejection.
type Outcome struct {
	Results []string
	Reject  *state.Rejection
	Ack     state.AckBody // the message's acknowledgement (DESIGN 3.7)
	Err     error         // the store failed or the engine stopped; nothing is durable
}

type inbound struct {
	src     *SourceInfo
	msg     adapters.Message
	records []adapters.Record // decoded by the sender, off the writer's goroutine
	done    chan<- Outcome
	// retryOf is the dead letter this message re-decodes; it is deleted in
	// the same transaction when the message applies cleanly.
	retryOf string
}

// batch is one group commit: messages plus requests other goroutines
// made of the writer (journal notes, alert bookkeeping, sweeps) and the
// containers whose SLA deadline passed.
type batch struct {
	msgs  []inbound
	reqs  []request
	touch map[string]bool // containers to decide again
	after []func(error)
}

func (b *batch) empty() bool {
	return len(b.msgs) == 0 && len(b.reqs) == 0 && len(b.touch) == 0 && len(b.after) == 0
}

// listener is told what each commit changed, after it is durable.
type listener interface {
	Committed(c *changes)
}

// changes is what one commit changed, for the dispatcher, the alert manager
// and the status publisher.
type changes struct {
	Commands   []state.Command   // new in the outbox
	Removed    []string          // commands confirmed or superseded
	Alerts     []state.Alert     // alerts stored in a new state
	Deleted    []string          // alerts forgotten
	Containers []state.Container // containers whose state changed
	Acks       []state.Ack       // new in the acknowledgement outbox
}

// Engine is the single writer of the store.
type Engine struct {
	store   *state.Store
	log     *slog.Logger
	metrics *Metrics
	now     func() time.Time

	policy atomic.Pointer[policy]
	repeat atomic.Int64 // alerts.repeat_interval, for invalid_input resolution

	inbox    chan inbound
	control  chan func(*batch)
	stopping chan struct{}
	stopOnce stdsync.Once

	listeners []listener
	// containerListeners is how many listeners read changes.Containers;
	// with none, a commit does not copy every container it changed for
	// them (a copy per event, and the writer's largest allocation).
	containerListeners atomic.Int32

	// replicate, set in a cluster, commits a group's writes through the
	// replicated log instead of the store's own transaction.
	replicate func(state.WriteSet) error

	// The workers, built by New; nil for an engine of newEngine alone
	// (the package's tests).
	dispatcher *dispatcher
	alerts     *alertManager
	acks       *ackPublisher
	status     *statusPublisher
	health     *sourceHealth
	cfg        atomic.Pointer[config.Config] // the configuration in force, for OutputStatus

	// Owned by the writer goroutine.
	cache        map[string]state.Container // recently written containers, as committed
	deadlines    deadlineHeap
	containerDue map[string]time.Time
	sourceDue    map[string]time.Time
	mismatches   int

	mu       stdsync.Mutex
	storeErr error
	recent   recentRing   // the last recentSize journal entries
	charts   charts       // the dashboard's series, locked on their own
	lastLoop atomic.Int64 // unix nanos of the writer's last pass, for the watchdog
}

// newEngine returns an engine over an open store.
func newEngine(store *state.Store, cfg *config.Config, metrics *Metrics, log *slog.Logger) *Engine {
	e := &Engine{
		store: store, log: log, metrics: metrics, now: time.Now,
		inbox:        make(chan inbound, inboxSize),
		control:      make(chan func(*batch), 256),
		stopping:     make(chan struct{}),
		containerDue: map[string]time.Time{},
		cache:        map[string]state.Container{},
		sourceDue:    map[string]time.Time{},
	}
	e.setPolicy(cfg)
	metrics.StoreHealthy.Set(1)
	return e
}

// setPolicy replaces the decision policy, e.g. after a reload.
func (e *Engine) setPolicy(cfg *config.Config) {
	p := policyFrom(cfg)
	e.policy.Store(&p)
	e.repeat.Store(int64(cfg.Alerts.RepeatInterval))
}

// addListener registers l to hear of every commit. Call before Run.
func (e *Engine) addListener(l listener) { e.listeners = append(e.listeners, l) }

// Deliver returns the function a source hands its messages to; each
// message counts as received for source health. It blocks
// while the inbox is full and drops the message (unacknowledged, so the
// transport delivers it again) once the engine stops.
func (e *Engine) Deliver(src *SourceInfo) adapters.Deliver {
	return func(m adapters.Message) {
		e.received(src.Name)
		if dec, ok := src.Decoder.(adapters.StreamDecoder); ok && m.Body != nil && m.Reject == nil && !m.TooLarge {
			e.deliverStream(src, m, dec)
			return
		}
		e.enqueueInbound(inbound{src: src, msg: m, records: decode(src, m)})
	}
}

// received tells source health that a message came from source.
func (e *Engine) received(source string) {
	if e.health != nil {
		e.health.Received(source)
	}
}

// Submit applies one message and waits until it is durable (or rejected
// durably), for sources that answer their sender synchronously; the
// message counts as received for source health.
func (e *Engine) Submit(ctx context.Context, src *SourceInfo, m adapters.Message) Outcome {
	e.received(src.Name)
	return e.submit(ctx, inbound{src: src, msg: m})
}

func (e *Engine) submit(ctx context.Context, in inbound) Outcome {
	done := make(chan Outcome, 1)
	in.done = done
	in.records = decode(in.src, in.msg)
	select {
	case e.inbox <- in:
	case <-ctx.Done():
		return Outcome{Err: ctx.Err()}
	case <-e.stopping:
		return Outcome{Err: errStopped}
	}
	select {
	case o := <-done:
		return o
	case <-ctx.Done():
		return Outcome{Err: ctx.Err()}
	}
}

var errStopped = errors.New("engine stopped")

// do applies r in the writer's next transaction and waits for the commit.
func (e *Engine) do(ctx context.Context, r request) error {
	done := make(chan error, 1)
	add := func(b *batch) {
		b.reqs = append(b.reqs, r)
		b.after = append(b.after, func(err error) { done <- err })
	}
	select {
	case e.control <- add:
	case <-ctx.Done():
		return ctx.Err()
	case <-e.stopping:
		return errStopped
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// enqueue applies r in a coming transaction without waiting; for
// bookkeeping that may be lost in a crash (it is redone after a restart).
func (e *Engine) enqueue(r request) {
	select {
	case e.control <- func(b *batch) { b.reqs = append(b.reqs, r) }:
	case <-e.stopping:
	}
}

// policyNow is the decision policy in force.
func (e *Engine) policyNow() policy { return *e.policy.Load() }

// Retry submits dead letter id's message again, decoded by its source's
// current decoder; applied, the dead letter is removed in the same
// transaction.
func (e *Engine) Retry(ctx context.Context, src *SourceInfo, id string, m adapters.Message) Outcome {
	return e.submit(ctx, inbound{src: src, msg: m, retryOf: id})
}

// Healthy returns the last store error, nil while commits succeed.
func (e *Engine) Healthy() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.storeErr
}

// LastProgress is when the writer last went round its loop.
func (e *Engine) LastProgress() time.Time { return time.Unix(0, e.lastLoop.Load()) }

// load reads what the engine and its listeners need from the store: open
// mismatches for the SLA timer and the gauges. Call before Run.
func (e *Engine) load() error {
	p := e.policy.Load()
	return e.store.View(func(tx *state.Tx) error {
		ms, err := tx.Mismatches()
		if err != nil {
			return err
		}
		e.mismatches = len(ms)
		e.metrics.Mismatches.Set(float64(len(ms)))
		e.charts.observeMismatches(e.now(), len(ms))
		for _, m := range ms {
			e.setContainerDue(m.Container, m.Since.Add(p.ApplyWithin))
		}
		alerts, err := tx.Alerts()
		if err != nil {
			return err
		}
		for _, a := range alerts {
			if a.Kind == state.KindInvalidInput && a.State == state.Firing {
				e.setSourceDue(a.Source, a.At.Add(time.Duration(e.repeat.Load())))
			}
		}
		for p, n := range tx.PresenceCounts() {
			e.metrics.Containers.WithLabelValues(string(p)).Set(float64(n))
		}
		return nil
	})
}

// Run is the writer loop. It returns when ctx is done, after finishing the
// group in flight; messages still queued are not acknowledged and their
// transports deliver them again.
func (e *Engine) Run(ctx context.Context) {
	defer e.stopOnce.Do(func() { close(e.stopping) })
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	// The ticker wakes the idle loop so LastProgress stays fresh for the
	// watchdog.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		e.lastLoop.Store(time.Now().UnixNano())
		e.resetTimer(timer)
		b := &batch{touch: map[string]bool{}}
		select {
		case <-ctx.Done():
			return
		case in := <-e.inbox:
			b.msgs = append(b.msgs, in)
		case req := <-e.control:
			req(b)
		case <-timer.C:
			e.dueWork(b)
		case <-tick.C:
			continue
		}
		e.fill(b)
		if !b.empty() {
			e.commitWithRetry(ctx, b)
		}
	}
}

// fill adds what is already waiting to the batch, without blocking.
func (e *Engine) fill(b *batch) {
	for len(b.msgs) < maxBatch {
		select {
		case in := <-e.inbox:
			b.msgs = append(b.msgs, in)
		case req := <-e.control:
			req(b)
		default:
			return
		}
	}
}

func (e *Engine) commitWithRetry(ctx context.Context, b *batch) {
	wait := retryMin
	for {
		ch, err := e.commit(b)
		if err == nil {
			if ch.wrote {
				e.setStoreErr(nil)
			}
			e.finish(b, ch)
			return
		}
		if e.isolate(b, err) {
			continue
		}
		e.setStoreErr(err)
		e.log.Error("store commit failed; nothing is acknowledged until it succeeds", "err", err, "messages", len(b.msgs), "retry_in", wait)
		select {
		case <-ctx.Done():
			for _, in := range b.msgs {
				if in.done != nil {
					in.done <- Outcome{Err: err}
				}
			}
			for _, f := range b.after {
				f(err)
			}
			return
		case <-time.After(wait):
		}
		e.lastLoop.Store(time.Now().UnixNano())
		wait = min(wait*2, retryMax)
	}
}

// errTrialDone rolls back a trial transaction that succeeded.
var errTrialDone = errors.New("trial transaction rolled back")

// isolate looks for what in a failed group can never commit. It applies
// each record, request and touched container alone in a transaction that is
// rolled back, so nothing is written and nothing reaches the disk. A
// record that fails alone is replaced by its rejection (code unstorable,
// the store's error as the reason), so its message is dead-lettered and
// acknowledged; a request or touched container that fails alone is dropped
// with an error log (they are internal bookkeeping that a sweep redoes).
// It reports whether it changed the group; if not, the fault is the
// store's (a full disk, an I/O error: those only show at commit) and the
// group is retried as it is.
func (e *Engine) isolate(b *batch, cause error) bool {
	now := e.now()
	// A store that cannot even run an empty transaction (closed, broken)
	// is at fault, not the group.
	if err := e.trial(now, func(*txn) error { return nil }); err != nil {
		return false
	}
	changed := false
	for i := range b.msgs {
		in := &b.msgs[i]
		if e.trial(now, func(t *txn) error { return t.messageOnly(*in, in.records) }) == nil {
			continue
		}
		for j, r := range in.records {
			err := e.trial(now, func(t *txn) error { return t.messageOnly(*in, []adapters.Record{r}) })
			if err == nil {
				continue
			}
			in.records[j] = adapters.Record{
				Position: r.Position,
				Err: state.Reject(state.CodeUnstorable, "the store cannot take this record (%s): %s",
					describeRecord(r), state.CutText(err.Error(), 300)),
			}
			changed = true
			e.log.Error("record dead-lettered: the store refused it", "source", in.src.Name, "event_id", recordID(r), "err", err)
		}
	}
	reqs := b.reqs[:0]
	for _, r := range b.reqs {
		if err := e.trial(now, r.apply); err != nil {
			e.log.Error("internal store job dropped: it can never commit", "err", err, "group_err", cause)
			changed = true
			continue
		}
		reqs = append(reqs, r)
	}
	b.reqs = reqs
	for id := range b.touch {
		err := e.trial(now, func(t *txn) error { return t.touch(id) })
		if err != nil {
			e.log.Error("container left out of this commit: deciding it can never commit", "container", id, "err", err)
			delete(b.touch, id)
			changed = true
		}
	}
	return changed
}

// trial runs fn and the decisions it leads to in a transaction that is
// always rolled back, and returns fn's or the store's error.
func (e *Engine) trial(now time.Time, fn func(*txn) error) error {
	err := e.store.Update(func(tx *state.Tx) error {
		t := newTxn(e, tx, now, 1)
		t.quiet = true
		if err := fn(t); err != nil {
			return err
		}
		if err := t.decideAll(); err != nil {
			return err
		}
		return errTrialDone
	})
	if errors.Is(err, errTrialDone) {
		return nil
	}
	return err
}

func recordID(r adapters.Record) string {
	switch {
	case r.Agency != nil:
		return state.CutText(r.Agency.ID, 80)
	case r.TOS != nil:
		return state.CutText(r.TOS.ID, 80)
	case r.Manifest != nil:
		return state.CutText(r.Manifest.ID, 80)
	}
	return ""
}

func describeRecord(r adapters.Record) string {
	if id := recordID(r); id != "" {
		return fmt.Sprintf("event %q", id)
	}
	return "record"
}

func (e *Engine) setStoreErr(err error) {
	e.mu.Lock()
	e.storeErr = err
	e.mu.Unlock()
	if err != nil {
		e.metrics.StoreHealthy.Set(0)
	} else {
		e.metrics.StoreHealthy.Set(1)
	}
}

// committed is a commit's result before it is published.
type committed struct {
	changes   changes
	outcomes  []Outcome
	events    map[[2]string]int // (source, result) -> count
	dead      map[[2]string]int // (source, code) -> count
	confirmed []state.PendingCommand
	closed    []state.Mismatch
	opened    int
	due       map[string]time.Time // container -> SLA deadline (zero: none)
	srcDue    map[string]time.Time
	presence  map[state.Presence]int64
	journal   []state.JournalEntry
	stored    []state.Container
	elapsed   time.Duration
	// wrote is whether the group wrote anything: one that did not (only
	// duplicates) reached no disk, and says nothing of the store's health.
	wrote bool
}

func (e *Engine) commit(b *batch) (*committed, error) {
	now := e.now()
	var out *committed
	start := time.Now()
	apply := func(tx *state.Tx) error {
		t := newTxn(e, tx, now, len(b.msgs)+len(b.touch))
		for _, r := range b.reqs {
			if err := r.apply(t); err != nil {
				return err
			}
		}
		for _, in := range b.msgs {
			o, err := t.message(in, in.records)
			if err != nil {
				return err
			}
			t.c.outcomes = append(t.c.outcomes, o)
		}
		for id := range b.touch {
			if err := t.touch(id); err != nil {
				return err
			}
		}
		if err := t.decideAll(); err != nil {
			return err
		}
		t.c.wrote = tx.Wrote()
		out = t.c
		failpoint.Hit("commit.before")
		return nil
	}
	var err error
	if e.replicate == nil {
		err = e.store.Update(apply)
	} else {
		// In a cluster the group is worked out in a transaction that is
		// rolled back, and its writes reach the store through the
		// replicated log, on every node alike.
		// A group that writes nothing (duplicates only) read committed
		// state and has nothing to make durable: it skips the round trip.
		var ws state.WriteSet
		if ws, err = e.store.Record(apply); err == nil && len(ws) > 0 {
			err = e.replicate(ws)
		}
	}
	if err != nil {
		return nil, err
	}
	out.elapsed = time.Since(start)
	return out, nil
}

// Decode turns a message into records with the source's decoder, as the
// engine admits them, without a store: a record whose agency event the
// policy of cfg refuses (an agency not configured, or not the source's)
// carries that rejection. portsync replay runs it.
func Decode(cfg *config.Config, src *SourceInfo, m adapters.Message) []adapters.Record {
	p := policyFrom(cfg)
	records := decode(src, m)
	for i, r := range records {
		if r.Err == nil && r.Agency != nil {
			records[i].Err = p.CheckAgency(src, r.Agency)
		}
	}
	return records
}

// decode turns a message into records with the source's decoder, or into
// a too_large rejection. Binding checks come later, in the transaction.
func decode(src *SourceInfo, m adapters.Message) []adapters.Record {
	if m.Reject != nil {
		return []adapters.Record{{Err: m.Reject}}
	}
	if m.TooLarge {
		return []adapters.Record{{Err: state.Reject(state.CodeTooLarge, "payload is larger than %d bytes", adapters.MaxPayload)}}
	}
	return adapters.DecodeMessage(src.Decoder, m)
}

// finish acknowledges the batch's messages, in the order they arrived, and
// publishes what the commit changed.
func (e *Engine) finish(b *batch, c *committed) {
	failpoint.Hit("commit.after")
	for i, in := range b.msgs {
		if i == 1 {
			failpoint.Hit("ack.partial")
		}
		if in.msg.Done != nil {
			in.msg.Done(adapters.Outcome{Reject: c.outcomes[i].Reject})
		}
		if in.done != nil {
			in.done <- c.outcomes[i]
		}
	}
	for _, f := range b.after {
		f(nil)
	}
	m := e.metrics
	m.Commit.Observe(c.elapsed.Seconds())
	if len(b.msgs) > 0 {
		m.BatchSize.Observe(float64(len(b.msgs)))
	}
	for k, n := range c.events {
		m.Events.WithLabelValues(k[0], k[1]).Add(float64(n))
	}
	for k, n := range c.dead {
		m.DeadLetters.WithLabelValues(k[0], k[1]).Add(float64(n))
	}
	now := e.now()
	for _, mm := range c.closed {
		m.MismatchAge.Observe(now.Sub(mm.Since).Seconds())
	}
	e.mismatches += c.opened - len(c.closed)
	m.Mismatches.Set(float64(e.mismatches))
	if c.opened > 0 || len(c.closed) > 0 {
		e.charts.observeMismatches(now, e.mismatches)
	}
	for _, p := range c.confirmed {
		if p.Action == state.ReleaseHold && !p.CauseReceivedAt.IsZero() {
			latency := now.Sub(p.CauseReceivedAt).Seconds()
			m.ReleaseToTOS.Observe(latency)
			e.charts.observeLatency(now, latency)
		}
	}
	for id, at := range c.due {
		e.setContainerDue(id, at)
	}
	for src, at := range c.srcDue {
		e.setSourceDue(src, at)
	}
	for p, n := range c.presence {
		m.Containers.WithLabelValues(string(p)).Set(float64(n))
	}
	e.remember(c.journal)
	e.keep(c.stored)
	for _, l := range e.listeners {
		l.Committed(&c.changes)
	}
	// The acknowledgements and the listeners have woken goroutines (the
	// MQTT client's, the dispatcher) that are first in line for this
	// processor. Without a yield the writer goes on to the next commit,
	// whose fsync keeps the processor until the runtime takes it back,
	// while the other processor is busy: at 1,000 events/s that wait
	// doubled the p99 from commit to command (docs/performance.md).
	runtime.Gosched()
}

// cacheSize bounds the containers the writer keeps decoded. Decoding a
// container is the largest single cost of applying an event; a vessel's
// worth of containers gets several events each within minutes.
const cacheSize = 50000

// cached hands the writer's transaction a container as last committed, if
// it is still cached. The entry leaves the cache: the transaction changes it
// in place, and keep puts the result back only once it is committed, so a
// failed commit leaves nothing stale behind.
func (e *Engine) cached(id string) (state.Container, bool) {
	c, ok := e.cache[id]
	if ok {
		delete(e.cache, id)
	}
	return c, ok
}

// keep caches containers just committed, evicting arbitrary ones (map
// order is random) beyond cacheSize.
func (e *Engine) keep(cs []state.Container) {
	for _, c := range cs {
		e.cache[c.ID] = c
	}
	for id := range e.cache {
		if len(e.cache) <= cacheSize {
			break
		}
		delete(e.cache, id)
	}
}

func (e *Engine) remember(entries []state.JournalEntry) {
	if len(entries) == 0 {
		return
	}
	e.mu.Lock()
	e.recent.add(entries)
	e.mu.Unlock()
}

// Recent returns the latest journal entries across all containers, newest
// first.
func (e *Engine) Recent() []state.JournalEntry {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.recent.newestFirst()
}

// dueWork adds to b the containers and sources whose deadlines have passed.
func (e *Engine) dueWork(b *batch) {
	now := e.now()
	for e.deadlines.Len() > 0 && !e.deadlines[0].at.After(now) {
		d := heap.Pop(&e.deadlines).(deadline)
		if d.source {
			if at, ok := e.sourceDue[d.id]; ok && at.Equal(d.at) {
				delete(e.sourceDue, d.id)
				b.reqs = append(b.reqs, &systemAlert{alert: state.Alert{ID: invalidInputID(d.id)}})
			}
			continue
		}
		if at, ok := e.containerDue[d.id]; ok && at.Equal(d.at) {
			delete(e.containerDue, d.id)
			b.touch[d.id] = true
		}
	}
}

func (e *Engine) resetTimer(t *time.Timer) {
	wait := time.Hour
	if e.deadlines.Len() > 0 {
		wait = max(time.Until(e.deadlines[0].at), 0)
	}
	t.Reset(wait)
}

func (e *Engine) setContainerDue(id string, at time.Time) {
	if at.IsZero() {
		delete(e.containerDue, id)
		return
	}
	if cur, ok := e.containerDue[id]; ok && cur.Equal(at) {
		return
	}
	e.containerDue[id] = at
	heap.Push(&e.deadlines, deadline{at: at, id: id})
}

func (e *Engine) setSourceDue(src string, at time.Time) {
	e.sourceDue[src] = at
	heap.Push(&e.deadlines, deadline{at: at, id: src, source: true})
}

// deadline is when a container's mismatch outlives the SLA, or when a
// source's invalid_input alert resolves. Entries are not removed when
// superseded; the maps above say which are current.
type deadline struct {
	at     time.Time
	id     string
	source bool
}

type deadlineHeap []deadline

func (h deadlineHeap) Len() int           { return len(h) }
func (h deadlineHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h deadlineHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *deadlineHeap) Push(x any)        { *h = append(*h, x.(deadline)) }
func (h *deadlineHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// Sweep decides every container again, in groups, and then makes every
// pending command due again: the level-triggered repair after a
// configuration change or a suspected lost event. It returns the number of
// containers decided.
func (e *Engine) Sweep(ctx context.Context) (int, error) {
	n, err := e.sweep(ctx)
	if err == nil && e.dispatcher != nil {
		e.dispatcher.ResendAll()
	}
	return n, err
}

func (e *Engine) sweep(ctx context.Context) (int, error) {
	// Each group reads its own slice of the container keys in the writer's
	// transaction, so every container is decoded once, and events go on
	// between groups.
	const group = 500
	after, n := "", 0
	for {
		r := &sweepGroup{after: after, size: group}
		if err := e.do(ctx, r); err != nil {
			return n, fmt.Errorf("sweep: %w", err)
		}
		n += r.decided
		if r.last == "" {
			return n, nil
		}
		after = r.last
	}
}

func countKey(a, b string) [2]string { return [2]string{a, b} }
