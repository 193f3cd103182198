package daemon

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

// TestReloadSwapsSourcesAndKeepsTheOutbox reloads a configuration with one
// more source, a renamed TOS sink and a shorter SLA while a command waits
// unconfirmed: the new source is consumed, the waiting command is sent
// again through the new sink with its id, and nothing is lost.
func TestReloadSwapsSourcesAndKeepsTheOutbox(t *testing.T) {
	h := newHarness(t, nil)
	h.agency("REL-1", "customs", state.Released, "2026-11-28T10:15:00+08:00", c1)
	h.tos("N4-1", c1, state.TOSArrived, "2026-11-28T10:20:00+08:00", "CUSTOMS")
	first := h.waitCommand(c1, state.ReleaseHold, "CUSTOMS")

	next := strings.Replace(h.yaml, "  - {name: tos-events,",
		"  - {name: customs-extra, type: mqtt, broker: main, topic: customs/extra, kind: agency, agency: customs}\n  - {name: tos-events,", 1)
	next = strings.Replace(next, "sink: {type: mqtt, broker: main, topic: tos/commands}",
		"sink: {type: mqtt, broker: main, topic: tos/commands, name: tos-renamed}", 1)
	cfg, err := config.Parse("reloaded.yaml", []byte(next), adapters.Registry)
	if err != nil {
		t.Fatal(err)
	}
	sentBefore := len(h.commands(c1))
	if err := h.daemon.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	h.eventually("ready after reload", func() bool { return h.getStatus("/readyz") == http.StatusOK })
	h.eventually("the waiting command re-sent through the new sink", func() bool {
		for _, c := range h.commands(c1)[sentBefore:] {
			if c.ID == first.ID {
				return true
			}
		}
		return false
	})
	h.publish("customs/extra", map[string]any{"id": "REL-X", "agency": "customs", "status": "released",
		"containers": []string{c2}, "at": "2026-11-28T10:15:00+08:00"})
	h.eventually("event on the new source applied", func() bool { return h.get("/api/v1/containers/"+c2, nil) == http.StatusOK })
	if got := counterSum(h.daemon.metrics, "portsync_commands_total", map[string]string{"sink": "tos-renamed", "result": "sent"}); got < 1 {
		t.Errorf("no command counted as sent by the renamed sink")
	}
}

func TestReloadRefusesAnInvalidFile(t *testing.T) {
	h := newHarness(t, nil)
	file := filepath.Join(t.TempDir(), "portsync.yaml")
	if err := os.WriteFile(file, []byte("terminal: [x]\nsources: 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.cfg.File = file
	before := h.daemon.current()
	err := h.daemon.ReloadFile()
	if err == nil || !strings.Contains(err.Error(), "terminal") {
		t.Fatalf("want the reload refused naming terminal, got %v", err)
	}
	if h.daemon.current() != before {
		t.Fatal("a refused reload replaced the adapters")
	}
	h.agency("REL-2", "customs", state.Released, "2026-11-28T10:15:00+08:00", c3)
	h.eventually("still consuming after a refused reload", func() bool { return h.get("/api/v1/containers/"+c3, nil) == http.StatusOK })
}

// TestReloadRightAfterStart reloads while Run is still starting, as a
// SIGHUP right after start does: Run installs the work context and the
// scheduler under the reload lock, so under -race the two do not race, and
// the reloaded schedules are the ones that run.
func TestReloadRightAfterStart(t *testing.T) {
	b := testBroker(t)
	dir := t.TempDir()
	clientSeq++
	cfg, err := config.Parse("test.yaml", []byte(testYAML(dir, b.URL())), adapters.Registry)
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(cfg, slog.New(slog.NewTextHandler(testWriter{t}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	if err := d.Reload(cfg); err != nil {
		t.Errorf("reload right after start: %v", err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for ok, why := d.Ready(); !ok; ok, why = d.Ready() {
		if time.Now().After(deadline) {
			t.Fatalf("not ready after reload: %v", why)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("daemon stopped with %v", err)
	}
}
