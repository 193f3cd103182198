package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portsync/portsync/state"
)

// main.go does not dispatch "compact" yet, so these tests run the verb in
// process: compact(args, stdout, stderr) is what cmdCompact runs.

// compactConfig writes a valid configuration whose state_dir is dir.
func compactConfig(t *testing.T, dir string) string {
	t.Helper()
	path, _ := writeCheckConfig(t, "state_dir: STATE", "state_dir: "+dir)
	return path
}

func runCompact(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = compact(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

var ctT0 = time.Date(2026, 11, 28, 2, 20, 0, 0, time.UTC)

// ctFill writes a store with a large journal, most of which retention then
// prunes, so that the file is mostly free pages; plus commands, a dead
// letter and a container. It returns the sequence of the last journal
// entry.
func ctFill(t *testing.T, path string) uint64 {
	t.Helper()
	s, err := state.Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const entries, perTx = 12000, 1000
	pad := strings.Repeat("x", 600)
	for i := 0; i < entries; i += perTx {
		err := s.Update(func(tx *state.Tx) error {
			for j := i; j < i+perTx; j++ {
				c := []string{"MSCU1234566", "TGHU1234567"}[j%2]
				e := state.JournalEntry{At: ctT0.Add(time.Duration(j) * time.Second), Kind: state.JournalAgencyEvent,
					Container: c, EventID: fmt.Sprintf("EV-%05d", j), Detail: pad}
				if err := tx.Journal(&e); err != nil {
					return err
				}
				if err := tx.MarkSeen("customs-mqtt", e.EventID, e.At, nil); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	err = s.Update(func(tx *state.Tx) error {
		for range 3 {
			if _, err := tx.NextCommandID(); err != nil {
				return err
			}
		}
		if err := tx.PutDeadLetter(&state.DeadLetter{Source: "customs-mqtt", Code: "malformed", Reason: "bad", Payload: "{"}); err != nil {
			return err
		}
		return tx.PutContainer(state.Container{ID: "MSCU1234566", Presence: state.InYard}, "")
	})
	if err != nil {
		t.Fatal(err)
	}
	// Keep the last 100 entries and dedupe keys.
	cutoff := ctT0.Add((entries - 100) * time.Second)
	for more := true; more; {
		err := s.Update(func(tx *state.Tx) error {
			var err error
			_, more, err = tx.PruneJournal(cutoff, 1000)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var after []byte
	for first := true; first || after != nil; first = false {
		from := after
		if err := s.Update(func(tx *state.Tx) error {
			var err error
			_, after, err = tx.PruneDedupe(cutoff, from, 1000)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	return entries
}

func TestCompactShrinksStoreAndKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, state.FileName)
	lastSeq := ctFill(t, path)
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}

	code, stdout, stderr := runCompact(t, "-config", compactConfig(t, dir))
	if code != 0 {
		t.Fatalf("compact exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "compacted "+path) {
		t.Errorf("compact printed %q, want it to name %s", stdout, path)
	}
	after, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %d -> %d bytes; %s", path, before.Size(), after.Size(), strings.TrimSpace(stdout))
	if after.Size() >= before.Size()/2 {
		t.Errorf("store is %d bytes after compaction, %d before: want it at least halved", after.Size(), before.Size())
	}
	if after.Mode().Perm() != 0o640 {
		t.Errorf("compacted store has mode %v, want the original's 0640", after.Mode().Perm())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("state dir holds %v after compaction, want only %s", names, state.FileName)
	}

	// Everything is there, and the sequences go on where they were: ids
	// are never reused.
	s, err := state.Open(path, time.Second)
	if err != nil {
		t.Fatalf("compacted store does not open: %v", err)
	}
	defer s.Close()
	err = s.Update(func(tx *state.Tx) error {
		if n := tx.JournalLen(); n != 100 {
			t.Errorf("JournalLen = %d, want 100", n)
		}
		if n := tx.JournalIndexLen(); n != 100 {
			t.Errorf("JournalIndexLen = %d, want 100", n)
		}
		if n := tx.DedupeLen(); n != 100 {
			t.Errorf("DedupeLen = %d, want 100", n)
		}
		h, err := tx.History("TGHU1234567")
		if err != nil {
			return err
		}
		if len(h) != 50 || h[len(h)-1].EventID != "EV-11999" || h[len(h)-1].Detail == "" {
			t.Errorf("history of TGHU1234567 has %d entries, last %+v", len(h), h[len(h)-1])
		}
		if !tx.Seen("customs-mqtt", "EV-11999") || tx.Seen("customs-mqtt", "EV-00001") {
			t.Error("dedupe keys are not those before compaction")
		}
		if c, ok, err := tx.Container("MSCU1234566"); err != nil || !ok || c.Presence != state.InYard {
			t.Errorf("container after compaction = %+v, %v, %v", c, ok, err)
		}
		if dls, err := tx.DeadLetters(); err != nil || len(dls) != 1 {
			t.Errorf("dead letters after compaction = %+v, %v", dls, err)
		}
		if id, err := tx.NextCommandID(); err != nil || !strings.HasPrefix(id, "cmd-000000000004-") {
			t.Errorf("NextCommandID after compaction = %q, %v; want cmd-000000000004-EPOCH", id, err)
		}
		if err := tx.Journal(&state.JournalEntry{At: ctT0, Kind: state.JournalTOSEvent, Container: "CSQU3054383", EventID: "NEXT"}); err != nil {
			return err
		}
		h, err = tx.History("CSQU3054383")
		if err != nil {
			return err
		}
		if len(h) != 1 || h[0].Seq != lastSeq+1 {
			t.Errorf("journal entry after compaction = %+v, want seq %d", h, lastSeq+1)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestCompactRefusesWhileDaemonHoldsStore(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, state.FileName)
	held, err := state.Open(path, time.Second) // as a running daemon does
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := held.Update(func(tx *state.Tx) error { return tx.PutCursor("src", "c1") }); err != nil {
		t.Fatal(err)
	}
	sum := func() [32]byte {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return sha256.Sum256(data)
	}
	was := sum()

	start := time.Now()
	code, stdout, stderr := runCompact(t, "-config", compactConfig(t, dir))
	if code != 1 {
		t.Fatalf("compact of a held store: exit %d, want 1\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("compact took %v to give up", elapsed)
	}
	for _, want := range []string{path, "in use", "stop it first"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr %q does not say %q", stderr, want)
		}
	}
	if sum() != was {
		t.Error("the held store changed")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("compact left files behind: %v", entries)
	}
	// The daemon's store still works.
	if err := held.Update(func(tx *state.Tx) error { return tx.PutCursor("src", "c2") }); err != nil {
		t.Errorf("held store after refused compact: %v", err)
	}
}

func TestCompactWithoutStore(t *testing.T) {
	dir := t.TempDir()
	code, _, stderr := runCompact(t, "-config", compactConfig(t, dir))
	if code != 1 || !strings.Contains(stderr, "no store at "+filepath.Join(dir, state.FileName)) {
		t.Errorf("compact without a store: exit %d, stderr %q", code, stderr)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("compact created %v", entries)
	}
}

func TestCompactStoreFlagAndUsage(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "backup.db")
	ctFill(t, path)
	code, stdout, stderr := runCompact(t, "-store", path)
	if code != 0 {
		t.Fatalf("compact -store: exit %d\n%s%s", code, stdout, stderr)
	}
	s, err := state.Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	if code, _, stderr := runCompact(t, "extra"); code != 2 || !strings.Contains(stderr, "usage: portsync compact") {
		t.Errorf("compact with an argument: exit %d, stderr %q", code, stderr)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("terminal: [\n"), 0o644)
	if code, _, stderr := runCompact(t, "-config", bad); code != 1 || !strings.Contains(stderr, bad) {
		t.Errorf("compact with a bad config: exit %d, stderr %q", code, stderr)
	}
}

func TestByteSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 5 << 20: "5.0 MiB", 3 << 30: "3.0 GiB"} {
		if got := byteSize(n); got != want {
			t.Errorf("byteSize(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestCompactVerbOfTheBinary runs `portsync compact` as operators do; a
// binary that does not know the verb fails it.
func TestCompactVerbOfTheBinary(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, state.FileName)
	ctFill(t, path)
	cmd := exec.Command(portsyncBinary(t), "compact", "-config", compactConfig(t, dir))
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if err != nil {
		t.Fatalf("portsync compact: %v\nstdout: %s\nstderr: %s", err, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), "compacted "+path) {
		t.Errorf("portsync compact printed %q", out.String())
	}
	s, err := state.Open(path, time.Second)
	if err != nil {
		t.Fatalf("compacted store does not open: %v", err)
	}
	s.Close()
}
