package sync

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/state"
)

// The catalogue of portsync's alerts: every kind's id, severity and
// summary are made here, and nowhere else.

// Severities.
const (
	severityWarning  = "warning"
	severityCritical = "critical"
)

// AlertID is the stable id of an alert about a container (and agency), or
// about an endpoint of portsync's (a source, a sink, a channel, a broker)
// with agency "".
func AlertID(kind, container, agency string) string {
	if agency == "" {
		return kind + "/" + container
	}
	return kind + "/" + container + "/" + agency
}

// mismatchAlert is a missing_hold or stale_hold that outlived the SLA.
func mismatchAlert(c *state.Container, m state.Mismatch, slot string, p policy, now time.Time) state.Alert {
	hold := m.Hold
	if hold == "" {
		hold = p.Agencies[m.Agency].TOSHold
	}
	age := now.Sub(m.Since).Round(time.Second)
	var summary string
	st, known := c.Agencies[m.Agency]
	fromLegacy(&st)
	switch {
	case m.Kind == state.KindStaleHold && st.Status == state.Released:
		summary = fmt.Sprintf("%s released %s at %s but the terminal still holds it (%s) after %s",
			m.Agency, c.ID, st.Release.At.Format("15:04"), hold, age)
	case m.Kind == state.KindStaleHold:
		summary = fmt.Sprintf("%s no longer wants %s on %s but the terminal still has it after %s",
			m.Agency, hold, c.ID, age)
	case known && st.Status == state.Held:
		summary = fmt.Sprintf("%s held %s at %s but the terminal has no %s hold after %s",
			m.Agency, c.ID, st.At.Format("15:04"), hold, age)
	default:
		summary = fmt.Sprintf("%s has not decided on %s and its policy is to hold, but the terminal has no %s hold after %s",
			m.Agency, c.ID, hold, age)
	}
	return state.Alert{
		ID: AlertID(m.Kind, c.ID, slot), Kind: m.Kind, Severity: severityWarning, State: state.Firing,
		Terminal: p.Terminal, Container: c.ID, Agency: m.Agency, Since: m.Since.UTC(), Summary: summary, At: now.UTC(),
	}
}

// departureAlert is an unauthorized_departure: c left the yard while not
// cleared.
func departureAlert(c *state.Container, p policy, now time.Time) state.Alert {
	var why []string
	for _, name := range p.agencyNames() {
		if st := agencyStatus(c, name); st != state.Released && (st == state.Held || slices.Contains(p.Required, name)) {
			why = append(why, name+" "+string(st))
		}
	}
	return state.Alert{
		ID: AlertID(state.KindUnauthorizedDeparture, c.ID, ""), Kind: state.KindUnauthorizedDeparture,
		Severity: severityCritical, State: state.Firing, Terminal: p.Terminal, Container: c.ID,
		Since: now.UTC(), At: now.UTC(),
		Summary: fmt.Sprintf("%s departed while not cleared (%s)", c.ID, strings.Join(why, ", ")),
	}
}

// commandRejectedAlert is a command_rejected: the TOS sink refused cmd.
func commandRejectedAlert(cmd state.Command, sink string, why error, terminal string, now time.Time) state.Alert {
	return state.Alert{
		ID:   AlertID(state.KindCommandRejected, cmd.Container, cmd.Agency),
		Kind: state.KindCommandRejected, Severity: severityWarning, State: state.Firing, Terminal: terminal,
		Container: cmd.Container, Agency: cmd.Agency, Source: sink, Since: now.UTC(), At: now.UTC(),
		Summary: fmt.Sprintf("%v; portsync sends it again only after the next sweep", why),
	}
}

func invalidInputID(source string) string { return AlertID(state.KindInvalidInput, source, "") }

// invalidInputAlert is a source's invalid_input as it starts firing,
// before its first message is counted (see countInvalid).
func invalidInputAlert(source, terminal string, now time.Time) state.Alert {
	return state.Alert{
		ID: invalidInputID(source), Kind: state.KindInvalidInput, Severity: severityWarning, State: state.Firing,
		Terminal: terminal, Source: source, Since: now.UTC(),
	}
}

