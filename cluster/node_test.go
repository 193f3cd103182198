package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/internal/testpki"
	"github.com/portsync/portsync/state"
)

// testCluster is three nodes in this process, each with its own store,
// Raft directory and loopback port.
type testCluster struct {
	t      *testing.T
	peers  []config.Peer
	dirs   []string
	stores []*state.Store
	nodes  []*Node
	tune   func(*Config)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func newTestCluster(t *testing.T, tune func(*Config)) *testCluster {
	t.Helper()
	c := &testCluster{t: t, tune: tune}
	for i := range 3 {
		c.peers = append(c.peers, config.Peer{ID: fmt.Sprintf("n%d", i), Addr: freeAddr(t)})
		c.dirs = append(c.dirs, t.TempDir())
		c.stores = append(c.stores, nil)
		c.nodes = append(c.nodes, nil)
	}
	for i := range 3 {
		c.start(i)
	}
	t.Cleanup(func() {
		for i := range c.nodes {
			c.stop(i)
		}
	})
	return c
}

func (c *testCluster) start(i int) {
	c.t.Helper()
	if c.stores[i] == nil {
		s, err := state.Open(filepath.Join(c.dirs[i], state.FileName), time.Second)
		if err != nil {
			c.t.Fatal(err)
		}
		c.stores[i] = s
	}
	cfg := Config{
		NodeID: c.peers[i].ID, Listen: c.peers[i].Addr, Peers: c.peers, Dir: filepath.Join(c.dirs[i], "raft"),
		Log:              slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		HeartbeatTimeout: 300 * time.Millisecond, ElectionTimeout: 300 * time.Millisecond, LeaderLeaseTimeout: 150 * time.Millisecond,
	}
	if c.tune != nil {
		c.tune(&cfg)
	}
	n, err := Start(cfg, c.stores[i])
	if err != nil {
		c.t.Fatal(err)
	}
	c.nodes[i] = n
}

// stop shuts node i down and closes its store.
func (c *testCluster) stop(i int) {
	if c.nodes[i] != nil {
		if err := c.nodes[i].Shutdown(); err != nil {
			c.t.Errorf("shutdown %s: %v", c.peers[i].ID, err)
		}
		c.nodes[i] = nil
	}
	if c.stores[i] != nil {
		c.stores[i].Close()
		c.stores[i] = nil
	}
}

// leader waits for one of the running nodes to lead.
func (c *testCluster) leader() int {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for i, n := range c.nodes {
			if n != nil && n.IsLeader() {
				return i
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatal("no leader within 10s")
	return -1
}

// write replicates from the leader a write set that sets key to value.
func (c *testCluster) write(i int, key, value string) error {
	ws, err := c.stores[i].Record(func(tx *state.Tx) error { return tx.PutMeta(key, value) })
	if err != nil {
		c.t.Fatal(err)
	}
	return c.nodes[i].Applier(c.nodes[i].Status().Term)(ws)
}

// waitSame waits until every running node's store holds want at key.
func (c *testCluster) waitSame(key, want string) {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var got []string
		same := true
		for _, s := range c.stores {
			if s == nil {
				continue
			}
			var v string
			_ = s.View(func(tx *state.Tx) error { v = tx.Meta(key); return nil })
			got = append(got, v)
			same = same && v == want
		}
		if same {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s: stores hold %q, want %q on all", key, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestReplicatesAndSurvivesTheLeader(t *testing.T) {
	for _, secure := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", secure), func(t *testing.T) {
			var tune func(*Config)
			if secure {
				pki := testpki.New(t, "cluster-ca")
				tune = func(cfg *Config) {
					cert, key := pki.Peer(t, cfg.NodeID)
					tc, err := TLSConfig(config.TLS{CAFile: pki.CAFile, CertFile: cert, KeyFile: key})
					if err != nil {
						t.Fatal(err)
					}
					cfg.TLS = tc
				}
			}
			c := newTestCluster(t, tune)
			l := c.leader()
			for k := range 20 {
				if err := c.write(l, "k", fmt.Sprint(k)); err != nil {
					t.Fatal(err)
				}
			}
			c.waitSame("k", "19")

			// A follower refuses writes: only the leader's commit.
			f := (l + 1) % 3
			if err := c.write(f, "k", "from a follower"); err == nil {
				t.Fatal("a follower's Apply succeeded")
			}

			// The leader dies; the other two elect one and go on, and the
			// old leader, back, catches up from the log.
			c.stop(l)
			l2 := c.leader()
			if err := c.write(l2, "k", "after failover"); err != nil {
				t.Fatal(err)
			}
			c.start(l)
			c.waitSame("k", "after failover")
		})
	}
}

// TestStrangerCannotJoin: with mutual TLS, a node whose certificate
// another CA signed gets no leader and no entries.
func TestStrangerCannotJoin(t *testing.T) {
	pki, other := testpki.New(t, "cluster-ca"), testpki.New(t, "stranger-ca")
	c := newTestCluster(t, func(cfg *Config) {
		ca := pki
		if cfg.NodeID == "n2" {
			ca = other
		}
		cert, key := ca.Peer(t, cfg.NodeID)
		tc, err := TLSConfig(config.TLS{CAFile: ca.CAFile, CertFile: cert, KeyFile: key})
		if err != nil {
			t.Fatal(err)
		}
		cfg.TLS = tc
	})
	l := c.leader()
	if l == 2 {
		t.Fatal("the stranger leads")
	}
	if err := c.write(l, "k", "v"); err != nil {
		t.Fatal(err)
	}
	// Both members hold the entry: the stranger has had every chance to.
	meta := func(i int) string {
		var v string
		_ = c.stores[i].View(func(tx *state.Tx) error { v = tx.Meta("k"); return nil })
		return v
	}
	for deadline := time.Now().Add(10 * time.Second); meta(0) != "v" || meta(1) != "v"; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the members hold %q and %q, want v", meta(0), meta(1))
		}
	}
	time.Sleep(time.Second) // a few heartbeats more
	v := meta(2)
	if v != "" {
		t.Errorf("the stranger's store holds %q", v)
	}
	if st := c.nodes[2].Status(); st.Leader != "" {
		t.Errorf("the stranger knows leader %q", st.Leader)
	}
}

