// Package filedrop is the file_drop source: every complete file put in a
// directory is one message; once the engine has committed it, the file
// moves to dir/done/, or, if a record in it was rejected, to
// dir/rejected/ with a NAME.reason file beside it.
//
// The directory is watched (fsnotify) and also rescanned every `rescan`
// (default 30s), so a file whose event was missed (a full inotify queue, a
// network file system) is still found. A file is complete when
//
//   - its name does not end with partial_suffix (default ".part": write
//     NAME.part, then rename it to NAME) and does not start with "." (the
//     temporary names of rsync and many editors), and
//   - its size and modification time were the same at two looks at least
//     a second apart.
//
// A file is at most max_bytes (default 64 MiB) bytes. A larger one is not
// read: it is dead-lettered as too_large, with its first 64 KiB as the
// dead letter's payload, and goes to rejected/. A file up to
// adapters.MaxPayload (1 MiB) is read whole into the message; a larger one
// is handed over as a Body that the decoder reads as a stream (the x12_350
// format decodes one transaction set at a time; other formats read the
// file whole, at most max_bytes), with its first 64 KiB as the payload its
// dead letter keeps.
//
// Only regular files are read, and never through a symbolic link: whoever
// can write to the directory must not make portsync read a file elsewhere
// (a token, a key) into a dead letter. A file is opened with O_NOFOLLOW and
// O_NONBLOCK (a FIFO swapped in cannot block the open), and the opened file
// must be the regular file the scan saw (same device and inode); if it is
// not, it is not read and the entry is looked at again. Every other entry,
// a symbolic link, FIFO, socket, device or subdirectory, and a file that
// cannot be opened (permission), is reported to the engine once as a
// message rejected with code unreadable_file, whose payload only describes
// the entry (for a link, where it points), so that it is dead-lettered and
// raises the source's invalid_input alert. The entry is then moved (a
// rename, which does not follow links) to rejected/ with its reason file; a
// subdirectory, anything standing where done/ or rejected/ belongs, and an
// entry that cannot be moved stay where they are and are remembered, by
// name and inode, so they are reported once per process.
//
// A file is delivered once at a time: until the engine settles it, it is
// not read again. If the daemon stops after the commit but before the move,
// the file is still in the directory at the next start and is delivered
// again: its events are duplicates by now and change nothing, and it moves
// to done/ (a rejected record is rejected, and dead-lettered, again). A
// name already taken in done/ or rejected/ gets a UTC time stamp before its
// extension (NAME-20261128T102000.123456789Z.json), so nothing is
// overwritten.
package filedrop

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	stdsync "sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/internal/failpoint"
	"github.com/portsync/portsync/state"
)

// Type is the source type this package registers.
const Type = "file_drop"

func init() {
	adapters.RegisterSource(Type, adapters.SourceWithConfig(newSource, Check))
}

// Config is a file_drop source's own keys; the common ones are in
// config.Source.
type Config struct {
	// Dir is the spool directory, an absolute path.
	Dir string `yaml:"dir"`
	// PartialSuffix marks files still being written; default ".part".
	// Files are also left alone until their size is stable.
	PartialSuffix string `yaml:"partial_suffix"`
	// Rescan is how often the directory is rescanned besides watching it;
	// default 30s.
	Rescan time.Duration `yaml:"rescan"`
	// MaxBytes is the largest file read; larger ones are dead-lettered as
	// too_large without being read. 0 means the default, 64 MiB.
	MaxBytes int `yaml:"max_bytes"`
}

// ConfigOf decodes the own keys of a file_drop source.
func ConfigOf(src config.Source) (*Config, error) { return adapters.DecodeConfig[Config](src) }

// Defaults and names.
const (
	DefaultRescan        = 30 * time.Second
	DefaultPartialSuffix = ".part"
	DoneDir              = "done"
	RejectedDir          = "rejected"
	ReasonSuffix         = ".reason"
	// CodeUnreadableFile is the dead-letter code of a spool entry that is
	// not read: not a regular file, or a file portsync may not open.
	CodeUnreadableFile = "unreadable_file"
	// settleTime is how long a file's size and time must stay the same.
	settleTime = time.Second
	// debounce gathers a burst of directory events into one scan.
	debounce = 50 * time.Millisecond
	// DefaultMaxBytes is the default max_bytes: the largest file read.
	DefaultMaxBytes = 64 << 20
	// MaxMaxBytes bounds max_bytes: a format that cannot stream reads a
	// file whole, and a file bigger than this is no customs message.
	MaxMaxBytes = 1 << 30
)

