package webhook_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/portsync/portsync/adapters"
	_ "github.com/portsync/portsync/adapters/alertmanager"
	"github.com/portsync/portsync/adapters/email"
	_ "github.com/portsync/portsync/adapters/mqtt"
	"github.com/portsync/portsync/adapters/webhook"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/internal/testpki"
	"github.com/portsync/portsync/state"
)

const baseConfig = `terminal: CNSHA-T1
state_dir: /var/lib/portsync
agencies:
  customs: {tos_hold: CUSTOMS}
brokers:
  main: {url: "tcp://127.0.0.1:1883"}
tos:
  sink: {type: mqtt, broker: main, topic: tos/commands}
alerts:
  repeat_interval: 30m
  channels:
`

// The README's channel examples decode and validate through the registry.
func TestChannelsInConfigFile(t *testing.T) {
	secret := writeFile(t, "secret", "k")
	token := writeFile(t, "token", "t")
	user, pass := writeFile(t, "user", "u"), writeFile(t, "pass", "p")
	ca := testpki.New(t, "ca").CAFile
	text := baseConfig + fmt.Sprintf(`    - type: webhook
      name: ops-chat
      url: https://hooks.slack.com/services/T000/B000/XXXX
      template: slack
      secret_file: %s
      timeout: 5s
    - type: webhook
      url: https://events.example/portsync
      token_file: %s
      headers: {X-Tenant: cnsha}
      tls: {ca_file: %s}
    - type: alertmanager
      url: http://127.0.0.1:9093
    - type: email
      smtp: mail.example:587
      from: portsync CNSHA-T1 <portsync@terminal.example>
      to: [ops@terminal.example, customs-desk@terminal.example]
      username_file: %s
      password_file: %s
`, secret, token, ca, user, pass)
	cfg, err := config.Parse("portsync.yaml", []byte(text), adapters.Registry)
	if err != nil {
		t.Fatal(err)
	}
	chs := cfg.Alerts.Channels
	if len(chs) != 4 {
		t.Fatalf("decoded channels %+v", chs)
	}
	ops, err := adapters.DecodeSinkConfig[webhook.Config](chs[0])
	if err != nil {
		t.Fatal(err)
	}
	events, err := adapters.DecodeSinkConfig[webhook.Config](chs[1])
	if err != nil {
		t.Fatal(err)
	}
	mail, err := adapters.DecodeSinkConfig[email.Config](chs[3])
	if err != nil {
		t.Fatal(err)
	}
	if ops.Timeout != 5*time.Second || events.Headers["X-Tenant"] != "cnsha" || len(mail.To) != 2 {
		t.Errorf("decoded channels %+v, %+v, %+v", ops, events, mail)
	}
	env := &adapters.Env{Config: cfg}
	for _, ch := range chs {
		if _, err := adapters.NewChannel(env, ch); err != nil {
			t.Errorf("NewChannel(%s): %v", ch.Name, err)
		}
	}
}

func TestChannelErrorsInConfigFile(t *testing.T) {
	text := baseConfig + `    - type: webhook
      url: ftp://hooks.example/
      template: discord
    - type: alertmanager
      template: slack
    - type: email
      smtp: mail.example
      to: [not-an-address]
`
	_, err := config.Parse("portsync.yaml", []byte(text), adapters.Registry)
	var errs config.Errors
	if !errors.As(err, &errs) {
		t.Fatalf("Parse = %v, want config.Errors", err)
	}
	got := err.Error()
	for _, want := range []string{
		"portsync.yaml:13: alerts.channels[0].url: want an http:// or https:// URL",
		"portsync.yaml:14: alerts.channels[0].template: \"discord\" is not one of [slack teams dingtalk]",
		"alerts.channels[1].url: required",
		"portsync.yaml:16: alerts.channels[1].template: not used by alertmanager channels",
		"portsync.yaml:18: alerts.channels[2].smtp: want host:port",
		"alerts.channels[2].from: required",
		"alerts.channels[2].to[0]: bad address",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("errors lack %q:\n%s", want, got)
		}
	}
}

// A channel built from a config file delivers.
func TestChannelFromConfigDelivers(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	text := baseConfig + "    - {type: webhook, url: \"" + srv.URL + "\", template: teams}\n"
	cfg, err := config.Parse("portsync.yaml", []byte(text), adapters.Registry)
	if err != nil {
		t.Fatal(err)
	}
	n, err := adapters.NewChannel(&adapters.Env{Config: cfg}, cfg.Alerts.Channels[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Notify(context.Background(), []state.Alert{stale("MSCU1234566")}); err != nil {
		t.Fatal(err)
	}
	if r := rec.requests(); len(r) != 1 || r[0].header.Get("Content-Type") != "application/json" {
		t.Errorf("requests %+v", r)
	}
}
