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

// TestRecentAfterLargeGroup checks that a group journaling many more
// entries than the activity list holds still leaves its last recentSize
// entries there, newest first (the writer keeps only the tail of a group's
// entries).
func TestRecentAfterLargeGroup(t *testing.T) {
	yaml := testcfg.Daemon{StateDir: t.TempDir(), BrokerURL: "tcp://127.0.0.1:1", ClientID: "portsync-test"}.YAML()
	cfg, err := config.Parse("test.yaml", []byte(yaml), adapters.Registry)
	if err != nil {
		t.Fatal(err)
	}
	st, err := state.Open(filepath.Join(t.TempDir(), state.FileName), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e := newEngine(st, cfg, NewMetrics(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	dec, _ := adapters.NewDecoder(config.Source{Kind: config.KindTOS, Format: "json"})
	tos := &SourceInfo{Name: "tos-events", Kind: config.KindTOS, Decoder: dec}
	const n = 5*recentSize + 37
	var msgs []inbound
	var ids []string
	for i := range n {
		prefix := fmt.Sprintf("TSTU%06d", i)
		id := fmt.Sprintf("%s%d", prefix, state.CheckDigit(prefix))
		ids = append(ids, id)
		in := inbound{src: tos, msg: adapters.Message{Payload: []byte(`{"id":"N4-` + id + `","container":"` + id + `","event":"arrived","holds":["CUSTOMS"],"at":"2026-11-28T10:00:00Z"}`)}}
		in.records = decode(tos, in.msg)
		msgs = append(msgs, in)
	}
	bt := &batch{msgs: msgs, touch: map[string]bool{}}
	out, err := e.commit(bt)
	if err != nil {
		t.Fatal(err)
	}
	e.finish(bt, out)
	recent := e.Recent()
	if len(recent) != recentSize {
		t.Fatalf("Recent holds %d entries, want %d", len(recent), recentSize)
	}
	for i, r := range recent {
		if want := ids[n-1-i]; r.Container != want || r.Kind != state.JournalTOSEvent {
			t.Fatalf("Recent()[%d] = %s %s, want the arrival of %s", i, r.Kind, r.Container, want)
		}
		if i > 0 && r.Seq != recent[i-1].Seq-1 {
			t.Fatalf("Recent()[%d].Seq = %d after %d, want consecutive", i, r.Seq, recent[i-1].Seq)
		}
	}
}
