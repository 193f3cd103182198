package sync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	stdsync "sync"
	"testing"
	"time"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

// ackEngine is an engine over a fresh store with an acknowledgement
// publisher on pub, not yet running.
func ackEngine(t *testing.T, store *state.Store, pub adapters.Publisher) (*Engine, *ackPublisher, func() func()) {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(fmt.Sprintf(engineConfig, t.TempDir())), adapters.Registry)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	m := NewMetrics()
	e := newEngine(store, cfg, m, log)
	p := newAckPublisher(e, func(name string) adapters.Publisher {
		if name == "main" && pub != nil {
			return pub
		}
		return nil
	}, m, log)
	e.addListener(p)
	if err := p.Load(store); err != nil {
		t.Fatal(err)
	}
	run := func() func() {
		ctx, cancel := context.WithCancel(context.Background())
		var wg stdsync.WaitGroup
		wg.Go(func() { e.Run(ctx) })
		wg.Go(func() { p.Run(ctx) })
		return func() { cancel(); wg.Wait() }
	}
	return e, p, run
}

func openStore(t *testing.T, path string) *state.Store {
	t.Helper()
	s, err := state.Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func storedAcks(t *testing.T, s *state.Store) []state.Ack {
	t.Helper()
	var acks []state.Ack
	if err := s.View(func(tx *state.Tx) (err error) { acks, err = tx.Acks(); return err }); err != nil {
		t.Fatal(err)
	}
	return acks
}

func mqttAckSource(t *testing.T) *SourceInfo {
	t.Helper()
	src, err := NewSourceInfo(config.Source{Name: "customs-mqtt", Type: "mqtt", Broker: "main", Kind: config.KindAgency, Agency: "customs", Format: "json", AckTopic: "customs/acks",
		Keys: config.NewKeys(struct {
			Topic string `yaml:"topic"`
		}{"in"})})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func agencyJSON(id string, st state.Status, at time.Time, containers ...string) []byte {
	data, _ := json.Marshal(map[string]any{"id": id, "agency": "customs", "status": st, "containers": containers, "at": at})
	return data
}

// TestAckPerMessage: every message of a source with ack_topic gets one
// answer, stored in its commit: applied, duplicate, stale, rejected with
// the dead letter's code and reason and the id the payload names; a
// message of several records gets one answer, rejected if any record is,
// else applied if any is. A dead letter retried by an operator gets none.
func TestAckPerMessage(t *testing.T) {
	store := openStore(t, filepath.Join(t.TempDir(), state.FileName))
	defer store.Close()
	e, _, run := ackEngine(t, store, nil) // no broker: the answers stay in the store
	stop := run()
	defer stop()
	src := mqttAckSource(t)
	at := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	submit := func(payload []byte) Outcome {
		t.Helper()
		o := e.Submit(context.Background(), src, adapters.Message{Payload: payload})
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		return o
	}
	submit(agencyJSON("REL-1", state.Released, at, c1))
	submit(agencyJSON("REL-1", state.Released, at, c1))
	submit(agencyJSON("REL-0", state.Released, at.Add(-time.Minute), c1))
	o := submit(agencyJSON("REL-2", state.Released, at, "MSCU1234567"))
	if o.Ack.Result != ResultRejected || o.Ack.Code != state.CodeBadCheckDigit || o.Ack.ID != "REL-2" {
		t.Fatalf("outcome's answer = %+v, want rejected bad_check_digit for REL-2", o.Ack)
	}
	submit([]byte(`{"id": "REL-3", "agency": "customs", "status": "released", "containers": 7}`))

	multi := &SourceInfo{Name: "multi", Kind: config.KindAgency, Agency: "customs", Ack: ackTo{Broker: "main", Topic: "acks"}}
	ev := func(id string, c string) adapters.Record {
		return adapters.Record{Agency: &state.AgencyEvent{ID: id, Agency: "customs", Status: state.Held, Containers: []string{c}, At: at}}
	}
	multi.Decoder = records{ev("M-1", c2), ev("M-2", c3)}
	e.Submit(context.Background(), multi, adapters.Message{Payload: []byte("two")})
	e.Submit(context.Background(), multi, adapters.Message{Payload: []byte("two")})
	multi.Decoder = records{ev("M-3", c2), {Err: state.Reject(state.CodeMalformed, "broken"), Position: "record 2"}}
	e.Submit(context.Background(), multi, adapters.Message{Payload: []byte("bad")})

	var dl []state.DeadLetter
	store.View(func(tx *state.Tx) (err error) { dl, err = tx.DeadLetters(); return err })
	if len(dl) == 0 {
		t.Fatal("no dead letters")
	}
	if o := e.Retry(context.Background(), src, dl[0].ID, adapters.Message{Payload: agencyJSON("REL-2", state.Released, at.Add(time.Minute), c2)}); o.Err != nil || o.Ack.Result != ResultApplied {
		t.Fatalf("retry: %+v", o)
	}

	type answer struct{ id, result, code string }
	want := []answer{
		{"REL-1", ResultApplied, ""}, {"REL-1", ResultDuplicate, ""}, {"REL-0", ResultStale, ""},
		{"REL-2", ResultRejected, state.CodeBadCheckDigit}, {"REL-3", ResultRejected, state.CodeInvalidField},
		{"M-1", ResultApplied, ""}, {"M-1", ResultDuplicate, ""}, {"M-3", ResultRejected, state.CodeMalformed},
	}
	acks := storedAcks(t, store)
	var got []answer
	for _, a := range acks {
		got = append(got, answer{a.Body.ID, a.Body.Result, a.Body.Code})
		if a.Body.Result == ResultRejected && a.Body.Reason == "" {
			t.Errorf("%s: rejected without a reason", a.Body.ID)
		}
		if a.Body.At.IsZero() || a.Broker != "main" || a.Topic == "" {
			t.Errorf("%+v: no time or no destination", a)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("stored answers:\n got %v\nwant %v", got, want)
	}
	if acks[0].Body.Source != "customs-mqtt" || acks[0].Topic != "customs/acks" {
		t.Fatalf("first answer %+v", acks[0])
	}
}

// flakyPublisher fails while down is set and records what it published.
type flakyPublisher struct {
	mu   stdsync.Mutex
	down bool
	got  []adapters.Outgoing
	qos  []byte
}

func (f *flakyPublisher) Publish(_ context.Context, qos byte, msgs ...adapters.Outgoing) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return errors.New("broker down")
	}
	f.got = append(f.got, msgs...)
	f.qos = append(f.qos, qos)
	return nil
}

func (f *flakyPublisher) setDown(down bool) {
	f.mu.Lock()
	f.down = down
	f.mu.Unlock()
}

func (f *flakyPublisher) ids() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for _, m := range f.got {
		var b state.AckBody
		json.Unmarshal(m.Payload, &b)
		ids = append(ids, b.ID)
	}
	return ids
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAckPublisherSurvivesOutageAndRestart: answers that cannot be
// published wait in the store, through a restart, and go out in order at
// QoS 1 once the broker takes them; delivered ones leave the store.
func TestAckPublisherSurvivesOutageAndRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), state.FileName)
	store := openStore(t, path)
	pub := &flakyPublisher{down: true}
	e, p, run := ackEngine(t, store, pub)
	stop := run()
	src := mqttAckSource(t)
	at := time.Now().Add(-time.Hour)
	for i := range 3 {
		e.Submit(context.Background(), src, adapters.Message{Payload: agencyJSON(fmt.Sprintf("A-%d", i), state.Released, at.Add(time.Duration(i)*time.Minute), c1)})
	}
	time.Sleep(100 * time.Millisecond)
	if p.Pending() != 3 || len(pub.ids()) != 0 {
		t.Fatalf("broker down: pending %d, published %v", p.Pending(), pub.ids())
	}
	stop()
	store.Close()

	store = openStore(t, path)
	defer store.Close()
	pub = &flakyPublisher{down: true}
	e, p, run = ackEngine(t, store, pub)
	if p.Pending() != 3 {
		t.Fatalf("after the restart %d answers pending, want 3", p.Pending())
	}
	stop = run()
	defer stop()
	e.Submit(context.Background(), src, adapters.Message{Payload: agencyJSON("A-3", state.Released, at.Add(5*time.Minute), c1)})
	pub.setDown(false)
	waitFor(t, "four answers published", func() bool { return len(pub.ids()) == 4 })
	if got, want := pub.ids(), []string{"A-0", "A-1", "A-2", "A-3"}; !slices.Equal(got, want) {
		t.Fatalf("published %v, want %v", got, want)
	}
	for _, q := range pub.qos {
		if q != 1 {
			t.Fatalf("published at QoS %d, want 1", q)
		}
	}
	if pub.got[0].Topic != "customs/acks" {
		t.Fatalf("topic %q", pub.got[0].Topic)
	}
	waitFor(t, "the store's outbox emptied", func() bool { return len(storedAcks(t, store)) == 0 })
}

