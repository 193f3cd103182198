package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/portsync/portsync/cluster"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
	"github.com/portsync/portsync/sync/httpapi"
)

// takeOverTimeout bounds how long a new leader waits for its store to
// hold every entry committed before its term.
const takeOverTimeout = 30 * time.Second

// startNode joins the cluster of cfg.cluster, with its Raft log beside
// the store.
func startNode(cfg *config.Config, store *state.Store, log *slog.Logger) (*cluster.Node, error) {
	cc := cfg.Cluster
	nc := cluster.Config{
		NodeID: cc.NodeID, Listen: cc.Listen, Peers: cc.PeerList(),
		Dir: filepath.Join(cfg.StateDir, "raft"), Log: log.With("cluster_node", cc.NodeID),
	}
	if cc.TLS != (config.TLS{}) {
		tc, err := cluster.TLSConfig(cc.TLS)
		if err != nil {
			return nil, err
		}
		nc.TLS = tc
	}
	return cluster.Start(nc, store)
}

// runCluster serves the API from the first moment and acts only while
// this node leads: on becoming the leader it waits until its store holds
// everything committed, builds the adapters and an engine from the store
// and starts them; on losing leadership (or when a folded notification
// shows a new term) it stops them before anything else, cancelling first
// and waiting after, so that a deposed leader neither takes messages nor
// sends commands. Its writes could not commit anyway: Raft refuses them,
// an entry its engine worked out in the lost term is applied by no node,
// and the broker hands the session to whoever connects with the client id
// next.
func (d *Daemon) runCluster(ctx context.Context) error {
	serveErr := d.serve()
	set := d.current()
	d.log.Info("portsync running as a cluster node", "terminal", set.cfg.Terminal, "node", d.node.ID(),
		"http", d.Addr(), "replication", set.cfg.Cluster.Listen, "store", d.store.Path())
	// A folded leadership notification (lost and won again) is caught by
	// the term; the tick catches anything the channel did not say.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var (
		stop     func(deposed bool)
		term     uint64
		failures int
		err      error
	)
	for {
		st := d.node.Status()
		if stop != nil && (st.Role != "leader" || st.Term != term) {
			d.log.Warn("leadership lost: stopping the sources, the writer and the workers", "term", term)
			stop(true)
			stop = nil
		}
		if stop == nil && st.Role == "leader" {
			term = st.Term
			started := time.Now()
			var terr error
			if stop, terr = d.takeOver(ctx, term); terr != nil {
				failures++
				d.log.Error("cannot act as the leader; trying again", "err", terr, "attempts", failures)
				// A leader that cannot act (its broker refuses it, its
				// store fails) lets another node try.
				if failures >= maxTakeOverFailures {
					failures = 0
					if err := d.node.TransferLeadership(); err != nil {
						d.log.Error("cannot hand leadership over", "err", err)
					}
				}
			} else {
				failures = 0
				d.log.Info("leading the cluster: sources, writer and workers started", "term", term, "took", time.Since(started).Round(time.Millisecond))
			}
		}
		select {
		case <-ctx.Done():
		case serr := <-serveErr:
			err = fmt.Errorf("http server: %w", serr)
		case <-d.node.Leadership():
			continue
		case <-tick.C:
			continue
		}
		break
	}
	d.log.Info("stopping")
	if stop != nil {
		stop(false)
	}
	d.shutdown()
	return err
}

// maxTakeOverFailures is how many times in a row a leader tries to act
// before it hands leadership to another node.
const maxTakeOverFailures = 3

