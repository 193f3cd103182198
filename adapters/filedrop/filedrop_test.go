package filedrop

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	stdsync "sync"
	"testing"
	"time"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

// fakeEngine stands in for the engine: it settles every message, with a
// rejection for payloads that contain "BAD", at once or when released.
type fakeEngine struct {
	mu   stdsync.Mutex
	msgs []adapters.Message
	hold bool
	held []func()
	// decoder, when set, decodes each message as the engine does, in
	// deliver (a Body is read only there); records are kept by message.
	decoder adapters.Decoder
	records [][]adapters.Record
}

func (f *fakeEngine) deliver(m adapters.Message) {
	var recs []adapters.Record
	if f.decoder != nil && m.Reject == nil {
		recs = adapters.DecodeMessage(f.decoder, m)
	}
	settle := func() {
		var rej *state.Rejection
		for _, r := range recs {
			if r.Err != nil && rej == nil {
				rej = r.Err.(*state.Rejection)
			}
		}
		switch {
		case rej != nil:
		case m.Reject != nil:
			rej = m.Reject
		case m.TooLarge:
			rej = &state.Rejection{Code: state.CodeTooLarge, Reason: "payload is larger than 1048576 bytes"}
		case strings.Contains(string(m.Payload), "BAD"):
			rej = &state.Rejection{Code: state.CodeInvalidField, Reason: `field "containers": "BAD" is not an ISO 6346 container number`}
		}
		m.Done(adapters.Outcome{Reject: rej})
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.msgs = append(f.msgs, m)
	f.records = append(f.records, recs)
	if f.hold {
		f.held = append(f.held, settle)
		return
	}
	go settle()
}

func (f *fakeEngine) release() {
	f.mu.Lock()
	held := f.held
	f.held, f.hold = nil, false
	f.mu.Unlock()
	for _, s := range held {
		s()
	}
}

// payloads returns the payloads of the files delivered, not of the
// entries reported as unreadable.
func (f *fakeEngine) payloads() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, m := range f.msgs {
		if m.Reject == nil {
			out = append(out, string(m.Payload))
		}
	}
	return out
}

// rejects returns the messages reported as unreadable.
func (f *fakeEngine) rejects() []adapters.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []adapters.Message
	for _, m := range f.msgs {
		if m.Reject != nil {
			out = append(out, m)
		}
	}
	return out
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// dropCfg is a file_drop source's configuration: the common keys and its
// own.
type dropCfg struct {
	config.Source
	Config
}

func cfgFor(dir string) dropCfg {
	return dropCfg{
		Source: config.Source{Name: "cusres-drop", Type: Type, Kind: config.KindAgency, Agency: "customs", Format: "json"},
		Config: Config{Dir: dir},
	}
}

// check is Check of the configuration.
func (d dropCfg) check() []config.KeyError { return Check(d.Source, &d.Config) }

// source is the configuration as config.Parse gives it, own keys in Keys.
func (d dropCfg) source() config.Source {
	s := d.Source
	s.Keys = config.NewKeys(d.Config)
	return s
}

// start builds and starts a source over dir with a short settle time.
func start(t *testing.T, cfg dropCfg, fe *fakeEngine, tweak ...func(*source)) *source {
	t.Helper()
	env := &adapters.Env{Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	src, err := adapters.NewSource(env, cfg.source())
	if err != nil {
		t.Fatal(err)
	}
	s := src.(*source)
	s.settle = 100 * time.Millisecond
	for _, f := range tweak {
		f(s)
	}
	if err := s.Start(context.Background(), fe.deliver); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCompleteFileIsDeliveredOnceAndMovedToDone(t *testing.T) {
	dir := t.TempDir()
	fe := &fakeEngine{}
	start(t, cfgFor(dir), fe)
	write(t, filepath.Join(dir, "rel-1.json"), `{"id":"REL-1"}`)
	eventually(t, "done/rel-1.json", func() bool { return exists(filepath.Join(dir, DoneDir, "rel-1.json")) })
	if exists(filepath.Join(dir, "rel-1.json")) {
		t.Error("the file is still in the drop directory")
	}
	time.Sleep(300 * time.Millisecond)
	if got := fe.payloads(); !slices.Equal(got, []string{`{"id":"REL-1"}`}) {
		t.Errorf("delivered %q, want the file once", got)
	}
	if exists(filepath.Join(dir, RejectedDir)) {
		t.Error("rejected/ was created for a good file")
	}
}

func TestFilePresentAtStartIsFound(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "early.json"), `{"id":"EARLY"}`)
	fe := &fakeEngine{}
	start(t, cfgFor(dir), fe)
	eventually(t, "done/early.json", func() bool { return exists(filepath.Join(dir, DoneDir, "early.json")) })
}

