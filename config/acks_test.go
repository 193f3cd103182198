package config_test

import (
	"testing"

	"github.com/portsync/portsync/config"
)

// TestAckKeys: ack_topic is read on mqtt sources and ack_dir on file_drop
// sources; each is refused on other types, a topic filter is refused, and
// ack_dir must be absolute (issue 12); the file_drop adapter refuses its
// spool and the mqtt adapter the source's own topic, tested in
// cmd/portsync and in the adapters.
func TestAckKeys(t *testing.T) {
	base, _ := baseText(t)
	ok := replaceOnce(t, base, "    kind: tos\n", "    kind: tos\n    ack_topic: tos/CNSHA-T1/acks\n  - name: drop\n    type: file_drop\n    dir: /var/spool/x\n    kind: agency\n    agency: customs\n    ack_dir: /var/spool/x-acks\n")
	c, err := config.Parse("ok.yaml", []byte(ok), fakeRegistry{})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got := c.Sources[1].AckTopic; got != "tos/CNSHA-T1/acks" {
		t.Errorf("AckTopic = %q", got)
	}
	if got := c.Sources[2].AckDir; got != "/var/spool/x-acks" {
		t.Errorf("AckDir = %q", got)
	}

	for _, tc := range []struct {
		from, to, marker, key string
		msg                   []string
	}{
		{"ack_topic: tos/CNSHA-T1/acks", "ack_topic: tos/+/acks", "ack_topic:", "sources[1].ack_topic", []string{"filter"}},
		{"ack_dir: /var/spool/x-acks", "ack_dir: acks", "ack_dir:", "sources[2].ack_dir", []string{"absolute"}},
		{"ack_dir: /var/spool/x-acks", "ack_topic: drop/acks", "drop/acks", "sources[2].ack_topic", []string{"mqtt", "file_drop"}},
		{"ack_topic: tos/CNSHA-T1/acks", "ack_dir: /var/acks", "ack_dir:", "sources[1].ack_dir", []string{"file_drop", "mqtt"}},
	} {
		bad := replaceOnce(t, ok, tc.from, tc.to)
		_, err := config.Parse("bad.yaml", []byte(bad), fakeRegistry{})
		checkErrors(t, bad, configErrors(t, err), []wantErr{{tc.marker, tc.key, tc.msg}})
	}
}
