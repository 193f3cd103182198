package daemon

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/portsync/portsync/state"
)

// TestBackupWhileRunningIsAConsistentStore takes a backup through
// GET /api/v1/backup while events keep arriving, opens it as a store, checks
// it, and restores it: stop, copy over state_dir/portsync.db, start.
func TestBackupWhileRunningIsAConsistentStore(t *testing.T) {
	h := newHarness(t, nil)
	h.agency("REL-1", "customs", state.Released, "2026-11-28T08:00:00Z", c1, c2)
	h.tos("N4-1", c1, state.TOSArrived, "2026-11-28T08:05:00Z", "CUSTOMS")
	h.tos("N4-2", c2, state.TOSArrived, "2026-11-28T08:06:00Z")
	h.agency("HLD-1", "quarantine", state.Held, "2026-11-28T08:07:00Z", c3)
	h.eventually("events applied", func() bool {
		return h.seen("customs-mqtt", "REL-1") && h.seen("tos-events", "N4-1") &&
			h.seen("tos-events", "N4-2") && h.seen("ciq-mqtt", "HLD-1")
	})

	// Keep the writer busy while the copy streams: the copy is taken in a
	// read transaction and must be consistent all the same. Half the load
	// changes c3 again and again (which once raced the status publisher's
	// reads of a cached container), half adds containers.
	stop := make(chan struct{})
	var load sync.WaitGroup
	load.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			container := c3
			if i%2 == 1 {
				prefix := fmt.Sprintf("LOAU%06d", i)
				container = fmt.Sprintf("%s%d", prefix, state.CheckDigit(prefix))
			}
			payload := fmt.Sprintf(`{"id":"LOAD-%d","agency":"customs","status":"held","containers":[%q],"at":"2026-11-28T09:%02d:%02dZ"}`,
				i, container, (i/60)%60, i%60)
			h.client.Publish("customs/releases", 1, false, payload).WaitTimeout(5 * time.Second)
		}
	})
	time.Sleep(100 * time.Millisecond)

	resp, err := http.Get(h.base() + "/api/v1/backup")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v1/backup: HTTP %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/octet-stream" {
		t.Errorf("backup Content-Type = %q", ct)
	}
	if cd := resp.Header.Get("Content-Disposition"); !strings.Contains(cd, "attachment") || !strings.Contains(cd, ".db") {
		t.Errorf("backup Content-Disposition = %q", cd)
	}
	backup := filepath.Join(t.TempDir(), "portsync-backup.db")
	f, err := os.Create(backup)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(f, resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	close(stop)
	load.Wait()
	t.Logf("backup: %d bytes", n)

	// It is a store: it opens, and holds what was applied before it.
	bs, err := state.Open(backup, time.Second)
	if err != nil {
		t.Fatalf("backup does not open as a store: %v", err)
	}
	var journal, index int
	err = bs.View(func(tx *state.Tx) error {
		for _, tc := range []struct {
			id       string
			presence state.Presence
		}{{c1, state.InYard}, {c2, state.InYard}, {c3, state.Expected}} {
			c, ok, err := tx.Container(tc.id)
			if err != nil {
				return err
			}
			if !ok {
				t.Errorf("backup lacks container %s", tc.id)
				continue
			}
			if c.Presence != tc.presence {
				t.Errorf("backup: %s presence %s, want %s", tc.id, c.Presence, tc.presence)
			}
		}
		if c, _, _ := tx.Container(c1); c.Agencies["customs"].Status != state.Released {
			t.Errorf("backup: %s customs = %+v, want released", c1, c.Agencies["customs"])
		}
		if hist, err := tx.History(c1); err != nil || len(hist) < 2 {
			t.Errorf("backup: history of %s = %d entries, %v", c1, len(hist), err)
		}
		for _, k := range [][2]string{{"customs-mqtt", "REL-1"}, {"tos-events", "N4-1"}, {"ciq-mqtt", "HLD-1"}} {
			if !tx.Seen(k[0], k[1]) {
				t.Errorf("backup lacks the dedupe key %s/%s", k[0], k[1])
			}
		}
		journal, index = tx.JournalLen(), tx.JournalIndexLen()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// One transaction's view: every journal entry has its index key.
	if journal != index {
		t.Errorf("backup: %d journal entries but %d index keys", journal, index)
	}
	bs.Close()
	db, err := bolt.Open(backup, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	err = db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			t.Errorf("backup fails bbolt's consistency check: %v", err)
		}
		return nil
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	// Restore: stop the daemon, copy the backup over the store, start.
	h.stop()
	data, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(h.dir, state.FileName), data, 0o600); err != nil {
		t.Fatal(err)
	}
	h.start()
	d := h.container(c1)
	if d.Presence != state.InYard || d.Agencies["customs"] != state.Released {
		t.Errorf("after restore: %s = %+v", c1, d)
	}
	if code := h.getStatus("/api/v1/containers/" + c3); code != http.StatusOK {
		t.Errorf("after restore: GET %s: HTTP %d", c3, code)
	}
}
