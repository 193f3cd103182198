package daemon

// BenchmarkDayReplay (issue 6, "a day of the largest terminal's traffic"):
// a generated day of agency and TOS traffic replayed at full speed through
// the real daemon on a real mosquitto, beside the raw broker moving the
// same number of messages of the same average size.
//
// The default (20,000 containers) takes well under a minute; the full day
// of the largest terminal is about 100,000 containers (the flag goes after
// the package):
//
//	go test -run XXX -bench DayReplay -benchtime 1x -v ./sync/
//	go test -run XXX -bench DayReplay -benchtime 1x -v ./sync/ -portsync.day-containers=100000
//
// The latency half of that line of the issue (agency release received to
// TOS command at a steady 1,000 events/s) is BenchmarkLatency's.

import (
	"bytes"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	stdsync "sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/portsync/portsync/internal/broker"
	"github.com/portsync/portsync/state"
	"github.com/portsync/portsync/sync"
)

var dayContainers = flag.Int("portsync.day-containers", 20000,
	"containers in BenchmarkDayReplay's day (the full day of the largest terminal: 100000)")

const (
	daySeed   = 20261128
	dayMinute = int64(time.Minute / time.Millisecond)
	dayHour   = 60 * dayMinute
	// dayQuietFor is how long the daemon must stay quiet after the clock
	// stops before the state is checked (a late re-send would show).
	dayQuietFor = 500 * time.Millisecond
)

// Kinds of replayed events.
const (
	dayAgencyEvent = iota
	dayArrival
	dayDeparture
)

// Hold bits of the simulated TOS.
const (
	dayCustomsBit = 1 << iota
	dayCIQBit
)

// dayAgencies are the two agencies of benchConfig, by index.
var dayAgencies = [2]struct{ name, source, topic, prefix, hold string }{
	{"customs", "customs-mqtt", "customs/releases", "CUS", "CUSTOMS"},
	{"quarantine", "ciq-mqtt", "ciq/releases", "CIQ", "CIQ"},
}

// dayEvent is one replayed message. Times are Unix milliseconds on the
// simulated clock.
type dayEvent struct {
	deliver int64 // when it is published in the replay
	at      int64 // the event's own time (the agency's; the TOS's as scheduled)
	seq     int32 // generation order, to keep the sort stable
	c       int32 // container index
	kind    uint8
	agency  uint8 // agency events: index into dayAgencies
	holds   uint8 // arrivals: the holds the container arrives with
	dup     bool  // a second delivery of an event (same id, same bytes)
	status  state.Status
	payload []byte // agency events (TOS events are made by the simulated TOS)
}

// dayPlan is a generated day and what the daemon should make of it.
type dayPlan struct {
	n      int
	events []dayEvent // in replay order
	// Per container: arrival holds, final agency statuses (the decision
	// with the latest agency time), whether it leaves.
	arrivalHolds []uint8
	final        [2][]state.Status
	departs      []bool
	// expect counts the daemon's portsync_events_total for the agency
	// sources, from a model of the rules run in replay order.
	expect map[[2]string]int

	agencyEvents, arrivals, departures, dups, outOfOrder, revoked, heldFirst, before int
	agencyBytes                                                                      int64
}

