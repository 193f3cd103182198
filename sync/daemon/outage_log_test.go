package daemon

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	stdsync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portsync/portsync/adapters"
	_ "github.com/portsync/portsync/adapters/httpsink"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
	"github.com/portsync/portsync/sync"
)

// logRecord is one captured log line with every attribute, those of
// Logger.With included.
type logRecord struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

// captureHandler keeps every record it handles.
type captureHandler struct {
	mu    *stdsync.Mutex
	recs  *[]logRecord
	attrs []slog.Attr
}

func newCaptureHandler() *captureHandler {
	return &captureHandler{mu: &stdsync.Mutex{}, recs: &[]logRecord{}}
}

func (h *captureHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *captureHandler) Handle(_ context.Context, r slog.Record) error {
	rec := logRecord{level: r.Level, msg: r.Message, attrs: map[string]string{}}
	for _, a := range h.attrs {
		rec.attrs[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		rec.attrs[a.Key] = a.Value.String()
		return true
	})
	h.mu.Lock()
	*h.recs = append(*h.recs, rec)
	h.mu.Unlock()
	return nil
}

func (h *captureHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &captureHandler{mu: h.mu, recs: h.recs, attrs: append(slices.Clone(h.attrs), attrs...)}
}

func (h *captureHandler) WithGroup(string) slog.Handler { return h }

// about returns the records at info or above that concern the endpoint
// name: by its channel or sink key, or its breaker's name.
func (h *captureHandler) about(name string) []logRecord {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []logRecord
	for _, r := range *h.recs {
		if r.level < slog.LevelInfo {
			continue
		}
		for _, k := range []string{"channel", "sink", "breaker"} {
			if v := r.attrs[k]; v == name || strings.HasSuffix(v, ":"+name) {
				out = append(out, r)
				break
			}
		}
	}
	return out
}

// startLogged is harness.start with the daemon logging to handler, also
// copied to the test log.
func (h *harness) startLogged(handler slog.Handler) {
	h.t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(h.yaml), adapters.Registry)
	if err != nil {
		h.t.Fatalf("config: %v", err)
	}
	h.cfg, h.scheme, h.httpc = cfg, "http", http.DefaultClient
	d, err := New(cfg, slog.New(handler))
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.daemon, h.cancel, h.done = d, cancel, make(chan error, 1)
	go func() { h.done <- d.Run(ctx) }()
	h.t.Cleanup(h.stop)
	h.eventually("daemon ready", func() bool { return h.getStatus("/readyz") == http.StatusOK })
}

// TestOutageLogsStateChangesNotAttempts: a channel and the TOS sink that
// fail for ten seconds (retried every second, breakers opening and
// probing) log that they went down, not every attempt; when they come
// back they log that, with how long they were down.
func TestOutageLogsStateChangesNotAttempts(t *testing.T) {
	hook := newFlakyWebhook(t)
	var tosUp atomic.Bool
	tos := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !tosUp.Load() {
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer tos.Close()

	h := &harness{t: t, broker: testBroker(t), dir: t.TempDir(), status: map[string]sync.View{}}
	clientSeq++
	h.yaml = withWebhook(hook.URL)(testYAML(h.dir, h.broker.URL()))
	h.yaml = strings.Replace(h.yaml, "sink: {type: mqtt, broker: main, topic: tos/commands}", "sink: {type: http, url: "+tos.URL+"}", 1)
	h.watch()
	logs := newCaptureHandler()
	h.startLogged(logs)

	// A command due to the sink, an alert due to the webhook.
	h.agency("REL-1", "customs", state.Released, "2026-11-28T10:15:00+08:00", c1)
	h.tos("N4-1", c1, state.TOSArrived, "2026-11-28T10:20:00+08:00", "CUSTOMS")
	h.tos("N4-2", c2, state.TOSArrived, "2026-11-28T10:20:00+08:00", "CUSTOMS")
	h.tos("N4-3", c2, state.TOSDeparted, "2026-11-28T10:30:00+08:00")
	failed := func(metric, label, name string) func() bool {
		return func() bool {
			return counterSum(h.daemon.metrics, metric, map[string]string{label: name, "result": "failed"}) > 0
		}
	}
	h.eventually("the webhook fails", failed("portsync_notifications_total", "channel", "ops-hook"))
	h.eventually("the sink fails", failed("portsync_commands_total", "sink", "tos-http"))
	time.Sleep(10 * time.Second)

	for _, name := range []string{"ops-hook", "tos-http"} {
		if recs := logs.about(name); len(recs) > 3 {
			t.Errorf("%d log lines about %s in 10s of outage, want at most 3:", len(recs), name)
			for _, r := range recs {
				t.Logf("  %s %q %v", r.level, r.msg, r.attrs)
			}
		}
	}

	if st := h.daemon.engine().OutputStatus()[0]; st.Healthy || st.Failures == 0 || !strings.Contains(st.LastError, "503") {
		t.Errorf("sink status %+v, want failing with its streak and last error", st)
	}

	hook.up.Store(true)
	tosUp.Store(true)
	for _, name := range []string{"ops-hook", "tos-http"} {
		h.eventually(name+" logs its recovery with how long it was down", func() bool {
			for _, r := range logs.about(name) {
				if r.attrs["down_for"] != "" {
					return true
				}
			}
			return false
		})
	}
}
