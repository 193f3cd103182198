package filedrop

import (
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	stdsync "sync"
	"syscall"
	"testing"
	"time"
)

// Whoever can write to the spool directory must not be able to make
// portsync read anything but the regular files put there: not through a
// symbolic link (present at the scan, or swapped in between the scan and
// the open), not from a FIFO (which would block the scan). Entries that
// are not read are reported once each, never in silence.

// hostileSecret is the content of a file outside the spool that a link in
// it points to; it must appear nowhere.
const hostileSecret = "api-token-7f3c9e1d-DO-NOT-LEAK"

func secretFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "api.token")
	if err := os.WriteFile(path, []byte(hostileSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// logBuf keeps what the source logs, and shows it in the test log.
type logBuf struct {
	t  *testing.T
	mu stdsync.Mutex
	b  strings.Builder
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.b.Write(p)
	l.mu.Unlock()
	l.t.Logf("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startHostile starts a source over dir that rescans every 50ms and logs
// into the returned buffer.
func startHostile(t *testing.T, dir string, fe *fakeEngine, tweak ...func(*source)) (*source, *logBuf) {
	t.Helper()
	lb := &logBuf{t: t}
	cfg := cfgFor(dir)
	cfg.Rescan = 50 * time.Millisecond
	s := start(t, cfg, fe, append([]func(*source){func(s *source) {
		s.log = slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})).With("source", cfg.Name)
	}}, tweak...)...)
	return s, lb
}

// noSecret checks that the secret is in no message, no file under dir
// (reason files included; links are not followed) and no log line.
func noSecret(t *testing.T, dir string, fe *fakeEngine, lb *logBuf) {
	t.Helper()
	fe.mu.Lock()
	for _, m := range fe.msgs {
		if strings.Contains(string(m.Payload), hostileSecret) || (m.Reject != nil && strings.Contains(m.Reject.Reason, hostileSecret)) {
			t.Errorf("the secret was delivered: payload %q, reject %+v", m.Payload, m.Reject)
		}
	}
	fe.mu.Unlock()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.Contains(string(data), hostileSecret) {
			t.Errorf("the secret was copied into %s", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(lb.String(), hostileSecret) {
		t.Error("the secret is in the log")
	}
}

func lexists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// oneReject waits until the entry is filed (or, with filed "", a report
// is made), lets many rescans pass and checks there is exactly one report,
// with the payload want, and no file delivered.
func oneReject(t *testing.T, fe *fakeEngine, filed, want string) {
	t.Helper()
	if filed != "" {
		eventually(t, filed, func() bool { return lexists(filed) })
	} else {
		eventually(t, "a report", func() bool { return len(fe.rejects()) > 0 })
	}
	time.Sleep(400 * time.Millisecond) // many rescans
	rejects := fe.rejects()
	if len(rejects) != 1 {
		var got []string
		for _, m := range rejects {
			got = append(got, string(m.Payload))
		}
		t.Fatalf("%d reports %q, want exactly one", len(rejects), got)
	}
	m := rejects[0]
	if m.Reject.Code != CodeUnreadableFile || string(m.Payload) != want || !strings.Contains(m.Reject.Reason, want) {
		t.Errorf("report %q, %+v; want payload %q, code %s and a reason naming it", m.Payload, m.Reject, want, CodeUnreadableFile)
	}
	if got := fe.payloads(); len(got) != 0 {
		t.Errorf("delivered %q as file contents", got)
	}
}

// reasonOf reads a reason file in rejected/ and checks its code.
func reasonOf(t *testing.T, dir, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, RejectedDir, name+ReasonSuffix))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(data), CodeUnreadableFile+": ") {
		t.Errorf("reason file %q, want the code %s", data, CodeUnreadableFile)
	}
	return string(data)
}

func TestSymlinkToASecretIsReportedNotRead(t *testing.T) {
	dir := t.TempDir()
	secret := secretFile(t)
	if err := os.Symlink(secret, filepath.Join(dir, "x.edi")); err != nil {
		t.Fatal(err)
	}
	fe := &fakeEngine{}
	_, lb := startHostile(t, dir, fe)
	filed := filepath.Join(dir, RejectedDir, "x.edi")
	oneReject(t, fe, filed, fmt.Sprintf("symlink %q -> %q", "x.edi", secret))
	// The link itself was moved, not what it points to.
	if info, err := os.Lstat(filed); err != nil || info.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("rejected/x.edi is not the link: %v, %v", info, err)
	}
	if data, err := os.ReadFile(secret); err != nil || string(data) != hostileSecret+"\n" {
		t.Errorf("the secret file changed: %q, %v", data, err)
	}
	reasonOf(t, dir, "x.edi")
	noSecret(t, dir, fe, lb)
}

// swapBeforeOpen makes the first open of name find what swap put there
// instead of the file the scan saw.
func swapBeforeOpen(name string, swap func(path string) error) func(*source) {
	return func(s *source) {
		var once stdsync.Once
		open := s.open
		s.open = func(path string) (*os.File, error) {
			if filepath.Base(path) == name {
				once.Do(func() {
					if err := os.Remove(path); err != nil {
						panic(err)
					}
					if err := swap(path); err != nil {
						panic(err)
					}
				})
			}
			return open(path)
		}
	}
}

