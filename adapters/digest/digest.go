// Package digest owns the human-readable summary of a batch of alerts that
// the chat webhook templates and email share: one notice per channel per
// delivery pass, with a title that counts firing and resolved alerts, a
// count line per kind, and one line per alert, the most urgent first.
package digest

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/portsync/portsync/state"
)

// Order returns alerts sorted for people: firing before resolved, critical
// before warning before anything else, then by kind and id.
func Order(alerts []state.Alert) []state.Alert {
	out := slices.Clone(alerts)
	slices.SortStableFunc(out, func(a, b state.Alert) int {
		return cmp.Or(
			cmp.Compare(stateRank(a.State), stateRank(b.State)),
			cmp.Compare(severityRank(a.Severity), severityRank(b.Severity)),
			cmp.Compare(a.Kind, b.Kind),
			cmp.Compare(a.ID, b.ID),
		)
	})
	return out
}

func stateRank(s string) int {
	if s == state.Firing {
		return 0
	}
	return 1
}

func severityRank(s string) int {
	switch s {
	case "critical":
		return 0
	case "warning":
		return 1
	}
	return 2
}

// Counts returns how many alerts fire and how many are resolved.
func Counts(alerts []state.Alert) (firing, resolved int) {
	for _, a := range alerts {
		if a.State == state.Firing {
			firing++
		} else {
			resolved++
		}
	}
	return firing, resolved
}

// Terminal is the terminal the alerts are about, or fallback.
func Terminal(alerts []state.Alert, fallback string) string {
	for _, a := range alerts {
		if a.Terminal != "" {
			return a.Terminal
		}
	}
	return fallback
}

// Title is "[portsync TERMINAL] 3 firing, 1 resolved".
func Title(terminal string, alerts []state.Alert) string {
	firing, resolved := Counts(alerts)
	var parts []string
	if firing > 0 {
		parts = append(parts, fmt.Sprintf("%d firing", firing))
	}
	if resolved > 0 || firing == 0 {
		parts = append(parts, fmt.Sprintf("%d resolved", resolved))
	}
	prefix := "[portsync]"
	if terminal != "" {
		prefix = "[portsync " + terminal + "]"
	}
	return prefix + " " + strings.Join(parts, ", ")
}

// Subject is the title followed by the first alert's kind and subject,
// and "..." when there are more: "[portsync CNSHA-T1] 3 firing, 1
// resolved: stale_hold MSCU1234566/customs ...". alerts must be in Order.
func Subject(terminal string, alerts []state.Alert) string {
	s := Title(terminal, alerts)
	if len(alerts) > 0 {
		s += ": " + alerts[0].Kind
		if what := Object(alerts[0]); what != "" {
			s += " " + what
		}
		if len(alerts) > 1 {
			s += " ..."
		}
	}
	return OneLine(s, 200)
}

// Object is what an alert is about: "MSCU1234566/customs", a source or
// a sink name.
func Object(a state.Alert) string {
	var parts []string
	for _, p := range []string{a.Container, a.Agency, a.Source} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, "/")
}

// KindLines returns one line per kind, in the order kinds first appear in
// alerts: "stale_hold: 2 firing, 1 resolved".
func KindLines(alerts []state.Alert) []string {
	type count struct{ firing, resolved int }
	counts := map[string]*count{}
	var kinds []string
	for _, a := range alerts {
		c, ok := counts[a.Kind]
		if !ok {
			c = &count{}
			counts[a.Kind] = c
			kinds = append(kinds, a.Kind)
		}
		if a.State == state.Firing {
			c.firing++
		} else {
			c.resolved++
		}
	}
	lines := make([]string, len(kinds))
	for i, k := range kinds {
		c := counts[k]
		var parts []string
		if c.firing > 0 {
			parts = append(parts, fmt.Sprintf("%d firing", c.firing))
		}
		if c.resolved > 0 {
			parts = append(parts, fmt.Sprintf("%d resolved", c.resolved))
		}
		lines[i] = k + ": " + strings.Join(parts, ", ")
	}
	return lines
}

// Line is one alert on one line: "FIRING critical unauthorized_departure
// MSCU1234566: summary".
func Line(a state.Alert) string {
	s := strings.ToUpper(a.State)
	if a.Severity != "" {
		s += " " + a.Severity
	}
	s += " " + a.Kind
	if what := Object(a); what != "" {
		s += " " + what
	}
	if a.Summary != "" {
		s += ": " + a.Summary
	}
	return OneLine(s, 300)
}

// Text is the whole digest: the title, a count line per kind, then one
// line per alert, at most maxLines of them followed by "and N more".
// alerts must be in Order.
func Text(terminal string, alerts []state.Alert, maxLines int) []string {
	lines := []string{Title(terminal, alerts)}
	lines = append(lines, KindLines(alerts)...)
	shown := alerts
	if len(shown) > maxLines {
		shown = shown[:maxLines]
	}
	for _, a := range shown {
		lines = append(lines, "- "+Line(a))
	}
	if n := len(alerts) - len(shown); n > 0 {
		lines = append(lines, fmt.Sprintf("and %d more", n))
	}
	return lines
}

// OneLine replaces line breaks and control characters with spaces and cuts
// s to at most max bytes, on a rune boundary, marking a cut with "...".
func OneLine(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) <= max {
		return s
	}
	cut := max - 3
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

func isRuneStart(b byte) bool { return b&0xc0 != 0x80 }
