// Package demo simulates the world around portsync for `portsync demo`: a
// customs feed and a quarantine feed that decide on containers, a manifest
// feed that links each vessel batch's bill of lading to its containers, and a
// terminal operating system (TOS) that discharges vessels, applies (or now
// and then misses) portsync's commands and gates containers out. Both talk
// to the daemon over MQTT, exactly as real systems would.
package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/portsync/portsync/state"
)

// Topics the simulation and the demo configuration share.
const (
	TopicCustoms    = "customs/DEMO-T1/releases"
	TopicQuarantine = "ciq/DEMO-T1/releases"
	TopicTOSEvents  = "tos/DEMO-T1/events"
	TopicCommands   = "tos/DEMO-T1/commands"
	// TopicManifests carries a manifest per vessel batch: its B/L and the
	// containers the B/L covers.
	TopicManifests = "manifests/DEMO-T1"
)

// Options tune the simulation.
type Options struct {
	Seed uint64
	// Tick is the simulation's step; every behaviour is scheduled in ticks.
	Tick time.Duration
	// VesselEvery is how many ticks apart vessels arrive.
	VesselEvery int
	// Log receives a line for each thing the simulation does.
	Log *slog.Logger
}

// Sim is a running simulation.
type Sim struct {
	opt    Options
	rng    *rand.Rand
	client paho.Client
	log    *slog.Logger

	mu       sync.Mutex
	tick     int
	seq      int
	agenda   map[int][]func() // tick -> actions
	holds    map[string][]string
	inYard   map[string]bool
	serials  map[string]bool
	vessels  int
	departed bool // the one unauthorised departure has been staged
	stats    Stats
}

// Stats counts what the simulation has done, so tests can see that every
// behaviour happened.
type Stats struct {
	Vessels, Manifests, Arrivals, Releases, Holds, Duplicates, OutOfOrder, Revoked int
	Malformed, CommandsSeen, CommandsMissed, Departures, HeldDepartures            int
}

// Snapshot returns the counts so far.
func (s *Sim) Snapshot() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// New connects the simulation to the broker at url.
func New(url string, opt Options) (*Sim, error) {
	if opt.Tick == 0 {
		opt.Tick = time.Second
	}
	if opt.VesselEvery == 0 {
		opt.VesselEvery = 25
	}
	s := &Sim{
		opt: opt, rng: rand.New(rand.NewPCG(opt.Seed, opt.Seed^0x5eed)), log: opt.Log,
		agenda: map[int][]func(){}, holds: map[string][]string{}, inYard: map[string]bool{}, serials: map[string]bool{},
	}
	opts := paho.NewClientOptions().AddBroker(url).SetClientID(fmt.Sprintf("demo-sim-%d", opt.Seed)).
		SetCleanSession(true).SetAutoReconnect(true).SetConnectRetry(true).SetOrderMatters(true).
		SetOnConnectHandler(func(c paho.Client) {
			c.Subscribe(TopicCommands, 1, s.onCommand)
		})
	s.client = paho.NewClient(opts)
	if tok := s.client.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		return nil, fmt.Errorf("demo simulation: connect %s: %v", url, tok.Error())
	}
	return s, nil
}