func TestSymlinkSwappedInAfterTheScanIsNotFollowed(t *testing.T) {
	dir := t.TempDir()
	secret := secretFile(t)
	write(t, filepath.Join(dir, "x.edi"), "UNA:+.? 'UNB+UNOC:3+SENDER'")
	fe := &fakeEngine{}
	_, lb := startHostile(t, dir, fe, swapBeforeOpen("x.edi", func(path string) error { return os.Symlink(secret, path) }))
	oneReject(t, fe, filepath.Join(dir, RejectedDir, "x.edi"), fmt.Sprintf("symlink %q -> %q", "x.edi", secret))
	reasonOf(t, dir, "x.edi")
	noSecret(t, dir, fe, lb)
}

func TestFIFOSwappedInAfterTheScanDoesNotBlock(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "p.edi"), "UNA:+.? 'UNB+UNOC:3+SENDER'")
	fe := &fakeEngine{}
	startHostile(t, dir, fe, swapBeforeOpen("p.edi", func(path string) error { return syscall.Mkfifo(path, 0o644) }))
	filed := filepath.Join(dir, RejectedDir, "p.edi")
	oneReject(t, fe, filed, fmt.Sprintf("named pipe (FIFO) %q", "p.edi"))
	if info, err := os.Lstat(filed); err != nil || info.Mode()&fs.ModeNamedPipe == 0 {
		t.Errorf("rejected/p.edi is not the FIFO: %v, %v", info, err)
	}
}

func TestFIFOAndSocketAreReportedOnceAndFiled(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "p.edi"), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", filepath.Join(dir, "s.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	fe := &fakeEngine{}
	startHostile(t, dir, fe)
	for _, name := range []string{"p.edi", "s.sock"} {
		eventually(t, "rejected/"+name, func() bool { return lexists(filepath.Join(dir, RejectedDir, name)) })
	}
	time.Sleep(400 * time.Millisecond) // many rescans
	var got []string
	for _, m := range fe.rejects() {
		got = append(got, string(m.Payload))
	}
	want := []string{`named pipe (FIFO) "p.edi"`, `socket "s.sock"`}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("reports %q, want %q", got, want)
	}
	reasonOf(t, dir, "p.edi")
	reasonOf(t, dir, "s.sock")
}

func TestSubdirectoryIsReportedOnceAndLeftInPlace(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "sub", "nested.json"), `{"id":"NESTED"}`)
	fe := &fakeEngine{}
	startHostile(t, dir, fe)
	oneReject(t, fe, "", `directory "sub"`)
	if !exists(filepath.Join(dir, "sub", "nested.json")) || lexists(filepath.Join(dir, RejectedDir, "sub")) {
		t.Error("the subdirectory was moved")
	}
}

func TestUnreadableFileIsReportedAndFiled(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "locked.edi")
	write(t, path, "UNA:+.? 'UNB+UNOC:3+SENDER'")
	if err := os.Chmod(path, 0); err != nil {
		t.Fatal(err)
	}
	fe := &fakeEngine{}
	var tweak []func(*source)
	if os.Geteuid() == 0 {
		// Root reads a mode-000 file; the open is made to fail as it
		// would for the daemon's own user.
		tweak = append(tweak, func(s *source) {
			open := s.open
			s.open = func(p string) (*os.File, error) {
				if p == path {
					return nil, &fs.PathError{Op: "open", Path: p, Err: syscall.EACCES}
				}
				return open(p)
			}
		})
	}
	startHostile(t, dir, fe, tweak...)
	oneReject(t, fe, filepath.Join(dir, RejectedDir, "locked.edi"), `unreadable file "locked.edi": permission denied`)
	reasonOf(t, dir, "locked.edi")
}

// A link standing where done/ belongs would file every committed file
// wherever it points. It is reported, left in place, and nothing is filed
// through it.
func TestLinkInPlaceOfDoneIsReportedAndNotFiledThrough(t *testing.T) {
	dir := t.TempDir()
	elsewhere := t.TempDir()
	if err := os.Symlink(elsewhere, filepath.Join(dir, DoneDir)); err != nil {
		t.Fatal(err)
	}
	fe := &fakeEngine{}
	s, _ := startHostile(t, dir, fe)
	write(t, filepath.Join(dir, "a.json"), `{"id":"A"}`)
	eventually(t, "the move of a.json to fail", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		_, ok := s.unmoved["a.json"]
		return ok
	})
	oneRejectAmongFiles(t, fe, fmt.Sprintf("symlink %q -> %q", DoneDir, elsewhere))
	if ents, _ := os.ReadDir(elsewhere); len(ents) != 0 {
		t.Errorf("files were filed through the link: %v", ents)
	}
	if info, err := os.Lstat(filepath.Join(dir, DoneDir)); err != nil || info.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("the link in place of done/ was moved: %v, %v", info, err)
	}
}

// oneRejectAmongFiles checks for exactly one report, with payload want,
// where files are delivered too.
func oneRejectAmongFiles(t *testing.T, fe *fakeEngine, want string) {
	t.Helper()
	time.Sleep(400 * time.Millisecond) // many rescans
	rejects := fe.rejects()
	if len(rejects) != 1 || string(rejects[0].Payload) != want {
		var got []string
		for _, m := range rejects {
			got = append(got, string(m.Payload))
		}
		t.Errorf("reports %q, want exactly %q", got, want)
	}
}
