package main

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestPrometheusAlertRules checks docs/alerts.yml with `promtool check
// rules` and runs its unit tests (docs/alerts_test.yml) with `promtool test
// rules`, where promtool (Debian package prometheus) is installed; and,
// everywhere, that docs/operations.md lists every rule.
func TestPrometheusAlertRules(t *testing.T) {
	rules, err := os.ReadFile("../../docs/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	ops, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	names := regexp.MustCompile(`(?m)^\s+- alert: (\S+)$`).FindAllStringSubmatch(string(rules), -1)
	if len(names) < 6 {
		t.Fatalf("docs/alerts.yml has %d rules, want at least 6", len(names))
	}
	for _, m := range names {
		if !strings.Contains(string(ops), "`"+m[1]+"`") {
			t.Errorf("docs/operations.md does not list the rule %s of docs/alerts.yml", m[1])
		}
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (Debian package prometheus)")
	}
	for _, args := range [][]string{{"check", "rules", "alerts.yml"}, {"test", "rules", "alerts_test.yml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = "../../docs"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}