// countInvalid counts one more invalid message of a's source in a and
// reports whether the alert changed enough to be delivered again: a
// forged message is an attack, not a mapping mistake, and makes it
// critical.
func countInvalid(a *state.Alert, rej *state.Rejection) (renotify bool) {
	if rej.Code == adapters.CodeBadSignature && a.Severity != severityCritical {
		a.Severity, renotify = severityCritical, true
	}
	a.Count++
	a.Summary = fmt.Sprintf("%s from source %s since %s; latest: %s: %s",
		plural(a.Count, "invalid message"), a.Source, a.Since.Format("15:04"), rej.Code, rej.Reason)
	return renotify
}

// sinkDownAlert is the sink_down of an outbound endpoint (what: "TOS
// sink" or "alert channel") failing since since; err is the cause, nil
// for the resolution.
func sinkDownAlert(what, name string, since, now time.Time, err error) state.Alert {
	a := state.Alert{
		ID: AlertID(state.KindSinkDown, name, ""), Kind: state.KindSinkDown, Severity: severityCritical,
		Source: name, Since: since.UTC(), At: now.UTC(),
	}
	if err != nil {
		a.Summary = fmt.Sprintf("%s %s has failed since %s: %v", what, name, since.UTC().Format(time.RFC3339), err)
	}
	return a
}

// sourceDownAlert is a source_down: the source's transport has failed
// since since, failures attempts in a row.
func sourceDownAlert(source string, since, now time.Time, failures int, lastErr string) state.Alert {
	return sourceAlertOf(state.KindSourceDown, source, since, now,
		fmt.Sprintf("source %s has failed since %s, %d attempts in a row; last error: %s",
			source, since.UTC().Format(time.RFC3339), failures, lastErr))
}

// sourceSilentAlert is a source_silent: the source has delivered nothing
// since since, longer than its silent_after.
func sourceSilentAlert(source string, since, now time.Time, silentAfter time.Duration) state.Alert {
	return sourceAlertOf(state.KindSourceSilent, source, since, now,
		fmt.Sprintf("source %s has delivered no message since %s (silent_after %s)",
			source, since.UTC().Format(time.RFC3339), silentAfter))
}

func sourceAlertOf(kind, source string, since, now time.Time, summary string) state.Alert {
	return state.Alert{
		ID: AlertID(kind, source, ""), Kind: kind, Severity: severityWarning, Source: source,
		Since: since.UTC(), At: now.UTC(), Summary: summary,
	}
}

// sessionLostAlert is a session_lost: broker came back at at without the
// persistent session portsync held with clientID.
func sessionLostAlert(broker, clientID string, at time.Time) state.Alert {
	at = at.UTC()
	return state.Alert{
		ID: AlertID(state.KindSessionLost, broker, ""), Kind: state.KindSessionLost, Severity: severityCritical,
		Source: broker, Since: at, At: at,
		Summary: fmt.Sprintf("broker %s came back without portsync's persistent session (client id %s): the messages it had queued "+
			"for portsync are lost. A full sweep runs now; ask the agencies to send again what they sent while portsync was "+
			"disconnected, and check that the broker persists its sessions", broker, clientID),
	}
}

// manualOverrideAlert is an operator's override of ev, by by, on one
// container; it resolves when the agency itself decides again.
func manualOverrideAlert(ev *state.AgencyEvent, container, by, terminal string, now time.Time) state.Alert {
	what := string(ev.Status)
	if ev.Hold != "" {
		what += " " + ev.Hold
	}
	return state.Alert{
		ID: AlertID(state.KindManualOverride, container, ev.Agency), Kind: state.KindManualOverride,
		Severity: severityWarning, State: state.Firing, Terminal: terminal, Container: container,
		Agency: ev.Agency, Since: now.UTC(), At: now.UTC(),
		Summary: fmt.Sprintf("%s overrode %s on %s by hand: %s, because %q; a newer %s decision outranks it",
			by, ev.Agency, container, what, state.CutText(ev.Reason, 200), ev.Agency),
	}
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
