package sync

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	stdsync "sync"
	"testing"
	"time"

	"github.com/portsync/portsync/adapters"
	_ "github.com/portsync/portsync/adapters/jsonfmt" // the decoder of the sources
	_ "github.com/portsync/portsync/adapters/mqtt"    // the sink type of the configuration
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
	"github.com/portsync/portsync/sync/internal/testseam"
)

// Container numbers with valid check digits.
const (
	c1 = "MSCU1234566"
	c2 = "TGHU1234567"
	c3 = "CSQU3054383"
)

// Inside one message of many records (an EDI file, a poll page), only the
// record the store refuses is dead-lettered; the others apply.
func TestPoisonRecordInsideMessage(t *testing.T) {
	t.Cleanup(testseam.PoisonIDs())
	e, stop := startEngine(t)
	defer stop()
	src := &SourceInfo{Name: "multi", Kind: config.KindAgency, Agency: "customs", Decoder: records{
		{Agency: &state.AgencyEvent{ID: "A", Agency: "customs", Status: state.Released, Containers: []string{c1}, At: time.Now().Add(-time.Hour)}},
		{Agency: &state.AgencyEvent{ID: "POISON-B", Agency: "customs", Status: state.Released, Containers: []string{c2}, At: time.Now().Add(-time.Hour)}, Position: "record 2"},
		{Agency: &state.AgencyEvent{ID: "C", Agency: "customs", Status: state.Released, Containers: []string{c3}, At: time.Now().Add(-time.Hour)}},
	}}
	o := e.Submit(context.Background(), src, adapters.Message{Payload: []byte("three records")})
	if o.Err != nil {
		t.Fatal(o.Err)
	}
	want := []string{ResultApplied, ResultRejected, ResultApplied}
	if fmt.Sprint(o.Results) != fmt.Sprint(want) {
		t.Fatalf("results %v, want %v", o.Results, want)
	}
	if o.Reject == nil || o.Reject.Code != state.CodeUnstorable || !strings.Contains(o.Reject.Reason, "record 2") {
		t.Fatalf("reject = %+v, want unstorable naming record 2", o.Reject)
	}
	err := e.store.View(func(tx *state.Tx) error {
		for id, want := range map[string]bool{c1: true, c2: false, c3: true} {
			c, ok, err := tx.Container(id)
			if err != nil {
				return err
			}
			if got := ok && agencyStatus(&c, "customs") == state.Released; got != want {
				t.Errorf("%s released = %v, want %v", id, got, want)
			}
		}
		dls, err := tx.DeadLetters()
		if len(dls) != 1 || dls[0].Code != state.CodeUnstorable {
			t.Errorf("dead letters %+v, want one unstorable", dls)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Healthy(); err != nil {
		t.Fatalf("engine unhealthy after a poison record: %v", err)
	}
}

// A store failure that is not the record's (here: the store is closed)
// must not dead-letter good records: the group waits and nothing is
// acknowledged.
func TestStoreFailureIsNotBlamedOnRecords(t *testing.T) {
	e, stop := startEngine(t)
	src := &SourceInfo{Name: "one", Kind: config.KindAgency, Agency: "customs", Decoder: records{
		{Agency: &state.AgencyEvent{ID: "A", Agency: "customs", Status: state.Released, Containers: []string{c1}, At: time.Now().Add(-time.Hour)}},
	}}
	b := &batch{touch: map[string]bool{}, msgs: []inbound{{src: src, msg: adapters.Message{}, records: src.Decoder.Decode(nil)}}}
	stop()
	if err := e.store.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := e.commit(b)
	if err == nil {
		t.Fatal("commit on a closed store succeeded")
	}
	if e.isolate(b, err) {
		t.Fatalf("isolate blamed the records for a store failure: %+v", b.msgs[0].records)
	}
}

type records []adapters.Record

func (r records) Decode([]byte) []adapters.Record { return append([]adapters.Record(nil), r...) }

// startEngine runs an engine alone over a fresh store, with listeners.
func startEngine(t testing.TB, listeners ...listener) (*Engine, func()) {
	t.Helper()
	store, err := state.Open(filepath.Join(t.TempDir(), state.FileName), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() }) // after the engine's stop: cleanups run last first
	return runEngine(t, store, listeners...)
}

// runEngine runs an engine over store, with listeners, until the returned
// function or the test's end stops it.
func runEngine(t testing.TB, store *state.Store, listeners ...listener) (*Engine, func()) {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(fmt.Sprintf(engineConfig, t.TempDir())), adapters.Registry)
	if err != nil {
		t.Fatal(err)
	}
	e := newEngine(store, cfg, NewMetrics(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, l := range listeners {
		e.addListener(l)
		e.containerListeners.Add(1) // the tests' listeners may read changes.Containers
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	var once stdsync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return e, stop
}

const engineConfig = `
terminal: T1
state_dir: %s
agencies:
  customs: {tos_hold: CUSTOMS}
release_policy: {required: [customs]}
sla: {apply_within: 2m}
tos:
  sink: {type: mqtt, broker: main, topic: tos/commands}
brokers:
  main: {url: "tcp://127.0.0.1:1", client_id: t}
`

// One event with a reason of a megabyte naming a thousand containers once
// wrote a gigabyte of journal (the reason copied into every container's
// entry). Cut to its bound and stored once, it writes a few hundred
// kilobytes; the figure is logged beside the reason's size.
func TestLongReasonOverManyContainersStaysSmall(t *testing.T) {
	e, stop := startEngine(t)
	defer stop()
	var containers []string
	for i := range 1000 {
		prefix := fmt.Sprintf("BIGU%06d", i)
		containers = append(containers, prefix+fmt.Sprint(state.CheckDigit(prefix)))
	}
	reason := strings.Repeat("x", 1<<20)
	src := &SourceInfo{Name: "big", Kind: config.KindAgency, Agency: "customs", Decoder: records{
		{Agency: &state.AgencyEvent{ID: "BIG", Agency: "customs", Status: state.Held, Containers: containers,
			Reason: reason, At: time.Now().Add(-time.Hour)}},
	}}
	journalBytes := func() int {
		n := 0
		e.store.View(func(tx *state.Tx) error {
			for _, c := range containers {
				h, err := tx.History(c)
				if err != nil {
					return err
				}
				for _, entry := range h {
					n += len(entry.Detail)
				}
			}
			return nil
		})
		return n
	}
	o := e.Submit(context.Background(), src, adapters.Message{Payload: []byte("big")})
	if o.Err != nil || o.Reject != nil {
		t.Fatalf("outcome %+v", o)
	}
	var stored int
	e.store.View(func(tx *state.Tx) error {
		stored = tx.JournalLen()
		return nil
	})
	fi, err := os.Stat(e.store.Path())
	if err != nil {
		t.Fatal(err)
	}
	size := fi.Size()
	t.Logf("reason %d bytes x %d containers: store file %d bytes, %d journal entries, %d bytes of detail as read back",
		len(reason), len(containers), size, stored, journalBytes())
	if size > 16<<20 {
		t.Errorf("store file is %d bytes after one event", size)
	}
}