// dayGenerate makes a day of n containers, the same for the same n:
//
//   - a TOS arrival within the first 18 hours, with a CUSTOMS hold, and a
//     CIQ hold for about a third;
//   - customs decides 10 min to 6 h after arrival, or (a quarter) up to
//     8 h before it; a tenth are held first and released 1-6 h later;
//     5% of releases are revoked (held again 30 min to 4 h later), half of
//     those released again;
//   - quarantine decides the same way, held first for a tenth of the CIQ
//     ones and a twentieth of the others (an inspection the TOS must add a
//     hold for), 1% revoked;
//   - a fifth of the agency events that have a later decision of the same
//     agency on the same container are delivered after it (out of order:
//     stale), about 2% of the agency events;
//   - 3% of all events are delivered a second time, a minute to 3 h later;
//   - 90% of the containers that end cleared leave, 30 min to 10 h after
//     their last agency event was delivered.
func dayGenerate(n int) *dayPlan {
	r := rand.New(rand.NewPCG(daySeed, uint64(n)))
	p := &dayPlan{
		n: n, arrivalHolds: make([]uint8, n), departs: make([]bool, n),
		final: [2][]state.Status{make([]state.Status, n), make([]state.Status, n)},
	}
	u := func(lo, hi int64) int64 { return lo + r.Int64N(hi-lo) }
	day0 := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC).UnixMilli()
	var all []dayEvent
	seq := int32(0)
	push := func(ev dayEvent) {
		ev.seq = seq
		seq++
		all = append(all, ev)
		if r.IntN(100) < 3 {
			d := ev
			d.dup, d.deliver, d.seq = true, ev.deliver+u(dayMinute, 3*dayHour), seq
			seq++
			all = append(all, d)
			p.dups++
		}
	}
	for i := range n {
		id := scContainer(i)
		tA := day0 + u(0, 18*dayHour)
		holds := uint8(dayCustomsBit)
		if r.IntN(3) == 0 {
			holds |= dayCIQBit
		}
		p.arrivalHolds[i] = holds
		var chain [2][]dayEvent
		add := func(ag int, st state.Status, at int64, reason string) {
			a := dayAgencies[ag]
			ev := dayEvent{at: at, deliver: at, c: int32(i), kind: dayAgencyEvent, agency: uint8(ag), status: st}
			ev.payload = fmt.Appendf(nil, `{"id":"%s-%06d-%d","agency":%q,"status":%q,"containers":[%q],"bl":"MEDUSH%06d","declaration":"2201202610%06d","reason":%q,"at":%q}`,
				a.prefix, i, len(chain[ag]), a.name, st, id, i, i, reason, dayTime(at))
			chain[ag] = append(chain[ag], ev)
		}
		decide := func(ag int, heldFirst bool, revokeIn int) {
			t := tA + u(10*dayMinute, 6*dayHour)
			if r.IntN(4) == 0 {
				t = tA - u(10*dayMinute, 8*dayHour)
				p.before++
			}
			if heldFirst {
				add(ag, state.Held, t, "selected for inspection")
				p.heldFirst++
				t += u(dayHour, 6*dayHour)
			}
			add(ag, state.Released, t, "documents checked, duties paid, no inspection required")
			if r.IntN(revokeIn) == 0 {
				p.revoked++
				t += u(30*dayMinute, 4*dayHour)
				add(ag, state.Held, t, "release revoked: declaration under review")
				if r.IntN(2) == 0 {
					add(ag, state.Released, t+u(dayHour, 4*dayHour), "declaration amended, released")
				}
			}
		}
		decide(0, r.IntN(10) == 0, 20)
		if holds&dayCIQBit != 0 {
			decide(1, r.IntN(10) == 0, 100)
		} else {
			decide(1, r.IntN(20) == 0, 100)
		}
		last := tA
		for ag := range chain {
			evs := chain[ag]
			for k := range evs {
				if k+1 < len(evs) && r.IntN(5) == 0 {
					evs[k].deliver = evs[k+1].at + u(dayMinute, 90*dayMinute)
				}
			}
			for _, ev := range evs {
				last = max(last, ev.deliver)
				push(ev)
			}
			p.final[ag][i] = evs[len(evs)-1].status
		}
		push(dayEvent{at: tA, deliver: tA, c: int32(i), kind: dayArrival, holds: holds})
		if p.final[0][i] == state.Released && p.final[1][i] == state.Released && r.IntN(10) != 0 {
			p.departs[i] = true
			tD := last + u(30*dayMinute, 10*dayHour)
			push(dayEvent{at: tD, deliver: tD, c: int32(i), kind: dayDeparture})
		}
	}
	slices.SortFunc(all, func(a, b dayEvent) int {
		if a.deliver != b.deliver {
			return int(a.deliver - b.deliver)
		}
		return int(a.seq - b.seq)
	})
	p.events = all

	// The model: what each agency event should count as, in replay order
	// (both agencies' events go through one connection, in this order).
	p.expect = map[[2]string]int{}
	var cur [2][]state.Status
	var curAt [2][]int64
	for ag := range cur {
		cur[ag], curAt[ag] = make([]state.Status, n), make([]int64, n)
	}
	for _, ev := range all {
		switch ev.kind {
		case dayArrival, dayDeparture:
			if !ev.dup && ev.kind == dayArrival {
				p.arrivals++
			} else if !ev.dup {
				p.departures++
			}
			continue
		}
		if !ev.dup {
			p.agencyEvents++
		}
		p.agencyBytes += int64(len(ev.payload))
		src := dayAgencies[ev.agency].source
		ag, c := ev.agency, ev.c
		switch {
		case ev.dup:
			p.expect[[2]string{src, sync.ResultDuplicate}]++
		case cur[ag][c] != "" && (ev.at < curAt[ag][c] || ev.at == curAt[ag][c] && (ev.status != state.Held || cur[ag][c] == state.Held)):
			p.expect[[2]string{src, sync.ResultStale}]++
			p.outOfOrder++
		default:
			p.expect[[2]string{src, sync.ResultApplied}]++
			cur[ag][c], curAt[ag][c] = ev.status, ev.at
		}
	}
	for ag := range cur {
		if !slices.Equal(cur[ag], p.final[ag]) {
			panic("dayGenerate: the model's final statuses differ from the last decisions")
		}
	}
	return p
}

