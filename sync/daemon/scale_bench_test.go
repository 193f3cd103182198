package daemon

// Scale benchmarks (issue 6): a store of a million containers, a backlog
// after an outage, latency at a steady rate. Each figure comes with a
// baseline measured in the same run, and the ratio. Results and the
// command lines that produced them are in docs/performance.md.
//
// The defaults keep `go test -run XXX -bench . ./sync/` within minutes on
// two cores; the documented figures use the flags (they go after the
// package):
//
//	go test -run XXX -bench 'ColdStart1M|Sweep1M' -benchtime 1x -timeout 60m ./sync/ -portsync.scale=1000000
//	go test -run XXX -bench Backlog -benchtime 1x -timeout 60m ./sync/ -portsync.backlog=500000
//	go test -run XXX -bench Latency -benchtime 1x ./sync/ -portsync.rate=1000 -portsync.latency-duration=20s

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	stdsync "sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/adapters/tossnapshot"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/internal/broker"
	"github.com/portsync/portsync/state"
	"github.com/portsync/portsync/sync"
	"github.com/portsync/portsync/sync/internal/testseam"
)

var (
	scScale = flag.Int("portsync.scale", 100000,
		"containers in the store of BenchmarkColdStart1M and BenchmarkSweep1M (the documented figures use 1000000)")
	scBacklog = flag.Int("portsync.backlog", 50000,
		"events queued while the daemon is down in BenchmarkBacklog (the documented figures use 500000)")
	scRate     = flag.Int("portsync.rate", 1000, "events per second of BenchmarkLatency's paced publisher")
	scDuration = flag.Duration("portsync.latency-duration", 20*time.Second, "how long BenchmarkLatency publishes at its rate")
	scNoDelay  = flag.Bool("portsync.nodelay", false,
		"BenchmarkLatency against a mosquitto of its own with set_tcp_nodelay true (the test broker keeps mosquitto's default, false: Nagle's algorithm on the broker's sockets)")
	scPublishConn = flag.Bool("portsync.publish-conn", false,
		"the daemon of BenchmarkBacklog, BenchmarkLatency and the sweeps publishes on a connection of its own (brokers.main.publish_client_id)")
)

const (
	// scBuildGroup is how many containers one transaction writes when a
	// benchmark builds its store.
	scBuildGroup = 20000
	// scInflightEvery: every scInflightEvery-th container of a cold-start or
	// sweep store has a command in flight (1%).
	scInflightEvery = 100
	// scSweepGroup is Engine.Sweep's group size, for the raw baseline.
	scSweepGroup = 500
)

// scContainer is the i-th container of a benchmark store; below a million
// it is benchContainer(i).
func scContainer(i int) string {
	owner := "TSTU"
	if blk := i / 1000000; blk > 0 {
		owner = "TS" + string("ABCDEFGHIJKLMNOPQRSUVWXYZ"[(blk-1)%25]) + "U"
	}
	p := fmt.Sprintf("%s%06d", owner, i%1000000)
	return p + strconv.Itoa(state.CheckDigit(p))
}

// scDiscard is the logger of engines under benchmark.
func scDiscard() *slog.Logger { return scLogger(io.Discard) }

func scLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// scWarnings is where a daemon under benchmark logs (level warn): it
// counts the lines and keeps the first few, to be shown after the clock
// stops.
type scWarnings struct {
	mu    stdsync.Mutex
	n     int
	first []string
}

