package daemon

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/portsync/portsync/state"
	"github.com/portsync/portsync/sync"
)

// TestMetricsPassPromtool lints GET /metrics with `promtool check metrics`
// (Debian package prometheus) after events that create the labelled
// series: applied, duplicate and rejected events, a dead letter, commands
// sent and confirmed, a breaker, containers by presence, the retention
// counters. Any problem promtool reports fails the test, lint warnings
// included; only that part is skipped where promtool is not installed. The
// example Grafana dashboard is checked against the same metrics.
func TestMetricsPassPromtool(t *testing.T) {
	h := newHarness(t, nil)

	h.agency("REL-1", "customs", state.Released, "2026-11-28T10:15:00+08:00", c1)
	h.agency("REL-1", "customs", state.Released, "2026-11-28T10:15:00+08:00", c1) // duplicate
	h.tos("N4-1", c1, state.TOSArrived, "2026-11-28T10:20:00+08:00", "CUSTOMS")
	h.waitCommand(c1, state.ReleaseHold, "CUSTOMS")
	h.tos("N4-2", c1, state.TOSHolds, "2026-11-28T10:21:00+08:00")
	h.publish("customs/releases", "{not json")
	h.eventually("labelled series", func() bool {
		return h.metricValue("portsync_commands_total", "result", "confirmed") > 0 &&
			h.metricValue("portsync_events_total", "result", sync.ResultRejected) > 0 &&
			h.metricValue("portsync_events_total", "result", sync.ResultDuplicate) > 0 &&
			h.metricValue("portsync_deadletters_total") > 0
	})

	resp, err := http.Get(h.base() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: HTTP %d, %v", resp.StatusCode, err)
	}

	// Every metric of DESIGN section 7 is there, with its help text.
	for _, name := range []string{
		"portsync_events_total", "portsync_commands_total", "portsync_mismatches",
		"portsync_mismatch_age_seconds", "portsync_release_to_tos_seconds", "portsync_commit_seconds",
		"portsync_breaker_state", "portsync_deadletters_total", "portsync_containers",
		"portsync_retention_pruned_total",
	} {
		if !bytes.Contains(body, []byte("\n# HELP "+name+" ")) {
			t.Errorf("/metrics has no help text for %s", name)
		}
		if !bytes.Contains(body, []byte("\n"+name+"{")) && !bytes.Contains(body, []byte("\n"+name+" ")) &&
			!bytes.Contains(body, []byte("\n"+name+"_bucket{")) {
			t.Errorf("/metrics has no series of %s", name)
		}
	}

	checkDashboard(t, body)

	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (Debian package prometheus); CI installs it")
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.CombinedOutput()
	report := strings.TrimSpace(string(out))
	var exit *exec.ExitError
	switch {
	case err != nil && !errors.As(err, &exit):
		t.Fatalf("run promtool: %v", err)
	case err != nil || report != "":
		t.Errorf("promtool check metrics (%v) reports:\n%s", err, report)
		t.Logf("metrics given to promtool:\n%s", body)
	}
}

// checkDashboard checks docs/grafana-dashboard.json: it is JSON, takes its
// Prometheus data source as an import input, and every portsync metric its
// queries name is one the daemon exposes.
func checkDashboard(t *testing.T, metrics []byte) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "docs", "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Inputs []struct {
			Name, Type, PluginID string
		} `json:"__inputs"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	if len(dash.Inputs) != 1 || dash.Inputs[0].Type != "datasource" || dash.Inputs[0].PluginID != "prometheus" {
		t.Errorf("grafana-dashboard.json inputs = %+v, want one Prometheus data source", dash.Inputs)
	}
	name := regexp.MustCompile(`portsync_[a-z_]+`)
	queries := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			queries++
			for _, m := range name.FindAllString(tg.Expr, -1) {
				base := strings.TrimSuffix(m, "_bucket")
				if !bytes.Contains(metrics, []byte("\n# TYPE "+base+" ")) {
					t.Errorf("dashboard panel %q queries %s, which /metrics does not have", p.Title, m)
				}
			}
		}
	}
	if queries < 10 {
		t.Errorf("dashboard has %d queries", queries)
	}
}