// Check checks a file_drop source's keys: its own, in c, and the common
// keys of cfg it does not use.
func Check(cfg config.Source, c *Config) []config.KeyError {
	var errs []config.KeyError
	fail := func(key, msg string) { errs = append(errs, config.KeyError{Key: key, Msg: msg}) }
	switch {
	case c.Dir == "":
		fail("dir", "required for file_drop sources")
	case !filepath.IsAbs(c.Dir):
		fail("dir", fmt.Sprintf("want an absolute path, got %q", c.Dir))
	default:
		// newSource refuses it too: the daemon would not start.
		if err := isDir(c.Dir); err != nil {
			fail("dir", err.Error())
		}
	}
	if c.Rescan < 0 {
		fail("rescan", "must not be negative")
	}
	switch {
	case c.MaxBytes < 0:
		fail("max_bytes", "must not be negative (0 is the default, 64 MiB)")
	case c.MaxBytes > MaxMaxBytes:
		fail("max_bytes", fmt.Sprintf("at most %d (1 GiB), got %d", MaxMaxBytes, c.MaxBytes))
	}
	if strings.ContainsRune(c.PartialSuffix, filepath.Separator) {
		fail("partial_suffix", "must not contain a path separator")
	}
	if cfg.AckDir != "" && c.Dir != "" && filepath.Clean(cfg.AckDir) == filepath.Clean(c.Dir) {
		fail("ack_dir", fmt.Sprintf("%q is the spool directory itself: its answers would be read as input; use another directory", cfg.AckDir))
	}
	unused := []struct {
		key string
		set bool
	}{
		{"broker", cfg.Broker != ""}, {"token_file", cfg.TokenFile != ""},
	}
	for _, u := range unused {
		if u.set {
			fail(u.key, "not used by file_drop sources")
		}
	}
	return errs
}

// look is what a scan saw of a file.
type look struct {
	size     int64
	mod      time.Time
	at       time.Time // when it was first seen like this
	dev, ino uint64
}

// entry is one directory entry: its name, and the file it named when it
// was seen, for a name can name another file later.
type entry struct {
	name     string
	dev, ino uint64
}

func entryOf(name string, info fs.FileInfo) entry {
	e := entry{name: name}
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		e.dev, e.ino = uint64(st.Dev), st.Ino
	}
	return e
}

// odd is a spool entry reported as unreadable_file; keep leaves it where
// it is.
type odd struct {
	id   entry
	mode fs.FileMode
	keep bool
}

// errNotTheFile: what the open found is not the regular file the scan saw.
var errNotTheFile = errors.New("not the file the scan saw")

// unmoved is a settled file whose move failed; the move is tried again at
// every scan, and the file is not delivered again while it is unchanged.
type unmoved struct {
	sub    string
	reject *state.Rejection
	size   int64
	mod    time.Time
}

type source struct {
	name     string
	dir      string
	suffix   string
	maxBytes int64
	rescan   time.Duration
	settle   time.Duration
	log      *slog.Logger
	// noWatch leaves fsnotify out, for tests of the rescan.
	noWatch bool
	// open opens a file to read; tests wrap it to change the directory
	// between the scan and the open.
	open func(path string) (*os.File, error)

	mu       stdsync.Mutex
	looks    map[string]look
	inflight map[string]bool
	unmoved  map[string]unmoved
	reported map[entry]bool // reported as unreadable_file, while present
	started  bool
	stopped  bool

	deliver adapters.Deliver
	watcher *fsnotify.Watcher
	stop    chan struct{}
	wg      stdsync.WaitGroup
}

func newSource(env *adapters.Env, cfg config.Source, c *Config) (adapters.Source, error) {
	if err := isDir(c.Dir); err != nil {
		return nil, fmt.Errorf("source %s: dir: %w", cfg.Name, err)
	}
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &source{
		name: cfg.Name, dir: c.Dir, suffix: c.PartialSuffix, maxBytes: int64(c.MaxBytes), rescan: c.Rescan, settle: settleTime,
		log:   log.With("source", cfg.Name),
		looks: map[string]look{}, inflight: map[string]bool{}, unmoved: map[string]unmoved{},
		reported: map[entry]bool{}, open: openEntry,
		stop: make(chan struct{}),
	}
	if s.suffix == "" {
		s.suffix = DefaultPartialSuffix
	}
	if s.rescan <= 0 {
		s.rescan = DefaultRescan
	}
	if s.maxBytes <= 0 {
		s.maxBytes = DefaultMaxBytes
	}
	return s, nil
}