// dayTime formats a simulated time as the wire formats want it.
func dayTime(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

func dayHoldsJSON(h uint8) string {
	var parts []string
	if h&dayCustomsBit != 0 {
		parts = append(parts, `"CUSTOMS"`)
	}
	if h&dayCIQBit != 0 {
		parts = append(parts, `"CIQ"`)
	}
	return strings.Join(parts, ",")
}

func dayHoldBits(holds []string) uint8 {
	var h uint8
	for _, s := range holds {
		switch s {
		case "CUSTOMS":
			h |= dayCustomsBit
		case "CIQ":
			h |= dayCIQBit
		}
	}
	return h
}

// dayIndex is the index of a container of scContainer's numbering below a
// million, -1 if it is not one.
func dayIndex(container string) int {
	if len(container) != 11 || container[:4] != "TSTU" {
		return -1
	}
	i, err := strconv.Atoi(container[4:10])
	if err != nil {
		return -1
	}
	return i
}

// dayPub publishes at QoS 1 keeping up to benchWindow unacknowledged, as
// publishAll does, one message at a time.
type dayPub struct {
	c    paho.Client
	ring []paho.Token
	i    int
}

func newDayPub(c paho.Client) *dayPub { return &dayPub{c: c, ring: make([]paho.Token, benchWindow)} }

func (p *dayPub) publish(topic string, payload []byte) error {
	slot := p.i % benchWindow
	if tok := p.ring[slot]; tok != nil {
		if err := waitToken(tok); err != nil {
			return err
		}
	}
	p.ring[slot] = p.c.Publish(topic, 1, false, payload)
	p.i++
	return nil
}

// flush waits until the broker has acknowledged everything published.
func (p *dayPub) flush() error {
	for i, tok := range p.ring {
		if tok != nil {
			if err := waitToken(tok); err != nil {
				return err
			}
			p.ring[i] = nil
		}
	}
	return nil
}

// dayTOS is the simulated terminal operating system: it publishes the
// replay's arrivals and departures (the TOS is where they come from),
// applies the commands it receives on tos/commands to its holds and
// reports the container's holds after each one, as a TOS does when it has
// executed a command. Its gate lets no container out under a hold: a
// departure the replay asks for while the container still has one waits
// until the daemon's commands have released it (at full speed the replay
// is far ahead of the daemon, and without this the containers would leave
// before their release commands arrive). A command for a container that
// has left (or never came) is ignored. Its own clock for a container never
// goes back: an event is stamped with the replay's simulated time, or just
// after the container's last TOS event if that is later.
type dayTOS struct {
	mu     stdsync.Mutex
	pub    *dayPub
	now    atomic.Int64 // the replay's simulated time, Unix ms
	holds  []uint8
	where  []uint8 // 0 not arrived, 1 in the yard, 2 departed
	lastAt []int64
	// The first delivery's bytes, for the second.
	arrival, departure [][]byte
	// A departure waiting at the gate for the holds to go: its scheduled
	// time, and second deliveries of it asked for meanwhile.
	leaving     []int64
	leavingDups []uint8

	reports                  atomic.Int64 // holds reports published
	bytes                    atomic.Int64 // bytes of every TOS event published
	commands, adds, releases int
	resent, ignored          int
	gateWaits, reportsSeqs   int
	ids                      map[string]int
	err                      error
}

func newDayTOS(n int, pub *dayPub) *dayTOS {
	return &dayTOS{
		pub: pub, holds: make([]uint8, n), where: make([]uint8, n), lastAt: make([]int64, n),
		arrival: make([][]byte, n), departure: make([][]byte, n), ids: make(map[string]int, n*2),
		leaving: make([]int64, n), leavingDups: make([]uint8, n),
	}
}

// event publishes a TOS event about container i; t.mu is held.
func (t *dayTOS) event(i int, id, kind string, at int64) ([]byte, error) {
	at = max(at, t.lastAt[i]+1)
	t.lastAt[i] = at
	p := fmt.Appendf(nil, `{"id":%q,"container":%q,"event":%q,"holds":[%s],"at":%q}`,
		id, scContainer(i), kind, dayHoldsJSON(t.holds[i]), dayTime(at))
	t.bytes.Add(int64(len(p)))
	return p, t.pub.publish("tos/events", p)
}

func (t *dayTOS) replay(ev *dayEvent) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	i := int(ev.c)
	if ev.dup {
		p := t.arrival[i]
		if ev.kind == dayDeparture {
			p = t.departure[i]
			if p == nil { // still at the gate
				t.leavingDups[i]++
				return nil
			}
		}
		t.bytes.Add(int64(len(p)))
		return t.pub.publish("tos/events", p)
	}
	switch ev.kind {
	case dayArrival:
		t.where[i], t.holds[i] = 1, ev.holds
		var err error
		t.arrival[i], err = t.event(i, fmt.Sprintf("N4-A-%07d", i), state.TOSArrived, ev.at)
		return err
	case dayDeparture:
		if t.holds[i] != 0 {
			t.leaving[i] = ev.at
			t.gateWaits++
			return nil
		}
		return t.depart(i, ev.at)
	}
	return nil
}

