package sync

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	stdsync "sync"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/state"
)

// Tuning of the acknowledgement publisher: how many answers go to one
// destination in one call, and the wait after a failed delivery, doubling
// from ackRetryMin up to ackRetryMax.
const (
	ackChunk    = 256
	ackRetryMin = time.Second
	ackRetryMax = time.Minute
)

// ackFileSuffix ends the name of a file_drop source's acknowledgement:
// NAME.ack.json in its ack_dir for the file NAME.
const ackFileSuffix = ".ack.json"

// ackPublisher delivers the acknowledgement outbox: each answer the
// writer stored with its message's commit is published at QoS 1 on its
// source's broker (ack_topic) or written as a file (ack_dir), and deleted
// from the store once the broker has acknowledged it (PUBACK) or the file
// is durable. A destination that fails is tried again with backoff, the
// others go on; a broker's deliveries pass through a circuit breaker. The
// outbox is durable, so an answer that could not be delivered before a
// crash or a stop goes out after the restart; one that was delivered but
// not yet deleted goes out again: delivery is at least once, and a sender
// must take a repeated answer (the same body) as the same answer.
type ackPublisher struct {
	engine  *Engine
	metrics *Metrics
	log     *slog.Logger
	// brokers returns the broker of that name in the configuration in
	// force, nil if there is none.
	brokers func(name string) adapters.Publisher

	mu      stdsync.Mutex
	pending map[uint64]state.Ack
	dests   map[string]*ackDest
	wake    chan struct{}
}

// ackDest is the delivery state of one destination: a broker, or an
// ack_dir.
type ackDest struct {
	breaker  *gobreaker.CircuitBreaker[struct{}] // brokers only
	failures int
	next     time.Time // no attempt before
}

// newAckPublisher returns a publisher that finds brokers by name with
// brokers.
func newAckPublisher(e *Engine, brokers func(name string) adapters.Publisher, m *Metrics, log *slog.Logger) *ackPublisher {
	return &ackPublisher{
		engine: e, metrics: m, log: log, brokers: brokers,
		pending: map[uint64]state.Ack{}, dests: map[string]*ackDest{},
		wake: make(chan struct{}, 1),
	}
}

// Load reads the acknowledgements still waiting in the store. Call before
// Run.
func (p *ackPublisher) Load(store *state.Store) error {
	return store.View(func(tx *state.Tx) error {
		acks, err := tx.Acks()
		if err != nil {
			return err
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, a := range acks {
			p.pending[a.Seq] = a
		}
		p.metrics.AcksPending.Set(float64(len(p.pending)))
		return nil
	})
}

// Committed schedules the acknowledgements a commit stored.
func (p *ackPublisher) Committed(c *changes) {
	if len(c.Acks) == 0 {
		return
	}
	p.mu.Lock()
	for _, a := range c.Acks {
		p.pending[a.Seq] = a
	}
	p.metrics.AcksPending.Set(float64(len(p.pending)))
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Pending is the number of acknowledgements not yet delivered.
func (p *ackPublisher) Pending() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.pending)
}

// Run delivers acknowledgements until ctx is done.
func (p *ackPublisher) Run(ctx context.Context) { runRounds(ctx, p.wake, p.round) }

// destKey names an acknowledgement's destination.
func destKey(a state.Ack) string {
	if a.Dir != "" {
		return "dir:" + a.Dir
	}
	return "broker:" + a.Broker
}

// round delivers what is due, a chunk per destination at a time until a
// destination fails or has nothing left, and returns when to try next.
func (p *ackPublisher) round(ctx context.Context) time.Time {
	for ctx.Err() == nil {
		now := time.Now()
		next := now.Add(time.Hour)
		sent := false
		for key, chunk := range p.due(now, &next) {
			n, err := p.deliver(ctx, key, chunk)
			p.settle(key, chunk[:n], err, time.Now())
			sent = sent || n > 0
			if err != nil {
				next = time.Now() // settle set the destination's backoff; due finds it
			}
		}
		if !sent {
			return next
		}
	}
	return time.Now()
}

// due returns, by destination, the oldest chunk of acknowledgements of
// each destination not in backoff, and lowers *next to the end of the
// earliest backoff.
func (p *ackPublisher) due(now time.Time, next *time.Time) map[string][]state.Ack {
	p.mu.Lock()
	defer p.mu.Unlock()
	byDest := map[string][]state.Ack{}
	for _, a := range p.pending {
		key := destKey(a)
		if d := p.dests[key]; d != nil && d.next.After(now) {
			if d.next.Before(*next) {
				*next = d.next
			}
			continue
		}
		byDest[key] = append(byDest[key], a)
	}
	for key, acks := range byDest {
		slices.SortFunc(acks, func(a, b state.Ack) int { return cmp.Compare(a.Seq, b.Seq) })
		byDest[key] = acks[:min(len(acks), ackChunk)]
	}
	return byDest
}

