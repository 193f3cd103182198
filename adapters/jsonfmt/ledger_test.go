package jsonfmt_test

import (
	"strings"
	"testing"

	"github.com/portsync/portsync/adapters/jsonfmt"
	"github.com/portsync/portsync/state"
)

// TestDecodeAgencyEventLedgerStatuses: DESIGN 3.1 statuses hold_removed and
// revoked, and the optional hold type of held and hold_removed.
func TestDecodeAgencyEventLedgerStatuses(t *testing.T) {
	tests := []struct {
		name   string
		kv     []any
		status state.Status
		hold   string
	}{
		{"revoked", []any{"status", "revoked"}, state.Revoked, ""},
		{"general hold removed", []any{"status", "hold_removed"}, state.HoldRemoved, ""},
		{"typed hold removed", []any{"status", "hold_removed", "hold", "1H"}, state.HoldRemoved, "1H"},
		{"typed hold", []any{"status", "held", "hold", "7H"}, state.Held, "7H"},
		{"hold trimmed", []any{"status", "held", "hold", "  exam "}, state.Held, "exam"},
		{"null hold", []any{"status", "held", "hold", nil}, state.Held, ""},
		{"empty hold", []any{"status", "held", "hold", ""}, state.Held, ""},
		{"empty hold on release", []any{"status", "released", "hold", ""}, state.Released, ""},
		{"longest hold", []any{"status", "held", "hold", strings.Repeat("H", state.MaxHoldLen)}, state.Held, strings.Repeat("H", state.MaxHoldLen)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := jsonfmt.DecodeAgencyEvent(edit(t, agencyExample, tt.kv...))
			if err != nil {
				t.Fatalf("DecodeAgencyEvent: %v", err)
			}
			if ev.Status != tt.status || ev.Hold != tt.hold {
				t.Errorf("status %q hold %q, want %q %q", ev.Status, ev.Hold, tt.status, tt.hold)
			}
		})
	}
}

func TestDecodeAgencyEventHoldRejects(t *testing.T) {
	tests := []struct {
		name   string
		kv     []any
		reason []string
	}{
		{"hold on released", []any{"status", "released", "hold", "1H"}, []string{`"hold"`, `"1H"`, "released"}},
		{"hold on revoked", []any{"status", "revoked", "hold", "7H"}, []string{`"hold"`, `"7H"`, "revoked"}},
		{"hold too long", []any{"status", "held", "hold", strings.Repeat("H", state.MaxHoldLen+1)}, []string{`"hold"`, "64"}},
		{"hold not a string", []any{"status", "held", "hold", 7}, []string{`"hold"`, "7"}},
		{"unknown status", []any{"status", "cancelled"}, []string{`"status"`, "cancelled", "hold_removed", "revoked"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := jsonfmt.DecodeAgencyEvent(edit(t, agencyExample, tt.kv...))
			rejection(t, err, state.CodeInvalidField, tt.reason...)
		})
	}
}

func TestParseStatusSpec(t *testing.T) {
	good := []struct {
		in     string
		status state.Status
		hold   string
	}{
		{"released", state.Released, ""},
		{"held", state.Held, ""},
		{"held:1H", state.Held, "1H"},
		{"hold_removed", state.HoldRemoved, ""},
		{"hold_removed:1H", state.HoldRemoved, "1H"},
		{"revoked", state.Revoked, ""},
	}
	for _, g := range good {
		st, hold, err := jsonfmt.ParseStatusSpec(g.in)
		if err != nil || st != g.status || hold != g.hold {
			t.Errorf("ParseStatusSpec(%q) = %q %q %v, want %q %q", g.in, st, hold, err, g.status, g.hold)
		}
	}
	for _, bad := range []string{"", "release", "released:1C", "revoked:4A", "held:", "held: 1H", "held:a b", "held:" + strings.Repeat("x", state.MaxHoldLen+1), "unknown"} {
		if _, _, err := jsonfmt.ParseStatusSpec(bad); err == nil {
			t.Errorf("ParseStatusSpec(%q): no error", bad)
		}
	}
}