// depart lets container i out and sends the second deliveries asked for
// while it waited; t.mu is held.
func (t *dayTOS) depart(i int, at int64) error {
	t.where[i], t.leaving[i] = 2, 0
	var err error
	if t.departure[i], err = t.event(i, fmt.Sprintf("N4-D-%07d", i), state.TOSDeparted, at); err != nil {
		return err
	}
	for ; t.leavingDups[i] > 0; t.leavingDups[i]-- {
		t.bytes.Add(int64(len(t.departure[i])))
		if err := t.pub.publish("tos/events", t.departure[i]); err != nil {
			return err
		}
	}
	return nil
}

// waiting is how many departures wait at the gate.
func (t *dayTOS) waiting() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, at := range t.leaving {
		if at != 0 {
			n++
		}
	}
	return n
}

// handle is the TOS's subscriber on tos/commands.
func (t *dayTOS) handle(_ paho.Client, m paho.Message) {
	p := m.Payload()
	i, action, hold, id := dayIndex(scField(p, `"container":"`)), scField(p, `"action":"`), scField(p, `"hold":"`), scField(p, `"id":"`)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.commands++
	if t.ids[id]++; t.ids[id] > 1 {
		t.resent++
	}
	bit := dayHoldBits([]string{hold})
	if i < 0 || i >= len(t.holds) || bit == 0 || (action != state.AddHold && action != state.ReleaseHold) {
		if t.err == nil {
			t.err = fmt.Errorf("unexpected command %s", p)
		}
		return
	}
	if t.where[i] != 1 {
		t.ignored++
		return
	}
	if action == state.AddHold {
		t.holds[i] |= bit
		t.adds++
	} else {
		t.holds[i] &^= bit
		t.releases++
	}
	t.reportsSeqs++
	t.reports.Add(1)
	_, err := t.event(i, fmt.Sprintf("N4-H-%09d", t.reportsSeqs), state.TOSHolds, t.now.Load())
	if err == nil && t.holds[i] == 0 && t.leaving[i] != 0 {
		err = t.depart(i, t.now.Load())
	}
	if err != nil && t.err == nil {
		t.err = err
	}
}

