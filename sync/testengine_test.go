package sync

import (
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/internal/testcfg"
	"github.com/portsync/portsync/state"
)

// newTestEngine returns an engine that is not running, over a fresh store,
// configured as testcfg's daemon with edit (nil for none) applied to the
// YAML. The store closes when the test ends.
func newTestEngine(tb testing.TB, edit func(string) string) *Engine {
	tb.Helper()
	yaml := testcfg.Daemon{StateDir: tb.TempDir(), BrokerURL: "tcp://127.0.0.1:1", ClientID: "portsync-test"}.YAML()
	if edit != nil {
		yaml = edit(yaml)
	}
	cfg, err := config.Parse("test.yaml", []byte(yaml), adapters.Registry)
	if err != nil {
		tb.Fatal(err)
	}
	st, err := state.Open(filepath.Join(tb.TempDir(), state.FileName), time.Second)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return newEngine(st, cfg, NewMetrics(), slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// tosArrivals returns n TOS arrivals under a CUSTOMS hold, one message
// each and decoded, of containers TSTU0000000 onwards, with their ids.
func tosArrivals(tb testing.TB, n int) ([]inbound, []string) {
	tb.Helper()
	dec, err := adapters.NewDecoder(config.Source{Kind: config.KindTOS, Format: "json"})
	if err != nil {
		tb.Fatal(err)
	}
	tos := &SourceInfo{Name: "tos-events", Kind: config.KindTOS, Decoder: dec}
	msgs, ids := make([]inbound, n), make([]string, n)
	for i := range n {
		prefix := fmt.Sprintf("TSTU%06d", i)
		id := fmt.Sprintf("%s%d", prefix, state.CheckDigit(prefix))
		in := inbound{src: tos, msg: adapters.Message{Payload: []byte(`{"id":"N4-` + id + `","container":"` + id + `","event":"arrived","holds":["CUSTOMS"],"at":"2026-11-28T10:00:00Z"}`)}}
		in.records = decode(tos, in.msg)
		msgs[i], ids[i] = in, id
	}
	return msgs, ids
}

// commitBatch commits b in one transaction and hands the result on, as
// the writer's loop does.
func commitBatch(tb testing.TB, e *Engine, b *batch) *committed {
	tb.Helper()
	out, err := e.commit(b)
	if err != nil {
		tb.Fatal(err)
	}
	e.finish(b, out)
	return out
}