func isDir(dir string) error {
	info, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !info.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	return nil
}

// Start watches the directory and scans it at once. Without a watch (the
// system refused one) the periodic rescan still finds every file.
func (s *source) Start(_ context.Context, deliver adapters.Deliver) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return fmt.Errorf("source %s: started twice", s.name)
	}
	if err := isDir(s.dir); err != nil {
		return fmt.Errorf("source %s: dir: %w", s.name, err)
	}
	s.started = true
	s.deliver = deliver
	var w *fsnotify.Watcher
	var err error
	if s.noWatch {
		err = errors.New("watching is off")
	} else {
		w, err = fsnotify.NewWatcher()
	}
	if err == nil {
		if err = w.Add(s.dir); err != nil {
			w.Close()
		}
	}
	if err != nil {
		s.log.Warn("cannot watch the directory; finding files by rescan only", "dir", s.dir, "rescan", s.rescan, "err", err)
		w = nil
	}
	s.watcher = w
	s.wg.Go(s.run)
	return nil
}

// Stop stops watching and waits for a scan in progress. Files already
// delivered are still moved when the engine settles them.
func (s *source) Stop() {
	s.mu.Lock()
	if !s.started || s.stopped {
		s.stopped = true
		s.mu.Unlock()
		return
	}
	s.stopped = true
	s.mu.Unlock()
	close(s.stop)
	if s.watcher != nil {
		s.watcher.Close()
	}
	s.wg.Wait()
}

func (s *source) run() {
	var events <-chan fsnotify.Event
	var errs <-chan error
	if s.watcher != nil {
		events, errs = s.watcher.Events, s.watcher.Errors
	}
	rescan := time.NewTicker(s.rescan)
	defer rescan.Stop()
	next := time.NewTimer(0) // the first scan, at once
	defer next.Stop()
	for {
		select {
		case <-s.stop:
			return
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if filepath.Dir(ev.Name) == filepath.Clean(s.dir) {
				next.Reset(debounce)
			}
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			s.log.Warn("directory watch failed; rescanning", "dir", s.dir, "err", err)
			next.Reset(0)
		case <-rescan.C:
			s.scanAndArm(next)
		case <-next.C:
			s.scanAndArm(next)
		}
	}
}

func (s *source) scanAndArm(next *time.Timer) {
	if wait := s.scan(); wait > 0 {
		next.Reset(wait)
	}
}

// scan looks at every file in the directory, delivers those that are
// complete, and returns how soon a file still settling could be complete
// (0 if none is settling).
func (s *source) scan() time.Duration {
	s.retryMoves()
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		s.log.Warn("cannot read the directory", "dir", s.dir, "err", err)
		return 0
	}
	now := time.Now()
	var wait time.Duration
	soon := func(d time.Duration) {
		if wait == 0 || d < wait {
			wait = d
		}
	}
	present := map[string]bool{}
	seen := map[entry]bool{}
	var ready []string
	var odds []odd
	s.mu.Lock()
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || strings.HasSuffix(name, s.suffix) {
			continue
		}
		own := name == DoneDir || name == RejectedDir
		if own && e.IsDir() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // gone since ReadDir
		}
		present[name] = true
		id := entryOf(name, info)
		seen[id] = true
		if s.inflight[name] || s.reported[id] {
			continue
		}
		if own || !info.Mode().IsRegular() {
			s.reported[id] = true
			s.inflight[name] = true
			odds = append(odds, odd{id: id, mode: info.Mode(), keep: own || info.IsDir()})
			continue
		}
		if u, ok := s.unmoved[name]; ok {
			if u.size == info.Size() && u.mod.Equal(info.ModTime()) {
				continue
			}
			delete(s.unmoved, name) // a new file under the same name
		}
		l, ok := s.looks[name]
		if !ok || l.size != info.Size() || !l.mod.Equal(info.ModTime()) || l.dev != id.dev || l.ino != id.ino {
			s.looks[name] = look{size: info.Size(), mod: info.ModTime(), at: now, dev: id.dev, ino: id.ino}
			soon(s.settle)
			continue
		}
		if d := s.settle - now.Sub(l.at); d > 0 {
			soon(d)
			continue
		}
		ready = append(ready, name)
	}
	for name := range s.looks {
		if !present[name] {
			delete(s.looks, name)
		}
	}
	for name := range s.unmoved {
		if !present[name] {
			delete(s.unmoved, name)
		}
	}
	for id := range s.reported {
		if !seen[id] {
			delete(s.reported, id)
		}
	}
	s.mu.Unlock()
	for _, o := range odds {
		select {
		case <-s.stop:
			return 0
		default:
		}
		what, reason := s.describe(o)
		s.report(o, what, reason)
	}
	for _, name := range ready { // ReadDir sorts by name
		select {
		case <-s.stop:
			return 0
		default:
		}
		if again := s.deliverFile(name); again {
			soon(s.settle)
		}
	}
	return wait
}