// TestFarBehindFollowerGetsASnapshot: a follower away while the leader
// compacted its log gets the store whole (Restore) and then the rest.
func TestFarBehindFollowerGetsASnapshot(t *testing.T) {
	c := newTestCluster(t, func(cfg *Config) {
		cfg.SnapshotThreshold, cfg.TrailingLogs, cfg.SnapshotInterval = 8, 2, 100*time.Millisecond
	})
	l := c.leader()
	f := (l + 1) % 3
	c.stop(f)
	big := string(bytes.Repeat([]byte("x"), 1000))
	for k := range 60 {
		if err := c.write(l, fmt.Sprint("big-", k), big); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(500 * time.Millisecond) // the interval passes: the leader snapshots and compacts
	if err := c.write(l, "k", "last"); err != nil {
		t.Fatal(err)
	}
	c.start(f)
	c.waitSame("k", "last")
	c.waitSame("big-0", big)
	c.waitSame("big-59", big)
}

// TestStoreLostButLogKept: a node whose store file is gone (or restored
// from an old backup) while its Raft directory survived is restored from
// its newest snapshot before it replays the log, and ends whole.
func TestStoreLostButLogKept(t *testing.T) {
	c := newTestCluster(t, func(cfg *Config) {
		cfg.SnapshotThreshold, cfg.TrailingLogs, cfg.SnapshotInterval = 8, 2, 100*time.Millisecond
	})
	l := c.leader()
	for k := range 40 {
		if err := c.write(l, fmt.Sprint("k-", k), "v"); err != nil {
			t.Fatal(err)
		}
	}
	c.waitSame("k-39", "v")
	time.Sleep(500 * time.Millisecond) // every node snapshots its store
	f := (l + 1) % 3
	c.stop(f)
	if err := os.Remove(filepath.Join(c.dirs[f], state.FileName)); err != nil {
		t.Fatal(err)
	}
	c.start(f)
	c.waitSame("k-0", "v")
	c.waitSame("k-39", "v")
	if err := c.write(c.leader(), "k", "after"); err != nil {
		t.Fatal(err)
	}
	c.waitSame("k", "after")
}

// TestNewLogOverARestoredStore: stores restored from one backup under
// fresh Raft directories (how a cluster is restored) start a new log at 1
// and apply it, although the backup recorded a later index of the old log.
func TestNewLogOverARestoredStore(t *testing.T) {
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	for _, d := range dirs {
		s, err := state.Open(filepath.Join(d, state.FileName), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Update(func(tx *state.Tx) error { return tx.PutMeta("restored", "yes") }); err != nil {
			t.Fatal(err)
		}
		if err := s.SetAppliedIndex(5000); err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	c := &testCluster{t: t}
	for i := range 3 {
		c.peers = append(c.peers, config.Peer{ID: fmt.Sprintf("n%d", i), Addr: freeAddr(t)})
	}
	c.dirs, c.stores, c.nodes = dirs, make([]*state.Store, 3), make([]*Node, 3)
	for i := range 3 {
		c.start(i)
	}
	t.Cleanup(func() {
		for i := range 3 {
			c.stop(i)
		}
	})
	if err := c.write(c.leader(), "k", "new"); err != nil {
		t.Fatal(err)
	}
	c.waitSame("k", "new")
	c.waitSame("restored", "yes")
}

// TestEntryOfAnEarlierTermIsSkipped: a group worked out by an engine of an
// earlier term (a leader that lost its term and won a later one while the
// old engine still had a group in flight) is applied by no node, and its
// engine is told it does not lead.
func TestEntryOfAnEarlierTermIsSkipped(t *testing.T) {
	c := newTestCluster(t, nil)
	l := c.leader()
	term := c.nodes[l].Status().Term
	ws, err := c.stores[l].Record(func(tx *state.Tx) error { return tx.PutMeta("stale", "written") })
	if err != nil {
		t.Fatal(err)
	}
	if err := c.nodes[l].Applier(term - 1)(ws); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("Applier(earlier term) = %v, want ErrNotLeader", err)
	}
	if err := c.write(l, "k", "after"); err != nil {
		t.Fatal(err)
	}
	c.waitSame("k", "after")
	c.waitSame("stale", "")
}

// TestReconcileAppliesFromTheLog: a store behind the newest snapshot by
// entries the log still holds gets them from the log, and is not replaced
// by the snapshot (a restart after a snapshot whose index counted
// barriers, or commands applied late).
func TestReconcileAppliesFromTheLog(t *testing.T) {
	dir := t.TempDir()
	store, err := state.Open(filepath.Join(dir, state.FileName), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if err := store.Update(func(tx *state.Tx) error { return tx.PutMeta("mine", "kept") }); err != nil {
		t.Fatal(err)
	}
	if err := store.SetAppliedIndex(2); err != nil {
		t.Fatal(err)
	}
	logs := raft.NewInmemStore()
	put := func(k string) []byte {
		ws, err := store.Record(func(tx *state.Tx) error { return tx.PutMeta(k, "from the log") })
		if err != nil {
			t.Fatal(err)
		}
		return entry(1, ws)
	}
	err = logs.StoreLogs([]*raft.Log{
		{Index: 1, Term: 1, Type: raft.LogCommand, Data: put("one")},
		{Index: 2, Term: 1, Type: raft.LogBarrier},
		{Index: 3, Term: 1, Type: raft.LogCommand, Data: put("three")},
		{Index: 4, Term: 1, Type: raft.LogBarrier},
	})
	if err != nil {
		t.Fatal(err)
	}
	snaps, err := raft.NewFileSnapshotStore(dir, 1, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	sink, err := snaps.Create(raft.SnapshotVersionMax, 4, 1, raft.Configuration{}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	empty, err := state.Open(filepath.Join(t.TempDir(), state.FileName), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := empty.WriteTo(sink); err != nil {
		t.Fatal(err)
	}
	empty.Close()
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := reconcile(store, true, snaps, logs, &fsm{store: store, log: log}, log); err != nil {
		t.Fatal(err)
	}
	_ = store.View(func(tx *state.Tx) error {
		for k, want := range map[string]string{"mine": "kept", "one": "", "three": "from the log"} {
			if got := tx.Meta(k); got != want {
				t.Errorf("%s = %q, want %q", k, got, want)
			}
		}
		return nil
	})
	if got := store.AppliedIndex(); got != 3 {
		t.Errorf("applied index %d, want 3", got)
	}
}
