package httpquery

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/config"
)

// yard is a fake store: containers in id order, some candidates, some
// with an open mismatch. A page reads at most scan containers, so that
// the walk meets pages without candidates.
type yard struct {
	mu      sync.Mutex
	ids     []string
	due     map[string]bool
	mis     map[string]bool
	bls     map[string][]string
	scan    int
	queries []adapters.CandidateQuery
}

func newYard(n int, due func(i int) bool) *yard {
	y := &yard{due: map[string]bool{}, mis: map[string]bool{}, bls: map[string][]string{}, scan: 3}
	for i := range n {
		id := fmt.Sprintf("BOX%04d", i)
		y.ids = append(y.ids, id)
		y.due[id] = due(i)
	}
	return y
}

func (y *yard) candidates(_ context.Context, q adapters.CandidateQuery) (adapters.CandidatePage, error) {
	y.mu.Lock()
	defer y.mu.Unlock()
	y.queries = append(y.queries, q)
	var p adapters.CandidatePage
	if q.Mismatched {
		for _, id := range y.ids {
			if y.mis[id] && len(p.Candidates) < q.Limit {
				p.Candidates = append(p.Candidates, adapters.Candidate{Container: id, BLs: y.bls[id]})
			}
		}
		return p, nil
	}
	i, _ := slices.BinarySearch(y.ids, q.After)
	if i < len(y.ids) && y.ids[i] == q.After {
		i++
	}
	read := 0
	for ; i < len(y.ids) && read < y.scan; i++ {
		id := y.ids[i]
		read++
		if !y.due[id] && !y.mis[id] {
			continue
		}
		p.Candidates = append(p.Candidates, adapters.Candidate{Container: id, BLs: y.bls[id]})
		if len(p.Candidates) == q.Limit {
			p.Next = id
			return p, nil
		}
	}
	if i < len(y.ids) {
		p.Next = y.ids[i-1]
	}
	return p, nil
}

// agencyAPI is a fake status API: it answers a release for the
// containers it knows, 404 for others, and logs every request.
type agencyAPI struct {
	*httptest.Server
	mu    sync.Mutex
	asked []string
	times []time.Time
	fail  bool
}

func newAgencyAPI(t *testing.T) *agencyAPI {
	a := &agencyAPI{}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := strings.TrimPrefix(r.URL.EscapedPath(), "/status/")
		a.mu.Lock()
		a.asked = append(a.asked, key)
		a.times = append(a.times, time.Now())
		fail := a.fail
		a.mu.Unlock()
		if fail {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		if strings.HasSuffix(key, "7") {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, `{"ref":"R-%s","state":"OK","box":%q,"when":"2026-11-28T10:00:00Z"}`, key, key)
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *agencyAPI) requests() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.asked)
}

type recorder struct {
	mu       sync.Mutex
	msgs     []string
	failures []string
	oks      int
}

func (r *recorder) deliver(m adapters.Message) {
	r.mu.Lock()
	r.msgs = append(r.msgs, string(m.Payload))
	r.mu.Unlock()
	if m.Done != nil {
		go m.Done(adapters.Outcome{})
	}
}

func (r *recorder) messages() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs)
}

func (r *recorder) env(y *yard) *adapters.Env {
	return &adapters.Env{
		Candidates: y.candidates,
		SourceFailed: func(_, reason string, _ error) {
			r.mu.Lock()
			r.failures = append(r.failures, reason)
			r.mu.Unlock()
		},
		SourceOK: func(string) { r.mu.Lock(); r.oks++; r.mu.Unlock() },
	}
}

// querySrc is an http_query source's configuration: the common keys and
// its own.
type querySrc struct {
	config.Source
	Config
	// foreign are keys of other types, as config.Parse would leave them.
	foreign any
}

// testSource returns the source, edited, as config.Parse gives it, its own
// keys in Keys.
func testSource(url string, edit func(*querySrc)) config.Source {
	q := querySrc{
		Source: config.Source{Name: "customs-query", Type: Type, Kind: config.KindAgency, Agency: "customs", Format: "mapped_json"},
		Config: Config{URL: url + "/status/{container}", Schedule: "@every 1h", Rate: 6000},
	}
	if edit != nil {
		edit(&q)
	}
	src := q.Source
	src.Keys = config.NewKeys(q.Config)
	if q.foreign != nil {
		src.Keys = config.NewKeys(struct {
			Config  `yaml:",inline"`
			Foreign any `yaml:",inline"`
		}{q.Config, q.foreign})
	}
	return src
}