func (p *ackPublisher) dest(key string) *ackDest {
	p.mu.Lock()
	defer p.mu.Unlock()
	d := p.dests[key]
	if d == nil {
		d = &ackDest{}
		if name, ok := strings.CutPrefix(key, "broker:"); ok {
			d.breaker = newBreaker("acks:"+name, p.metrics, p.log)
		}
		p.dests[key] = d
	}
	return d
}

// deliver delivers acks, all of one destination, in order, and returns
// how many of the first were delivered and the error that stopped it.
func (p *ackPublisher) deliver(ctx context.Context, key string, acks []state.Ack) (int, error) {
	d := p.dest(key)
	if d.breaker == nil {
		for i, a := range acks {
			if err := writeAckFile(a); err != nil {
				return i, err
			}
		}
		return len(acks), nil
	}
	broker := acks[0].Broker
	pub := p.brokers(broker)
	if pub == nil {
		return 0, fmt.Errorf("broker %s is not configured (any more): its acknowledgements wait until it is", broker)
	}
	msgs := make([]adapters.Outgoing, len(acks))
	for i, a := range acks {
		body, err := json.Marshal(a.Body)
		if err != nil {
			return 0, fmt.Errorf("encode acknowledgement: %w", err)
		}
		msgs[i] = adapters.Outgoing{Topic: a.Topic, Payload: body}
	}
	_, err := d.breaker.Execute(func() (struct{}, error) {
		sctx, cancel := context.WithTimeout(ctx, sendTimeout)
		defer cancel()
		return struct{}{}, pub.Publish(sctx, 1, msgs...)
	})
	if err != nil {
		return 0, err
	}
	return len(acks), nil
}

// settle forgets the delivered acknowledgements, has the writer delete
// them from the store, and keeps the destination's backoff.
func (p *ackPublisher) settle(key string, delivered []state.Ack, err error, now time.Time) {
	p.mu.Lock()
	for _, a := range delivered {
		delete(p.pending, a.Seq)
	}
	p.metrics.AcksPending.Set(float64(len(p.pending)))
	d := p.dests[key]
	failures := d.failures
	if err == nil {
		d.failures, d.next = 0, time.Time{}
	} else {
		d.failures++
		d.next = now.Add(min(ackRetryMin<<min(d.failures-1, 10), ackRetryMax))
	}
	p.mu.Unlock()
	switch {
	case err != nil && failures == 0 && !errors.Is(err, context.Canceled):
		p.log.Warn("acknowledgements not delivered; they wait in the store and are tried again", "destination", key, "err", err)
	case err == nil && failures > 0:
		p.log.Info("acknowledgements delivered again", "destination", key, "after_failures", failures)
	}
	if len(delivered) == 0 {
		return
	}
	seqs := make([]uint64, len(delivered))
	for i, a := range delivered {
		seqs[i] = a.Seq
	}
	p.engine.enqueue(&acksDelivered{seqs: seqs})
}

// acksDelivered deletes delivered acknowledgements from the outbox. It is
// not waited for: one lost in a crash is delivered again after the
// restart.
type acksDelivered struct {
	seqs []uint64
}

var _ request = (*acksDelivered)(nil)

func (r *acksDelivered) apply(t *txn) error {
	for _, seq := range r.seqs {
		if err := t.tx.DeleteAck(seq); err != nil {
			return err
		}
	}
	return nil
}

// writeAckFile writes a file acknowledgement durably and atomically: a
// temporary file in the same directory, synced, then renamed over
// NAME.ack.json, and the directory synced. A reader never sees half an
// answer; a file acknowledged twice keeps the later answer.
func writeAckFile(a state.Ack) error {
	body, err := json.MarshalIndent(a.Body, "", "  ")
	if err != nil {
		return fmt.Errorf("encode acknowledgement: %w", err)
	}
	if err := os.MkdirAll(a.Dir, 0o750); err != nil {
		return fmt.Errorf("ack_dir: %w", err)
	}
	name := filepath.Base(a.File) + ackFileSuffix
	tmp, err := os.CreateTemp(a.Dir, "."+name+".*.tmp")
	if err != nil {
		return fmt.Errorf("ack_dir: %w", err)
	}
	defer os.Remove(tmp.Name()) // gone after the rename; else a failure's leftover
	_, err = tmp.Write(append(body, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(a.Dir, name))
	}
	if err == nil {
		err = syncDir(a.Dir)
	}
	if err != nil {
		return fmt.Errorf("write acknowledgement %s: %w", name, err)
	}
	return nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
