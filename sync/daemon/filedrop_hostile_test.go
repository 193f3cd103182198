package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/portsync/portsync/adapters/filedrop"
	"github.com/portsync/portsync/state"
	"github.com/portsync/portsync/sync"
)

// TestFileDropHostileEntriesAreDeadLetteredNotRead: a link to the API
// token, a FIFO and a subdirectory in the spool are each one
// unreadable_file dead letter that describes the entry, never the token;
// the link and the FIFO are filed in rejected/ with their reasons, the
// source's invalid_input alert fires, and a good file beside them is
// applied as ever.
func TestFileDropHostileEntriesAreDeadLetteredNotRead(t *testing.T) {
	const secret = "api-token-5b1e-DO-NOT-LEAK"
	token := filepath.Join(t.TempDir(), "api.token")
	if err := os.WriteFile(token, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Symlink(token, filepath.Join(dir, "x.edi")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "p.edi"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	dropWrite(t, filepath.Join(dir, "good.json"), dropEvent("DROP-G", "released", c1))
	h := newHarness(t, withDropSource(dir))

	h.eventually("three unreadable_file dead letters", func() bool {
		n := 0
		for _, d := range h.deadLetters() {
			if d.Code == filedrop.CodeUnreadableFile {
				n++
			}
		}
		return n == 3
	})
	h.eventually("the good file applied", func() bool { return dropExists(filepath.Join(dir, "done", "good.json")) })
	want := map[string]bool{
		fmt.Sprintf("symlink %q -> %q", "x.edi", token): true,
		`named pipe (FIFO) "p.edi"`:                     true,
		`directory "sub"`:                               true,
	}
	for _, d := range h.deadLetters() {
		if strings.Contains(d.Payload, secret) || strings.Contains(d.Reason, secret) {
			t.Errorf("dead letter %s holds the token: %+v", d.ID, d)
		}
		if d.Source != "customs-drop" || d.Code != filedrop.CodeUnreadableFile || !want[d.Payload] {
			t.Errorf("unexpected dead letter %+v", d)
		}
		delete(want, d.Payload)
	}
	if len(want) != 0 {
		t.Errorf("no dead letter for %v", want)
	}
	for _, name := range []string{"x.edi", "p.edi"} {
		h.eventually("rejected/"+name+".reason", func() bool { return dropExists(filepath.Join(dir, "rejected", name+".reason")) })
		reason, err := os.ReadFile(filepath.Join(dir, "rejected", name+".reason"))
		if err != nil || strings.Contains(string(reason), secret) || !strings.HasPrefix(string(reason), filedrop.CodeUnreadableFile+": ") {
			t.Errorf("rejected/%s.reason = %q, %v", name, reason, err)
		}
	}
	if !dropExists(filepath.Join(dir, "sub")) {
		t.Error("the subdirectory was moved")
	}
	var a state.Alert
	var ok bool
	if err := h.daemon.store.View(func(tx *state.Tx) (err error) {
		a, ok, err = tx.Alert(sync.AlertID(state.KindInvalidInput, "customs-drop", ""))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if !ok || a.State != state.Firing || a.Count != 3 {
		t.Errorf("invalid_input alert of customs-drop = %+v (found %v), want firing with a count of 3", a, ok)
	}
	if st := h.container(c1).Agencies["customs"]; st != state.Released {
		t.Errorf("customs status of %s: %s, want released", c1, st)
	}
}