func TestRescanFindsFilesWithoutAWatch(t *testing.T) {
	dir := t.TempDir()
	cfg := cfgFor(dir)
	cfg.Rescan = 100 * time.Millisecond
	fe := &fakeEngine{}
	start(t, cfg, fe, func(s *source) { s.noWatch = true })
	time.Sleep(150 * time.Millisecond)
	write(t, filepath.Join(dir, "late.json"), `{"id":"LATE"}`)
	eventually(t, "done/late.json", func() bool { return exists(filepath.Join(dir, DoneDir, "late.json")) })
}

func TestPartialFileIsIgnoredUntilRenamed(t *testing.T) {
	dir := t.TempDir()
	fe := &fakeEngine{}
	start(t, cfgFor(dir), fe)
	part := filepath.Join(dir, "rel-2.json.part")
	// The subdirectory is reported (see hostile_test.go), not read.
	write(t, part, `{"id":"REL-2"}`)
	write(t, filepath.Join(dir, ".rel-3.json.tmp"), `{"id":"HIDDEN"}`)
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "sub", "nested.json"), `{"id":"NESTED"}`)
	time.Sleep(600 * time.Millisecond)
	if got := fe.payloads(); len(got) != 0 {
		t.Fatalf("delivered %q: partial, hidden and nested files must be left alone", got)
	}
	if err := os.Rename(part, filepath.Join(dir, "rel-2.json")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "done/rel-2.json", func() bool { return exists(filepath.Join(dir, DoneDir, "rel-2.json")) })
	if got := fe.payloads(); !slices.Equal(got, []string{`{"id":"REL-2"}`}) {
		t.Errorf("delivered %q", got)
	}
	if !exists(filepath.Join(dir, ".rel-3.json.tmp")) || !exists(filepath.Join(dir, "sub", "nested.json")) {
		t.Error("a hidden or nested file was moved")
	}
}

func TestCustomPartialSuffix(t *testing.T) {
	dir := t.TempDir()
	cfg := cfgFor(dir)
	cfg.PartialSuffix = ".uploading"
	fe := &fakeEngine{}
	start(t, cfg, fe)
	write(t, filepath.Join(dir, "a.json.uploading"), `{"id":"A"}`)
	// The default suffix is an ordinary name once another is configured:
	// this file is delivered, which shows the source is running.
	write(t, filepath.Join(dir, "b.json.part"), `{"id":"B"}`)
	eventually(t, "b.json.part delivered", func() bool { return len(fe.payloads()) >= 1 })
	time.Sleep(300 * time.Millisecond)
	if got := fe.payloads(); len(got) != 1 || got[0] != `{"id":"B"}` {
		t.Fatalf("delivered %q, want only b.json.part while a.json.uploading is partial", got)
	}
	// The upload completes: renamed without its suffix, it is delivered.
	if err := os.Rename(filepath.Join(dir, "a.json.uploading"), filepath.Join(dir, "a.json")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "done/a.json", func() bool { return exists(filepath.Join(dir, DoneDir, "a.json")) })
	if got := fe.payloads(); len(got) != 2 || got[1] != `{"id":"A"}` {
		t.Fatalf("delivered %q, want b.json.part then a.json", got)
	}
}

func TestGrowingFileWaitsUntilItsSizeIsStable(t *testing.T) {
	dir := t.TempDir()
	fe := &fakeEngine{}
	start(t, cfgFor(dir), fe, func(s *source) { s.settle = 400 * time.Millisecond })
	path := filepath.Join(dir, "big.edi")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for i := range 15 {
		line := strings.Repeat(string(rune('A'+i)), 100) + "'\n"
		want.WriteString(line)
		if _, err := f.WriteString(line); err != nil {
			t.Fatal(err)
		}
		time.Sleep(30 * time.Millisecond) // much less than the settle time
		if n := len(fe.payloads()); n != 0 {
			t.Fatalf("delivered after %d writes, while the file still grows", i+1)
		}
	}
	f.Close()
	eventually(t, "done/big.edi", func() bool { return exists(filepath.Join(dir, DoneDir, "big.edi")) })
	if got := fe.payloads(); len(got) != 1 || got[0] != want.String() {
		t.Fatalf("delivered %d messages, want the whole file once", len(got))
	}
}