// Run drives the simulation until ctx is done.
func (s *Sim) Run(ctx context.Context) {
	defer s.client.Disconnect(100)
	t := time.NewTicker(s.opt.Tick)
	defer t.Stop()
	for {
		s.step()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// step runs one tick: a vessel now and then, and whatever is due.
func (s *Sim) step() {
	s.mu.Lock()
	now := s.tick
	if now%s.opt.VesselEvery == 0 {
		s.vessel()
	}
	actions := s.agenda[now]
	delete(s.agenda, now)
	s.tick++
	s.mu.Unlock()
	for _, a := range actions {
		a()
	}
}

// at schedules an action ticks from now. Call with s.mu held.
func (s *Sim) at(ticks int, action func()) {
	s.agenda[s.tick+ticks] = append(s.agenda[s.tick+ticks], action)
}

var owners = []string{"MSCU", "MAEU", "CMAU", "TGHU", "OOLU", "HLXU", "EGHU", "COSU"}

// container returns a new valid container number. Call with s.mu held.
func (s *Sim) container() string {
	for {
		prefix := fmt.Sprintf("%s%06d", owners[s.rng.IntN(len(owners))], s.rng.IntN(1000000))
		id := fmt.Sprintf("%s%d", prefix, state.CheckDigit(prefix))
		if !s.serials[id] {
			s.serials[id] = true
			return id
		}
	}
}

func (s *Sim) nextID(prefix string) string {
	s.seq++
	return fmt.Sprintf("%s-%06d", prefix, s.seq)
}

// vessel discharges a batch and schedules every agency decision and gate
// move for it. Call with s.mu held.
func (s *Sim) vessel() {
	s.vessels++
	s.stats.Vessels++
	name := fmt.Sprintf("VESSEL-%02d", s.vessels)
	n := 6 + s.rng.IntN(6)
	s.log.Info("vessel berthed, discharging", "vessel", name, "containers", n)
	bl := fmt.Sprintf("MEDU%08d", s.rng.IntN(100000000))
	var batch []string
	for i := 0; i < n; i++ {
		c := s.container()
		batch = append(batch, c)
		quarantine := s.rng.IntN(3) == 0
		arrive := 1 + i
		holds := []string{"CUSTOMS"}
		if quarantine {
			holds = append(holds, "CIQ")
		}
		if s.rng.IntN(4) == 0 {
			holds = append(holds, "PAYMENT") // not ours: portsync never touches it
		}
		s.at(arrive, func() { s.arrive(c, holds) })

		// Customs: most release after discharge, some before it (pre-cleared),
		// some hold first and release later, one in a while revokes.
		release := arrive + 3 + s.rng.IntN(12)
		if s.rng.IntN(4) == 0 {
			release = max(0, arrive-1) // before the container is in the yard
		}
		switch r := s.rng.IntN(10); {
		case r == 0: // held, then released
			s.at(release, func() { s.agencyEvent("customs", state.Held, 0, bl, c) })
			s.at(release+8, func() { s.agencyEvent("customs", state.Released, 0, bl, c) })
		case r == 1: // released, then the release revoked
			s.at(release, func() { s.agencyEvent("customs", state.Released, 0, bl, c) })
			s.at(release+6, func() {
				s.count(func(st *Stats) { st.Revoked++ })
				s.agencyEvent("customs", state.Held, 0, bl, c)
			})
		case r == 2: // released, then a hold decided earlier arrives late
			s.at(release, func() { s.agencyEvent("customs", state.Released, 0, bl, c) })
			s.at(release+2, func() {
				s.count(func(st *Stats) { st.OutOfOrder++ })
				s.agencyEvent("customs", state.Held, -time.Hour, bl, c)
			})
		case r == 3: // released, and the feed sends it twice
			s.at(release, func() {
				id, at := s.agencyEvent("customs", state.Released, 0, bl, c)
				s.count(func(st *Stats) { st.Duplicates++ })
				s.publishAgency(TopicCustoms, id, "customs", state.Released, at, bl, c)
			})
		default:
			s.at(release, func() { s.agencyEvent("customs", state.Released, 0, bl, c) })
		}
		if quarantine {
			// Quarantine too decides before discharge now and then.
			qAt := release + 1 + s.rng.IntN(6)
			if s.rng.IntN(4) == 0 {
				qAt = max(0, arrive-1)
			}
			s.at(qAt, func() { s.agencyEvent("quarantine", state.Released, 0, bl, c) })
		}
		// Gate out once everything should be clear, for about half of them.
		if s.rng.IntN(2) == 0 {
			s.at(release+20+s.rng.IntN(10), func() { s.gateOut(c, false) })
		}
	}
	// One container in the second vessel leaves while customs still holds
	// it: the unauthorised departure an operator must hear about at once.
	if s.vessels == 2 && !s.departed {
		s.departed = true
		c := s.container()
		batch = append(batch, c)
		s.at(1, func() { s.arrive(c, []string{"CUSTOMS"}) })
		s.at(3, func() { s.agencyEvent("customs", state.Held, 0, bl, c) })
		s.at(6, func() { s.gateOut(c, true) })
	}
	// The manifest links the B/L to the whole batch as the vessel berths,
	// so that the B/L's page lists every container of it.
	id := s.nextID("CUSCAR")
	s.stats.Manifests++
	s.at(0, func() {
		s.publish(TopicManifests, map[string]any{"id": id, "bl": bl, "containers": batch, "at": time.Now().UTC().Format(time.RFC3339Nano)})
	})
	// A malformed message now and then: a bad check digit, or broken JSON.
	s.at(2+s.rng.IntN(5), func() { s.malformed() })
}

func (s *Sim) arrive(c string, holds []string) {
	s.mu.Lock()
	s.inYard[c] = true
	s.holds[c] = slices.Clone(holds)
	s.stats.Arrivals++
	id := s.nextID("N4")
	s.mu.Unlock()
	s.publish(TopicTOSEvents, map[string]any{"id": id, "container": c, "event": "arrived", "holds": holds, "at": time.Now().UTC()})
}

func (s *Sim) gateOut(c string, forced bool) {
	s.mu.Lock()
	if !s.inYard[c] {
		s.mu.Unlock()
		return
	}
	holds := s.holds[c]
	// A real gate refuses a container with holds; the forced one is the
	// yard's mistake the alert exists for.
	if len(holds) > 0 && !forced {
		s.mu.Unlock()
		return
	}
	delete(s.inYard, c)
	s.stats.Departures++
	if forced {
		s.stats.HeldDepartures++
	}
	id := s.nextID("N4")
	s.mu.Unlock()
	if forced {
		s.log.Warn("TOS gated a held container out (simulated yard error)", "container", c)
	}
	s.publish(TopicTOSEvents, map[string]any{"id": id, "container": c, "event": "departed", "at": time.Now().UTC()})
}

// count updates the statistics.
func (s *Sim) count(f func(*Stats)) {
	s.mu.Lock()
	f(&s.stats)
	s.mu.Unlock()
}

// agencyEvent publishes a decision stamped now plus skew (a negative skew
// makes an event that was decided earlier but arrives late).
func (s *Sim) agencyEvent(agency string, st state.Status, skew time.Duration, bl, c string) (string, time.Time) {
	at := time.Now().Add(skew)
	s.mu.Lock()
	id := s.nextID(map[string]string{"customs": "REL", "quarantine": "CIQ"}[agency])
	if st == state.Released {
		s.stats.Releases++
	} else {
		s.stats.Holds++
	}
	s.mu.Unlock()
	topic := TopicCustoms
	if agency == "quarantine" {
		topic = TopicQuarantine
	}
	s.publishAgency(topic, id, agency, st, at, bl, c)
	return id, at
}

func (s *Sim) publishAgency(topic, id, agency string, st state.Status, at time.Time, bl, c string) {
	s.publish(topic, map[string]any{
		"id": id, "agency": agency, "status": st, "containers": []string{c}, "bl": bl,
		"reason": "simulated decision", "at": at.Format(time.RFC3339Nano),
	})
}

func (s *Sim) malformed() {
	s.mu.Lock()
	s.stats.Malformed++
	bad := s.rng.IntN(2) == 0
	c := s.container()
	id := s.nextID("REL")
	s.mu.Unlock()
	if bad {
		wrong := (int(c[10]-'0') + 1) % 10
		c = c[:10] + fmt.Sprint(wrong)
		s.publishAgency(TopicCustoms, id, "customs", state.Released, time.Now(), "", c)
		return
	}
	s.publish(TopicCustoms, []byte(`{"id":"`+id+`","agency":"customs","status":"released","containers":[`))
}

// onCommand applies a portsync command in the simulated TOS after a short
// lag, and misses one now and then so that portsync must re-send it.
func (s *Sim) onCommand(_ paho.Client, m paho.Message) {
	var cmd state.Command
	if err := json.Unmarshal(m.Payload(), &cmd); err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.CommandsSeen++
	if s.rng.IntN(6) == 0 {
		s.stats.CommandsMissed++
		s.log.Info("TOS missed a command (simulated)", "container", cmd.Container, "command", cmd.ID)
		return
	}
	s.at(1+s.rng.IntN(2), func() { s.apply(cmd) })
}

func (s *Sim) apply(cmd state.Command) {
	s.mu.Lock()
	if !s.inYard[cmd.Container] {
		s.mu.Unlock()
		return
	}
	holds := slices.DeleteFunc(slices.Clone(s.holds[cmd.Container]), func(h string) bool { return h == cmd.Hold })
	if cmd.Action == state.AddHold {
		holds = append(holds, cmd.Hold)
	}
	slices.Sort(holds)
	s.holds[cmd.Container] = holds
	id := s.nextID("N4")
	s.mu.Unlock()
	s.publish(TopicTOSEvents, map[string]any{"id": id, "container": cmd.Container, "event": "holds", "holds": holds, "at": time.Now().UTC()})
}

func (s *Sim) publish(topic string, v any) {
	data, ok := v.([]byte)
	if !ok {
		var err error
		if data, err = json.Marshal(v); err != nil {
			s.log.Error("demo simulation: encode", "err", err)
			return
		}
	}
	tok := s.client.Publish(topic, 1, false, data)
	go func() {
		if tok.WaitTimeout(10*time.Second) && tok.Error() != nil {
			s.log.Warn("demo simulation: publish failed", "topic", topic, "err", tok.Error())
		}
	}()
}