// deliverFile reads a complete file and hands it to the engine. It
// reports whether the file changed while it was read (it is then looked at
// again later).
func (s *source) deliverFile(name string) (changed bool) {
	path := filepath.Join(s.dir, name)
	s.mu.Lock()
	l := s.looks[name]
	s.mu.Unlock()
	// A file too large to hold is read through a Body when the engine
	// decodes it; the payload keeps its head for the dead letter.
	whole := l.size <= adapters.MaxPayload && l.size <= s.maxBytes
	limit := l.size
	if !whole {
		limit = min(l.size, adapters.MaxKept)
	}
	data, more, err := s.readFile(path, l, limit)
	s.mu.Lock()
	if err == nil && (int64(len(data)) != limit || whole && more) {
		delete(s.looks, name)
		s.mu.Unlock()
		return true
	}
	if err != nil {
		delete(s.looks, name)
		s.mu.Unlock()
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case errors.Is(err, errNotTheFile):
			// The next scan sees what is there now, and reports it if
			// it is not a regular file.
			s.log.Warn("file replaced between the scan and the open; not read", "file", name, "err", err)
			return true
		case errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EIO):
			s.reportUnreadable(name, l, err)
		default:
			s.log.Warn("cannot read file; trying again at the next scan", "file", name, "err", err)
		}
		return false
	}
	s.inflight[name] = true
	s.mu.Unlock()
	m := adapters.Message{
		Payload: data, ReceivedAt: time.Now(), Name: name,
		Done: func(o adapters.Outcome) { s.settled(name, l, o.Reject) },
	}
	switch {
	case l.size > s.maxBytes:
		m.Reject = &state.Rejection{Code: state.CodeTooLarge, Reason: fmt.Sprintf(
			"file %q is %d bytes, larger than this source's max_bytes %d: it is not read (its first %d bytes are kept here)",
			name, l.size, s.maxBytes, len(data))}
	case !whole:
		m.Body = s.opener(path, l)
	}
	s.log.Debug("file delivered", "file", name, "bytes", l.size, "streamed", m.Body != nil, "too_large", m.Reject != nil)
	s.deliver(m)
	return false
}

// openEntry opens a file without following a symbolic link and without
// waiting for a FIFO's writer, so that whatever was put at the name since
// the scan, the open neither leaves the directory nor blocks the scan.
func openEntry(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
}

// openSeen opens the file the scan saw as l. Anything else at the name (a
// link, a FIFO, another file) is not opened: the error wraps
// errNotTheFile.
func (s *source) openSeen(path string, l look) (*os.File, error) {
	f, err := s.open(path)
	if errors.Is(err, syscall.ELOOP) || errors.Is(err, syscall.ENXIO) {
		// ELOOP: a symbolic link (O_NOFOLLOW); ENXIO: a socket.
		return nil, fmt.Errorf("%w: %w", errNotTheFile, err)
	}
	if err != nil {
		return nil, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !info.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%w: it is a %s now", errNotTheFile, kindOf(info.Mode()))
	}
	if id := entryOf("", info); id.dev != l.dev || id.ino != l.ino {
		f.Close()
		return nil, fmt.Errorf("%w: another file has its name now", errNotTheFile)
	}
	return f, nil
}

