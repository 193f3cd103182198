package jsonfmt

import (
	"fmt"
	"strings"

	"github.com/portsync/portsync/state"
)

// Statuses is the vocabulary of an agency event's status (DESIGN 3.1), in
// the order reasons list it.
var Statuses = []state.Status{state.Released, state.Held, state.HoldRemoved, state.Revoked}

// IsStatus reports whether s is an agency event status of DESIGN 3.1.
func IsStatus(s state.Status) bool {
	for _, st := range Statuses {
		if s == st {
			return true
		}
	}
	return false
}

// TakesHold reports whether an event of status s may name a hold type:
// only held and hold_removed do (DESIGN 1: a release and its revocation
// are not per hold type).
func TakesHold(s state.Status) bool { return s == state.Held || s == state.HoldRemoved }

// CheckHold checks a hold type: at most state.MaxHoldLen bytes of printable
// ASCII without spaces or ':' (it appears in configuration keys and in
// status_codes values, where ':' separates it). The error is a sentence
// for a reason or a configuration message.
func CheckHold(hold string) error {
	if hold == "" {
		return fmt.Errorf("the hold type is empty")
	}
	if len(hold) > state.MaxHoldLen {
		return fmt.Errorf("hold type %q... is %d bytes, longer than %d", hold[:20], len(hold), state.MaxHoldLen)
	}
	for i := 0; i < len(hold); i++ {
		if c := hold[i]; c <= ' ' || c >= 0x7f || c == ':' {
			return fmt.Errorf("hold type %q: want printable ASCII without spaces or ':'", hold)
		}
	}
	return nil
}

// ParseStatusSpec parses what an EDI status table or a status_values
// entry maps a code to: a status of DESIGN 3.1, and for held and
// hold_removed optionally ':' and a hold type, e.g. "released",
// "held:1H", "hold_removed:1H", "revoked". "held" alone is the agency's
// general hold, which a newer untyped release lifts.
func ParseStatusSpec(spec string) (state.Status, string, error) {
	name, hold, typed := strings.Cut(spec, ":")
	st := state.Status(name)
	if !IsStatus(st) {
		return "", "", fmt.Errorf("want released, held[:TYPE], hold_removed[:TYPE] or revoked, got %q", spec)
	}
	if !typed {
		return st, "", nil
	}
	if !TakesHold(st) {
		return "", "", fmt.Errorf("%q: only held and hold_removed take a hold type, %s does not", spec, st)
	}
	if err := CheckHold(hold); err != nil {
		return "", "", fmt.Errorf("%q: %v", spec, err)
	}
	return st, hold, nil
}
