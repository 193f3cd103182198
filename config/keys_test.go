package config_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portsync/portsync/config"
)

// endpointKeys and channelKeys are shaped like the adapters' structs: one
// embeds the keys it shares with others inline.
type endpointKeys struct {
	URL     string        `yaml:"url"`
	Timeout time.Duration `yaml:"timeout"`
}

type channelKeys struct {
	endpointKeys `yaml:",inline"`
	Template     string   `yaml:"template"`
	To           []string `yaml:"to"`
}

func TestKeysDecodeInline(t *testing.T) {
	text, _ := baseText(t)
	text = strings.Replace(text, "    - {type: mqtt, broker: main, topic: portsync/CNSHA-T1/alerts}\n", `    - {type: mqtt, broker: main, topic: portsync/CNSHA-T1/alerts}
    - type: webhook
      url: https://hooks.example/x
      timeout: 5s
      template: slack
      to: [ops@x.example, desk@x.example]
`, 1)
	c, err := config.Parse("portsync.yaml", []byte(text), fakeRegistry{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := config.KeyNames(channelKeys{}), []string{"template", "timeout", "to", "url"}; !slices.Equal(got, want) {
		t.Errorf("KeyNames = %v, want %v (the inline struct's keys as its own)", got, want)
	}
	ch := c.Alerts.Channels[1]
	var k channelKeys
	if errs := ch.Keys.Decode(&k); len(errs) > 0 {
		t.Fatal(errs)
	}
	if k.URL != "https://hooks.example/x" || k.Timeout != 5*time.Second || k.Template != "slack" || len(k.To) != 2 {
		t.Errorf("decoded %+v", k)
	}
	// A key of the inline struct is decoded as strictly as the others.
	bad := config.NewKeys(struct {
		Timeout bool `yaml:"timeout"`
	}{true})
	if errs := bad.Decode(&k); len(errs) != 1 || errs[0].Key != "timeout" || !strings.Contains(errs[0].Msg, "duration") {
		t.Errorf("Decode errors %v, want timeout's", errs)
	}

	if got := ch.Keys.Scalar("url"); got != "https://hooks.example/x" {
		t.Errorf("Scalar(url) = %q", got)
	}
	if got := ch.Keys.First("to"); got != "ops@x.example" {
		t.Errorf("First(to) = %q", got)
	}
	if got := ch.Keys.Scalar("to") + ch.Keys.First("url") + ch.Keys.Scalar("missing"); got != "" {
		t.Errorf("Scalar of a list, First of a string and a missing key = %q, want \"\"", got)
	}
}
