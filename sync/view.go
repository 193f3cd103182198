package sync

import (
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"slices"
	stdsync "sync"
	"time"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/state"
)

// View is a container's integrated status (DESIGN 3.5).
type View struct {
	Container string                  `json:"container"`
	Cleared   bool                    `json:"cleared"`
	Presence  state.Presence          `json:"presence"`
	Agencies  map[string]state.Status `json:"agencies"`
	// Holds are each agency's open hold types, sorted; "" is its general
	// hold (an event without hold), as on the wire.
	Holds     map[string][]string `json:"holds"`
	TOSHolds  []string            `json:"tos_holds"`
	Mismatch  bool                `json:"mismatch"`
	UpdatedAt time.Time           `json:"updated_at"`
}

// newView builds the integrated status of c under policy p. Every
// configured agency appears, unknown where it has not spoken.
func newView(c *state.Container, p policy) View {
	v := View{
		Container: c.ID, Cleared: isCleared(c, p), Presence: c.Presence,
		Agencies: map[string]state.Status{}, Holds: map[string][]string{}, TOSHolds: c.TOSHolds,
		Mismatch: len(c.Mismatches) > 0, UpdatedAt: c.UpdatedAt.UTC(),
	}
	for name := range p.Agencies {
		v.Agencies[name] = agencyStatus(c, name)
		v.Holds[name] = openHolds(c.Agencies[name])
	}
	if v.TOSHolds == nil {
		v.TOSHolds = []string{}
	}
	return v
}

// openHolds returns an agency's open hold types, sorted, [] when none is
// open; "" is its general hold.
func openHolds(a state.AgencyState) []string {
	a = ledger(a)
	open := []string{}
	for typ, h := range a.Holds {
		if h.State == state.HoldOpen {
			open = append(open, typ)
		}
	}
	slices.Sort(open)
	return open
}

// ledger returns a with its ledger filled in, also for a state stored
// before the ledger existed (one status, the latest event winning), for
// those who show it.
func ledger(a state.AgencyState) state.AgencyState {
	a.Holds = maps.Clone(a.Holds)
	fromLegacy(&a)
	return a
}

// statusPublisher publishes each changed container's integrated status,
// retained, to <topic>/<container>. It keeps only the latest view of each
// container while the broker is away, so a backlog never grows beyond the
// number of containers. Without a target (no status_topic) it does nothing.
type statusPublisher struct {
	engine *Engine
	log    *slog.Logger

	mu      stdsync.Mutex
	pub     adapters.Publisher
	topic   string
	pending map[string]state.Container
	wake    chan struct{}
}

// newStatusPublisher returns a publisher with no target.
func newStatusPublisher(e *Engine, log *slog.Logger) *statusPublisher {
	return &statusPublisher{engine: e, log: log, pending: map[string]state.Container{}, wake: make(chan struct{}, 1)}
}

// SetTarget sets where statuses go; a nil publisher stops publishing.
func (s *statusPublisher) SetTarget(pub adapters.Publisher, topic string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// The engine copies changed containers only while someone reads them.
	// A container that changes in a group already in flight when
	// publishing starts is published at its next change.
	switch {
	case s.pub == nil && pub != nil:
		s.engine.containerListeners.Add(1)
	case s.pub != nil && pub == nil:
		s.engine.containerListeners.Add(-1)
	}
	s.pub, s.topic = pub, topic
	if pub == nil {
		clear(s.pending)
	}
}

// Committed queues the changed containers.
func (s *statusPublisher) Committed(c *changes) {
	if len(c.Containers) == 0 {
		return
	}
	s.mu.Lock()
	if s.pub == nil {
		s.mu.Unlock()
		return
	}
	for _, ct := range c.Containers {
		s.pending[ct.ID] = ct
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run publishes until ctx is done.
func (s *statusPublisher) Run(ctx context.Context) {
	retry := time.NewTimer(time.Hour)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-retry.C:
		}
		s.mu.Lock()
		batch, pub, topic := s.pending, s.pub, s.topic
		s.pending = map[string]state.Container{}
		s.mu.Unlock()
		if len(batch) == 0 || pub == nil {
			continue
		}
		p := *s.engine.policy.Load()
		msgs := make([]adapters.Outgoing, 0, len(batch))
		for id, c := range batch {
			payload, err := json.Marshal(newView(&c, p))
			if err != nil {
				s.log.Error("encode status", "container", id, "err", err)
				continue
			}
			msgs = append(msgs, adapters.Outgoing{Topic: topic + "/" + id, Payload: payload, Retained: true})
		}
		for chunk := range slices.Chunk(msgs, statusChunk) {
			if err := pub.Publish(ctx, 1, chunk...); err != nil {
				s.requeue(batch)
				s.log.Warn("publishing status failed; will retry", "err", err, "containers", len(batch))
				retry.Reset(time.Second)
				break
			}
		}
	}
}

// statusChunk bounds the status messages in flight at once.
const statusChunk = 1024

// requeue puts back what was not published, unless a newer view came.
func (s *statusPublisher) requeue(batch map[string]state.Container) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, c := range batch {
		if _, newer := s.pending[id]; !newer {
			s.pending[id] = c
		}
	}
}
