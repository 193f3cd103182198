package sync

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/internal/mapkeys"
	"github.com/portsync/portsync/state"
)

// The writer keeps recently committed containers decoded in memory; a
// container read back from the store must decide as the one in memory
// would. Random histories of agency events (container and B/L level,
// typed holds, revocations), manifests and TOS events are applied to two
// engines, one of which restarts after every event, so that it reads
// every container from the store. Both must give every event the same
// result and leave every container with the same statuses, own ledger,
// B/Ls, TOS holds and pending commands.
func TestContainerFromStoreDecidesAsCached(t *testing.T) {
	containers := []string{c1, c2, c3}
	bls := []string{bl1, "MEDUSH654321"}
	statuses := []state.Status{state.Released, state.Held, state.HoldRemoved, state.Revoked}
	holds := []string{"", "exam", "7H"}
	base := time.Now().Add(-24 * time.Hour).Truncate(time.Second)
	seeds := 60
	if testing.Short() {
		seeds = 15
	}
	for seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(seed), 1))
			cached, _ := startEngine(t)
			fromStore, stop := startEngine(t)
			var history []string
			for i := range 25 {
				at := base.Add(time.Duration(rng.IntN(120)) * time.Minute)
				id := fmt.Sprintf("E%d", i)
				pick := func() []string {
					var out []string
					for _, c := range containers {
						if rng.IntN(2) == 0 {
							out = append(out, c)
						}
					}
					return out
				}
				var kind string
				var r adapters.Record
				switch rng.IntN(4) {
				case 0, 1:
					kind = config.KindAgency
					ev := &state.AgencyEvent{ID: id, Agency: "customs", Status: statuses[rng.IntN(len(statuses))], At: at}
					if ev.Status == state.Held || ev.Status == state.HoldRemoved {
						ev.Hold = holds[rng.IntN(len(holds))]
					}
					if rng.IntN(2) == 0 {
						ev.BL = bls[rng.IntN(len(bls))]
					}
					if ev.BL == "" || rng.IntN(2) == 0 {
						if ev.Containers = pick(); len(ev.Containers) == 0 {
							ev.Containers = containers[:1]
						}
					}
					r.Agency = ev
				case 2:
					kind = config.KindManifest
					r.Manifest = &state.ManifestEvent{ID: id, BL: bls[rng.IntN(len(bls))], Containers: pick(), At: at}
				default:
					kind = config.KindTOS
					ev := &state.TOSEvent{ID: id, Container: containers[rng.IntN(len(containers))], Event: state.TOSArrived,
						Holds: []string{}, HasHolds: true, At: at}
					if rng.IntN(2) == 0 {
						ev.Holds = []string{"CUSTOMS"}
					}
					if rng.IntN(3) == 0 {
						ev.Event = state.TOSHolds
					}
					r.TOS = ev
				}
				history = append(history, describe(r))
				a, b := submitAny(t, cached, kind, r), submitAny(t, fromStore, kind, r)
				if a != b {
					t.Fatalf("event %s: %s cached, %s from the store\nhistory:\n%s", id, a, b, listed(history))
				}
				fromStore, stop = restartEngine(t, fromStore, stop)
			}
			for _, id := range containers {
				a, _ := readContainer(t, cached, id)
				b, _ := readContainer(t, fromStore, id)
				if x, y := decisive(&a), decisive(&b); x != y {
					t.Fatalf("%s:\n cached     %s\n from store %s\nhistory:\n%s", id, x, y, listed(history))
				}
			}
		})
	}
}

// submitAny submits one record and returns its result, or its rejection.
func submitAny(t *testing.T, e *Engine, kind string, r adapters.Record) string {
	t.Helper()
	o := submitOutcome(e, kind, r)
	if o.Err != nil {
		t.Fatal(o.Err)
	}
	if o.Reject != nil {
		return "rejected: " + o.Reject.Reason
	}
	return fmt.Sprint(o.Results)
}

// decisive is what of a container decides what happens to it, without
// the times the engine stamps.
func decisive(c *state.Container) string {
	status := func(m map[string]state.AgencyState) string {
		if m == nil {
			return "none"
		}
		var out []string
		for _, k := range mapkeys.Sorted(m) {
			a := m[k]
			open := []string{}
			for _, h := range mapkeys.Sorted(a.Holds) {
				open = append(open, h+"="+a.Holds[h].State+"/"+a.Holds[h].EventID)
			}
			out = append(out, fmt.Sprintf("%s:%s release=%s/%s holds=%v", k, a.Status, a.Release.State, a.Release.EventID, open))
		}
		return fmt.Sprint(out)
	}
	var pending []string
	for _, k := range mapkeys.Sorted(c.Pending) {
		pending = append(pending, k+"="+c.Pending[k].Action+"/"+c.Pending[k].Cause)
	}
	return fmt.Sprintf("presence=%s agencies=%s own=%s bls=%v tos=%v pending=%v",
		c.Presence, status(c.Agencies), status(c.Own), c.BLs, c.TOSHolds, pending)
}

// describe is a record as a line of a history.
func describe(r adapters.Record) string {
	switch {
	case r.Agency != nil:
		ev := r.Agency
		return fmt.Sprintf("agency %s %s hold=%q bl=%q containers=%v at=%s", ev.ID, ev.Status, ev.Hold, ev.BL, ev.Containers, ev.At.Format(time.TimeOnly))
	case r.Manifest != nil:
		ev := r.Manifest
		return fmt.Sprintf("manifest %s bl=%s containers=%v at=%s", ev.ID, ev.BL, ev.Containers, ev.At.Format(time.TimeOnly))
	default:
		ev := r.TOS
		return fmt.Sprintf("tos %s %s %s holds=%v at=%s", ev.ID, ev.Container, ev.Event, ev.Holds, ev.At.Format(time.TimeOnly))
	}
}

// listed is a history, one event a line.
func listed(lines []string) string { return "  " + strings.Join(lines, "\n  ") }