func (w *scWarnings) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.n++
	if len(w.first) < 5 {
		w.first = append(w.first, strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

func (w *scWarnings) log(b *testing.B) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.n > 0 {
		b.Logf("  the daemon logged %d warnings or errors; the first: %s", w.n, strings.Join(w.first, " | "))
	}
}

// scConfig is benchConfig (no sweep, a 30 minute SLA) for a state
// directory and broker.
func scConfig(b *testing.B, dir, url string) *config.Config {
	b.Helper()
	yaml := benchYAML(dir, url)
	if *scPublishConn {
		yaml = strings.Replace(yaml, "    client_id: portsync-bench\n", "    client_id: portsync-bench\n    publish_client_id: portsync-bench-pub\n", 1)
	}
	cfg, err := config.Parse("bench.yaml", []byte(yaml), adapters.Registry)
	if err != nil {
		b.Fatalf("config: %v", err)
	}
	if *scPublishConn && cfg.Brokers["main"].PublishClientID == "" {
		b.Fatal("-portsync.publish-conn: the configuration has no brokers.main.client_id line to add publish_client_id after")
	}
	return cfg
}

// scStore is a store a benchmark built.
type scStore struct {
	path     string
	n        int
	inflight int
	took     time.Duration
}

// scBuildStore writes n containers into a new store in dir, as the engine
// would have left them after a quiet day, straight through state.Store in
// transactions of scBuildGroup containers (the engine would take minutes):
//
//   - even i (every i if allHeld): arrived with a CUSTOMS hold, customs not
//     heard from yet: unknown, whose policy is hold, so nothing to do;
//   - odd i: arrived, released by customs and by quarantine, no hold left
//     in the TOS: cleared, nothing to do.
//
// Each has its TOS arrival (and the agencies' releases) in the journal,
// its event ids marked seen, and the presence and cleared counters kept.
// Then, if inflightEvery > 0, every inflightEvery-th container (a held one)
// gets a customs release through the engine itself (decoded, applied,
// decided, committed as live traffic is): a release_hold command waiting in
// the outbox and an open stale_hold mismatch, the in-flight work a restart
// finds.
func scBuildStore(b *testing.B, dir string, n int, allHeld bool, inflightEvery int) scStore {
	b.Helper()
	start := time.Now()
	path := filepath.Join(dir, state.FileName)
	st, err := state.Open(path, time.Second)
	if err != nil {
		b.Fatal(err)
	}
	at := time.Date(2026, 11, 28, 2, 0, 0, 0, time.UTC)
	for lo := 0; lo < n; lo += scBuildGroup {
		err := st.Update(func(tx *state.Tx) error {
			for i := lo; i < min(lo+scBuildGroup, n); i++ {
				if err := scPutContainer(tx, i, !allHeld && i%2 == 1, at); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	s := scStore{path: path, n: n}
	if inflightEvery > 0 {
		e := scWriter(b, st, scConfig(b, dir, "tcp://127.0.0.1:1"))
		customs := &sync.SourceInfo{Name: "customs-mqtt", Kind: config.KindAgency, Agency: "customs", Decoder: scDecoder(b, config.KindAgency)}
		// The writer commits the in-flight releases in groups, as it
		// would have before the restart the benchmark starts from.
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { e.Run(ctx); close(done) }()
		var msgs []adapters.Message
		flush := func() {
			var wg stdsync.WaitGroup
			for _, m := range msgs {
				wg.Go(func() {
					if o := e.Submit(ctx, customs, m); o.Err != nil {
						b.Error(o.Err)
					}
				})
			}
			wg.Wait()
			msgs = nil
		}
		for i := 0; i < n; i += inflightEvery {
			if !allHeld && i%2 == 1 {
				continue
			}
			msgs = append(msgs, adapters.Message{Payload: scEvent(fmt.Sprintf("REL-INFLIGHT-%09d", i), state.Released, scContainer(i))})
			s.inflight++
			if len(msgs) == 1000 {
				flush()
			}
		}
		if len(msgs) > 0 {
			flush()
		}
		cancel()
		<-done
	}
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	s.took = time.Since(start)
	return s
}

func scPutContainer(tx *state.Tx, i int, cleared bool, at time.Time) error {
	id := scContainer(i)
	c := state.Container{ID: id, Presence: state.InYard, TOSHolds: []string{"CUSTOMS"}, TOSAt: at, UpdatedAt: at}
	if cleared {
		c.TOSHolds = []string{}
	}
	arrival := "N4-" + id
	if err := tx.MarkSeen("tos-events", arrival, at, nil); err != nil {
		return err
	}
	err := tx.Journal(&state.JournalEntry{
		At: at, Kind: state.JournalTOSEvent, Container: id, Source: "tos-events", EventID: arrival,
		Status: state.TOSArrived, EventAt: at, Holds: c.TOSHolds, Result: sync.ResultApplied,
	})
	if err != nil {
		return err
	}
	if cleared {
		c.Agencies = map[string]state.AgencyState{}
		for _, ag := range [][2]string{{"customs", "customs-mqtt"}, {"quarantine", "ciq-mqtt"}} {
			ev := "REL-" + ag[0] + "-" + id
			c.Agencies[ag[0]] = state.AgencyState{Status: state.Released, At: at, EventID: ev, Source: ag[1], ReceivedAt: at}
			if err := tx.MarkSeen(ag[1], ev, at, nil); err != nil {
				return err
			}
			err := tx.Journal(&state.JournalEntry{
				At: at, Kind: state.JournalAgencyEvent, Container: id, Source: ag[1], EventID: ev,
				Agency: ag[0], Status: string(state.Released), EventAt: at, Result: sync.ResultApplied,
			})
			if err != nil {
				return err
			}
		}
		// The engine's count of cleared containers in the yard.
		if err := tx.AddCount("cleared_in_yard", 1); err != nil {
			return err
		}
	}
	return tx.PutContainer(c, "")
}

func scDecoder(b *testing.B, kind string) adapters.Decoder {
	b.Helper()
	dec, err := adapters.NewDecoder(config.Source{Kind: kind, Format: "json"})
	if err != nil {
		b.Fatal(err)
	}
	return dec
}

// scEvent is a customs event of DESIGN 3.1's shape and releaseEvent's size
// (about 250 bytes).
func scEvent(id string, st state.Status, container string) []byte {
	return fmt.Appendf(nil, `{"id":%q,"agency":"customs","status":%q,"containers":[%q],"bl":"MEDUSH%s","declaration":"2201202610%s","reason":"documents checked, duties paid, no inspection required","at":"2026-11-28T10:15:00+08:00"}`,
		id, st, container, container[4:10], container[4:10])
}

// scFileSize is a file's size and the space it takes, in bytes.
func scFileSize(b *testing.B, path string) (size, allocated int64) {
	b.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		b.Fatal(err)
	}
	return st.Size, st.Blocks * 512
}

// scMem is the process's memory: the Go heap (live objects after a GC
// when measured so) and the resident set, split as /proc/self/status
// splits it: anonymous memory, and file pages (bbolt's mmap of the store).
type scMem struct {
	heap, rss, rssAnon, rssFile int64
}

func scReadMem(gc bool) scMem {
	if gc {
		runtime.GC()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m := scMem{heap: int64(ms.HeapAlloc)}
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return m
	}
	for line := range strings.Lines(string(data)) {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			m.rss = kb << 10
		case "RssAnon:":
			m.rssAnon = kb << 10
		case "RssFile:":
			m.rssFile = kb << 10
		}
	}
	return m
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// scHeapPeak samples the heap (live and not yet collected objects) every
// 10 ms until stopped, and returns the largest sample.
func scHeapPeak() (stop func() int64) {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var peak atomic.Int64
	read := func() {
		metrics.Read(sample)
		if v := int64(sample[0].Value.Uint64()); v > peak.Load() {
			peak.Store(v)
		}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			read()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() int64 {
		close(done)
		<-finished
		read()
		return peak.Load()
	}
}

// scStartDaemon starts a daemon of benchConfig on the store in dir,
// logging warnings to logw (nil: nowhere), with setup (if any) run on it
// before Run, and returns once it is ready,
// with the time New+Run took to get there.
func scStartDaemon(b *testing.B, br *broker.Broker, dir string, logw io.Writer, setup func(*Daemon)) (*Daemon, time.Duration, func()) {
	b.Helper()
	if logw == nil {
		logw = io.Discard
	}
	cfg := scConfig(b, dir, br.URL())
	start := time.Now()
	d, err := New(cfg, scLogger(logw))
	if err != nil {
		b.Fatal(err)
	}
	if setup != nil {
		setup(d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var once stdsync.Once
	stop := func() { once.Do(func() { stopBenchDaemon(b, cancel, done) }) }
	b.Cleanup(stop)
	deadline := time.Now().Add(benchTimeout)
	for {
		ok, why := d.Ready()
		if ok {
			break
		}
		if time.Now().After(deadline) {
			stop()
			b.Fatalf("daemon not ready: %v", why)
		}
		time.Sleep(time.Millisecond)
	}
	return d, time.Since(start), stop
}

// BenchmarkColdStart1M: a store of -portsync.scale containers (1% with a
// command in flight), then sync.New + Run until Ready (store open, engine
// and outbox loaded, broker connected and subscribed). Reported: the
// time, the Go heap after a GC and the resident set once ready, the store
// file. Baseline: in the same operation, bbolt.Open of the same file with
// the store's options, a walk over every key of the containers bucket, and
// Close.
func BenchmarkColdStart1M(b *testing.B) {
	n := *scScale
	br := testBroker(b)
	dir := b.TempDir()
	st := scBuildStore(b, dir, n, false, scInflightEvery)
	size, alloc := scFileSize(b, st.path)
	b.Logf("store of %d containers (%d with a command in flight) built in %s: %.0f MiB (%.0f MiB allocated)",
		n, st.inflight, st.took.Round(time.Millisecond), mib(size), mib(alloc))
	scLogBuckets(b, st.path)
	b.Run(fmt.Sprintf("containers=%d", n), func(b *testing.B) {
		var ours, base, open time.Duration
		var mem, before scMem
		for range b.N {
			took, opened, keys := scOpenAndScan(b, st.path)
			if keys != n {
				b.Fatalf("baseline walked %d containers, want %d", keys, n)
			}
			base += took
			open += opened
			debug.FreeOSMemory()
			before = scReadMem(true)
			d, took, stop := scStartDaemon(b, br, dir, nil, nil)
			ours += took
			mem = scReadMem(true)
			var counts map[state.Presence]int64
			d.store.View(func(tx *state.Tx) error { counts = tx.PresenceCounts(); return nil })
			if counts[state.InYard] != int64(n) {
				b.Fatalf("daemon sees %d containers in the yard, want %d", counts[state.InYard], n)
			}
			stop()
		}
		secs, baseSecs := ours.Seconds()/float64(b.N), base.Seconds()/float64(b.N)
		b.ReportMetric(secs, "start_s")
		b.ReportMetric(baseSecs, "raw_open_scan_s")
		b.ReportMetric(open.Seconds()/float64(b.N), "raw_open_s")
		b.ReportMetric(secs/baseSecs, "ratio")
		b.ReportMetric(mib(mem.heap), "heap_MiB")
		b.ReportMetric(mib(mem.rss), "rss_MiB")
		b.ReportMetric(mib(mem.rssAnon), "rss_anon_MiB")
		b.ReportMetric(mib(mem.rssFile), "rss_file_MiB")
		b.ReportMetric(mib(size), "store_MiB")
		b.ReportMetric(0, "ns/op")
		b.Logf("cold start %.3f s, raw bbolt open + key walk %.3f s, ratio %.2f; once ready: heap %.1f MiB (%.1f before New), RSS %.0f MiB (anon %.0f, file %.0f; before New %.0f, anon %.0f, file %.0f); store %.0f MiB",
			secs, baseSecs, secs/baseSecs, mib(mem.heap), mib(before.heap), mib(mem.rss), mib(mem.rssAnon), mib(mem.rssFile),
			mib(before.rss), mib(before.rssAnon), mib(before.rssFile), mib(size))
	})
}

// scLogBuckets logs what each bucket of the store takes.
func scLogBuckets(b *testing.B, path string) {
	b.Helper()
	db, err := bolt.Open(path, 0o400, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		var lines []string
		var total int
		err := tx.ForEach(func(name []byte, bk *bolt.Bucket) error {
			s := bk.Stats()
			alloc := s.BranchAlloc + s.LeafAlloc
			total += alloc
			lines = append(lines, fmt.Sprintf("%s: %d keys, %.1f MiB in pages (%.0f%% used), depth %d",
				name, s.KeyN, mib(int64(alloc)), 100*float64(s.BranchInuse+s.LeafInuse)/float64(max(alloc, 1)), s.Depth))
			return nil
		})
		b.Logf("store pages: %.1f MiB in buckets of %.1f MiB of file (the rest: free pages and the file's growth step); %s",
			mib(int64(total)), mib(tx.Size()), strings.Join(lines, "; "))
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
}

// scOpenAndScan opens the store's file as state.Open does, walks every
// key of the containers bucket and closes it; it returns the time of it
// all and of the open alone (with NoFreelistSync, bbolt rebuilds its
// freelist by walking every page of the file).
func scOpenAndScan(b *testing.B, path string) (total, open time.Duration, keys int) {
	b.Helper()
	start := time.Now()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		b.Fatal(err)
	}
	opened := time.Since(start)
	err = db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket([]byte("containers")).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			keys++
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	return time.Since(start), opened, keys
}

// BenchmarkSweep1M: on a store of -portsync.scale containers (1% with a
// command in flight), sub-benchmarks
//
//   - engine: Engine.Sweep, which lists every container and decides each
//     one in the yard again, in groups of 500 per transaction. Baseline:
//     raw bbolt on the same file, listing the containers bucket and then
//     reading and rewriting every value in transactions of 500.
//   - snapshot: ApplySnapshot of a complete TOS snapshot that lists every
//     container with the holds the store has (nothing to repair), after
//     tossnapshot.Decode of its JSON, which is then dropped as the daemon
//     drops the answer it fetched. Baseline: raw bbolt reading the same
//     keys in transactions of 500.
//
// Reported: time, the Go heap at its peak during the run (live and not yet
// collected, sampled every 10 ms) and after a GC at the end, and the
// containers the sweep changed and commands it issued (0 for this store:
// the check that the store is built as the engine would have left it).
func BenchmarkSweep1M(b *testing.B) {
	n := *scScale
	dir := b.TempDir()
	st := scBuildStore(b, dir, n, false, scInflightEvery)
	size, _ := scFileSize(b, st.path)
	b.Logf("store of %d containers (%d with a command in flight) built in %s: %.0f MiB", n, st.inflight, st.took.Round(time.Millisecond), mib(size))
	cfg := scConfig(b, dir, "tcp://127.0.0.1:1")

	// runEngine opens the store, runs an engine over it for fn and closes
	// it again, so that the raw baseline can open the file.
	runEngine := func(b *testing.B, fn func(e *sync.Engine, ctx context.Context)) *scChanges {
		store, err := state.Open(st.path, time.Second)
		if err != nil {
			b.Fatal(err)
		}
		e := scWriter(b, store, cfg)
		lis := &scChanges{}
		testseam.Committed(e, lis.committed)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		// The engine's goroutines carry the label scale=engine, so that a
		// -cpuprofile or -memprofile narrows to them with -tagfocus.
		pprof.Do(ctx, pprof.Labels("scale", "engine"), func(ctx context.Context) {
			go func() { e.Run(ctx); close(done) }()
			fn(e, ctx)
		})
		cancel()
		<-done
		if err := store.Close(); err != nil {
			b.Fatal(err)
		}
		return lis
	}

	b.Run(fmt.Sprintf("engine/containers=%d", n), func(b *testing.B) {
		var ours, base time.Duration
		var peak, after, before int64
		var lis *scChanges
		for range b.N {
			lis = runEngine(b, func(e *sync.Engine, ctx context.Context) {
				before = scReadMem(true).heap
				stopPeak := scHeapPeak()
				start := time.Now()
				swept, err := e.Sweep(ctx)
				ours += time.Since(start)
				peak = max(peak, stopPeak())
				after = scReadMem(true).heap
				if err != nil {
					b.Fatal(err)
				}
				if swept != n {
					b.Fatalf("swept %d containers, want %d", swept, n)
				}
			})
			base += scRawGroups(b, st.path, nil, true)
		}
		scReportSweep(b, "sweep", ours, base, peak, after, before, lis)
	})

	b.Run(fmt.Sprintf("snapshot/containers=%d", n), func(b *testing.B) {
		var ours, decode, base time.Duration
		var peak, decodePeak, applyPeak, after, before, decodedHeap int64
		var lis *scChanges
		for range b.N {
			// The JSON is made afresh for each operation, so that it can be
			// dropped once decoded, as the daemon drops the answer Fetch
			// read; until then it counts in the peak.
			data := scSnapshotJSON(b, st.path)
			b.Logf("snapshot: %.1f MiB of JSON (tossnapshot.MaxBytes %d MiB)", mib(int64(len(data))), tossnapshot.MaxBytes>>20)
			lis = runEngine(b, func(e *sync.Engine, ctx context.Context) {
				before = scReadMem(true).heap
				stopPeak := scHeapPeak()
				start := time.Now()
				snap, err := tossnapshot.Decode(data)
				if err != nil {
					b.Fatal(err)
				}
				jsonLen := int64(cap(data))
				data = nil
				decoding := time.Since(start)
				decodePeak = max(decodePeak, stopPeak())
				if snap.Skipped > 0 {
					b.Fatalf("snapshot: %d entries skipped: %v", snap.Skipped, snap.Problems)
				}
				// Off the clock: what the decoded snapshot itself keeps
				// (before counted the JSON, buffer and all, now dropped).
				decodedHeap = scReadMem(true).heap - (before - jsonLen)
				stopPeak = scHeapPeak()
				start = time.Now()
				res, err := e.ApplySnapshot(ctx, snap, snap.At)
				repaired := res.Repaired
				ours += decoding + time.Since(start)
				decode += decoding
				applyPeak = max(applyPeak, stopPeak())
				peak = max(decodePeak, applyPeak)
				runtime.KeepAlive(snap)
				after = scReadMem(true).heap
				if err != nil {
					b.Fatal(err)
				}
				if repaired != 0 {
					b.Fatalf("snapshot repaired %d containers, want 0", repaired)
				}
			})
			// The baseline's list of keys is made only now, so that it is
			// not counted in portsync's heap.
			base += scRawGroups(b, st.path, scContainerIDs(b, st.path), false)
		}
		b.ReportMetric(decode.Seconds()/float64(b.N), "decode_s")
		b.ReportMetric(mib(decodedHeap), "decoded_MiB")
		b.ReportMetric(mib(decodePeak), "decode_peak_MiB")
		b.ReportMetric(mib(applyPeak), "apply_peak_MiB")
		b.Logf("the decoded snapshot keeps %.1f MiB of heap; heap peak while decoding (JSON included) %.1f MiB, while applying %.1f MiB",
			mib(decodedHeap), mib(decodePeak), mib(applyPeak))
		scReportSweep(b, "snapshot", ours, base, peak, after, before, lis)
	})
}

func scReportSweep(b *testing.B, what string, ours, base time.Duration, peak, after, before int64, lis *scChanges) {
	secs, baseSecs := ours.Seconds()/float64(b.N), base.Seconds()/float64(b.N)
	b.ReportMetric(secs, what+"_s")
	b.ReportMetric(baseSecs, "raw_s")
	b.ReportMetric(secs/baseSecs, "ratio")
	b.ReportMetric(mib(peak), "peak_heap_MiB")
	b.ReportMetric(mib(after), "heap_after_MiB")
	b.ReportMetric(float64(lis.containers.Load()), "changed")
	b.ReportMetric(float64(lis.commands.Load()), "commands")
	b.ReportMetric(0, "ns/op")
	b.Logf("%s %.2f s, raw bbolt %.2f s, ratio %.2f; heap %.1f MiB before, peak %.1f MiB, %.1f MiB after a GC; %d containers changed, %d commands",
		what, secs, baseSecs, secs/baseSecs, mib(before), mib(peak), mib(after), lis.containers.Load(), lis.commands.Load())
	if lis.containers.Load() != 0 || lis.commands.Load() != 0 {
		b.Errorf("%s changed %d containers and issued %d commands on a store that needs nothing", what, lis.containers.Load(), lis.commands.Load())
	}
}

// scChanges counts what commits changed.
type scChanges struct {
	containers, commands atomic.Int64
}

func (l *scChanges) committed(commands []state.Command, containers []state.Container) {
	l.containers.Add(int64(len(containers)))
	l.commands.Add(int64(len(commands)))
}

// scWriter is the writer alone over store, its state loaded, as the
// daemon's engine runs it but without the workers.
func scWriter(b *testing.B, store *state.Store, cfg *config.Config) *sync.Engine {
	b.Helper()
	e, err := testseam.Writer(store, cfg, sync.NewMetrics(), scDiscard())
	if err != nil {
		b.Fatal(err)
	}
	return e.(*sync.Engine)
}

// scRawGroups is the raw bbolt baseline of a sweep: open the file as
// state.Open does; if ids is nil, list the keys of the containers bucket
// with their values (as Sweep lists the containers); then, in transactions
// of scSweepGroup keys, read each value and, if rewrite is set, put it back.
func scRawGroups(b *testing.B, path string, ids []string, rewrite bool) time.Duration {
	b.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	bucket := []byte("containers")
	start := time.Now()
	keys := make([][]byte, 0, len(ids))
	for _, id := range ids {
		keys = append(keys, []byte(id))
	}
	if ids == nil {
		err := db.View(func(tx *bolt.Tx) error {
			return tx.Bucket(bucket).ForEach(func(k, v []byte) error {
				if len(v) > 0 {
					keys = append(keys, slices.Clone(k))
				}
				return nil
			})
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	for group := range slices.Chunk(keys, scSweepGroup) {
		err := db.Update(func(tx *bolt.Tx) error {
			bk := tx.Bucket(bucket)
			for _, k := range group {
				v := bk.Get(k)
				if v == nil {
					return fmt.Errorf("no container %s", k)
				}
				if rewrite {
					if err := bk.Put(k, slices.Clone(v)); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(start)
}

// scSnapshotJSON is a complete TOS snapshot of every container in the
// store, with the holds the store has.
func scSnapshotJSON(b *testing.B, path string) []byte {
	b.Helper()
	st, err := state.Open(path, time.Second)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	var buf bytes.Buffer
	buf.WriteString(`{"complete":true,"at":"2026-11-28T12:00:00+08:00","containers":[`)
	first := true
	err = st.View(func(tx *state.Tx) error {
		return tx.ForEachContainer(func(c state.Container) error {
			if !first {
				buf.WriteByte(',')
			}
			first = false
			holds := "[]"
			if len(c.TOSHolds) > 0 {
				holds = `["` + strings.Join(c.TOSHolds, `","`) + `"]`
			}
			fmt.Fprintf(&buf, `{"container":%q,"holds":%s}`, c.ID, holds)
			return nil
		})
	})
	if err != nil {
		b.Fatal(err)
	}
	buf.WriteString("]}")
	return buf.Bytes()
}

// scContainerIDs lists the containers of the store in key order: those
// scSnapshotJSON lists.
func scContainerIDs(b *testing.B, path string) []string {
	b.Helper()
	st, err := state.Open(path, time.Second)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	var ids []string
	err = st.View(func(tx *state.Tx) error {
		return tx.ForEachContainer(func(c state.Container) error {
			ids = append(ids, c.ID)
			return nil
		})
	})
	if err != nil {
		b.Fatal(err)
	}
	return ids
}

// BenchmarkBacklog: -portsync.backlog customs releases (one per container,
// every container in the yard under a CUSTOMS hold, so each makes a
// release_hold command) are published while the daemon is down and queue
// in its persistent session; then the daemon starts (New + Run) and the
// clock runs until every event is committed (and so acknowledged), and
// until every command has reached a watcher on tos/commands. Baselines,
// in the same operation: the same backlog queued for a bare persistent
// QoS 1 subscriber while it is away, timed from its reconnection to its
// last message (raw, one hop); and queued for a bare relay, as in
// BenchmarkThroughput, that republishes each message it gets to a watcher,
// timed from its reconnection to the watcher's last message (two hops, no
// work: the daemon's path in and out, its ceiling on this broker). The
// issue's target is the daemon's rate to the last command at least 0.5 of
// the relay's (ratio_to_relay). Each operation has a fresh store.
func BenchmarkBacklog(b *testing.B) {
	n := *scBacklog
	br := testBroker(b)
	payloads := make([][]byte, n)
	for i := range payloads {
		payloads[i] = scEvent(fmt.Sprintf("REL-BACKLOG-%09d", i), state.Released, scContainer(i))
	}
	watcher := newCmdWatcher()
	wc := benchClient(b, br, "bench-backlog-watcher", false)
	if tok := wc.Subscribe("tos/commands", 1, watcher.handle); !tok.WaitTimeout(benchTimeout) || tok.Error() != nil {
		b.Fatalf("subscribe: %v", tok.Error())
	}
	pub := benchClient(b, br, "bench-backlog-pub", true)
	// The bare subscriber's session, with its subscription.
	raw := newCounter()
	rc := scBacklogClient(b, br, "bench-backlog-raw", raw.handle)
	if tok := rc.Subscribe("bench/backlog", 1, nil); !tok.WaitTimeout(benchTimeout) || tok.Error() != nil {
		b.Fatalf("subscribe: %v", tok.Error())
	}
	rc.Disconnect(100)
	// The relay's session, and the watcher of what it republishes.
	relayOut := newCounter()
	roc := benchClient(b, br, "bench-backlog-relay-watch", false)
	if tok := roc.Subscribe("bench/backlog-relay-out", 1, relayOut.handle); !tok.WaitTimeout(benchTimeout) || tok.Error() != nil {
		b.Fatalf("subscribe: %v", tok.Error())
	}
	// Unlike BenchmarkThroughput's relay, this one republishes on a
	// connection of its own, keeping benchWindow publishes in flight like
	// publishAll: with a backlog the broker sends 10,000 messages at once,
	// and a relay publishing on the connection it reads from, without a
	// window, runs out of MQTT message ids (65,535) while the PUBACKs that
	// would free them wait behind the incoming messages; the publishes
	// beyond fail.
	relayPub := benchClient(b, br, "bench-backlog-relay-pub", true)
	var relayRing [benchWindow]paho.Token
	var relayNext int
	var relayErr atomic.Value
	relayHandler := func(_ paho.Client, m paho.Message) {
		if tok := relayRing[relayNext]; tok != nil {
			if err := waitToken(tok); err != nil {
				relayErr.CompareAndSwap(nil, err.Error())
			}
		}
		relayRing[relayNext] = relayPub.Publish("bench/backlog-relay-out", 1, false, m.Payload())
		relayNext = (relayNext + 1) % benchWindow
	}
	rl := scBacklogClient(b, br, "bench-backlog-relay", relayHandler)
	if tok := rl.Subscribe("bench/backlog-relay-in", 1, nil); !tok.WaitTimeout(benchTimeout) || tok.Error() != nil {
		b.Fatalf("subscribe: %v", tok.Error())
	}
	rl.Disconnect(100)

	b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
		var rawTook, relayTook, applyTook, cmdTook time.Duration
		resent := 0
		for range b.N {
			// Raw round.
			raw.reset(n)
			if err := publishAll(pub, "bench/backlog", payloads); err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			rc := scBacklogClient(b, br, "bench-backlog-raw", raw.handle)
			if err := raw.wait(); err != nil {
				b.Fatalf("raw: %v", err)
			}
			rawOne := time.Since(start)
			rawTook += rawOne
			rc.Disconnect(100)

			// Relay round.
			relayOut.reset(n)
			if err := publishAll(pub, "bench/backlog-relay-in", payloads); err != nil {
				b.Fatal(err)
			}
			start = time.Now()
			rl := scBacklogClient(b, br, "bench-backlog-relay", relayHandler)
			if err := relayOut.wait(); err != nil {
				b.Fatalf("relay: %v (publish error: %v)", err, relayErr.Load())
			}
			relayOne := time.Since(start)
			relayTook += relayOne
			rl.Disconnect(100)

			// Daemon round, on a fresh store. Its session and subscriptions
			// are made by a first start, then it stops.
			dir := b.TempDir()
			st := scBuildStore(b, dir, n, true, 0)
			_, _, stop := scStartDaemon(b, br, dir, nil, nil)
			stop()
			if err := publishAll(pub, "customs/releases", payloads); err != nil {
				b.Fatal(err)
			}
			watcher.reset(n)
			start = time.Now()
			warnings := &scWarnings{}
			d, ready, stop := scStartDaemon(b, br, dir, warnings, nil)
			waitCountFine(b, d.metrics.Events.With(prometheus.Labels{"source": "customs-mqtt", "result": sync.ResultApplied}), n)
			took := time.Since(start)
			if err := watcher.wait(); err != nil {
				b.Fatalf("commands: %v", err)
			}
			cmds := time.Since(start)
			// Sends that timed out are re-sent with the same id; let the
			// last of them arrive before counting.
			time.Sleep(time.Second)
			checkBacklog(b, d, watcher, n)
			failed := counterSum(d.metrics, "portsync_commands_total", map[string]string{"result": "failed"})
			sent := counterSum(d.metrics, "portsync_commands_total", map[string]string{"result": "sent"})
			stop()
			applyTook += took
			cmdTook += cmds
			b.Logf("backlog of %d: raw subscriber drained it in %s (%.0f msg/s), relay in %s (%.0f msg/s); daemon ready after %s, all committed after %s (%.0f events/s, %.2f of the relay), all commands out after %s (%.0f/s, %.2f of the relay); store built in %s",
				n, rawOne.Round(time.Millisecond), float64(n)/rawOne.Seconds(), relayOne.Round(time.Millisecond), float64(n)/relayOne.Seconds(),
				ready.Round(time.Millisecond), took.Round(time.Millisecond), float64(n)/took.Seconds(), relayOne.Seconds()/took.Seconds(),
				cmds.Round(time.Millisecond), float64(n)/cmds.Seconds(), relayOne.Seconds()/cmds.Seconds(), st.took.Round(time.Millisecond))
			b.Logf("  commands: %d received for %d containers (%d re-sends with the same id); the daemon counted %.0f sends, %.0f failed sends",
				watcher.total(), n, watcher.total()-n, sent, failed)
			resent += watcher.total() - n
			warnings.log(b)
		}
		events := float64(n * b.N)
		b.ReportMetric(events/rawTook.Seconds(), "raw_msg/s")
		b.ReportMetric(events/relayTook.Seconds(), "relay_msg/s")
		b.ReportMetric(events/applyTook.Seconds(), "events/s")
		b.ReportMetric(events/cmdTook.Seconds(), "commands/s")
		b.ReportMetric(rawTook.Seconds()/applyTook.Seconds(), "ratio")
		b.ReportMetric(relayTook.Seconds()/cmdTook.Seconds(), "ratio_to_relay")
		b.ReportMetric(relayTook.Seconds()/applyTook.Seconds(), "committed_ratio_to_relay")
		b.ReportMetric(float64(resent)/float64(b.N), "resent")
		b.ReportMetric(0, "ns/op")
	})
}

// scBacklogClient connects a bare persistent session (the subscriber's or
// the relay's); what the broker kept for it arrives at once, to h.
func scBacklogClient(b *testing.B, br *broker.Broker, id string, h paho.MessageHandler) paho.Client {
	b.Helper()
	opts := paho.NewClientOptions().AddBroker(br.URL()).SetClientID(id).
		SetCleanSession(false).SetOrderMatters(true).SetAutoReconnect(false).
		SetConnectTimeout(10 * time.Second).SetDefaultPublishHandler(h)
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatalf("connect: %v", tok.Error())
	}
	return c
}

// waitCountFine waits, polling every millisecond for timings, until the
// counters of c add up to n. It reads c alone: a Gather of the whole
// registry every millisecond also reads /proc for the process collector,
// and took about a seventh of a core from the daemon it was timing.
func waitCountFine(b *testing.B, c prometheus.Collector, n int) {
	b.Helper()
	deadline := time.Now().Add(benchTimeout)
	for collectorSum(c) < float64(n) {
		if time.Now().After(deadline) {
			b.Fatalf("counted %v, want %d", collectorSum(c), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// checkBacklog checks that every event was applied once and made one
// release_hold command for its container (received once or more: a
// re-send keeps the command's id).
func checkBacklog(b *testing.B, d *Daemon, w *cmdWatcher, n int) {
	b.Helper()
	all := counterSum(d.metrics, "portsync_events_total", map[string]string{"source": "customs-mqtt"})
	if all != float64(n) {
		b.Fatalf("customs events counted %v, want %d applied and nothing else", all, n)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.bad != "" {
		b.Fatalf("unexpected command %s", w.bad)
	}
	for i := range n {
		id := scContainer(i)
		if len(w.ids[id]) != 1 {
			b.Fatalf("%s: commands %v, want one", id, w.ids[id])
		}
	}
}

// cmdWatcher collects the release_hold commands received on tos/commands,
// by container and command id.
type cmdWatcher struct {
	mu     stdsync.Mutex
	ids    map[string]map[string]int
	n, got int
	bad    string
	done   chan struct{}
}

func newCmdWatcher() *cmdWatcher { return &cmdWatcher{done: make(chan struct{})} }

func (w *cmdWatcher) reset(n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ids, w.n, w.got, w.bad, w.done = make(map[string]map[string]int, n), n, 0, "", make(chan struct{})
}

func (w *cmdWatcher) handle(_ paho.Client, m paho.Message) {
	p := m.Payload()
	container, id := scField(p, `"container":"`), scField(p, `"id":"`)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.got++
	if !bytes.Contains(p, []byte(`"action":"release_hold"`)) && w.bad == "" {
		w.bad = string(p)
	}
	if w.ids[container] == nil {
		w.ids[container] = map[string]int{}
		if len(w.ids) == w.n {
			close(w.done)
		}
	}
	w.ids[container][id]++
}

func (w *cmdWatcher) total() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.got
}

// wait waits until every container has had a command.
func (w *cmdWatcher) wait() error {
	w.mu.Lock()
	done := w.done
	w.mu.Unlock()
	select {
	case <-done:
		return nil
	case <-time.After(benchTimeout):
		w.mu.Lock()
		defer w.mu.Unlock()
		return fmt.Errorf("commands for %d of %d containers within %s", len(w.ids), w.n, benchTimeout)
	}
}

// scField returns the JSON string value after key in p ("" if absent).
func scField(p []byte, key string) string {
	i := bytes.Index(p, []byte(key))
	if i < 0 {
		return ""
	}
	rest := p[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	return string(rest[:j])
}

// BenchmarkLatency: a paced publisher sends customs releases at
// -portsync.rate events/s for -portsync.latency-duration, one per
// container in the yard under a CUSTOMS hold; the latency of each is from
// just before its publish to the arrival of its release_hold command at a
// watcher on tos/commands (two broker hops, a durable commit, the
// dispatcher). Baselines at the same rate and payload, in the same
// operation: raw, a QoS 1 publisher to a QoS 1 subscriber (one hop), and
// relay, a bare client that republishes what it gets (two hops, no work).
// Each operation has a fresh store.
func BenchmarkLatency(b *testing.B) {
	rate, dur := *scRate, *scDuration
	n := int(float64(rate) * dur.Seconds())
	if n > 1000000 {
		b.Fatalf("%d events: at most 1000000", n)
	}
	br := testBroker(b)
	if *scNoDelay {
		br = scNoDelayBroker(b)
	}
	payloads := make([][]byte, n)
	for i := range payloads {
		payloads[i] = scEvent(fmt.Sprintf("REL-LAT-%09d", i), state.Released, scContainer(i))
	}
	index := func(container string) int {
		i, err := strconv.Atoi(container[4:10])
		if err != nil {
			return -1
		}
		return i
	}
	// Raw: one hop.
	rawRecv := newStamps(n)
	rawSub := benchClient(b, br, "bench-lat-raw-sub", false)
	rawHandler := func(_ paho.Client, m paho.Message) { rawRecv.mark(index(scField(m.Payload(), `"containers":["`))) }
	if tok := rawSub.Subscribe("bench/lat-raw", 1, rawHandler); !tok.WaitTimeout(benchTimeout) || tok.Error() != nil {
		b.Fatalf("subscribe: %v", tok.Error())
	}
	// Relay: two hops.
	relayRecv := newStamps(n)
	relayWatch := benchClient(b, br, "bench-lat-relay-watch", false)
	relayHandler := func(_ paho.Client, m paho.Message) { relayRecv.mark(index(scField(m.Payload(), `"containers":["`))) }
	if tok := relayWatch.Subscribe("bench/lat-relay-out", 1, relayHandler); !tok.WaitTimeout(benchTimeout) || tok.Error() != nil {
		b.Fatalf("subscribe: %v", tok.Error())
	}
	relay := benchClient(b, br, "bench-lat-relay", false)
	republish := func(c paho.Client, m paho.Message) { c.Publish("bench/lat-relay-out", 1, false, m.Payload()) }
	if tok := relay.Subscribe("bench/lat-relay-in", 1, republish); !tok.WaitTimeout(benchTimeout) || tok.Error() != nil {
		b.Fatalf("subscribe: %v", tok.Error())
	}
	// Daemon: the watcher of its commands.
	cmdRecv := newStamps(n)
	watcher := benchClient(b, br, "bench-lat-watcher", false)
	cmdHandler := func(_ paho.Client, m paho.Message) { cmdRecv.mark(index(scField(m.Payload(), `"container":"`))) }
	if tok := watcher.Subscribe("tos/commands", 1, cmdHandler); !tok.WaitTimeout(benchTimeout) || tok.Error() != nil {
		b.Fatalf("subscribe: %v", tok.Error())
	}
	pub := benchClient(b, br, "bench-lat-pub", true)

	name := fmt.Sprintf("rate=%d/duration=%s", rate, dur)
	if *scNoDelay {
		name += "/nodelay"
	}
	b.Run(name, func(b *testing.B) {
		var rawL, relayL, ours, toCommit, fromCommit []time.Duration
		var achieved float64
		for range b.N {
			rawRecv.reset()
			sent, err := scPaced(pub, "bench/lat-raw", payloads, rate)
			if err != nil {
				b.Fatal(err)
			}
			rawL = append(rawL, rawRecv.latencies(b, "raw", sent)...)

			relayRecv.reset()
			sent, err = scPaced(pub, "bench/lat-relay-in", payloads, rate)
			if err != nil {
				b.Fatal(err)
			}
			relayL = append(relayL, relayRecv.latencies(b, "relay", sent)...)

			dir := b.TempDir()
			scBuildStore(b, dir, n, true, 0)
			warnings := &scWarnings{}
			committed := newStamps(n)
			d, _, stop := scStartDaemon(b, br, dir, warnings, func(d *Daemon) {
				testseam.CommandsCommitted(d.engine(), stampCommands{committed, index}.committed)
			})
			cmdRecv.reset()
			start := time.Now()
			sent, err = scPaced(pub, "customs/releases", payloads, rate)
			if err != nil {
				b.Fatal(err)
			}
			achieved = float64(n) / time.Since(start).Seconds()
			ours = append(ours, cmdRecv.latencies(b, "daemon", sent)...)
			toCommit = append(toCommit, committed.latencies(b, "commit", sent)...)
			cmdAt := cmdRecv.times()
			for i, at := range committed.times() {
				fromCommit = append(fromCommit, time.Duration(cmdAt[i]-at))
			}
			commits, commitSecs := histogramSum(d.metrics, "portsync_commit_seconds")
			groups, grouped := histogramSum(d.metrics, "portsync_commit_batch_messages")
			b.Logf("daemon round: %d commits, %.2f ms each on average, %.1f messages per group", commits,
				commitSecs*1000/max(float64(commits), 1), grouped/max(float64(groups), 1))
			warnings.log(b)
			if got := counterSum(d.metrics, "portsync_events_total", map[string]string{"source": "customs-mqtt", "result": sync.ResultApplied}); got != float64(n) {
				b.Fatalf("applied %v releases, want %d", got, n)
			}
			stop()
		}
		rp50, rp99, rmax := scPercentiles(rawL)
		lp50, lp99, lmax := scPercentiles(relayL)
		p50, p99, pmax := scPercentiles(ours)
		ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
		b.ReportMetric(ms(rp50), "raw_p50_ms")
		b.ReportMetric(ms(rp99), "raw_p99_ms")
		b.ReportMetric(ms(lp50), "relay_p50_ms")
		b.ReportMetric(ms(lp99), "relay_p99_ms")
		b.ReportMetric(ms(p50), "p50_ms")
		b.ReportMetric(ms(p99), "p99_ms")
		b.ReportMetric(ms(p50)/ms(rp50), "ratio_p50")
		b.ReportMetric(ms(p99)/ms(rp99), "ratio_p99")
		c50, c99, _ := scPercentiles(toCommit)
		d50, d99, _ := scPercentiles(fromCommit)
		b.ReportMetric(ms(c50), "commit_p50_ms")
		b.ReportMetric(ms(c99), "commit_p99_ms")
		b.ReportMetric(achieved, "events/s")
		b.ReportMetric(0, "ns/op")
		b.Logf("at %d/s (daemon round achieved %.0f/s), %d events: raw pub->sub p50 %.2f ms p99 %.2f ms max %.1f ms; relay (2 hops) p50 %.2f ms p99 %.2f ms max %.1f ms; daemon release->command p50 %.2f ms p99 %.2f ms max %.1f ms; ratios to raw p50 %.1f p99 %.1f",
			rate, achieved, n, ms(rp50), ms(rp99), ms(rmax), ms(lp50), ms(lp99), ms(lmax), ms(p50), ms(p99), ms(pmax), ms(p50)/ms(rp50), ms(p99)/ms(rp99))
		b.Logf("  daemon split: publish -> commit durable p50 %.2f ms p99 %.2f ms; commit -> command at the watcher p50 %.2f ms p99 %.2f ms",
			ms(c50), ms(c99), ms(d50), ms(d99))
	})
}

// times returns a copy of the arrival times, in Unix nanoseconds.
func (s *stamps) times() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.at)
}

// scNoDelayBroker starts a mosquitto configured as the test broker is,
// plus set_tcp_nodelay true, on a free loopback port, and stops it when the
// benchmark ends.
func scNoDelayBroker(b *testing.B) *broker.Broker {
	b.Helper()
	if !broker.HasMosquitto() {
		b.Skip("-portsync.nodelay needs mosquitto")
	}
	port, err := broker.FreePort()
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	conf := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location %s/\nautosave_interval 1\n"+
		"max_inflight_messages 10000\nmax_queued_messages 1000000\nmax_queued_bytes 0\nset_tcp_nodelay true\n", port, dir)
	if os.Geteuid() == 0 {
		conf += "user root\n"
	}
	if err := os.WriteFile(filepath.Join(dir, "mosquitto.conf"), []byte(conf), 0o600); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command("mosquitto", "-c", filepath.Join(dir, "mosquitto.conf"))
	cmd.Stdout, cmd.Stderr = testWriter{b}, testWriter{b}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	b.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	addr := "127.0.0.1:" + strconv.Itoa(port)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("mosquitto did not listen on %s", addr)
		}
	}
	return &broker.Broker{Addr: addr, Kind: "mosquitto"}
}

// stampCommands marks, in a stamps, when the commit that stored each new
// command ended (the listener runs right after it).
type stampCommands struct {
	s     *stamps
	index func(string) int
}

func (l stampCommands) committed(commands []state.Command) {
	for _, cmd := range commands {
		l.s.mark(l.index(cmd.Container))
	}
}

// stamps records when each of n indexed messages first arrived.
type stamps struct {
	mu   stdsync.Mutex
	at   []int64
	got  int
	done chan struct{}
}

func newStamps(n int) *stamps { return &stamps{at: make([]int64, n), done: make(chan struct{})} }

func (s *stamps) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.at)
	s.got = 0
	s.done = make(chan struct{})
}

func (s *stamps) mark(i int) {
	now := time.Now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	if i < 0 || i >= len(s.at) || s.at[i] != 0 {
		return
	}
	s.at[i] = now
	if s.got++; s.got == len(s.at) {
		close(s.done)
	}
}

// latencies waits for every message and returns each one's latency from
// its send time.
func (s *stamps) latencies(b *testing.B, what string, sent []int64) []time.Duration {
	b.Helper()
	s.mu.Lock()
	done := s.done
	s.mu.Unlock()
	select {
	case <-done:
	case <-time.After(benchTimeout):
		s.mu.Lock()
		got := s.got
		s.mu.Unlock()
		b.Fatalf("%s: received %d of %d within %s", what, got, len(s.at), benchTimeout)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]time.Duration, len(sent))
	for i, t := range sent {
		out[i] = time.Duration(s.at[i] - t)
	}
	return out
}

// scPaced publishes payloads at QoS 1, the i-th at start + i/rate (at
// once if behind), keeping up to benchWindow unacknowledged, and returns
// each one's send time.
func scPaced(c paho.Client, topic string, payloads [][]byte, rate int) ([]int64, error) {
	sent := make([]int64, len(payloads))
	ring := make([]paho.Token, benchWindow)
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	for i, p := range payloads {
		if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
			time.Sleep(wait)
		}
		if tok := ring[i%benchWindow]; tok != nil {
			if err := waitToken(tok); err != nil {
				return nil, err
			}
		}
		sent[i] = time.Now().UnixNano()
		ring[i%benchWindow] = c.Publish(topic, 1, false, p)
	}
	for _, tok := range ring {
		if tok != nil {
			if err := waitToken(tok); err != nil {
				return nil, err
			}
		}
	}
	if len(payloads) == 0 {
		return nil, errors.New("nothing to publish")
	}
	return sent, nil
}

// scPercentiles returns the median, the 99th percentile and the maximum.
func scPercentiles(ds []time.Duration) (p50, p99, top time.Duration) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)*50/100], s[min(len(s)*99/100, len(s)-1)], s[len(s)-1]
}
