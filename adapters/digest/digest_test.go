package digest_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/portsync/portsync/adapters/digest"
	"github.com/portsync/portsync/state"
)

func TestOrderAndTitle(t *testing.T) {
	alerts := digest.Order([]state.Alert{
		{ID: "b", Kind: "stale_hold", Severity: "warning", State: state.Resolved},
		{ID: "c", Kind: "stale_hold", Severity: "warning", State: state.Firing},
		{ID: "a", Kind: "unauthorized_departure", Severity: "critical", State: state.Firing},
	})
	if got := alerts[0].ID + alerts[1].ID + alerts[2].ID; got != "acb" {
		t.Errorf("order %s, want critical firing, warning firing, resolved", got)
	}
	if got := digest.Title("T1", alerts); got != "[portsync T1] 2 firing, 1 resolved" {
		t.Errorf("title %q", got)
	}
	if got := digest.Title("", alerts[2:]); got != "[portsync] 1 resolved" {
		t.Errorf("title %q", got)
	}
	if got := digest.Subject("T1", alerts[:1]); got != "[portsync T1] 1 firing: unauthorized_departure" {
		t.Errorf("subject %q", got)
	}
}

func TestOneLine(t *testing.T) {
	if got := digest.OneLine("a\r\nb\tc", 100); got != "a  b c" {
		t.Errorf("OneLine = %q", got)
	}
	long := strings.Repeat("é", 100) // 200 bytes
	got := digest.OneLine(long, 51)
	if len(got) > 51 || !utf8.ValidString(got) || !strings.HasSuffix(got, "...") {
		t.Errorf("OneLine cut %q (%d bytes)", got, len(got))
	}
}

func TestTextCap(t *testing.T) {
	var alerts []state.Alert
	for range 5 {
		alerts = append(alerts, state.Alert{ID: "x", Kind: "stale_hold", State: state.Firing})
	}
	lines := digest.Text("T1", alerts, 2)
	if len(lines) != 5 || lines[1] != "stale_hold: 5 firing" || lines[4] != "and 3 more" {
		t.Errorf("Text = %q", lines)
	}
}
