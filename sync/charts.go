package sync

import (
	"math"
	stdsync "sync"
	"time"
)

// The dashboard's charts: release-to-TOS latency per hour and open
// mismatches per five minutes, over the last 24 hours. Both are kept in
// memory in a fixed size whatever the yard (a restart starts them afresh):
// an hour's latencies are a histogram of logarithmic buckets, each 5% wider
// than the one before, so a quantile read from it is within about 2.5% of
// the true one.
const (
	chartHours       = 24
	chartSlot        = 5 * time.Minute
	chartSlots       = int(24 * time.Hour / chartSlot)
	latencyLow       = 0.01 // seconds: the first bucket holds everything faster
	latencyGrowth    = 1.05
	latencyBuckets   = 340 // up to 0.01·1.05^340 s, about 44 hours; the last holds everything slower
	latencyLogGrowth = 0.04879016416943205
)

// latencyPoint is one hour's release-to-TOS latency: its median and 99th
// percentile in seconds, of N releases confirmed in that hour.
type latencyPoint struct {
	Hour time.Time `json:"hour"`
	P50  float64   `json:"p50"`
	P99  float64   `json:"p99"`
	N    int       `json:"n"`
}

// mismatchPoint is the open mismatches in one five-minute slot: how many
// were open at its end (or now, for the current slot) and at most.
type mismatchPoint struct {
	At   time.Time `json:"at"`
	Open int       `json:"open"`
	Peak int       `json:"peak"`
}

// ChartData is what the dashboard draws, oldest first. An hour in which no
// release was confirmed has no latency point; mismatches have a point per
// slot from the first one this process saw.
type ChartData struct {
	Latency    []latencyPoint  `json:"latency"`
	Mismatches []mismatchPoint `json:"mismatches"`
}

type latencyHour struct {
	hour     int64 // hours since the epoch; 0 while unused
	n        int
	min, max float64
	buckets  [latencyBuckets]uint32
}

type mismatchSlot struct {
	slot       int64 // slots since the epoch; 0 while unused
	open, peak int
}

// charts keeps the series. The writer records, the HTTP API reads.
type charts struct {
	mu    stdsync.Mutex
	hours [chartHours]latencyHour
	slots [chartSlots]mismatchSlot
	last  mismatchSlot // the latest slot recorded
}

func latencyBucket(seconds float64) int {
	if !(seconds > latencyLow) { // NaN too
		return 0
	}
	return min(latencyBuckets-1, int(math.Log(seconds/latencyLow)/latencyLogGrowth))
}

// observeLatency records a release confirmed at, seconds after it came.
func (c *charts) observeLatency(at time.Time, seconds float64) {
	if seconds < 0 || math.IsNaN(seconds) || math.IsInf(seconds, 0) {
		return
	}
	hour := at.Unix() / 3600
	c.mu.Lock()
	defer c.mu.Unlock()
	h := &c.hours[hour%chartHours]
	if h.hour != hour {
		*h = latencyHour{hour: hour, min: seconds, max: seconds}
	}
	h.n++
	h.min, h.max = min(h.min, seconds), max(h.max, seconds)
	h.buckets[latencyBucket(seconds)]++
}

// quantile is the q-quantile of the hour's latencies, the middle of the
// bucket that holds it, kept within the smallest and the largest seen.
func (h *latencyHour) quantile(q float64) float64 {
	rank := max(1, int(math.Ceil(q*float64(h.n))))
	seen := 0
	for i, n := range h.buckets {
		seen += int(n)
		if seen >= rank && i == latencyBuckets-1 {
			return h.max
		} else if seen >= rank {
			mid := latencyLow * math.Pow(latencyGrowth, float64(i)+0.5)
			return min(h.max, max(h.min, mid))
		}
	}
	return h.max
}

// observeMismatches records how many mismatches are open at a moment. The
// slots since the last one recorded, in which nothing changed, get the
// count the last one ended with.
func (c *charts) observeMismatches(at time.Time, open int) {
	slot := at.Unix() / int64(chartSlot/time.Second)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last.slot != 0 && slot > c.last.slot {
		for s := max(c.last.slot+1, slot-int64(chartSlots)+1); s < slot; s++ {
			c.slots[s%int64(chartSlots)] = mismatchSlot{slot: s, open: c.last.open, peak: c.last.open}
		}
	}
	m := &c.slots[slot%int64(chartSlots)]
	if m.slot != slot {
		// The slot begins with what the last one ended with.
		*m = mismatchSlot{slot: slot}
		if c.last.slot != 0 && slot > c.last.slot {
			m.peak = c.last.open
		}
	}
	m.open, m.peak = open, max(m.peak, open)
	if slot >= c.last.slot {
		c.last = *m
	}
}

// data returns the last 24 hours of both series as of now.
func (c *charts) data(now time.Time) ChartData {
	out := ChartData{Latency: []latencyPoint{}, Mismatches: []mismatchPoint{}}
	hour := now.Unix() / 3600
	slot := now.Unix() / int64(chartSlot/time.Second)
	c.mu.Lock()
	defer c.mu.Unlock()
	for h := hour - chartHours + 1; h <= hour; h++ {
		b := &c.hours[h%chartHours]
		if b.hour != h || b.n == 0 {
			continue
		}
		out.Latency = append(out.Latency, latencyPoint{
			Hour: time.Unix(h*3600, 0).UTC(), P50: b.quantile(0.5), P99: b.quantile(0.99), N: b.n,
		})
	}
	slotTime := func(s int64) time.Time { return time.Unix(s*int64(chartSlot/time.Second), 0).UTC() }
	for s := slot - int64(chartSlots) + 1; s <= slot; s++ {
		m := c.slots[s%int64(chartSlots)]
		switch {
		case m.slot == s:
		case c.last.slot != 0 && s > c.last.slot:
			// Nothing changed since: the count still stands.
			m = mismatchSlot{slot: s, open: c.last.open, peak: c.last.open}
		default:
			continue
		}
		out.Mismatches = append(out.Mismatches, mismatchPoint{At: slotTime(s), Open: m.open, Peak: m.peak})
	}
	return out
}

// Charts returns the dashboard's charts as of now.
func (e *Engine) Charts(now time.Time) ChartData { return e.charts.data(now) }
