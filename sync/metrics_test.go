package sync

import (
	"testing"
)

// TestEveryMetricFromTheConstructor: every portsync metric is on
// /metrics from the start, registered by NewMetrics, with the series
// alerts and rate() need at 0.
func TestEveryMetricFromTheConstructor(t *testing.T) {
	m := NewMetrics()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := map[string][]string{}
	for _, f := range families {
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				series[f.GetName()] = append(series[f.GetName()], l.GetName()+"="+l.GetValue())
			}
		}
		if _, ok := series[f.GetName()]; !ok {
			series[f.GetName()] = nil
		}
	}
	got := series["portsync_retention_pruned_total"]
	want := []string{"what=deadletters", "what=dedupe", "what=journal"}
	if len(got) != len(want) {
		t.Fatalf("portsync_retention_pruned_total series %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("portsync_retention_pruned_total series %v, want %v", got, want)
		}
	}
}
