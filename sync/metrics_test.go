package sync

import (
	"fmt"
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

// TestContractMetricNames: the metric names and labels the contract gives
// (docs/operations.md, Metrics) are the ones registered: the unlabelled
// ones from the start, the labelled ones with their labels once a series
// exists.
func TestContractMetricNames(t *testing.T) {
	m := NewMetrics()
	m.Events.WithLabelValues("customs-mqtt", ResultApplied).Inc()
	m.Commands.WithLabelValues("tos", "release_hold", "sent").Inc()
	m.Breaker.WithLabelValues("sink:tos").Set(0)
	m.DeadLetters.WithLabelValues("customs-mqtt", "malformed").Inc()
	m.Containers.WithLabelValues("in_yard").Set(1)
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string][]string{}
	for _, f := range families {
		labels[f.GetName()] = []string{}
		if ms := f.GetMetric(); len(ms) > 0 {
			for _, l := range ms[0].GetLabel() {
				labels[f.GetName()] = append(labels[f.GetName()], l.GetName())
			}
		}
	}
	for name, want := range map[string][]string{
		"portsync_events_total":           {"result", "source"},
		"portsync_commands_total":         {"action", "result", "sink"},
		"portsync_mismatches":             {},
		"portsync_mismatch_age_seconds":   {},
		"portsync_release_to_tos_seconds": {},
		"portsync_commit_seconds":         {},
		"portsync_breaker_state":          {"name"},
		"portsync_deadletters_total":      {"reason", "source"},
		"portsync_containers":             {"presence"},
	} {
		got, ok := labels[name]
		if !ok {
			t.Errorf("%s is not registered", name)
			continue
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s has labels %v, want %v", name, got, want)
		}
	}
}
