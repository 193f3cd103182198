package config_test

import (
	"testing"

	"github.com/portsync/portsync/config"
)

// TestMaxBytes: file_drop's max_bytes is read, must not be negative, and is
// refused on other source types (issue 11).
func TestMaxBytes(t *testing.T) {
	base, _ := baseText(t)
	drop := replaceOnce(t, base, "    kind: tos\n", "    kind: tos\n  - name: drop\n    type: file_drop\n    dir: /var/spool/x\n    kind: agency\n    agency: customs\n    max_bytes: 5000000\n")
	c, err := config.Parse("ok.yaml", []byte(drop), fakeRegistry{})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got := c.Sources[2].MaxBytes; got != 5000000 {
		t.Errorf("MaxBytes = %d, want 5000000", got)
	}

	neg := replaceOnce(t, drop, "max_bytes: 5000000", "max_bytes: -1")
	_, err = config.Parse("bad.yaml", []byte(neg), fakeRegistry{})
	checkErrors(t, neg, configErrors(t, err), []wantErr{{"max_bytes: -1", "sources[2].max_bytes", []string{"negative"}}})

	mqtt := replaceOnce(t, base, "    kind: tos\n", "    kind: tos\n    max_bytes: 10\n")
	_, err = config.Parse("bad.yaml", []byte(mqtt), fakeRegistry{})
	checkErrors(t, mqtt, configErrors(t, err), []wantErr{{"max_bytes: 10", "sources[1].max_bytes", []string{"file_drop", "mqtt"}}})
}
