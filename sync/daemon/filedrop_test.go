package daemon

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/portsync/portsync/adapters/filedrop"
	"github.com/portsync/portsync/state"
	"github.com/portsync/portsync/sync"
)

// withDropSource adds a file_drop source over dir to the test config.
func withDropSource(dir string) func(string) string {
	src := fmt.Sprintf("  - {name: customs-drop, type: file_drop, dir: %s, kind: agency, agency: customs, rescan: 1s}\n", dir)
	return func(y string) string { return strings.Replace(y, "sources:\n", "sources:\n"+src, 1) }
}

func dropEvent(id, status string, containers ...string) string {
	return fmt.Sprintf(`{"id":%q,"agency":"customs","status":%q,"containers":["%s"],"at":"2026-11-28T10:15:00+08:00"}`,
		id, status, strings.Join(containers, `","`))
}

func dropWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func dropExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func dropFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// dropJournal returns the journal of a container.
func dropJournal(h *harness, container string) []state.JournalEntry {
	h.t.Helper()
	var ans struct {
		History []state.JournalEntry `json:"history"`
	}
	if code := h.get("/api/v1/containers/"+container+"/history", &ans); code != http.StatusOK {
		h.t.Fatalf("history of %s: HTTP %d", container, code)
	}
	return ans.History
}

var dropMetricLine = regexp.MustCompile(`(?m)^portsync_events_total\{result="(\w+)",source="customs-drop"\} (\S+)$`)

// dropEvents returns portsync_events_total{source="customs-drop"} by result.
func dropEvents(h *harness) map[string]float64 {
	h.t.Helper()
	resp, err := h.httpc.Get(h.base() + "/metrics")
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	out := map[string]float64{}
	for _, m := range dropMetricLine.FindAllStringSubmatch(string(body), -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		out[m[1]] = v
	}
	return out
}

func TestFileDropAppliesAndFilesByOutcome(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, withDropSource(dir))
	done, rejected := filepath.Join(dir, "done"), filepath.Join(dir, "rejected")

	// A file still being written is left alone until it is renamed.
	part := filepath.Join(dir, "rel-1.json.part")
	dropWrite(t, part, dropEvent("DROP-1", "released", c1))
	time.Sleep(2500 * time.Millisecond) // past the settle time and a rescan
	if h.getStatus("/api/v1/containers/"+c1) != http.StatusNotFound || dropExists(filepath.Join(done, "rel-1.json.part")) {
		t.Fatal("a .part file was read")
	}
	if err := os.Rename(part, filepath.Join(dir, "rel-1.json")); err != nil {
		t.Fatal(err)
	}
	h.eventually("done/rel-1.json", func() bool { return dropExists(filepath.Join(done, "rel-1.json")) })
	if st := h.container(c1).Agencies["customs"]; st != state.Released {
		t.Errorf("customs status of %s: %s, want released", c1, st)
	}
	if dropExists(filepath.Join(dir, "rel-1.json")) {
		t.Error("the applied file is still in the drop directory")
	}

	// A bad file goes to rejected/ with its reason, naming the field.
	dropWrite(t, filepath.Join(dir, "bad.json"), dropEvent("DROP-2", "maybe", c2))
	h.eventually("rejected/bad.json.reason", func() bool { return dropExists(filepath.Join(rejected, "bad.json.reason")) })
	if !dropExists(filepath.Join(rejected, "bad.json")) {
		t.Fatal("bad.json is not in rejected/")
	}
	reason, _ := os.ReadFile(filepath.Join(rejected, "bad.json.reason"))
	if !strings.HasPrefix(string(reason), state.CodeInvalidField+": ") || !strings.Contains(string(reason), `field "status"`) {
		t.Errorf("reason %q, want invalid_field naming the status field", reason)
	}
	var dl struct {
		DeadLetters []state.DeadLetter `json:"deadletters"`
	}
	h.get("/api/v1/deadletters", &dl)
	if len(dl.DeadLetters) != 1 || dl.DeadLetters[0].Source != "customs-drop" {
		t.Errorf("dead letters %+v, want the bad file's", dl.DeadLetters)
	}
	if h.getStatus("/api/v1/containers/"+c2) != http.StatusNotFound {
		t.Errorf("%s is known after a rejected event", c2)
	}
	if got := dropEvents(h); got[sync.ResultApplied] != 1 || got[sync.ResultRejected] != 1 {
		t.Errorf("events %v, want 1 applied and 1 rejected", got)
	}
}

// TestFileDropCrashBetweenApplyAndMove puts an applied file back into the
// directory, as a crash after the commit and before the move would leave
// it: it is read again, recognised as a duplicate, and moved to done/,
// with the state unchanged. Then the same across a restart.
func TestFileDropCrashBetweenApplyAndMove(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, withDropSource(dir))
	done := filepath.Join(dir, "done")
	content := dropEvent("DROP-9", "released", c3)
	dropWrite(t, filepath.Join(dir, "cusres-9.json"), content)
	h.eventually("done/cusres-9.json", func() bool { return dropExists(filepath.Join(done, "cusres-9.json")) })
	before := dropJournal(h, c3)
	if len(before) != 1 || before[0].EventID != "DROP-9" {
		t.Fatalf("journal of %s: %+v, want DROP-9 once", c3, before)
	}

	dropWrite(t, filepath.Join(dir, "cusres-9.json"), content)
	h.eventually("the copy moved to done/", func() bool { return len(dropFiles(t, done)) == 2 })
	h.eventually("the duplicate counted", func() bool { return dropEvents(h)[sync.ResultDuplicate] == 1 })
	if dropExists(filepath.Join(dir, "cusres-9.json")) {
		t.Error("the copy is still in the drop directory")
	}
	if dropExists(filepath.Join(dir, "rejected")) {
		t.Error("a duplicate was filed as rejected")
	}
	if got := dropEvents(h); got[sync.ResultApplied] != 1 || got[sync.ResultDuplicate] != 1 || got[sync.ResultRejected] != 0 {
		t.Errorf("events %v, want 1 applied, then 1 duplicate", got)
	}
	if after := dropJournal(h, c3); !slices.EqualFunc(after, before, func(a, b state.JournalEntry) bool { return a.Seq == b.Seq }) {
		t.Errorf("journal of %s changed: %+v", c3, after)
	}

	// Across a restart: the daemon is down when the file (back from a
	// crash) is in the directory.
	h.stop()
	dropWrite(t, filepath.Join(dir, "cusres-9.json"), content)
	h.start()
	h.eventually("the file moved to done/ after the restart", func() bool { return len(dropFiles(t, done)) == 3 })
	// The counters move just after the file is filed, in the same pass.
	h.eventually("the duplicate counted after the restart", func() bool { return dropEvents(h)[sync.ResultDuplicate] == 1 })
	if got := dropEvents(h); got[sync.ResultDuplicate] != 1 || got[sync.ResultApplied] != 0 {
		t.Errorf("events after the restart %v, want 1 duplicate", got)
	}
	if st := h.container(c3).Agencies["customs"]; st != state.Released {
		t.Errorf("customs status of %s: %s, want released", c3, st)
	}
	if after := dropJournal(h, c3); len(after) != 1 {
		t.Errorf("journal of %s: %+v, want the one entry", c3, after)
	}
}
