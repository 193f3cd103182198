package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

// Config is what Start needs. The zero timings are Raft's defaults
// (heartbeat and election 1 s, leader lease 0.5 s), which fit a LAN.
type Config struct {
	NodeID string
	Listen string        // where replication traffic is taken
	Peers  []config.Peer // every node, this one included
	Dir    string        // the Raft log, its stable store and snapshots
	// TLS secures replication with mutual TLS (TLSConfig); nil: plain TCP.
	TLS *tls.Config
	Log *slog.Logger

	HeartbeatTimeout, ElectionTimeout, LeaderLeaseTimeout time.Duration
	// SnapshotThreshold, TrailingLogs and SnapshotInterval, when set,
	// replace Raft's defaults (a snapshot once 8192 entries have
	// accumulated, checked every 2 minutes, with 10240 entries kept after
	// it); tests lower them to make a follower need a snapshot.
	SnapshotThreshold, TrailingLogs uint64
	SnapshotInterval                time.Duration
}

// Node is this process's member of the cluster.
type Node struct {
	id     string
	raft   *raft.Raft
	fsm    *fsm
	logs   *raftboltdb.BoltStore
	trans  *raft.NetworkTransport
	notify chan bool
	done   chan struct{}

	shutdown    sync.Once
	shutdownErr error
}

// ErrNotLeader is returned by an Applier on a node that does not lead (any
// more): nothing of the write set is known to be committed, and the
// writer must stop; if a quorum did take the entry, the new leader has it.
var ErrNotLeader = errors.New("this node is not the cluster's leader")

// applyTimeout bounds how long a write set may wait to be enqueued into
// the Raft pipeline.
const applyTimeout = 30 * time.Second

// Start opens the Raft log in cfg.Dir, joins the cluster of cfg.Peers
// (bootstrapping it with them when this node has no Raft state yet: every
// node bootstraps with the same list, which Raft allows) and begins
// replicating into store.
func Start(cfg Config, store *state.Store) (*Node, error) {
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	var self config.Peer
	servers := make([]raft.Server, 0, len(cfg.Peers))
	for _, p := range cfg.Peers {
		servers = append(servers, raft.Server{ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.Addr)})
		if p.ID == cfg.NodeID {
			self = p
		}
	}
	if self.ID == "" {
		return nil, fmt.Errorf("cluster: node %q is not among the peers", cfg.NodeID)
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Info, Output: &slogWriter{log: cfg.Log}})

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.Logger = logger
	// The store is the state machine and survives a restart by itself
	// (it records the index of each entry it applied); restoring the
	// last snapshot over it at every start would only copy it again.
	rc.NoSnapshotRestoreOnStart = true
	if cfg.HeartbeatTimeout > 0 {
		rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	}
	if cfg.ElectionTimeout > 0 {
		rc.ElectionTimeout = cfg.ElectionTimeout
	}
	if cfg.LeaderLeaseTimeout > 0 {
		rc.LeaderLeaseTimeout = cfg.LeaderLeaseTimeout
	}
	if cfg.SnapshotThreshold > 0 {
		rc.SnapshotThreshold = cfg.SnapshotThreshold
	}
	if cfg.SnapshotInterval > 0 {
		rc.SnapshotInterval = cfg.SnapshotInterval
	}
	if cfg.TrailingLogs > 0 {
		rc.TrailingLogs = cfg.TrailingLogs
	}
	notify := make(chan bool, 64)
	rc.NotifyCh = notify

	logs, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(cfg.Dir, "raft.db")})
	if err != nil {
		return nil, fmt.Errorf("cluster: open raft log: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, 2, logger)
	if err != nil {
		logs.Close()
		return nil, fmt.Errorf("cluster: snapshot store: %w", err)
	}
	has, err := raft.HasExistingState(logs, logs, snaps)
	if err != nil {
		logs.Close()
		return nil, fmt.Errorf("cluster: %w", err)
	}
	f := &fsm{store: store, log: cfg.Log}
	if err := reconcile(store, has, snaps, logs, f, cfg.Log); err != nil {
		logs.Close()
		return nil, err
	}
	layer, err := listen(cfg.Listen, self.Addr, cfg.TLS)
	if err != nil {
		logs.Close()
		return nil, err
	}
	trans := raft.NewNetworkTransportWithLogger(layer, 3, 10*time.Second, logger)
	r, err := raft.NewRaft(rc, f, logs, logs, snaps, trans)
	if err != nil {
		trans.Close()
		logs.Close()
		return nil, fmt.Errorf("cluster: start raft: %w", err)
	}
	n := &Node{id: cfg.NodeID, raft: r, fsm: f, logs: logs, trans: trans, notify: notify, done: make(chan struct{})}
	go n.keepFollowersCurrent()
	if !has {
		if err := r.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
			n.Shutdown()
			return nil, fmt.Errorf("cluster: bootstrap: %w", err)
		}
	}
	return n, nil
}