func TestRejectedFileGoesToRejectedWithItsReason(t *testing.T) {
	dir := t.TempDir()
	fe := &fakeEngine{}
	start(t, cfgFor(dir), fe)
	write(t, filepath.Join(dir, "bad.json"), `{"id":"X","containers":["BAD"]}`)
	reason := filepath.Join(dir, RejectedDir, "bad.json"+ReasonSuffix)
	eventually(t, "rejected/bad.json.reason", func() bool { return exists(reason) })
	if !exists(filepath.Join(dir, RejectedDir, "bad.json")) {
		t.Fatal("the file is not in rejected/")
	}
	data, _ := os.ReadFile(reason)
	if !strings.HasPrefix(string(data), "invalid_field: ") || !strings.Contains(string(data), `field "containers"`) {
		t.Errorf("reason file %q, want the code and the field", data)
	}
	if exists(filepath.Join(dir, DoneDir)) {
		t.Error("done/ was created for a rejected file")
	}
}

func TestTooLargeFileIsNotReadAndRejected(t *testing.T) {
	dir := t.TempDir()
	cfg := cfgFor(dir)
	cfg.MaxBytes = adapters.MaxPayload
	fe := &fakeEngine{}
	start(t, cfg, fe)
	write(t, filepath.Join(dir, "huge.json"), strings.Repeat("x", adapters.MaxPayload+1))
	eventually(t, "rejected/huge.json", func() bool { return exists(filepath.Join(dir, RejectedDir, "huge.json")) })
	fe.mu.Lock()
	defer fe.mu.Unlock()
	if len(fe.msgs) != 1 || fe.msgs[0].Reject == nil || fe.msgs[0].Reject.Code != state.CodeTooLarge || len(fe.msgs[0].Payload) != adapters.MaxKept || fe.msgs[0].Body != nil {
		t.Fatal("want one message, rejected as too large, with its first 64 KiB and no body")
	}
}

// A file over adapters.MaxPayload and within max_bytes is given as a
// Body, read as a whole by a decoder that does not stream.
func TestLargeFileIsReadThroughItsBody(t *testing.T) {
	dir := t.TempDir()
	read := make(chan int, 1)
	fe := &fakeEngine{decoder: decoderFunc(func(p []byte) []adapters.Record { read <- len(p); return nil })}
	start(t, cfgFor(dir), fe)
	content := strings.Repeat("z", adapters.MaxPayload+10)
	write(t, filepath.Join(dir, "large.json"), content)
	eventually(t, "done/large.json", func() bool { return exists(filepath.Join(dir, DoneDir, "large.json")) })
	fe.mu.Lock()
	m := fe.msgs[0]
	fe.mu.Unlock()
	if m.Reject != nil || m.TooLarge || m.Body == nil || len(m.Payload) != adapters.MaxKept {
		t.Fatalf("message: reject %v, too large %v, body %v, payload %d", m.Reject, m.TooLarge, m.Body != nil, len(m.Payload))
	}
	if got := <-read; got != len(content) {
		t.Errorf("the decoder read %d bytes, want the whole file, %d", got, len(content))
	}
}

type decoderFunc func([]byte) []adapters.Record

func (f decoderFunc) Decode(p []byte) []adapters.Record { return f(p) }

func TestNotDeliveredAgainWhileInFlight(t *testing.T) {
	dir := t.TempDir()
	cfg := cfgFor(dir)
	cfg.Rescan = 50 * time.Millisecond
	fe := &fakeEngine{hold: true}
	start(t, cfg, fe)
	write(t, filepath.Join(dir, "slow.json"), `{"id":"SLOW"}`)
	eventually(t, "a delivery", func() bool { return len(fe.payloads()) == 1 })
	time.Sleep(500 * time.Millisecond) // many rescans
	if n := len(fe.payloads()); n != 1 {
		t.Fatalf("delivered %d times while the first delivery was in flight", n)
	}
	fe.release()
	eventually(t, "done/slow.json", func() bool { return exists(filepath.Join(dir, DoneDir, "slow.json")) })
	time.Sleep(200 * time.Millisecond)
	if n := len(fe.payloads()); n != 1 {
		t.Fatalf("delivered %d times", n)
	}
}

func TestSameNameAgainGetsAFreshNameInDone(t *testing.T) {
	dir := t.TempDir()
	fe := &fakeEngine{}
	start(t, cfgFor(dir), fe)
	write(t, filepath.Join(dir, "daily.json"), `{"id":"D1"}`)
	eventually(t, "done/daily.json", func() bool { return exists(filepath.Join(dir, DoneDir, "daily.json")) })
	write(t, filepath.Join(dir, "daily.json"), `{"id":"D2"}`)
	eventually(t, "a second file in done/", func() bool {
		ents, _ := os.ReadDir(filepath.Join(dir, DoneDir))
		return len(ents) == 2
	})
	ents, _ := os.ReadDir(filepath.Join(dir, DoneDir))
	other := ents[0].Name()
	if other == "daily.json" {
		other = ents[1].Name()
	}
	if !strings.HasPrefix(other, "daily-") || !strings.HasSuffix(other, "Z.json") {
		t.Errorf("second file moved to %s, want daily-<UTC time>.json", other)
	}
	first, _ := os.ReadFile(filepath.Join(dir, DoneDir, "daily.json"))
	second, _ := os.ReadFile(filepath.Join(dir, DoneDir, other))
	if string(first) != `{"id":"D1"}` || string(second) != `{"id":"D2"}` {
		t.Errorf("done/ holds %s and %s", first, second)
	}
}