// TestAckFiles: a file_drop source's answers are files NAME.ack.json in
// its ack_dir, written whole, the directory made if missing.
func TestAckFiles(t *testing.T) {
	store := openStore(t, filepath.Join(t.TempDir(), state.FileName))
	defer store.Close()
	e, _, run := ackEngine(t, store, nil)
	stop := run()
	defer stop()
	dir := filepath.Join(t.TempDir(), "acks")
	src, err := NewSourceInfo(config.Source{Name: "drop", Type: "file_drop", Kind: config.KindAgency, Agency: "customs", Format: "json", AckDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	e.Submit(context.Background(), src, adapters.Message{Name: "rel-1.json", Payload: agencyJSON("F-1", state.Released, time.Now().Add(-time.Hour), c1)})
	e.Submit(context.Background(), src, adapters.Message{Name: "bad.json", Payload: []byte("{")})
	path := filepath.Join(dir, "rel-1.json"+ackFileSuffix)
	waitFor(t, "the answer files", func() bool {
		_, err1 := os.Stat(path)
		_, err2 := os.Stat(filepath.Join(dir, "bad.json"+ackFileSuffix))
		return err1 == nil && err2 == nil
	})
	var b state.AckBody
	data, _ := os.ReadFile(path)
	if err := json.Unmarshal(data, &b); err != nil || b.ID != "F-1" || b.Result != ResultApplied || b.Source != "drop" {
		t.Fatalf("%s: %s (%v)", path, data, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Fatalf("ack_dir holds %d entries, want the 2 answers and no temporary file", len(entries))
	}
	waitFor(t, "the store's outbox emptied", func() bool { return len(storedAcks(t, store)) == 0 })
}