// readFile reads at most limit bytes of the file the scan saw as l and
// says whether there was more.
func (s *source) readFile(path string, l look, limit int64) ([]byte, bool, error) {
	f, err := s.openSeen(path, l)
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, false, err
	}
	if int64(len(data)) > limit {
		return data[:limit], true, nil
	}
	return data, false, nil
}

// opener is the Body of a file too large to hold: it opens the file the
// scan saw again and reads at most the size the scan saw.
func (s *source) opener(path string, l look) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) {
		f, err := s.openSeen(path, l)
		if err != nil {
			return nil, err
		}
		return struct {
			io.Reader
			io.Closer
		}{io.LimitReader(f, l.size), f}, nil
	}
}

// kindOf names the kind of file a mode is, for reports.
func kindOf(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "regular file"
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	case m.IsDir():
		return "directory"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "block device"
	}
	return fmt.Sprintf("special file (mode %s)", m)
}

// describe says what an odd entry is, for the payload of its report (for a
// link, where it points: never what it points to), and why it is not read.
func (s *source) describe(o odd) (what, reason string) {
	name := o.id.name
	what = fmt.Sprintf("%s %q", kindOf(o.mode), name)
	if o.mode&fs.ModeSymlink != 0 {
		if target, err := os.Readlink(filepath.Join(s.dir, name)); err == nil {
			what = fmt.Sprintf("symlink %q -> %q", name, target)
		}
	}
	switch {
	case name == DoneDir || name == RejectedDir:
		reason = fmt.Sprintf("%s stands where the %s/ directory belongs; files cannot be filed there until it is a directory, and it is left in place", what, name)
	case o.mode.IsDir():
		reason = fmt.Sprintf("%s: subdirectories are not read; it is left in place", what)
	default:
		reason = fmt.Sprintf("%s is not a regular file: only regular files are read, and links are never followed", what)
	}
	return what, reason
}

// reportUnreadable reports once a file the scan saw as l that cannot be
// opened or read.
func (s *source) reportUnreadable(name string, l look, err error) {
	id := entry{name: name, dev: l.dev, ino: l.ino}
	s.mu.Lock()
	if s.reported[id] || s.inflight[name] {
		s.mu.Unlock()
		return
	}
	s.reported[id] = true
	s.inflight[name] = true
	s.mu.Unlock()
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err // the path is the directory's and the name's, said already
	}
	what := fmt.Sprintf("unreadable file %q: %v", name, err)
	s.report(odd{id: id}, what, what)
}

// report hands an entry that is not read to the engine as a message it
// dead-letters as unreadable_file without decoding; once that is
// committed, the entry is filed in rejected/ unless it is kept. The
// caller has marked it reported and in flight.
func (s *source) report(o odd, what, reason string) {
	rej := &state.Rejection{Code: CodeUnreadableFile, Reason: reason}
	s.log.Warn("spool entry not read; reported as "+CodeUnreadableFile, "file", o.id.name, "what", what)
	s.deliver(adapters.Message{
		Payload: []byte(what), Reject: rej, ReceivedAt: time.Now(), Name: o.id.name,
		Done: func(adapters.Outcome) { s.settledOdd(o, rej) },
	})
}

// settledOdd files a reported entry once its dead letter is committed. It
// moves the entry only if it is still the one reported: a new entry under
// the name is looked at afresh by the next scan. An entry that stays is
// still remembered as reported.
func (s *source) settledOdd(o odd, rej *state.Rejection) {
	name := o.id.name
	var dst string
	var err error
	if !o.keep {
		if info, lerr := os.Lstat(filepath.Join(s.dir, name)); lerr == nil && entryOf(name, info) == o.id {
			dst, err = s.move(name, RejectedDir, rej)
		}
	}
	s.mu.Lock()
	delete(s.inflight, name)
	s.mu.Unlock()
	switch {
	case err != nil:
		s.log.Error("cannot move a reported spool entry to rejected/; it stays and is not reported again", "file", name, "err", err)
	case dst != "":
		s.log.Info("reported spool entry moved", "file", name, "moved_to", dst)
	}
}