func (t *dayTOS) failed() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

// collectorSum adds up the values of a metric collector's counters or gauges.
func collectorSum(c prometheus.Collector) float64 {
	ch := make(chan prometheus.Metric, 32)
	go func() { c.Collect(ch); close(ch) }()
	var sum float64
	for m := range ch {
		var pb dto.Metric
		if m.Write(&pb) == nil {
			sum += pb.GetCounter().GetValue() + pb.GetGauge().GetValue()
		}
	}
	return sum
}

// dayQuiet reports whether every event sent has been counted (applied,
// stale, duplicate or rejected), the outbox is empty and no mismatch is
// open.
func dayQuiet(d *Daemon, sent func() float64) (quiet bool, counted, want float64) {
	counted = collectorSum(d.metrics.Events)
	outbox, mism := collectorSum(d.metrics.OutboxCommands), collectorSum(d.metrics.Mismatches)
	want = sent()
	return counted == want && outbox == 0 && mism == 0, counted, want
}

func dayLoad() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(data))[:3], " ")
}

// BenchmarkDayReplay replays a generated day of -portsync.day-containers
// containers (dayGenerate) at full speed: one publisher for both agencies'
// topics and a simulated TOS (dayTOS) publishing arrivals and departures on
// tos/events, in the order of the simulated clock, each keeping up to
// benchWindow QoS 1 publishes unacknowledged, into the daemon of
// startBenchDaemon on a fresh store. The TOS applies the commands it gets
// and reports the holds, which the daemon takes in too.
//
// The clock runs from the first publish until the daemon is quiet: every
// event sent (the replay's and the TOS's reports) counted in
// portsync_events_total, the outbox empty, no mismatch open (seen twice,
// 2 ms apart). Reported: that time, events/s over it, the commands the
// daemon sent; and the baseline, in the same operation: publishAll of as
// many messages, of the events' average size, to a bare persistent QoS 1
// subscriber, with the ratio of the two rates.
//
// Checked off the clock: each agency source's applied, stale and duplicate
// counts equal a model of the rules run in replay order; every container's
// customs and quarantine status is its last decision, its presence is
// right, and in the yard its TOS holds are the simulated TOS's and what the
// decisions want; no command pending, no mismatch, no alert firing, no
// dead letter.
func BenchmarkDayReplay(b *testing.B) {
	n := *dayContainers
	if n < 1 || n > 1000000 {
		b.Fatalf("-portsync.day-containers=%d: 1 to 1000000", n)
	}
	if !broker.HasMosquitto() {
		b.Skip("BenchmarkDayReplay needs mosquitto")
	}
	genStart := time.Now()
	plan := dayGenerate(n)
	b.Logf("day of %d containers generated in %s: %d messages (%d agency events, %d arrivals, %d departures, and %d second deliveries of those); %d decisions before arrival, %d held first, %d releases revoked, %d agency events out of order",
		n, time.Since(genStart).Round(time.Millisecond), len(plan.events), plan.agencyEvents, plan.arrivals, plan.departures,
		plan.dups, plan.before, plan.heldFirst, plan.revoked, plan.outOfOrder)

	br := testBroker(b)
	agencies := newDayPub(benchClient(b, br, "bench-day-agencies", true))
	tosPub := newDayPub(benchClient(b, br, "bench-day-tos", true))
	var tos atomic.Pointer[dayTOS]
	tosSub := benchClient(b, br, "bench-day-tos-commands", false)
	handler := func(c paho.Client, m paho.Message) { tos.Load().handle(c, m) }
	if tok := tosSub.Subscribe("tos/commands", 1, handler); !tok.WaitTimeout(benchTimeout) || tok.Error() != nil {
		b.Fatalf("subscribe: %v", tok.Error())
	}
	raw := newCounter()
	rawSub := benchClient(b, br, "bench-day-raw-sub", false)
	if tok := rawSub.Subscribe("bench/day-raw", 1, raw.handle); !tok.WaitTimeout(benchTimeout) || tok.Error() != nil {
		b.Fatalf("subscribe: %v", tok.Error())
	}
	rawPub := benchClient(b, br, "bench-day-raw-pub", true)

	b.Run(fmt.Sprintf("containers=%d", n), func(b *testing.B) {
		var ours, base time.Duration
		var events, commands float64
		for range b.N {
			load0 := dayLoad()
			d, _, stop := startBenchDaemon(b, br, false)
			t := newDayTOS(n, tosPub)
			tos.Store(t)
			sent := func() float64 { return float64(len(plan.events)) + float64(t.reports.Load()) }

			start := time.Now()
			for k := range plan.events {
				ev := &plan.events[k]
				t.now.Store(ev.deliver)
				var err error
				if ev.kind == dayAgencyEvent {
					err = agencies.publish(dayAgencies[ev.agency].topic, ev.payload)
				} else {
					err = t.replay(ev)
				}
				if err != nil {
					b.Fatalf("publish: %v", err)
				}
			}
			if err := agencies.flush(); err != nil {
				b.Fatal(err)
			}
			t.mu.Lock()
			err := tosPub.flush()
			t.mu.Unlock()
			if err != nil {
				b.Fatal(err)
			}
			published := time.Since(start)
			var quietAt time.Time
			deadline := time.Now().Add(4 * benchTimeout)
		wait:
			for {
				quiet, counted, want := dayQuiet(d, sent)
				switch {
				case counted > want:
					b.Fatalf("the daemon counted %.0f events, %.0f were sent", counted, want)
				case !quiet:
					quietAt = time.Time{}
				case quietAt.IsZero():
					quietAt = time.Now()
				default:
					break wait
				}
				if err := t.failed(); err != nil {
					b.Fatalf("simulated TOS: %v", err)
				}
				if time.Now().After(deadline) {
					b.Fatalf("not quiet within %s of the last publish: %.0f of %.0f events counted, outbox %.0f, mismatches %.0f, %d departures waiting at the gate",
						4*benchTimeout, counted, want, collectorSum(d.metrics.OutboxCommands), collectorSum(d.metrics.Mismatches), t.waiting())
				}
				time.Sleep(2 * time.Millisecond)
			}
			took := quietAt.Sub(start)
			load1 := dayLoad()

			// Off the clock: stay quiet a little, then check.
			time.Sleep(dayQuietFor)
			if quiet, counted, want := dayQuiet(d, sent); !quiet {
				b.Fatalf("activity after quiet: %.0f of %.0f events counted, outbox %.0f, mismatches %.0f",
					counted, want, collectorSum(d.metrics.OutboxCommands), collectorSum(d.metrics.Mismatches))
			}
			total := sent()
			cmdSent := counterSum(d.metrics, "portsync_commands_total", map[string]string{"result": "sent"})
			cmdFailed := counterSum(d.metrics, "portsync_commands_total", map[string]string{"result": "failed"})
			confirms, confirmSecs := histogramSum(d.metrics, "portsync_release_to_tos_seconds")
			commits, commitSecs := histogramSum(d.metrics, "portsync_commit_seconds")
			groups, grouped := histogramSum(d.metrics, "portsync_commit_batch_messages")
			dayCheck(b, d, plan, t)
			stop()

			// The baseline: as many messages of the same average size
			// through the raw broker, one hop.
			avg := int((plan.agencyBytes + t.bytes.Load()) / int64(total))
			payload := bytes.Repeat([]byte("x"), avg)
			payloads := make([][]byte, int(total))
			for i := range payloads {
				payloads[i] = payload
			}
			raw.reset(len(payloads))
			rawStart := time.Now()
			if err := publishAll(rawPub, "bench/day-raw", payloads); err != nil {
				b.Fatal(err)
			}
			if err := raw.wait(); err != nil {
				b.Fatalf("raw: %v", err)
			}
			rawTook := time.Since(rawStart)

			ours += took
			base += rawTook
			events += total
			rate, rawRate := total/took.Seconds(), total/rawTook.Seconds()
			t.mu.Lock()
			b.Logf("day of %d containers: %.0f events (%d replayed, %d TOS hold reports) in %s = %.0f events/s (publishing took %s); raw broker, %.0f messages of %d bytes: %s = %.0f msg/s; ratio %.2f; load %s -> %s",
				n, total, len(plan.events), t.reports.Load(), took.Round(time.Millisecond), rate, published.Round(time.Millisecond),
				total, avg, rawTook.Round(time.Millisecond), rawRate, rate/rawRate, load0, load1)
			b.Logf("  commands: the TOS got %d (%d release_hold, %d add_hold applied, %d for containers gone, %d re-sends of an id); the daemon counted %.0f sent, %.0f failed sends; %d of %d departures waited at the gate for the daemon's release",
				t.commands, t.releases, t.adds, t.ignored, t.resent, cmdSent, cmdFailed, t.gateWaits, plan.departures)
			commands += float64(t.commands)
			t.mu.Unlock()
			b.Logf("  daemon: %d commits, %.2f ms each on average, %.1f messages per group; release received -> TOS holds report confirming it, mean %.2f s over the %d releases seen confirmed (queueing behind the replay; a release whose report came in the same group commit as the container's departure is closed by the departure instead)",
				commits, commitSecs*1000/max(float64(commits), 1), grouped/max(float64(groups), 1), confirmSecs/max(float64(confirms), 1), confirms)
		}
		b.ReportMetric(ours.Seconds()/float64(b.N), "wall_s")
		b.ReportMetric(events/ours.Seconds(), "events/s")
		b.ReportMetric(events/base.Seconds(), "raw_msg/s")
		b.ReportMetric(base.Seconds()/ours.Seconds(), "ratio")
		b.ReportMetric(commands/float64(b.N), "commands")
		b.ReportMetric(events/float64(b.N), "events")
		b.ReportMetric(0, "ns/op")
	})
}

