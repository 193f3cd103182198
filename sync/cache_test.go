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

// TestSweepDoesNotFillTheCache: a sweep reads every container once. The
// ones it reads without changing go back to the writer's cache only if
// they came from it, so that a sweep neither pushes out the containers the
// events are working on nor churns the cache for nothing.
func TestSweepDoesNotFillTheCache(t *testing.T) {
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
	run := func(b *batch) *committed {
		t.Helper()
		out, err := e.commit(b)
		if err != nil {
			t.Fatal(err)
		}
		e.finish(b, out)
		return out
	}
	sweep := func() *committed {
		t.Helper()
		return run(&batch{reqs: []request{&sweepGroup{size: 100}}, touch: map[string]bool{}})
	}

	var ids []string
	var msgs []inbound
	for i := range 10 {
		prefix := fmt.Sprintf("TSTU%06d", i)
		id := fmt.Sprintf("%s%d", prefix, state.CheckDigit(prefix))
		ids = append(ids, id)
		in := inbound{src: tos, msg: adapters.Message{Payload: []byte(`{"id":"N4-` + id + `","container":"` + id + `","event":"arrived","holds":["CUSTOMS"],"at":"2026-11-28T10:00:00Z"}`)}}
		in.records = decode(tos, in.msg)
		msgs = append(msgs, in)
	}
	run(&batch{msgs: msgs, touch: map[string]bool{}})
	sweep() // settles whatever the arrivals left to decide
	for _, id := range ids {
		if _, ok := e.cache[id]; !ok {
			t.Fatalf("%s: not cached after its arrival", id)
		}
	}
	for _, id := range ids[:5] {
		delete(e.cache, id) // evicted, as by other traffic
	}

	if out := sweep(); len(out.changes.Containers) != 0 {
		t.Fatalf("the second sweep changed %d containers, want none (the test needs a sweep that changes nothing)", len(out.changes.Containers))
	}
	for i, id := range ids {
		_, ok := e.cache[id]
		if want := i >= 5; ok != want {
			t.Errorf("%s: cached %v after a sweep that did not change it, want %v (it was cached before: %v)", id, ok, want, want)
		}
	}
}
