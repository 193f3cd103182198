package config_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/portsync/portsync/config"
)

// TestMappingFormats: a mapping block belongs to formats mapped_json and
// mapped_xml, and is refused, on its line, on any other.
func TestMappingFormats(t *testing.T) {
	withSource := func(format string) string {
		source := `  - name: customs-file
    type: file_drop
    dir: /var/spool/portsync/customs
    kind: agency
    agency: customs
    format: ` + format + `
    mapping: {records: /List/Item, id: Ref, status: State, containers: Cntr, at: Time, status_values: {R: released}}
`
		return strings.Replace(minimalConfig, "tos:\n", source+"tos:\n", 1)
	}
	for _, format := range []string{"mapped_json", "mapped_xml"} {
		if _, err := config.Parse("portsync.yaml", []byte(withSource(format)), fakeRegistry{}); err != nil {
			t.Errorf("format %s with a mapping: %v", format, err)
		}
	}
	text := withSource("edifact")
	_, err := config.Parse("portsync.yaml", []byte(text), fakeRegistry{})
	want := "portsync.yaml:" + strconv.Itoa(lineOf(t, text, "    mapping: {records")) +
		`: sources[1].mapping: only used by formats mapped_json and mapped_xml, and this source's format is "edifact"`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("format edifact with a mapping: %v\nwant %s", err, want)
	}
}