func TestRestartBeforeTheMoveDeliversAgain(t *testing.T) {
	dir := t.TempDir()
	fe1 := &fakeEngine{hold: true}
	s1 := start(t, cfgFor(dir), fe1)
	write(t, filepath.Join(dir, "r.json"), `{"id":"R"}`)
	eventually(t, "a delivery", func() bool { return len(fe1.payloads()) == 1 })
	s1.Stop() // "crash": the message was never settled

	fe2 := &fakeEngine{hold: true}
	start(t, cfgFor(dir), fe2)
	eventually(t, "the file delivered again after the restart", func() bool { return len(fe2.payloads()) == 1 })
	// The late settlement of the first run moves the file; the second
	// one finds it gone and is content.
	fe1.release()
	fe2.release()
	eventually(t, "done/r.json", func() bool { return exists(filepath.Join(dir, DoneDir, "r.json")) })
	ents, _ := os.ReadDir(filepath.Join(dir, DoneDir))
	if len(ents) != 1 {
		t.Errorf("done/ holds %d files, want 1", len(ents))
	}
}

func TestFailedMoveIsRetriedWithoutDeliveringAgain(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, DoneDir), "not a directory") // the move fails
	cfg := cfgFor(dir)
	cfg.Rescan = 50 * time.Millisecond
	fe := &fakeEngine{}
	s := start(t, cfg, fe)
	write(t, filepath.Join(dir, "m.json"), `{"id":"M"}`)
	eventually(t, "the move to fail", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		_, ok := s.unmoved["m.json"]
		return ok
	})
	time.Sleep(300 * time.Millisecond)
	if n := len(fe.payloads()); n != 1 {
		t.Fatalf("delivered %d times; a settled file must not be delivered again", n)
	}
	if err := os.Remove(filepath.Join(dir, DoneDir)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "done/m.json", func() bool { return exists(filepath.Join(dir, DoneDir, "m.json")) })
	if n := len(fe.payloads()); n != 1 {
		t.Errorf("delivered %d times", n)
	}
}

func TestNewFailsForAMissingDirectory(t *testing.T) {
	env := &adapters.Env{}
	if _, err := adapters.NewSource(env, cfgFor(filepath.Join(t.TempDir(), "nope")).source()); err == nil {
		t.Error("newSource accepted a missing directory")
	}
	file := filepath.Join(t.TempDir(), "f")
	write(t, file, "x")
	if _, err := adapters.NewSource(env, cfgFor(file).source()); err == nil {
		t.Error("newSource accepted a file as the directory")
	}
}

func TestCheck(t *testing.T) {
	if errs := cfgFor(t.TempDir()).check(); len(errs) != 0 {
		t.Errorf("check(valid) = %v", errs)
	}
	missing := filepath.Join(t.TempDir(), "cusres")
	if errs := cfgFor(missing).check(); len(errs) != 1 || errs[0].Key != "dir" || !strings.Contains(errs[0].Msg, missing) {
		t.Errorf("check(missing directory) = %v, want one error for dir naming %s", errs, missing)
	}
	bad := config.Source{Name: "d", Type: Type, Keys: config.NewKeys(struct {
		Dir           string        `yaml:"dir"`
		Rescan        time.Duration `yaml:"rescan"`
		PartialSuffix string        `yaml:"partial_suffix"`
		// http_poll's
		URL      string        `yaml:"url"`
		Schedule string        `yaml:"schedule"`
		Cursor   config.Cursor `yaml:"cursor"`
		Timeout  time.Duration `yaml:"timeout"`
	}{"spool", -time.Second, "a/b", "http://x", "@every 1s", config.Cursor{Param: "p"}, time.Second})}
	keys := map[string]bool{}
	_, errs := adapters.Registry.CheckSource(bad)
	for _, e := range errs {
		keys[e.Key] = true
	}
	for _, k := range []string{"dir", "rescan", "partial_suffix", "url", "schedule", "cursor", "timeout"} {
		if !keys[k] {
			t.Errorf("check did not flag %s; got %v", k, keys)
		}
	}
	if errs := Check(config.Source{Name: "d", Type: Type}, &Config{}); len(errs) != 1 || errs[0].Key != "dir" {
		t.Errorf("check without dir = %v", errs)
	}
	known, _ := adapters.Registry.CheckSource(config.Source{Type: Type})
	if !known {
		t.Error("file_drop is not registered")
	}
}
