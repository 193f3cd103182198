package daemon

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/portsync/portsync/state"
	"github.com/portsync/portsync/sync"
)

// Sizes of the disk-full test, measured rather than guessed (see the log of
// a -v run): 1000 containers in the yard take about 1.1 MiB of tmpfs (a
// 2 MiB file, partly sparse), and 1000 customs releases, committed in small
// groups as a sequential publisher sends them, grow the file to 8 MiB with
// about 5 MiB allocated (each group copies the leaf and branch pages it
// touches; the container, two journal entries and their index keys, a
// dedupe key, an outbox command, a mismatch). bbolt extends the file with
// ftruncate to its next mmap step (doubling from 32 KiB while the file is
// under 16 MiB, then 16 MiB at a time), which on tmpfs takes no space: the
// space is taken by the pwrite of each new page, so ENOSPC comes from the
// commit's page writes, never from Open or the truncate. The tmpfs is
// filled after the preload, leaving dfSlack bytes, so that the first
// releases commit and the disk fills in the middle of the stream; it must
// be large enough for the whole run once the filler is gone.
const (
	dfTmpfsSize  = "16m"
	dfContainers = 1000
	dfSlack      = 128 << 10
	dfTimeout    = 60 * time.Second
)

// TestDiskFullStopsAcknowledgementAndResumes puts the store on a small
// tmpfs of the test's own and fills it (DESIGN 8: a full disk stops
// acknowledgement, makes /readyz fail and is logged; the daemon does not
// exit; nothing is lost or applied twice; the store is not corrupted).
//
//  1. Disk fills while releases stream in: commits fail with ENOSPC,
//     /readyz answers 503 naming the store and the lack of space,
//     portsync_store_healthy is 0, the applied count stops, the process
//     serves on. Space returns: the same process resumes and applies every
//     release.
//  2. Disk fills again under a second stream (customs holds); the daemon is
//     stopped gracefully while the disk is full, space returns, a new
//     daemon starts: the messages the first one never acknowledged come
//     back from the broker's session and are applied.
//
// At the end every event is in the journal exactly once, each container
// has had exactly one release_hold command, and after a graceful stop the
// file passes bbolt's consistency check.
func TestDiskFullStopsAcknowledgementAndResumes(t *testing.T) {
	mnt := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(mnt, 0o750); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+dfTmpfsSize, "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs for the store (needs root, or CAP_SYS_ADMIN): %v: %s", err, strings.TrimSpace(string(out)))
	}
	// Registered before the harness: runs after the daemon has stopped.
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	stateDir := regexp.MustCompile(`(?m)^state_dir: .*$`)
	h := newHarness(t, func(y string) string {
		y = stateDir.ReplaceAllString(y, "state_dir: "+mnt)
		// No SLA alert or re-send during the test: the writes under test are
		// the events'.
		return strings.Replace(y, "sla: {apply_within: 2s, retry_after: 1s}", "sla: {apply_within: 1h, retry_after: 30m}", 1)
	})
	dbPath := filepath.Join(mnt, state.FileName)
	filler := filepath.Join(mnt, "filler")

	ids := make([]string, dfContainers)
	for i := range ids {
		p := fmt.Sprintf("DFLU%06d", i)
		ids[i] = fmt.Sprintf("%s%d", p, state.CheckDigit(p))
	}
	applied := func(src string) float64 {
		return counterSum(h.daemon.metrics, "portsync_events_total", map[string]string{"source": src, "result": sync.ResultApplied})
	}

	// Preload, with room to spare: every container in the yard under a
	// CUSTOMS hold (what customs' unknown status asks for: no command).
	for i, id := range ids {
		h.tos(fmt.Sprintf("DF-ARR-%d", i), id, state.TOSArrived, "2026-11-28T08:00:00+08:00", "CUSTOMS")
	}
	brWaitFor(t, dfTimeout, "arrivals applied", func() bool { return applied("tos-events") == dfContainers })
	dfLogSpace(t, "after preload", mnt, dbPath)

	// Phase 1: the disk fills under a stream of releases.
	dfFill(t, filler, dfSlack)
	dfLogSpace(t, "filled", mnt, dbPath)
	for i, id := range ids {
		h.agency(fmt.Sprintf("DF-REL-%d", i), "customs", state.Released, "2026-11-28T10:00:00+08:00", id)
	}
	reason := dfWaitUnhealthy(t, h)
	t.Logf("readyz while the disk is full: %s", reason)
	dfLogSpace(t, "store failing", mnt, dbPath)
	// The writer retries the same group with backoff. A retry can get
	// through: the pages a failed attempt wrote before ENOSPC keep their
	// blocks, so the next attempt of the same group gets further. What is
	// acknowledged is only ever what committed; phase 2 proves that the
	// rest stays with the broker.
	before := applied("customs-mqtt")
	time.Sleep(2 * time.Second)
	after := applied("customs-mqtt")
	t.Logf("releases applied while the disk is full: %v, 2 s later %v, of %d", before, after, dfContainers)
	if after >= dfContainers {
		t.Fatalf("every release applied (%v): the disk never filled during the commits; lower dfSlack", after)
	}
	dfCheckAlive(t, h)

	// Space returns: the same process resumes.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	brWaitFor(t, dfTimeout, "readyz 200 after space returned", func() bool { code, _ := brReady(h); return code == http.StatusOK })
	if v := gaugeValue(h.daemon.metrics, "portsync_store_healthy"); v != 1 {
		t.Errorf("portsync_store_healthy = %v after space returned, want 1", v)
	}
	brWaitFor(t, dfTimeout, "every release applied", func() bool { return applied("customs-mqtt") == dfContainers })
	for _, id := range ids {
		h.waitCommand(id, state.ReleaseHold, "CUSTOMS")
	}
	dfLogSpace(t, "resumed", mnt, dbPath)

	// Phase 2: full again, and the daemon is stopped while it is full.
	dfFill(t, filler, dfSlack)
	// Each hold carries a reason of the longest kept length: the store's
	// file has free pages by now (the commits of phase 1 freed them), and
	// without the reasons' journal pages the holds could fit in them and
	// never meet the full disk.
	longReason := strings.Repeat("r", state.MaxReasonLen)
	for i, id := range ids {
		h.publish("customs/releases", map[string]any{"id": fmt.Sprintf("DF-HOLD-%d", i), "agency": "customs",
			"status": state.Held, "containers": []string{id}, "at": "2026-11-28T11:00:00+08:00", "reason": longReason})
	}
	dfWaitUnhealthy(t, h)
	stopped := time.Now()
	h.stop() // fails the test if Run returns an error or takes over 10 s
	t.Logf("graceful stop with the store failing took %s", time.Since(stopped).Round(time.Millisecond))
	// Counted once the writer has stopped: until then a retry of the
	// failing group can still get through (see phase 1), and a count taken
	// earlier would expect more after the restart than is left to apply.
	held := counterSum(h.daemon.metrics, "portsync_events_total", map[string]string{"source": "customs-mqtt"}) - dfContainers
	t.Logf("holds committed before the stop: %v of %d", held, dfContainers)
	if held >= dfContainers {
		t.Fatalf("every hold applied (%v): the disk never filled", held)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	h.start()
	brWaitFor(t, dfTimeout, "the holds not committed before the stop applied after the restart", func() bool {
		return applied("customs-mqtt") >= dfContainers-held
	})
	// Let stragglers (duplicates of what was committed) arrive.
	time.Sleep(time.Second)

	// One release_hold command per container, whatever was re-sent.
	for _, id := range ids {
		cmdIDs := map[string]bool{}
		for _, c := range h.commands(id) {
			if c.Action == state.ReleaseHold {
				cmdIDs[c.ID] = true
			}
		}
		if len(cmdIDs) != 1 {
			t.Errorf("%s: %d release_hold commands %v, want 1", id, len(cmdIDs), cmdIDs)
		}
	}
	h.stop()

	// The file: consistent, and each event journaled exactly once.
	db, err := bolt.Open(dbPath, 0o400, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		var problems []string
		for err := range tx.Check() {
			problems = append(problems, err.Error())
		}
		if len(problems) > 0 {
			return fmt.Errorf("bbolt check: %d problems: %s", len(problems), strings.Join(problems[:min(len(problems), 10)], "; "))
		}
		counts := map[string]int{}
		err := tx.Bucket([]byte("journal")).ForEach(func(k, v []byte) error {
			e, err := state.DecodeJournalEntry(k, v)
			if err != nil {
				return err
			}
			if e.Kind == state.JournalAgencyEvent || e.Kind == state.JournalTOSEvent {
				counts[e.EventID]++
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, prefix := range []string{"DF-ARR-", "DF-REL-", "DF-HOLD-"} {
			for i := range ids {
				id := fmt.Sprintf("%s%d", prefix, i)
				if counts[id] != 1 {
					t.Errorf("event %s journaled %d times, want 1", id, counts[id])
				}
			}
		}
		if len(counts) != 3*dfContainers {
			t.Errorf("journal has %d distinct events, want %d", len(counts), 3*dfContainers)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// dfFill writes a filler file until the file system is full, then gives
// back slack bytes.
func dfFill(t *testing.T, path string, slack int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill %s: %v", path, err)
			}
			break
		}
	}
	// Then page by page, up to the last free one.
	for {
		if _, err := f.Write(chunk[:4096]); err != nil {
			break
		}
	}
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(max(fi.Size()-slack, 0)); err != nil {
		t.Fatal(err)
	}
}

// dfWaitUnhealthy waits until /readyz answers 503 with a reason that names
// the store and the lack of space, and portsync_store_healthy is 0. It
// returns the reasons.
func dfWaitUnhealthy(t *testing.T, h *harness) string {
	t.Helper()
	var last []string
	brWaitFor(t, dfTimeout, "readyz 503 naming the store and the full disk", func() bool {
		code, reasons := brReady(h)
		last = reasons
		if code != http.StatusServiceUnavailable {
			return false
		}
		for _, r := range reasons {
			if strings.HasPrefix(r, "store: ") && strings.Contains(r, "no space left on device") {
				return true
			}
		}
		return false
	})
	if v := gaugeValue(h.daemon.metrics, "portsync_store_healthy"); v != 0 {
		t.Errorf("portsync_store_healthy = %v while the store fails, want 0", v)
	}
	return strings.Join(last, "; ")
}

// dfCheckAlive checks that the daemon still runs and serves.
func dfCheckAlive(t *testing.T, h *harness) {
	t.Helper()
	select {
	case err := <-h.done:
		t.Fatalf("daemon exited while the disk was full: %v", err)
	default:
	}
	if code := h.getStatus("/healthz"); code != http.StatusOK {
		t.Errorf("healthz while the disk is full: HTTP %d, want 200", code)
	}
	var body struct {
		Mismatches []state.Mismatch `json:"mismatches"`
	}
	if code := h.get("/api/v1/mismatches", &body); code != http.StatusOK {
		t.Errorf("mismatches API while the disk is full: HTTP %d, want 200 (reads still work)", code)
	}
}

// dfLogSpace logs the file system's free space and the store's size and
// allocation.
func dfLogSpace(t *testing.T, when, mnt, db string) {
	t.Helper()
	var fs syscall.Statfs_t
	if err := syscall.Statfs(mnt, &fs); err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(db, &st); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: tmpfs free %d KiB of %d KiB; store size %d KiB, allocated %d KiB",
		when, fs.Bavail*uint64(fs.Bsize)>>10, fs.Blocks*uint64(fs.Bsize)>>10, st.Size>>10, st.Blocks*512>>10)
}

// gaugeValue returns the value of the unlabelled gauge name.
func gaugeValue(m *sync.Metrics, name string) float64 {
	mfs, err := m.Registry.Gather()
	if err != nil {
		return -1
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) > 0 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return -1
}