// takeOver makes this node act in term: fresh adapters (the last term's
// are disconnected) and a fresh engine whose state, outbox and alerts are
// read from the store as replicated, committing through the cluster with
// entries marked with term. Everything it starts lives in a context of
// the term's own, so that a failure half-way stops what had started. The
// function it returns stops it all, in the order of act, or on losing
// leadership (deposed) cancelling everything before waiting for anything.
func (d *Daemon) takeOver(ctx context.Context, term uint64) (func(deposed bool), error) {
	if err := d.node.Barrier(takeOverTimeout); err != nil {
		return nil, err
	}
	// Held across building and installing, so that a reload (SIGHUP) in
	// between is not overwritten by the file read before it.
	d.reload.Lock()
	set, err := buildAdapters(d.current().cfg, d.log, d.adapterEnv)
	if err != nil {
		d.reload.Unlock()
		return nil, err
	}
	eng, err := d.newEngine(set, d.node.Applier(term))
	if err != nil {
		d.reload.Unlock()
		set.disconnect()
		return nil, err
	}
	d.set.Store(set)
	d.eng.Store(eng)
	d.reload.Unlock()
	d.sessions.reset()
	if err := d.loadLostSessions(); err != nil {
		set.disconnect()
		return nil, fmt.Errorf("load lost broker sessions: %w", err)
	}
	termCtx, endTerm := context.WithCancel(ctx)
	stop, err := d.act(termCtx)
	if err != nil {
		endTerm()
		set.stopSources()
		set.disconnect()
		return nil, err
	}
	d.acting.Store(true)
	return func(deposed bool) {
		d.acting.Store(false)
		if deposed {
			endTerm()
		}
		stop(deposed)
		endTerm()
		d.current().disconnect()
	}, nil
}

// followerReady is /readyz on a node that does not lead: ready while it
// knows a leader and its store takes the replicated entries.
func (d *Daemon) followerReady() (bool, []string) {
	st := d.node.Status()
	var reasons []string
	if st.Leader == "" {
		reasons = append(reasons, "cluster: no leader known (an election is under way, or this node is cut off)")
	}
	if st.ApplyError != "" {
		reasons = append(reasons, "store: "+st.ApplyError)
	}
	return len(reasons) == 0, reasons
}

// apiURL is where node id's HTTP API answers: cluster.apis, or the host
// of its peer address with this node's http.listen port.
func apiURL(cfg *config.Config, id string) string {
	if u, ok := cfg.Cluster.APIs[id]; ok {
		return u
	}
	scheme := "http"
	if cfg.HTTP.TLS.CertFile != "" {
		scheme = "https"
	}
	_, port, _ := net.SplitHostPort(cfg.HTTP.Listen)
	for _, p := range cfg.Cluster.PeerList() {
		if p.ID == id {
			host, _, _ := net.SplitHostPort(p.Addr)
			return scheme + "://" + net.JoinHostPort(host, port)
		}
	}
	return ""
}

// leaderURL is the leader's API when this node is a follower; follower
// is false on the leader and on a single node.
func (d *Daemon) leaderURL() (url string, follower bool) {
	if d.node == nil {
		return "", false
	}
	if d.node.IsLeader() {
		// Between winning the election and acting, its engine does not
		// run: a write would wait for nothing.
		return "", !d.acting.Load()
	}
	if id := d.node.Leader(); id != "" {
		return apiURL(d.current().cfg, id), true
	}
	return "", true
}

