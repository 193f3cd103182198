package config_test

import (
	"testing"
	"time"

	"github.com/portsync/portsync/config"
)

// TestQueryKeys: http_query's rate and query_after are read, and refused
// on other source types (issue 12).
func TestQueryKeys(t *testing.T) {
	base, _ := baseText(t)
	query := replaceOnce(t, base, "    kind: tos\n", "    kind: tos\n  - name: customs-query\n    type: http_query\n    url: https://customs.example/status/{container}\n    schedule: \"*/10 * * * *\"\n    kind: agency\n    agency: customs\n    rate: 30\n    query_after: 45m\n")
	c, err := config.Parse("ok.yaml", []byte(query), fakeRegistry{})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	var q httpQueryKeys
	if errs := c.Sources[2].Keys.Decode(&q); len(errs) > 0 || q.Rate != 30 || q.QueryAfter != 45*time.Minute {
		t.Errorf("rate %d, query_after %s (%v); want 30 and 45m", q.Rate, q.QueryAfter, errs)
	}

	mqtt := replaceOnce(t, base, "    kind: tos\n", "    kind: tos\n    rate: 10\n    query_after: 1h\n")
	_, err = config.Parse("bad.yaml", []byte(mqtt), fakeRegistry{})
	checkErrors(t, mqtt, configErrors(t, err), []wantErr{
		{"rate: 10", "sources[1].rate", []string{"http_query", "mqtt"}},
		{"query_after: 1h", "sources[1].query_after", []string{"http_query", "mqtt"}},
	})
}