// reconcile makes the store hold every entry up to the newest snapshot
// before replication starts: Raft (NoSnapshotRestoreOnStart) replays only
// the entries after the snapshot, and the store must hold what comes
// before them for the replay to make it whole.
//
//   - No Raft state (a new cluster, or a node whose raft directory was
//     wiped): the log starts again at 1, and an index the store kept from
//     an older log (a restored backup) would make it skip the new
//     entries. It starts from 0: replaying writes in order over the
//     store's own contents ends in the same state.
//   - The store is behind the newest snapshot. Usually only barrier
//     entries lie between (the snapshot's index counts them, the store's
//     does not), or commands the log still holds: those are applied from
//     the log. Only when the log no longer reaches back to the store's
//     index (its file was restored from an older backup, or lost) is the
//     store restored from the snapshot.
func reconcile(store *state.Store, has bool, snaps raft.SnapshotStore, logs raft.LogStore, f *fsm, log *slog.Logger) error {
	if !has {
		if store.AppliedIndex() != 0 {
			log.Warn("the store holds entries of another Raft log; this node starts a new one and replays it over the store")
		}
		return store.SetAppliedIndex(0)
	}
	list, err := snaps.List()
	if err != nil || len(list) == 0 {
		return err
	}
	latest := list[0]
	applied := store.AppliedIndex()
	if applied >= latest.Index {
		return nil
	}
	first, err := logs.FirstIndex()
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	if first != 0 && first <= applied+1 {
		for i := applied + 1; i <= latest.Index; i++ {
			var l raft.Log
			if err := logs.GetLog(i, &l); err != nil {
				return fmt.Errorf("cluster: read log entry %d: %w", i, err)
			}
			if l.Type != raft.LogCommand {
				continue
			}
			if err := f.apply(&l); err != nil && !errors.Is(err, errOtherTerm) {
				return fmt.Errorf("cluster: apply log entry %d: %w", i, err)
			}
		}
		return nil
	}
	log.Warn("the store is behind the newest cluster snapshot and the log no longer reaches back to it; restoring the store from the snapshot",
		"store_index", applied, "snapshot_index", latest.Index, "log_first_index", first)
	_, rc, err := snaps.Open(latest.ID)
	if err != nil {
		return fmt.Errorf("cluster: open snapshot %s: %w", latest.ID, err)
	}
	defer rc.Close()
	if err := store.Replace(rc); err != nil {
		return fmt.Errorf("cluster: restore snapshot %s: %w", latest.ID, err)
	}
	return store.SetAppliedIndex(latest.Index)
}

// ID is this node's id.
func (n *Node) ID() string { return n.id }

// Applier returns the function a leader's engine commits through in
// term: it replicates one write set and returns once a quorum has it and
// this node's store has applied it. An entry appended in a later term
// than term is not applied by any node (fsm.apply), and the engine gets
// ErrNotLeader.
func (n *Node) Applier(term uint64) func(state.WriteSet) error {
	return func(ws state.WriteSet) error {
		f := n.raft.Apply(entry(term, ws), applyTimeout)
		if err := f.Error(); err != nil {
			if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) || errors.Is(err, raft.ErrLeadershipTransferInProgress) {
				return fmt.Errorf("replicate: %w", ErrNotLeader)
			}
			return fmt.Errorf("replicate: %w", err)
		}
		if err, ok := f.Response().(error); ok && err != nil {
			if errors.Is(err, errOtherTerm) {
				return fmt.Errorf("replicate: %w: %w", ErrNotLeader, err)
			}
			return fmt.Errorf("replicate: %w", err)
		}
		return nil
	}
}

// TransferLeadership asks another node to lead: this one cannot act.
func (n *Node) TransferLeadership() error {
	if err := n.raft.LeadershipTransfer().Error(); err != nil {
		return fmt.Errorf("cluster: leadership transfer: %w", err)
	}
	return nil
}

// Leadership delivers true when this node becomes the leader and false
// when it stops being it. Transitions may be folded: read IsLeader and
// Status().Term for where things stand.
func (n *Node) Leadership() <-chan bool { return n.notify }

// IsLeader reports whether this node leads now.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// Leader is the id of the node that leads, "" while there is none known.
func (n *Node) Leader() string {
	_, id := n.raft.LeaderWithID()
	return string(id)
}

// Barrier waits until every entry committed before it is applied here:
// a new leader calls it before it reads its store to act.
func (n *Node) Barrier(timeout time.Duration) error {
	if err := n.raft.Barrier(timeout).Error(); err != nil {
		return fmt.Errorf("cluster: barrier: %w", err)
	}
	return nil
}

// Status is a node's view of the cluster for the API and the metrics.
type Status struct {
	ID           string
	Role         string // leader, follower, candidate, shutdown
	Leader       string
	Term         uint64
	CommitIndex  uint64
	AppliedIndex uint64
	LastContact  time.Duration // since the leader was last heard from; 0 on the leader
	ApplyError   string        // the store refuses the entries (a full disk), "" when fine
}