// settled files a committed file by its outcome. It runs on the engine's
// writer goroutine, so it does only a rename and, for a rejection, one
// small write.
func (s *source) settled(name string, l look, rej *state.Rejection) {
	failpoint.Hit("filedrop.beforemove")
	sub := DoneDir
	if rej != nil {
		sub = RejectedDir
	}
	dst, err := s.move(name, sub, rej)
	s.mu.Lock()
	delete(s.inflight, name)
	delete(s.looks, name)
	if err != nil {
		s.unmoved[name] = unmoved{sub: sub, reject: rej, size: l.size, mod: l.mod}
	}
	s.mu.Unlock()
	switch {
	case err != nil:
		s.log.Error("cannot move a committed file; trying again at the next scan", "file", name, "to", sub, "err", err)
	case rej != nil:
		s.log.Warn("file rejected", "file", name, "moved_to", dst, "code", rej.Code, "reason", rej.Reason)
	default:
		s.log.Info("file done", "file", name, "moved_to", dst)
	}
}

// move moves dir/name to dir/sub/ under a free name, with the reason
// beside it for a rejection, and returns the new path. A file already gone
// (moved by an earlier run) is not an error.
func (s *source) move(name, sub string, rej *state.Rejection) (string, error) {
	src := filepath.Join(s.dir, name)
	dstDir := filepath.Join(s.dir, sub)
	if err := os.MkdirAll(dstDir, 0o750); err != nil {
		return "", err
	}
	// MkdirAll is content with a link to a directory, which would file
	// everything wherever the link points.
	if info, err := os.Lstat(dstDir); err != nil {
		return "", err
	} else if !info.IsDir() {
		return "", fmt.Errorf("%s is a %s, not a directory", dstDir, kindOf(info.Mode()))
	}
	dst := freeName(dstDir, name)
	if rej != nil {
		// The reason goes first, so that a rejected file always has one.
		if err := writeReason(dst+ReasonSuffix, rej); err != nil {
			return "", err
		}
	}
	if err := os.Rename(src, dst); err != nil {
		if rej != nil {
			os.Remove(dst + ReasonSuffix)
		}
		if errors.Is(err, fs.ErrNotExist) {
			return "", nil
		}
		return "", err
	}
	return dst, nil
}

// writeReason creates a reason file; O_EXCL refuses a name taken since
// freeName looked, a link included, so nothing is written through one.
func writeReason(path string, rej *state.Rejection) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return err
	}
	_, err = f.WriteString(rej.Code + ": " + rej.Reason + "\n")
	return errors.Join(err, f.Close())
}

// freeName returns dir/name, or, if that or its reason file exists,
// dir/NAME-<UTC time>EXT.
func freeName(dir, name string) string {
	taken := func(p string) bool {
		_, err1 := os.Lstat(p)
		_, err2 := os.Lstat(p + ReasonSuffix)
		return err1 == nil || err2 == nil
	}
	p := filepath.Join(dir, name)
	if !taken(p) {
		return p
	}
	ext := filepath.Ext(name)
	base := strings.TrimSuffix(name, ext)
	if base == "" { // a name such as ".json" has no base
		base, ext = name, ""
	}
	stamp := time.Now().UTC().Format("20060102T150405.000000000Z")
	for i := 0; ; i++ {
		n := base + "-" + stamp + ext
		if i > 0 {
			n = fmt.Sprintf("%s-%s-%d%s", base, stamp, i, ext)
		}
		if p = filepath.Join(dir, n); !taken(p) {
			return p
		}
	}
}

// retryMoves tries again the moves that failed.
func (s *source) retryMoves() {
	s.mu.Lock()
	var todo []string
	for name := range s.unmoved {
		todo = append(todo, name)
	}
	s.mu.Unlock()
	for _, name := range todo {
		s.mu.Lock()
		u, ok := s.unmoved[name]
		s.mu.Unlock()
		if !ok {
			continue
		}
		if info, err := os.Lstat(filepath.Join(s.dir, name)); err == nil && (info.Size() != u.size || !info.ModTime().Equal(u.mod)) {
			s.mu.Lock()
			delete(s.unmoved, name) // a new file under the same name: deliver it
			s.mu.Unlock()
			continue
		}
		dst, err := s.move(name, u.sub, u.reject)
		if err != nil {
			continue
		}
		s.mu.Lock()
		delete(s.unmoved, name)
		s.mu.Unlock()
		s.log.Info("file moved after an earlier failure", "file", name, "moved_to", dst)
	}
}