// check is the registry's check of a source: its own keys decoded, the
// keys of other types refused, Check.
func check(src config.Source) []config.KeyError {
	_, errs := adapters.Registry.CheckSource(src)
	return errs
}

func start(t *testing.T, env *adapters.Env, cfg config.Source, deliver adapters.Deliver) adapters.Source {
	t.Helper()
	if errs := check(cfg); len(errs) > 0 {
		t.Fatalf("check: %v", errs)
	}
	src, err := adapters.NewSource(env, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Start(context.Background(), deliver); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(src.Stop)
	return src
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

// One cycle asks about every candidate once, mismatches first, and hands
// each answer to the engine; a 404 is no answer and no failure.
func TestQueryOneCycleAsksEveryCandidateOnce(t *testing.T) {
	y := newYard(20, func(i int) bool { return i%2 == 0 })
	y.mis["BOX0013"] = true // not due by age: asked for its mismatch, first
	api := newAgencyAPI(t)
	rec := &recorder{}
	start(t, rec.env(y), testSource(api.URL, nil), rec.deliver)

	want := []string{"BOX0013"}
	for i := 0; i < 20; i += 2 {
		want = append(want, fmt.Sprintf("BOX%04d", i))
	}
	eventually(t, "one cycle", func() bool { return len(api.requests()) >= len(want) })
	time.Sleep(100 * time.Millisecond)
	if got := api.requests(); !slices.Equal(got, want) {
		t.Fatalf("asked %v, want %v", got, want)
	}
	msgs := rec.messages()
	if len(msgs) != len(want) { // BOX0017 (404) is not due
		t.Fatalf("delivered %d answers, want %d: %v", len(msgs), len(want), msgs)
	}
	if !strings.Contains(msgs[0], `"box":"BOX0013"`) {
		t.Errorf("first answer %s, want the mismatch's", msgs[0])
	}
	if len(rec.failures) > 0 {
		t.Errorf("failures reported: %v", rec.failures)
	}
}

// The {bl} template asks once per bill of lading, escaped, and skips a
// container without one; a 404 is not a failure.
func TestQueryByBL(t *testing.T) {
	y := newYard(4, func(int) bool { return true })
	y.bls["BOX0000"] = []string{"BL 1/A"}
	y.bls["BOX0001"] = []string{"BL 1/A", "BL7"}
	y.bls["BOX0003"] = []string{"BL3"}
	api := newAgencyAPI(t)
	rec := &recorder{}
	start(t, rec.env(y), testSource(api.URL, func(c *querySrc) { c.URL = api.URL + "/status/{bl}" }), rec.deliver)
	want := []string{"BL%201%2FA", "BL7", "BL3"}
	eventually(t, "one cycle", func() bool { return len(api.requests()) >= len(want) })
	time.Sleep(100 * time.Millisecond)
	if got := api.requests(); !slices.Equal(got, want) {
		t.Fatalf("asked %v, want %v", got, want)
	}
	if n := len(rec.messages()); n != 2 {
		t.Errorf("delivered %d answers, want 2 (BL7 is unknown: 404)", n)
	}
	if len(rec.failures) > 0 {
		t.Errorf("failures reported: %v", rec.failures)
	}
}

// The rate holds: requests are spaced at least 60s/rate apart (counted
// at the server: n requests over the time they took need n-1 intervals),
// and a cycle stops when the next request could not go before the next
// tick; the next cycle resumes after the last container asked.
func TestQueryRateLimitAndResume(t *testing.T) {
	y := newYard(12, func(int) bool { return true })
	api := newAgencyAPI(t)
	rec := &recorder{}
	const rate = 240 // one request every 250ms: at most 4 a second
	start(t, rec.env(y), testSource(api.URL, func(c *querySrc) {
		c.Rate, c.Schedule = rate, "@every 1s"
	}), rec.deliver)
	time.Sleep(2500 * time.Millisecond)
	api.mu.Lock()
	asked, times := slices.Clone(api.asked), slices.Clone(api.times)
	api.mu.Unlock()
	if len(asked) < 4 {
		t.Fatalf("only %d requests in 2.5s at %d a minute: %v", len(asked), rate, asked)
	}
	every := time.Minute / rate
	span := times[len(times)-1].Sub(times[0])
	if budget := int(span/every) + 1; len(asked) > budget+1 { // +1: the server's clock reads after the client's
		t.Errorf("%d requests over %s; the rate allows %d", len(asked), span, budget)
	}
	// The walk resumes: each container once, in order, until round.
	for i, id := range asked {
		if want := fmt.Sprintf("BOX%04d", i); id != want {
			t.Fatalf("request %d asked %s, want %s (asked %v)", i, id, want, asked)
		}
	}
	// More than one cycle ran, each ending before its next tick.
	cycles := 0
	y.mu.Lock()
	for _, q := range y.queries {
		if q.Mismatched {
			cycles++
		}
	}
	y.mu.Unlock()
	if cycles < 2 {
		t.Errorf("%d cycles in 2.5s with @every 1s", cycles)
	}
}

// Failures are reported and trip the breaker, which ends the cycle.
func TestQueryBreaker(t *testing.T) {
	y := newYard(20, func(int) bool { return true })
	api := newAgencyAPI(t)
	api.fail = true
	rec := &recorder{}
	start(t, rec.env(y), testSource(api.URL, nil), rec.deliver)
	eventually(t, "breaker open", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return slices.Contains(rec.failures, "breaker_open")
	})
	if n := len(api.requests()); n != 5 {
		t.Errorf("%d requests, want 5 before the breaker opened", n)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if got := rec.failures[:5]; !slices.Equal(got, []string{"http_status", "http_status", "http_status", "http_status", "http_status"}) {
		t.Errorf("failures %v", rec.failures)
	}
}

func TestQueryStartNeedsStore(t *testing.T) {
	src, err := adapters.NewSource(&adapters.Env{}, testSource("http://127.0.0.1:1", nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Start(context.Background(), func(adapters.Message) {}); err == nil {
		t.Fatal("started without a store")
	}
}

func TestQueryCheck(t *testing.T) {
	tests := []struct {
		name string
		edit func(*querySrc)
		key  string
	}{
		{"no placeholder", func(c *querySrc) { c.URL = "https://customs.example/status" }, "url"},
		{"both placeholders", func(c *querySrc) { c.URL = "https://customs.example/{bl}/{container}" }, "url"},
		{"no url", func(c *querySrc) { c.URL = "" }, "url"},
		{"not http", func(c *querySrc) { c.URL = "ftp://customs.example/{container}" }, "url"},
		{"no schedule", func(c *querySrc) { c.Schedule = "" }, "schedule"},
		{"tos kind", func(c *querySrc) { c.Kind = config.KindTOS }, "kind"},
		{"edi format", func(c *querySrc) { c.Format = "x12_350" }, "format"},
		{"negative rate", func(c *querySrc) { c.Rate = -1 }, "rate"},
		{"negative query_after", func(c *querySrc) { c.QueryAfter = -time.Minute }, "query_after"},
		{"cursor", func(c *querySrc) {
			c.foreign = struct {
				Cursor config.Cursor `yaml:"cursor"`
			}{config.Cursor{Param: "since"}}
		}, "cursor"},
		{"topic", func(c *querySrc) {
			c.foreign = struct {
				Topic string `yaml:"topic"`
			}{"x"}
		}, "topic"},
	}
	if errs := check(testSource("https://customs.example", nil)); len(errs) > 0 {
		t.Fatalf("good config: %v", errs)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := check(testSource("https://customs.example", tt.edit))
			if !slices.ContainsFunc(errs, func(e config.KeyError) bool { return e.Key == tt.key }) {
				t.Errorf("errors %v, want one on %s", errs, tt.key)
			}
		})
	}
}

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{"MSCU1234566": "MSCU1234566", "BL 1/A?x=&": "BL%201%2FA%3Fx%3D%26", "a-b_c.d~": "a-b_c.d~"} {
		if got := escape(in); got != want {
			t.Errorf("escape(%q) = %q, want %q", in, got, want)
		}
	}
}