// Status reads this node's Raft state.
func (n *Node) Status() Status {
	stats := n.raft.Stats()
	num := func(k string) uint64 { v, _ := strconv.ParseUint(stats[k], 10, 64); return v }
	s := Status{
		ID: n.id, Role: strings.ToLower(n.raft.State().String()), Leader: n.Leader(),
		Term: num("term"), CommitIndex: num("commit_index"), AppliedIndex: num("applied_index"),
	}
	if s.Role != "leader" {
		if last := n.raft.LastContact(); !last.IsZero() {
			s.LastContact = time.Since(last)
		}
	}
	if err := n.fsm.failing.Load(); err != nil {
		s.ApplyError = (*err).Error()
	}
	return s
}

// idleBarrier is how long a leader with nothing to replicate waits before
// it appends a barrier entry anyway.
const idleBarrier = 30 * time.Second

// keepFollowersCurrent appends a barrier entry when a follower comes back
// after missing heartbeats, and when the log has been still for
// idleBarrier. Raft sends the commit index only with entries once it
// replicates in a pipeline, and notices a follower that restarted only
// when it has an entry to send: a follower back while the terminal is
// quiet would serve reads from a store behind the leader's until the next
// event.
func (n *Node) keepFollowersCurrent() {
	back := make(chan raft.Observation, 16)
	observer := raft.NewObserver(back, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.ResumedHeartbeatObservation)
		return ok
	})
	n.raft.RegisterObserver(observer)
	defer n.raft.DeregisterObserver(observer)
	tick := time.NewTicker(idleBarrier)
	defer tick.Stop()
	barrier := func() {
		if n.IsLeader() {
			_ = n.raft.Barrier(10 * time.Second).Error() // a failure is a lost leadership, which the daemon sees
		}
	}
	var last uint64
	for {
		select {
		case <-n.done:
			return
		case <-back:
			barrier()
		case <-tick.C:
			if n.raft.LastIndex() == last {
				barrier()
			}
			last = n.raft.LastIndex()
		}
	}
}

// Shutdown stops replicating and closes the Raft log; a second call
// returns the first one's result. The store stays open: it is the
// caller's.
func (n *Node) Shutdown() error {
	n.shutdown.Do(func() {
		close(n.done)
		// A leader that stops hands over first: the others need not wait
		// out a heartbeat timeout to elect one (a rolling restart).
		if n.IsLeader() {
			if err := n.raft.LeadershipTransfer().Error(); err != nil {
				n.fsm.log.Warn("leadership transfer before shutdown failed; the others elect a leader when the heartbeats stop", "err", err)
			}
		}
		n.fsm.closing.Store(true)
		err := n.raft.Shutdown().Error()
		if cerr := n.trans.Close(); cerr != nil && err == nil {
			err = cerr
		}
		if cerr := n.logs.Close(); cerr != nil && err == nil {
			err = cerr
		}
		n.shutdownErr = err
	})
	return n.shutdownErr
}

// slogWriter hands Raft's log lines to portsync's log.
type slogWriter struct{ log *slog.Logger }

func (w *slogWriter) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	level := slog.LevelInfo
	switch {
	case strings.Contains(line, "[ERROR]"):
		level = slog.LevelError
	case strings.Contains(line, "[WARN]"):
		level = slog.LevelWarn
	case strings.Contains(line, "[DEBUG]"), strings.Contains(line, "[TRACE]"):
		level = slog.LevelDebug
	}
	w.log.Log(context.Background(), level, "raft", "line", line)
	return len(p), nil
}

// TLSConfig builds the mutual TLS of cluster.tls: every node presents its
// certificate to the others and accepts only peers the CA signed.
func TLSConfig(t config.TLS) (*tls.Config, error) {
	tc, err := t.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("cluster.%w", err)
	}
	tc.ClientCAs = tc.RootCAs
	tc.ClientAuth = tls.RequireAndVerifyClientCert
	return tc, nil
}

// streamLayer is Raft's transport over TCP, with TLS when configured.
type streamLayer struct {
	net.Listener
	advertise net.Addr
	tls       *tls.Config
}

func listen(bind, advertise string, tc *tls.Config) (*streamLayer, error) {
	adv, err := net.ResolveTCPAddr("tcp", advertise)
	if err != nil {
		return nil, fmt.Errorf("cluster: peer address %q: %w", advertise, err)
	}
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, fmt.Errorf("cluster.listen: %w", err)
	}
	if tc != nil {
		ln = tls.NewListener(ln, tc)
	}
	return &streamLayer{Listener: ln, advertise: adv, tls: tc}, nil
}

func (l *streamLayer) Addr() net.Addr { return l.advertise }

func (l *streamLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := &net.Dialer{Timeout: timeout}
	if l.tls == nil {
		return d.Dial("tcp", string(addr))
	}
	tc := l.tls.Clone()
	if host, _, err := net.SplitHostPort(string(addr)); err == nil {
		tc.ServerName = host
	}
	return tls.DialWithDialer(d, "tcp", string(addr), tc)
}
