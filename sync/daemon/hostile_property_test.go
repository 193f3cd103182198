package daemon

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portsync/portsync/state"
)

// TestHostileMutationsNeverStopGoodEvents throws random mutations of valid
// agency and TOS events (times, offsets, lengths, key orders, duplicate
// keys, encodings, types) at a running daemon over MQTT, interleaved with
// good events, and checks that the daemon stays ready, that every message
// ends as exactly one counted result, and that every good event applies.
// HOSTILE_SEED=n replays a run.
func TestHostileMutationsNeverStopGoodEvents(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("HOSTILE_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("HOSTILE_SEED: %v", err)
		}
	}
	t.Logf("HOSTILE_SEED=%d", seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	good, hostile := 150, 450
	if testing.Short() {
		good, hostile = 40, 120
	}

	h := newHarness(t, nil)
	now := time.Now()
	at := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339) }

	goodContainers := make([]string, good)
	for i := range goodContainers {
		goodContainers[i] = validContainer(fmt.Sprintf("GOOU%06d", i))
	}
	// Mutants target containers of their own, so one that happens to be
	// valid (a reordered object, a reason cut to its bound) cannot change
	// what the good events decide.
	mutantContainer := func() string { return validContainer(fmt.Sprintf("BADU%06d", rng.IntN(50))) }

	agencyBase := func(id string) map[string]any {
		return map[string]any{"id": id, "agency": "customs", "status": "released",
			"containers": []string{mutantContainer()}, "at": at(-time.Hour)}
	}
	tosBase := func(id string) map[string]any {
		return map[string]any{"id": id, "container": mutantContainer(), "event": "arrived",
			"holds": []string{"CUSTOMS"}, "at": at(-time.Hour)}
	}

	sent := map[string]int{}
	pub := func(topic string, payload []byte) {
		h.publish(topic, payload)
		sent[topic]++
	}
	goodIdx := 0
	for i := 0; i < good+hostile; i++ {
		if goodIdx < good && (rng.IntN(good+hostile) < good || i >= hostile+goodIdx) {
			c := goodContainers[goodIdx]
			ev := map[string]any{"id": fmt.Sprintf("GOOD-%d", goodIdx), "agency": "customs", "status": "released",
				"containers": []string{c}, "at": at(-time.Duration(rng.IntN(3600)) * time.Second)}
			pub("customs/releases", mustJSON(t, ev))
			goodIdx++
			continue
		}
		id := fmt.Sprintf("X-%d", i)
		if rng.IntN(3) == 0 {
			pub("tos/events", mutate(rng, tosBase(id), now))
		} else {
			pub("customs/releases", mutate(rng, agencyBase(id), now))
		}
		if i%100 == 0 {
			if code := h.getStatus("/readyz"); code != http.StatusOK {
				t.Fatalf("/readyz = %d after %d messages (HOSTILE_SEED=%d)", code, i, seed)
			}
		}
	}

	h.eventually("every good release applied", func() bool {
		released := 0
		h.daemon.store.View(func(tx *state.Tx) error {
			for _, id := range goodContainers {
				if c, ok, _ := tx.Container(id); ok && h.daemon.engine().Status(&c, "customs") == state.Released {
					released++
				}
			}
			return nil
		})
		return released == good
	})
	for topic, source := range map[string]string{"customs/releases": "customs-mqtt", "tos/events": "tos-events"} {
		want := float64(sent[topic])
		h.eventually("every message of "+source+" counted", func() bool {
			return counterSum(h.daemon.metrics, "portsync_events_total", map[string]string{"source": source}) == want
		})
	}
	if code := h.getStatus("/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz = %d at the end (HOSTILE_SEED=%d)", code, seed)
	}
	if err := h.daemon.engine().Healthy(); err != nil {
		t.Fatalf("store unhealthy: %v (HOSTILE_SEED=%d)", err, seed)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// mutate turns a valid event into one of many hostile shapes. Some are
// still valid (a reordered object, a long reason); most are not.
func mutate(rng *rand.Rand, ev map[string]any, now time.Time) []byte {
	base, _ := json.Marshal(ev)
	field := func(name string, v any) []byte {
		ev[name] = v
		out, _ := json.Marshal(ev)
		return out
	}
	big := func(n int) string { return strings.Repeat(string(rune('A'+rng.IntN(26))), n) }
	switch rng.IntN(24) {
	case 0:
		return field("at", "2026-11-28T10:15:00"+[]string{"+24:00", "-24:00", "+23:60", "+99:00", "-00:61"}[rng.IntN(5)])
	case 1:
		return field("at", now.Add(time.Duration(1+rng.IntN(1e6))*time.Hour).Format(time.RFC3339))
	case 2:
		return field("at", []string{"1900-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "2000-01-01T00:00:00Z"}[rng.IntN(4)])
	case 3:
		return field("at", []any{"yesterday", 1764300000, "", nil, "2026-13-45T99:99:99Z", "10000-01-01T00:00:00Z"}[rng.IntN(6)])
	case 4:
		return field("bl", big(1+rng.IntN(64<<10)))
	case 5:
		return field("declaration", big(1+rng.IntN(64<<10)))
	case 6:
		return field("reason", big(rng.IntN(900<<10)))
	case 7:
		return field("id", big(200+rng.IntN(40<<10)))
	case 8: // a duplicate key before the real one
		s := string(base)
		k := []string{"status", "id", "at", "agency", "container", "event"}[rng.IntN(6)]
		return []byte(strings.Replace(s, "{", fmt.Sprintf(`{%q:"held",`, k), 1))
	case 9: // a duplicate key after the real one
		s := string(base)
		return []byte(s[:len(s)-1] + `,"status":"released","id":"DUP"}`)
	case 10: // key order reversed (valid)
		var keys []string
		for k := range ev {
			keys = append(keys, k)
		}
		var b strings.Builder
		b.WriteString("{")
		for i := len(keys) - 1; i >= 0; i-- {
			v, _ := json.Marshal(ev[keys[i]])
			fmt.Fprintf(&b, "%q:%s", keys[i], v)
			if i > 0 {
				b.WriteString(",")
			}
		}
		b.WriteString("}")
		return []byte(b.String())
	case 11:
		return append([]byte{0xEF, 0xBB, 0xBF}, base...) // UTF-8 byte order mark
	case 12:
		return append([]byte{0xFF, 0xFE}, base...) // UTF-16 byte order mark
	case 13: // invalid UTF-8 inside a string
		return []byte(strings.Replace(string(base), `"id":"`, "\"id\":\"\xff\xfe", 1))
	case 14:
		return []byte(strings.Replace(string(base), `"id":"`, `"id":"\u0000`, 1))
	case 15:
		return base[:rng.IntN(len(base))] // cut short
	case 16:
		return []byte(strings.Repeat("[", 5000+rng.IntN(100000)))
	case 17:
		return field("containers", make([]string, 1001))
	case 18:
		return field("containers", []string{big(40 << 10)})
	case 19:
		return field("containers", []string{"MSCU1234567"}) // wrong check digit
	case 20:
		return field("status", []any{1, true, "RELEASED!", "", []string{"released"}}[rng.IntN(5)])
	case 21:
		return field("holds", []string{big(40 << 10)})
	case 22:
		holds := make([]string, 5000)
		for i := range holds {
			holds[i] = "H" + strconv.Itoa(i)
		}
		return field("holds", holds)
	default: // an escaped key that unescapes to a duplicate
		s := string(base)
		return []byte(s[:len(s)-1] + `,"st\u0061tus":"held"}`)
	}
}
