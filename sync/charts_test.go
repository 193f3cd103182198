package sync

import (
	"math"
	"testing"
	"time"
)

func TestDashboardChartLatency(t *testing.T) {
	if math.Abs(math.Log(latencyGrowth)-latencyLogGrowth) > 1e-12 {
		t.Fatalf("latencyLogGrowth is not ln(latencyGrowth)")
	}
	var c charts
	start := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	// Hour 10: 1..100 seconds; hour 11: one release of 7s; hour 12: none.
	for i := 1; i <= 100; i++ {
		c.observeLatency(start.Add(time.Duration(i)*time.Second), float64(i))
	}
	c.observeLatency(start.Add(90*time.Minute), 7)
	c.observeLatency(start.Add(90*time.Minute), math.NaN()) // ignored
	c.observeLatency(start.Add(90*time.Minute), -1)         // ignored
	d := c.data(start.Add(150 * time.Minute))
	if len(d.Latency) != 2 {
		t.Fatalf("latency points: %+v; want hours 10 and 11", d.Latency)
	}
	h := d.Latency[0]
	if !h.Hour.Equal(start) || h.N != 100 {
		t.Errorf("first point %+v; want hour %v, n 100", h, start)
	}
	near := func(got, want float64) bool { return math.Abs(got-want) <= want*0.03 }
	if !near(h.P50, 50) || !near(h.P99, 99) {
		t.Errorf("p50 %v, p99 %v; want about 50 and 99", h.P50, h.P99)
	}
	if h := d.Latency[1]; h.N != 1 || h.P50 != 7 || h.P99 != 7 {
		t.Errorf("single release: %+v; want p50 = p99 = 7 exactly", h)
	}
	// Tiny and huge latencies land in the end buckets, clamped to what
	// was seen.
	c.observeLatency(start.Add(3*time.Hour), 0.001)
	c.observeLatency(start.Add(3*time.Hour), 3*86400)
	d = c.data(start.Add(3 * time.Hour))
	if p := d.Latency[len(d.Latency)-1]; p.P50 < 0.001 || p.P50 > latencyLow*latencyGrowth || p.P99 != 3*86400 {
		t.Errorf("extremes: %+v", p)
	}
	// A day later hour 10 has left the window, and the next day's hour 10
	// starts afresh in its bucket.
	c.observeLatency(start.Add(24*time.Hour+time.Minute), 2)
	d = c.data(start.Add(24*time.Hour + 2*time.Minute))
	if len(d.Latency) != 3 || !d.Latency[0].Hour.Equal(start.Add(time.Hour)) {
		t.Fatalf("after a day: %+v; want hours 11, 13 and the new 10", d.Latency)
	}
	if p := d.Latency[2]; !p.Hour.Equal(start.Add(24*time.Hour)) || p.N != 1 || p.P50 != 2 {
		t.Errorf("the new hour 10: %+v", p)
	}
}

func TestDashboardChartMismatches(t *testing.T) {
	var c charts
	start := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	if d := c.data(start); len(d.Mismatches) != 0 || d.Latency == nil {
		t.Fatalf("empty: %+v", d)
	}
	c.observeMismatches(start.Add(time.Minute), 3)
	c.observeMismatches(start.Add(2*time.Minute), 5)
	c.observeMismatches(start.Add(3*time.Minute), 1)
	// Nothing changes for 20 minutes, then one closes.
	c.observeMismatches(start.Add(23*time.Minute), 0)
	d := c.data(start.Add(31 * time.Minute))
	want := []mismatchPoint{
		{At: start, Open: 1, Peak: 5},
		{At: start.Add(5 * time.Minute), Open: 1, Peak: 1},
		{At: start.Add(10 * time.Minute), Open: 1, Peak: 1},
		{At: start.Add(15 * time.Minute), Open: 1, Peak: 1},
		{At: start.Add(20 * time.Minute), Open: 0, Peak: 1},
		{At: start.Add(25 * time.Minute), Open: 0, Peak: 0},
		{At: start.Add(30 * time.Minute), Open: 0, Peak: 0},
	}
	if len(d.Mismatches) != len(want) {
		t.Fatalf("mismatch points:\n%+v\nwant\n%+v", d.Mismatches, want)
	}
	for i := range want {
		if g := d.Mismatches[i]; !g.At.Equal(want[i].At) || g.Open != want[i].Open || g.Peak != want[i].Peak {
			t.Errorf("point %d: %+v; want %+v", i, g, want[i])
		}
	}
	// Two days on, the series is 24 hours of the last count, bounded.
	d = c.data(start.Add(48 * time.Hour))
	if len(d.Mismatches) != chartSlots {
		t.Errorf("%d points after two quiet days; want %d", len(d.Mismatches), chartSlots)
	}
	c.observeMismatches(start.Add(49*time.Hour), 4)
	d = c.data(start.Add(49 * time.Hour))
	if n := len(d.Mismatches); n != chartSlots || d.Mismatches[n-1].Open != 4 || d.Mismatches[0].Open != 0 {
		t.Errorf("after a new count: %d points, first %+v, last %+v", n, d.Mismatches[0], d.Mismatches[n-1])
	}
	for i := 1; i < len(d.Mismatches); i++ {
		if d.Mismatches[i].At.Sub(d.Mismatches[i-1].At) != chartSlot {
			t.Fatalf("points %d and %d are not one slot apart: %v, %v", i-1, i, d.Mismatches[i-1].At, d.Mismatches[i].At)
		}
	}
}