// clusterNodes is GET /api/v1/cluster: every node's role and progress,
// each asked over its own API (a node that does not answer is listed with
// what this node knows of it), and each one's lag behind the leader's
// commit index. self limits the answer to this node, which is how the
// nodes ask each other.
func (d *Daemon) clusterNodes(ctx context.Context, self bool) ([]httpapi.ClusterNode, error) {
	if d.node == nil {
		return nil, httpapi.ErrNoCluster
	}
	set := d.current()
	own := d.node.Status()
	mine := httpapi.ClusterNode{ID: own.ID, Role: own.Role, AppliedIndex: own.AppliedIndex, CommitIndex: own.CommitIndex,
		Term: own.Term, Reachable: true}
	for _, p := range set.cfg.Cluster.PeerList() {
		if p.ID == own.ID {
			mine.Address = p.Addr
		}
	}
	if self {
		mine.Leader = own.Leader
		return []httpapi.ClusterNode{mine}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var nodes []httpapi.ClusterNode
	var leaderCommit uint64
	for _, p := range set.cfg.Cluster.PeerList() {
		n := mine
		if p.ID != own.ID {
			n = d.askNode(ctx, set, p)
		}
		if !n.Reachable {
			// What this node knows of a silent one: Raft's view of who
			// leads; any other member is, as far as it knows, following.
			n.Role = "follower"
			if n.ID == own.Leader {
				n.Role = "leader"
			}
		}
		if n.Role == "leader" {
			leaderCommit = n.CommitIndex
		}
		nodes = append(nodes, n)
	}
	for i := range nodes {
		if nodes[i].Reachable && leaderCommit > 0 {
			lag := int64(0)
			if leaderCommit > nodes[i].AppliedIndex {
				lag = int64(leaderCommit - nodes[i].AppliedIndex)
			}
			nodes[i].Lag = &lag
		}
	}
	return nodes, nil
}

// askNode asks peer p's API for its own entry.
func (d *Daemon) askNode(ctx context.Context, set *adapterSet, p config.Peer) httpapi.ClusterNode {
	n := httpapi.ClusterNode{ID: p.ID, Address: p.Addr}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, apiURL(set.cfg, p.ID)+"/api/v1/cluster?self=1", nil)
	if err != nil {
		n.Error = err.Error()
		return n
	}
	if set.token != "" {
		req.Header.Set("Authorization", "Bearer "+set.token)
	}
	resp, err := peerClient.Do(req)
	if err != nil {
		n.Error = err.Error()
		return n
	}
	defer resp.Body.Close()
	var body struct {
		Nodes []httpapi.ClusterNode `json:"nodes"`
	}
	if resp.StatusCode != http.StatusOK {
		n.Error = fmt.Sprintf("HTTP %d", resp.StatusCode)
		return n
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&body); err != nil || len(body.Nodes) != 1 {
		n.Error = fmt.Sprintf("unreadable answer: %v", err)
		return n
	}
	got := body.Nodes[0]
	got.Address = p.Addr
	got.Reachable = true
	return got
}

// peerClient asks the other nodes; their answers are small and quick, or
// not worth waiting for.
var peerClient = &http.Client{Timeout: 2 * time.Second}

// clusterCollector exports the node's Raft state at each scrape.
type clusterCollector struct{ node *cluster.Node }

var (
	descLeader  = prometheus.NewDesc("portsync_cluster_leader", "1 while this node is the cluster's leader, else 0.", nil, nil)
	descTerm    = prometheus.NewDesc("portsync_cluster_term", "The Raft term this node is in.", nil, nil)
	descCommit  = prometheus.NewDesc("portsync_cluster_commit_index", "The index of the last log entry this node knows committed.", nil, nil)
	descApplied = prometheus.NewDesc("portsync_cluster_applied_index", "The index of the last log entry applied to this node's store.", nil, nil)
	descLag     = prometheus.NewDesc("portsync_cluster_apply_lag", "Committed log entries not yet applied to this node's store.", nil, nil)
	descContact = prometheus.NewDesc("portsync_cluster_last_contact_seconds", "Seconds since this follower last heard from the leader; 0 on the leader.", nil, nil)
)

func (c clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLeader, descTerm, descCommit, descApplied, descLag, descContact} {
		ch <- d
	}
}

func (c clusterCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.node.Status()
	leader := 0.0
	if st.Role == "leader" {
		leader = 1
	}
	lag := 0.0
	if st.CommitIndex > st.AppliedIndex {
		lag = float64(st.CommitIndex - st.AppliedIndex)
	}
	ch <- prometheus.MustNewConstMetric(descLeader, prometheus.GaugeValue, leader)
	ch <- prometheus.MustNewConstMetric(descTerm, prometheus.GaugeValue, float64(st.Term))
	ch <- prometheus.MustNewConstMetric(descCommit, prometheus.GaugeValue, float64(st.CommitIndex))
	ch <- prometheus.MustNewConstMetric(descApplied, prometheus.GaugeValue, float64(st.AppliedIndex))
	ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, lag)
	ch <- prometheus.MustNewConstMetric(descContact, prometheus.GaugeValue, st.LastContact.Seconds())
}
