package daemon

import (
	"errors"
	"strings"
	"testing"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/config"
)

// refusingType is an alert channel type whose checks pass and whose
// constructor fails, as a constructor that learns a refusal its checks do
// not know would.
const refusingType = "refusing-test"

func init() {
	adapters.RegisterChannel(refusingType, adapters.SinkType[adapters.Notifier]{
		New: func(*adapters.Env, config.Sink) (adapters.Notifier, error) {
			return nil, errors.New("refused by the constructor")
		},
	})
}

// TestCheckAdaptersReportsConstructorErrorsAtTheirLine: CheckAdapters runs
// the daemon's constructors, so what only a constructor refuses still
// fails `portsync check`, at the line of the element that has it.
func TestCheckAdaptersReportsConstructorErrorsAtTheirLine(t *testing.T) {
	text := strings.Replace(testYAML("/nonexistent/state", "tcp://127.0.0.1:1"),
		"    - {type: mqtt, broker: main, topic: portsync/alerts}",
		"    - {type: mqtt, broker: main, topic: portsync/alerts}\n    - {type: "+refusingType+", name: refuser}", 1)
	cfg, err := config.Parse("check.yaml", []byte(text), adapters.Registry)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckAdapters(cfg); err == nil {
		t.Fatal("CheckAdapters passed a channel its constructor refuses")
	} else {
		var errs config.Errors
		if !errors.As(err, &errs) || len(errs) != 1 {
			t.Fatalf("error %v is not one config.Error", err)
		}
		line := strings.Count(text[:strings.Index(text, refusingType)], "\n") + 1
		if e := errs[0]; e.File != "check.yaml" || e.Line != line || e.Key != "alerts.channels[1]" || !strings.Contains(e.Msg, "refused by the constructor") {
			t.Errorf("error %+v, want check.yaml line %d, key alerts.channels[1], the constructor's message", e, line)
		}
	}
	cfg.Alerts.Channels = cfg.Alerts.Channels[:1]
	if err := CheckAdapters(cfg); err != nil {
		t.Errorf("CheckAdapters refuses a valid configuration: %v", err)
	}
}
