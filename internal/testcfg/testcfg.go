// Package testcfg builds the daemon configuration that the integration,
// benchmark, crash and failpoint tests start from: customs (hold when
// unknown) and quarantine (ignore when unknown), both required, MQTT in
// and out on one broker. Each test changes what it needs through the
// fields and edits the YAML text for the rest, so the text of the
// defaults stays as it is.
package testcfg

import (
	"fmt"
	"strings"
)

// The default sources: one per agency and the TOS events, all MQTT.
var (
	CustomsMQTT = "{name: customs-mqtt, type: mqtt, broker: main, topic: customs/releases, kind: agency, agency: customs}"
	CIQMQTT     = "{name: ciq-mqtt, type: mqtt, broker: main, topic: ciq/releases, kind: agency, agency: quarantine}"
	TOSEvents   = "{name: tos-events, type: mqtt, broker: main, topic: tos/events, kind: tos}"
)

// Daemon is a test daemon's configuration; the zero value of a field is
// its default.
type Daemon struct {
	StateDir  string
	BrokerURL string
	ClientID  string
	// Listen is http.listen (127.0.0.1:0).
	Listen string
	// LogLevel is log.level (debug).
	LogLevel string
	// Sources are the flow-style source entries (customs, quarantine and
	// TOS events over MQTT).
	Sources []string
	// ApplyWithin and RetryAfter are sla.apply_within (2s) and
	// sla.retry_after (1s); RepeatInterval is alerts.repeat_interval (3s).
	ApplyWithin, RetryAfter, RepeatInterval string
	// Retention is retention.journal (87600h). It also bounds how old an
	// accepted event time may be, and tests write fixed dates: ten years
	// keeps them inside it.
	Retention string
	// Extra is top-level YAML added before http, one key a line.
	Extra []string
}

// DefaultRetention is the retention line YAML writes by default, for
// tests that replace it.
const DefaultRetention = "retention: {journal: 87600h}\n"

// YAML is the configuration file's text.
func (d Daemon) YAML() string {
	or := func(v, def string) string {
		if v == "" {
			return def
		}
		return v
	}
	sources := d.Sources
	if sources == nil {
		sources = []string{CustomsMQTT, CIQMQTT, TOSEvents}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `
terminal: CNSHA-T1
state_dir: %s
log: {level: %s, format: text}
agencies:
  customs:    {tos_hold: CUSTOMS}
  quarantine: {tos_hold: CIQ, when_unknown: ignore}
release_policy:
  required: [customs, quarantine]
brokers:
  main:
    url: %s
    client_id: %s
sources:
`, d.StateDir, or(d.LogLevel, "debug"), d.BrokerURL, d.ClientID)
	for _, s := range sources {
		fmt.Fprintf(&b, "  - %s\n", s)
	}
	fmt.Fprintf(&b, `tos:
  sink: {type: mqtt, broker: main, topic: tos/commands}
sla: {apply_within: %s, retry_after: %s}
alerts:
  repeat_interval: %s
  channels:
    - {type: mqtt, broker: main, topic: portsync/alerts}
`, or(d.ApplyWithin, "2s"), or(d.RetryAfter, "1s"), or(d.RepeatInterval, "3s"))
	if d.Retention == "" {
		b.WriteString(DefaultRetention)
	} else {
		fmt.Fprintf(&b, "retention: {journal: %s}\n", d.Retention)
	}
	for _, line := range d.Extra {
		b.WriteString(line + "\n")
	}
	fmt.Fprintf(&b, "http: {listen: %q}\n", or(d.Listen, "127.0.0.1:0"))
	return b.String()
}
