package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/portsync/portsync/config"
)

// TestSilentAfter: silent_after is optional on every source type, off by
// default, and a negative one is refused with its line and key.
func TestSilentAfter(t *testing.T) {
	c, err := config.Parse("min.yaml", []byte(minimalConfig), fakeRegistry{})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Sources[0].SilentAfter; got != 0 {
		t.Errorf("silent_after defaults to %s, want 0 (off)", got)
	}
	token := writeSecret(t, t.TempDir(), "push.token", "s3cret")
	text := strings.Replace(minimalConfig, "agency: customs}\n", "agency: customs, silent_after: 2h}\n"+
		"  - {name: push, type: http_push, kind: agency, agency: customs, token_file: "+token+", silent_after: 1h}\n", 1)
	c, err = config.Parse("silent.yaml", []byte(text), fakeRegistry{})
	if err != nil {
		t.Fatalf("silent_after refused:\n%v", err)
	}
	if c.Sources[0].SilentAfter != 2*time.Hour || c.Sources[1].SilentAfter != time.Hour {
		t.Errorf("silent_after = %s, %s; want 2h, 1h", c.Sources[0].SilentAfter, c.Sources[1].SilentAfter)
	}
	text = strings.Replace(text, "silent_after: 2h", "silent_after: -5m", 1)
	_, err = config.Parse("silent.yaml", []byte(text), fakeRegistry{})
	if err == nil || !strings.Contains(err.Error(), "sources[0].silent_after") || !strings.Contains(err.Error(), "negative") {
		t.Errorf("negative silent_after: %v, want refused naming sources[0].silent_after", err)
	}
}
