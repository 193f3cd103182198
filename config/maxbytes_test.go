package config_test

import (
	"testing"

	"github.com/portsync/portsync/config"
)

// TestMaxBytes: file_drop's max_bytes reaches its adapter, and is refused
// on other source types at its line (issue 11). The adapter's own checks
// (not negative) are tested with the real registry in cmd/portsync.
func TestMaxBytes(t *testing.T) {
	base, _ := baseText(t)
	drop := replaceOnce(t, base, "    kind: tos\n", "    kind: tos\n  - name: drop\n    type: file_drop\n    dir: /var/spool/x\n    kind: agency\n    agency: customs\n    max_bytes: 5000000\n")
	c, err := config.Parse("ok.yaml", []byte(drop), fakeRegistry{})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	var fd fileDropKeys
	if errs := c.Sources[2].Keys.Decode(&fd); len(errs) > 0 || fd.MaxBytes != 5000000 {
		t.Errorf("MaxBytes = %d (%v), want 5000000", fd.MaxBytes, errs)
	}

	str := replaceOnce(t, drop, "max_bytes: 5000000", "max_bytes: lots")
	_, err = config.Parse("bad.yaml", []byte(str), fakeRegistry{})
	checkErrors(t, str, configErrors(t, err), []wantErr{{"max_bytes: lots", "sources[2].max_bytes", []string{"integer"}}})

	mqtt := replaceOnce(t, base, "    kind: tos\n", "    kind: tos\n    max_bytes: 10\n")
	_, err = config.Parse("bad.yaml", []byte(mqtt), fakeRegistry{})
	checkErrors(t, mqtt, configErrors(t, err), []wantErr{{"max_bytes: 10", "sources[1].max_bytes", []string{"file_drop", "mqtt"}}})
}
