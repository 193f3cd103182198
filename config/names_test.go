package config_test

import (
	"strings"
	"testing"

	"github.com/portsync/portsync/config"
)

// withChannels replaces the base configuration's alert channels by lines
// (each a list item, indented as they are).
func withChannels(t *testing.T, text string, lines ...string) string {
	t.Helper()
	return replaceOnce(t, text, "    - {type: mqtt, broker: main, topic: portsync/CNSHA-T1/alerts}\n", strings.Join(lines, "\n")+"\n")
}

// TestChannelNamesComeFromContent: a channel without name: is named by
// its type and target, never by its position, so inserting a channel
// renames none of the others; the name is usable as a metric label and
// carries no secret of the URL.
func TestChannelNamesComeFromContent(t *testing.T) {
	channels := []string{
		"    - {type: mqtt, broker: main, topic: portsync/CNSHA-T1/alerts}",
		"    - {type: webhook, url: 'https://hooks.example:8443/portsync/alerts?access_token=s3cret'}",
		"    - {type: webhook, url: 'https://oapi.dingtalk.com/robot/send?access_token=s3cret'}",
		"    - {type: alertmanager, url: 'http://127.0.0.1:9093'}",
		"    - {type: email, smtp: 'mail.example:587', from: portsync@terminal.example, to: ['Ops <ops@terminal.example>', desk@terminal.example]}",
		"    - {type: webhook, name: ops-hook.v2, url: 'https://hooks.example/other'}",
	}
	names := func(t *testing.T, lines ...string) []string {
		t.Helper()
		base, _ := baseText(t)
		c, err := config.Parse("names.yaml", []byte(withChannels(t, base, lines...)), fakeRegistry{})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, ch := range c.Alerts.Channels {
			out = append(out, ch.Name)
		}
		return out
	}
	got := names(t, channels...)
	want := []string{
		"mqtt-main-portsync_CNSHA-T1_alerts",
		"webhook-hooks.example_8443-",
		"webhook-oapi.dingtalk.com-",
		"alertmanager-127.0.0.1_9093",
		"email-mail.example_587-ops_terminal.example",
		"ops-hook.v2",
	}
	for i, w := range want {
		if !strings.HasPrefix(got[i], w) {
			t.Errorf("channel %d named %q, want it to start with %q", i, got[i], w)
		}
		if strings.Contains(got[i], "s3cret") || strings.Contains(got[i], "access_token") {
			t.Errorf("channel %d named %q, which carries the URL's query", i, got[i])
		}
		if strings.Trim(got[i], "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") != "" {
			t.Errorf("channel %d named %q, not [A-Za-z0-9_.-]+", i, got[i])
		}
	}
	// A path may be a secret (Slack and Teams webhooks): it is hashed,
	// and two paths on one host stay apart.
	if got[1] == names(t, "    - {type: webhook, url: 'https://hooks.example:8443/portsync/other'}")[0] {
		t.Errorf("two webhook paths on one host share the name %q", got[1])
	}
	if strings.Contains(got[1], "portsync") {
		t.Errorf("webhook named %q shows its URL's path", got[1])
	}

	// The same channels in another order, with one inserted first, keep
	// their names.
	reordered := names(t, append([]string{"    - {type: webhook, url: 'https://new.example/hook'}"}, channels[3], channels[0], channels[5], channels[1], channels[4], channels[2])...)
	for i, j := range []int{3, 0, 5, 1, 4, 2} {
		if reordered[i+1] != got[j] {
			t.Errorf("channel %q renamed %q when the list changed", got[j], reordered[i+1])
		}
	}
	if again := names(t, channels...); strings.Join(again, " ") != strings.Join(got, " ") {
		t.Errorf("names not deterministic: %v, then %v", got, again)
	}
}

func TestChannelAndSinkNameErrors(t *testing.T) {
	cases := []struct {
		name string
		edit func(t *testing.T, text string) string
		want []wantErr
	}{
		{
			name: "two unnamed channels with one target",
			edit: func(t *testing.T, s string) string {
				return withChannels(t, s,
					"    - {type: webhook, url: 'https://oapi.dingtalk.com/robot/send?access_token=one'}",
					"    - {type: mqtt, broker: main, topic: portsync/alerts}",
					"    - {type: webhook, url: 'https://oapi.dingtalk.com/robot/send?access_token=two'}")
			},
			want: []wantErr{{"access_token=two", "alerts.channels[2]", []string{"alerts.channels[0]", "webhook-oapi.dingtalk.com-", "name:"}}},
		},
		{
			name: "two channels with one name",
			edit: func(t *testing.T, s string) string {
				return withChannels(t, s,
					"    - {type: mqtt, name: ops, broker: main, topic: portsync/alerts}",
					"    - type: webhook",
					"      name: ops",
					"      url: https://hooks.example/x")
			},
			want: []wantErr{{"      name: ops", "alerts.channels[1].name", []string{`"ops"`, "alerts.channels[0]"}}},
		},
		{
			name: "a name that is another channel's derived name",
			edit: func(t *testing.T, s string) string {
				return withChannels(t, s,
					"    - {type: mqtt, broker: main, topic: portsync/alerts}",
					"    - type: webhook",
					"      name: mqtt-main-portsync_alerts",
					"      url: https://hooks.example/x")
			},
			want: []wantErr{{"name: mqtt-main", "alerts.channels[1].name", []string{`"mqtt-main-portsync_alerts"`, "alerts.channels[0]"}}},
		},
		{
			name: "a channel name with a space",
			edit: func(t *testing.T, s string) string {
				return withChannels(t, s, "    - {type: mqtt, name: ops desk, broker: main, topic: portsync/alerts}")
			},
			want: []wantErr{{"name: ops desk", "alerts.channels[0].name", []string{`"ops desk"`, "A-Za-z0-9_.-"}}},
		},
		{
			name: "a sink name with a slash",
			edit: func(t *testing.T, s string) string {
				return replaceOnce(t, s, "    topic: tos/CNSHA-T1/commands\n", "    topic: tos/CNSHA-T1/commands\n    name: tos/main\n")
			},
			want: []wantErr{{"name: tos/main", "tos.sink.name", []string{`"tos/main"`, "A-Za-z0-9_.-"}}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			base, _ := baseText(t)
			text := tc.edit(t, base)
			_, err := config.Parse("bad.yaml", []byte(text), fakeRegistry{})
			checkErrors(t, text, configErrors(t, err), tc.want)
		})
	}
}

// TestSinkKeepsItsName: the TOS sink is one, so its default name, tos-TYPE,
// depends on no position; a name: replaces it.
func TestSinkKeepsItsName(t *testing.T) {
	base, _ := baseText(t)
	c, err := config.Parse("sink.yaml", []byte(base), fakeRegistry{})
	if err != nil {
		t.Fatal(err)
	}
	if c.TOS.Sink.Name != "tos-mqtt" {
		t.Errorf("tos.sink named %q, want tos-mqtt", c.TOS.Sink.Name)
	}
	text := replaceOnce(t, base, "    topic: tos/CNSHA-T1/commands\n", "    topic: tos/CNSHA-T1/commands\n    name: n4-commands\n")
	if c, err = config.Parse("sink.yaml", []byte(text), fakeRegistry{}); err != nil {
		t.Fatal(err)
	}
	if c.TOS.Sink.Name != "n4-commands" {
		t.Errorf("tos.sink named %q, want n4-commands", c.TOS.Sink.Name)
	}
}
