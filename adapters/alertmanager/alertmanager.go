// Package alertmanager owns the Prometheus Alertmanager alert channel
// (channel type "alertmanager"): it POSTs every alert of a delivery pass,
// in one request, to Alertmanager's v2 API (<url>/api/v2/alerts), so that
// operators route, group, silence and inhibit portsync's alerts with the
// Alertmanager they already run.
//
// Each alert becomes one Alertmanager alert with the labels alertname (the
// kind), kind, severity, terminal, container, agency, source (empty ones
// left out) and portsync_id (the alert's stable id), the annotation
// summary, and startsAt = since. A resolved alert has endsAt = the time it
// resolved, which resolves it in Alertmanager at once. A firing alert has
// endsAt = now + the larger of one hour and three alerts.repeat_interval:
// portsync sends firing alerts again every repeat interval, which keeps them
// active, and should portsync stop (or lose the channel) for longer, they
// resolve on their own in Alertmanager rather than fire for ever.
package alertmanager

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/adapters/httpout"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

// APIPath is where Alertmanager takes alerts, below the configured URL.
const APIPath = "/api/v2/alerts"

// MinHold is the shortest time a firing alert stays active in Alertmanager
// without being sent again.
const MinHold = time.Hour

// Type is the configuration type name of the adapter.
const Type = "alertmanager"

func init() {
	adapters.RegisterChannel(Type, adapters.SinkWithConfig(New, Check, unused))
}

// unused is the message of a key of another sink or channel type's.
const unused = "not used by alertmanager channels"

// Check checks an alertmanager channel's keys: its own, in c, and the
// common ones of cfg.
func Check(cfg config.Sink, c *httpout.Config) []config.KeyError {
	return append(httpout.Check(*c, "an alertmanager channel"), httpout.BrokerUnused(cfg, unused)...)
}

// Channel posts alerts to one Alertmanager.
type Channel struct {
	name   string
	url    string
	hold   time.Duration
	client *httpout.Client
	log    *slog.Logger
	now    func() time.Time

	refusedLog httpout.Throttle
}

// New builds the channel cfg describes. url is the Alertmanager's base URL
// (http://127.0.0.1:9093, or with its --web.route-prefix); a URL that
// already ends in /api/v2/alerts is taken as it is.
func New(env *adapters.Env, cfg config.Sink, own *httpout.Config) (adapters.Notifier, error) {
	c := &Channel{
		name: cfg.Name, url: Endpoint(own.URL), hold: MinHold,
		log: slog.New(slog.DiscardHandler), now: time.Now,
	}
	if env != nil && env.Logger != nil {
		c.log = env.Logger
	}
	client, err := httpout.New(*own, c.log.With("channel", cfg.Name))
	if err != nil {
		return nil, fmt.Errorf("alert channel %s: %w", cfg.Name, err)
	}
	c.client = client
	if env != nil && env.Config != nil {
		c.hold = max(MinHold, 3*env.Config.Alerts.RepeatInterval)
	}
	return c, nil
}

// Endpoint is the v2 alerts URL for an Alertmanager base URL.
func Endpoint(base string) string {
	u, err := url.Parse(base)
	if err != nil {
		return base
	}
	p := strings.TrimRight(u.Path, "/")
	if !strings.HasSuffix(p, APIPath) {
		p += APIPath
	}
	u.Path, u.RawPath = p, ""
	return u.String()
}

// Alert is one element of the v2 API's postable alerts.
type Alert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// Convert turns portsync alerts into Alertmanager alerts at time now; a
// firing alert stays active for hold.
func Convert(alerts []state.Alert, now time.Time, hold time.Duration) []Alert {
	out := make([]Alert, 0, len(alerts))
	for _, a := range alerts {
		labels := map[string]string{"alertname": a.Kind, "portsync_id": a.ID}
		for k, v := range map[string]string{
			"kind": a.Kind, "severity": a.Severity, "terminal": a.Terminal,
			"container": a.Container, "agency": a.Agency, "source": a.Source,
		} {
			if v != "" {
				labels[k] = v
			}
		}
		start := a.Since
		if start.IsZero() {
			start = a.At
		}
		end := now.Add(hold)
		if a.State == state.Resolved {
			end = a.At
		}
		if end.Before(start) {
			// Alertmanager refuses an alert that ends before it starts.
			end = start
		}
		am := Alert{Labels: labels, StartsAt: start.UTC(), EndsAt: end.UTC()}
		if a.Summary != "" {
			am.Annotations = map[string]string{"summary": a.Summary}
		}
		out = append(out, am)
	}
	return out
}

// Notify posts alerts in one request. A refusal (400: an invalid alert,
// 401/403: credentials) is logged at most once a minute.
func (c *Channel) Notify(ctx context.Context, alerts []state.Alert) error {
	if len(alerts) == 0 {
		return nil
	}
	body, err := json.Marshal(Convert(alerts, c.now(), c.hold))
	if err != nil {
		return fmt.Errorf("encode alerts for alertmanager: %w", err)
	}
	_, err = c.client.Post(ctx, c.url, "application/json", body, nil)
	if httpout.IsRefused(err) && c.refusedLog.Allow(c.now()) {
		// 400 is Alertmanager saying an alert is invalid: name it.
		c.log.Error("alertmanager refused the alerts; portsync keeps retrying, but the channel's url or the alerts need fixing",
			"channel", c.name, "alerts", len(alerts), "err", err)
	}
	return err
}