// dayCheck checks the daemon's store and counters against the plan and
// the simulated TOS.
func dayCheck(b *testing.B, d *Daemon, p *dayPlan, t *dayTOS) {
	b.Helper()
	for _, a := range dayAgencies {
		for _, res := range []string{sync.ResultApplied, sync.ResultStale, sync.ResultDuplicate, sync.ResultRejected} {
			got := counterSum(d.metrics, "portsync_events_total", map[string]string{"source": a.source, "result": res})
			if want := p.expect[[2]string{a.source, res}]; got != float64(want) {
				b.Errorf("%s %s: %v, the model says %d", a.source, res, got, want)
			}
		}
	}
	tosRes := map[string]float64{}
	for _, res := range []string{sync.ResultApplied, sync.ResultStale, sync.ResultDuplicate, sync.ResultRejected} {
		tosRes[res] = counterSum(d.metrics, "portsync_events_total", map[string]string{"source": "tos-events", "result": res})
	}
	if tosRes[sync.ResultRejected] != 0 {
		b.Errorf("tos-events: %v rejected", tosRes[sync.ResultRejected])
	}
	tosDups := p.dups - p.expect[[2]string{"customs-mqtt", sync.ResultDuplicate}] - p.expect[[2]string{"ciq-mqtt", sync.ResultDuplicate}]
	if tosRes[sync.ResultDuplicate] != float64(tosDups) {
		b.Errorf("tos-events: %v duplicates, %d sent", tosRes[sync.ResultDuplicate], tosDups)
	}
	if dead := counterSum(d.metrics, "portsync_deadletters_total", nil); dead != 0 {
		b.Errorf("%v dead letters", dead)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var bad []string
	badf := func(format string, args ...any) {
		if len(bad) < 10 {
			bad = append(bad, fmt.Sprintf(format, args...))
		}
	}
	firing := map[string]int{}
	err := d.store.View(func(tx *state.Tx) error {
		for i := range p.n {
			id := scContainer(i)
			c, ok, err := tx.Container(id)
			if err != nil {
				return err
			}
			if !ok {
				badf("%s: not in the store", id)
				continue
			}
			for ag, a := range dayAgencies {
				if st := d.engine().Status(&c, a.name); st != p.final[ag][i] {
					badf("%s: %s %s, its last decision %s", id, a.name, st, p.final[ag][i])
				}
			}
			want := state.InYard
			if p.departs[i] {
				want = state.Departed
			}
			if c.Presence != want {
				badf("%s: %s, want %s", id, c.Presence, want)
			}
			if c.Presence == state.InYard {
				desired := p.arrivalHolds[i] & dayCIQBit
				if p.final[0][i] != state.Released {
					desired |= dayCustomsBit
				}
				switch p.final[1][i] {
				case state.Released:
					desired &^= dayCIQBit
				case state.Held:
					desired |= dayCIQBit
				}
				if h := dayHoldBits(c.TOSHolds); h != t.holds[i] || h != desired {
					badf("%s: TOS holds %v in the store, %q in the TOS, the decisions want %q", id, c.TOSHolds, dayHoldsJSON(t.holds[i]), dayHoldsJSON(desired))
				}
			}
			if len(c.Pending) > 0 || len(c.Mismatches) > 0 || c.DepartedUncleared {
				badf("%s: pending %v, mismatches %v, departed uncleared %v", id, c.Pending, c.Mismatches, c.DepartedUncleared)
			}
		}
		if cmds, err := tx.Commands(); err != nil || len(cmds) > 0 {
			badf("outbox: %d commands (%v)", len(cmds), err)
		}
		if ms, err := tx.Mismatches(); err != nil || len(ms) > 0 {
			badf("mismatches: %d (%v)", len(ms), err)
		}
		if dl, err := tx.DeadLetters(); err != nil || len(dl) > 0 {
			badf("dead letters: %d (%v)", len(dl), err)
		}
		alerts, err := tx.Alerts()
		if err != nil {
			return err
		}
		for _, a := range alerts {
			if a.State == state.Firing {
				firing[a.Kind]++
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	if len(firing) > 0 {
		badf("alerts firing: %v", firing)
	}
	if len(bad) > 0 {
		b.Fatalf("the day's end state is wrong:\n%s", strings.Join(bad, "\n"))
	}
	b.Logf("  checked: %d containers, statuses, presence and holds right; tos-events: %.0f applied, %.0f stale, %.0f duplicate; no dead letter, nothing pending, no alert firing",
		p.n, tosRes[sync.ResultApplied], tosRes[sync.ResultStale], tosRes[sync.ResultDuplicate])
}
