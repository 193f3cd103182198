package main

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/portsync/portsync/internal/broker"
	"github.com/portsync/portsync/state"
	"github.com/portsync/portsync/sync/httpapi"
)

// The cluster tests run three real portsync processes on loopback, each
// with its own store, HTTP port and replication port, sharing one broker
// and one MQTT client id: only the leader's session may be connected.
// The rig reuses the crash test's process handling (crashRig) per node.

// clusterNode is one member: its id, the address the others dial for it
// (a raftProxy's when the rig has them) and its process.
type clusterNode struct {
	id       string
	raftAddr string
	*crashRig
}

// running reports whether the node's process is up.
func (n *clusterNode) running() bool {
	if n.daemon == nil {
		return false
	}
	select {
	case <-n.daemon.done:
		return false
	default:
		return true
	}
}

// self is the node's own entry of GET /api/v1/cluster?self=1; ok is false
// when it does not answer.
func (n *clusterNode) self() (httpapi.ClusterNode, bool) {
	var body struct {
		Nodes []httpapi.ClusterNode `json:"nodes"`
	}
	if !n.running() || n.getJSON("/api/v1/cluster?self=1", &body) != http.StatusOK || len(body.Nodes) != 1 {
		return httpapi.ClusterNode{}, false
	}
	return body.Nodes[0], true
}

// ready reports whether /readyz answers 200.
func (n *clusterNode) ready() bool { return n.running() && n.getJSON("/readyz", nil) == http.StatusOK }

// stop sends SIGTERM and expects a clean exit within 10 s.
func (n *clusterNode) stop() {
	n.t.Helper()
	if err := n.daemon.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		n.t.Fatalf("%s: SIGTERM: %v", n.id, err)
	}
	select {
	case <-n.daemon.done:
		if n.daemon.err != nil {
			n.t.Errorf("%s exited with %v after SIGTERM, want status 0", n.id, n.daemon.err)
		}
	case <-time.After(10 * time.Second):
		n.t.Fatalf("%s still running 10s after SIGTERM", n.id)
	}
}

type clusterRig struct {
	t      testing.TB
	broker *broker.Broker
	nodes  []*clusterNode
	// net is the proxies in front of the replication ports; nil when the
	// nodes dial each other directly.
	net *raftNet
}

// clusterStartBroker starts the test's broker: mosquitto with its
// persistent store when installed, else the embedded one (the tests never
// restart the broker, so its sessions in memory outlive any node). The log
// path is "" for the embedded broker.
func clusterStartBroker(t testing.TB, dir string) (*broker.Broker, string) {
	t.Helper()
	if !broker.HasMosquitto() {
		t.Log("mosquitto is not installed: using the embedded broker")
		b, err := broker.StartEmbedded("127.0.0.1:0", slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Stop() })
		return b, ""
	}
	bdir := filepath.Join(dir, "broker")
	if err := os.Mkdir(bdir, 0o700); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "mosquitto.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logf.Close() })
	b, err := broker.StartMosquitto(bdir, logf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Stop() })
	return b, logPath
}

func freePort(t testing.TB) int {
	t.Helper()
	p, err := broker.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// newClusterRig writes the configuration of size nodes (n1, n2, ...) and
// starts none of them. With proxied, every replication port sits behind a
// proxy of raftNet and the peer list names the proxies.
func newClusterRig(t testing.TB, size int, proxied bool) *clusterRig {
	return buildRig(t, size, proxied, true)
}

// newSingleRig is one node without a cluster block: the single node that
// the benchmark compares the cluster with.
func newSingleRig(t testing.TB) *clusterRig { return buildRig(t, 1, false, false) }

func buildRig(t testing.TB, size int, proxied, clustered bool) *clusterRig {
	t.Helper()
	dir := t.TempDir()
	b, brokerLog := clusterStartBroker(t, dir)
	rig := &clusterRig{t: t, broker: b}
	type ports struct{ raft, http int }
	ps := make([]ports, size)
	var peers, apis []string
	var advertised []string
	for i := range ps {
		ps[i] = ports{raft: freePort(t), http: freePort(t)}
		id := fmt.Sprintf("n%d", i+1)
		addr := fmt.Sprintf("127.0.0.1:%d", ps[i].raft)
		advertised = append(advertised, addr)
		apis = append(apis, fmt.Sprintf("%s: http://127.0.0.1:%d", id, ps[i].http))
	}
	if proxied {
		rig.net = &raftNet{conns: map[*proxyConn]struct{}{}}
		for i := range ps {
			advertised[i] = rig.net.listen(t, fmt.Sprintf("127.0.0.1:%d", ps[i].raft))
		}
	}
	for i := range ps {
		peers = append(peers, fmt.Sprintf("n%d=%s", i+1, advertised[i]))
	}
	clientID := fmt.Sprintf("portsync-cluster-%d", os.Getpid())
	for i := range ps {
		id := fmt.Sprintf("n%d", i+1)
		ndir := filepath.Join(dir, id)
		stateDir := filepath.Join(ndir, "state")
		if err := os.MkdirAll(stateDir, 0o700); err != nil {
			t.Fatal(err)
		}
		cfg := crashConfigFor(stateDir, b.URL(), clientID, ps[i].http)
		if clustered {
			cfg.Extra = append(cfg.Extra, fmt.Sprintf("cluster: {node_id: %s, listen: \"127.0.0.1:%d\", peers: [%s], apis: {%s}}",
				id, ps[i].raft, strings.Join(peers, ", "), strings.Join(apis, ", ")))
		}
		cfgPath := filepath.Join(ndir, "portsync.yaml")
		if err := os.WriteFile(cfgPath, []byte(cfg.YAML()), 0o600); err != nil {
			t.Fatal(err)
		}
		n := &clusterNode{id: id, raftAddr: advertised[i], crashRig: &crashRig{
			t: t, bin: portsyncBinary(t), config: cfgPath, logPath: filepath.Join(ndir, "portsync.log"),
			base: fmt.Sprintf("http://127.0.0.1:%d", ps[i].http), http: &http.Client{Timeout: 5 * time.Second},
		}}
		rig.nodes = append(rig.nodes, n)
	}
	t.Cleanup(func() {
		for _, n := range rig.nodes {
			if n.running() {
				n.daemon.cmd.Process.Kill()
				<-n.daemon.done
			}
		}
		for _, n := range rig.nodes {
			// A daemon built with -race reports there: fail on it.
			if data, err := os.ReadFile(n.logPath); err == nil && bytes.Contains(data, []byte("WARNING: DATA RACE")) {
				t.Errorf("%s: the daemon's log reports a data race", n.id)
			}
		}
		if t.Failed() {
			for _, n := range rig.nodes {
				crashDumpLog(t, "portsync "+n.id, n.logPath, 60)
			}
			if brokerLog != "" {
				crashDumpLog(t, "mosquitto", brokerLog, 30)
			}
		}
	})
	return rig
}

// startAll starts every node and waits until one leads and all are ready.
func (c *clusterRig) startAll() *clusterNode {
	c.t.Helper()
	for _, n := range c.nodes {
		n.start()
	}
	leader, _ := c.waitLeader(nil, 30*time.Second)
	for _, n := range c.nodes {
		n.waitReady()
	}
	return leader
}

// leader is the node that says it leads and whose /readyz is 200, nil
// when none does; not is left out (a node cut off may still believe it
// leads for a moment).
func (c *clusterRig) leader(not *clusterNode) *clusterNode {
	for _, n := range c.nodes {
		if n == not {
			continue
		}
		if s, ok := n.self(); ok && s.Role == "leader" && n.ready() {
			return n
		}
	}
	return nil
}

// waitLeader polls every 50 ms until a node other than not leads and is
// ready, and returns it with the time that took.
func (c *clusterRig) waitLeader(not *clusterNode, within time.Duration) (*clusterNode, time.Duration) {
	c.t.Helper()
	start := time.Now()
	for {
		if l := c.leader(not); l != nil {
			return l, time.Since(start)
		}
		if time.Since(start) > within {
			c.t.Fatalf("no ready leader within %v: %s", within, c.roles())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// roles is every node's view of itself, for messages.
func (c *clusterRig) roles() string {
	var parts []string
	for _, n := range c.nodes {
		s, ok := n.self()
		if !ok {
			parts = append(parts, n.id+": silent")
			continue
		}
		parts = append(parts, fmt.Sprintf("%s: %s term %d applied %d commit %d", n.id, s.Role, s.Term, s.AppliedIndex, s.CommitIndex))
	}
	return strings.Join(parts, "; ")
}

// followers are the running nodes other than l.
func (c *clusterRig) followers(l *clusterNode) []*clusterNode {
	var out []*clusterNode
	for _, n := range c.nodes {
		if n != l && n.running() {
			out = append(out, n)
		}
	}
	return out
}

// waitCaughtUp polls the leader's GET /api/v1/cluster until n's lag is 0.
func (c *clusterRig) waitCaughtUp(n *clusterNode, within time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(within)
	last := ""
	for {
		if l := c.leader(nil); l != nil {
			var body struct {
				Nodes []httpapi.ClusterNode `json:"nodes"`
			}
			if l.getJSON("/api/v1/cluster", &body) == http.StatusOK {
				for _, e := range body.Nodes {
					if e.ID == n.id {
						if e.Lag != nil && *e.Lag == 0 {
							return
						}
						last = fmt.Sprintf("lag %v reachable %v %s", e.Lag, e.Reachable, e.Error)
						if e.Lag != nil {
							last = fmt.Sprintf("lag %d", *e.Lag)
						}
					}
				}
			}
		} else {
			last = "no leader"
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s not caught up within %v: %s (%s)", n.id, within, last, c.roles())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// clusterMsg is one message the publisher sends.
type clusterMsg struct {
	topic   string
	payload []byte
}

// clusterLoad is a stream of agency and TOS events over containers
// [base, base+containers) and what the store must show once it is in:
// each container's TOS arrival with a CUSTOMS hold, then perContainer
// customs events alternating release and hold (crashStatus, so the last
// decides and differs between containers), with earlier messages
// published again as duplicates.
type clusterLoad struct {
	msgs   []clusterMsg
	unique int
	want   map[string]fpExpect
}

// newClusterLoad builds the stream; dupEvery > 0 re-publishes a random
// earlier message after every dupEvery-th one.
func newClusterLoad(base, containers, perContainer, dupEvery int, seed uint64) *clusterLoad {
	rng := rand.New(rand.NewPCG(seed, seed^0xc105))
	var uniq []clusterMsg
	for c := base; c < base+containers; c++ {
		uniq = append(uniq, clusterMsg{"tos/events", fpTOSArrival(c)})
	}
	for k := range perContainer {
		for c := base; c < base+containers; c++ {
			uniq = append(uniq, clusterMsg{crashTopic, crashEvent(c, k)})
		}
	}
	l := &clusterLoad{unique: len(uniq), want: map[string]fpExpect{}}
	for i, m := range uniq {
		l.msgs = append(l.msgs, m)
		if dupEvery > 0 && (i+1)%dupEvery == 0 {
			l.msgs = append(l.msgs, uniq[rng.IntN(i+1)])
		}
	}
	for c := base; c < base+containers; c++ {
		var ids []string
		for k := range perContainer {
			ids = append(ids, crashEventID(c, k))
		}
		l.want[crashContainer(c)] = fpExpect{events: ids, tos: fmt.Sprintf("TOS-%04d", c), status: crashStatus(c, perContainer-1)}
	}
	return l
}

// clusterPublish sends msgs in bursts, each accepted by the broker (QoS 1)
// before the pause and the next; after each burst it calls at with the
// number accepted so far.
func clusterPublish(pub paho.Client, msgs []clusterMsg, burst int, pause time.Duration, at func(int)) error {
	n := 0
	for chunk := range slices.Chunk(msgs, burst) {
		toks := make([]paho.Token, 0, len(chunk))
		for _, m := range chunk {
			toks = append(toks, pub.Publish(m.topic, 1, false, m.payload))
		}
		for _, tok := range toks {
			if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
				return fmt.Errorf("publish (after %d accepted): %v", n, tok.Error())
			}
		}
		n += len(chunk)
		if at != nil {
			at(n)
		}
		time.Sleep(pause)
	}
	return nil
}

// clusterCheckNode waits until node n shows every container of want in its
// expected state and every event journaled once, and returns the
// journals.
func clusterCheckNode(t *testing.T, n *clusterNode, want map[string]fpExpect, within time.Duration) map[string][]state.JournalEntry {
	t.Helper()
	deadline := time.Now().Add(within)
	fpWaitStatuses(t, n.crashRig, want, deadline)
	return fpWaitJournal(t, n.crashRig, want, deadline)
}

// raftNet is the in-test network of the replication traffic: a proxy in
// front of every node's port. Cutting a node closes every connection to
// it or from it and refuses new ones, until healed. A connection's origin
// is read from the first request on it: every Raft RPC begins with a
// header naming the sender's advertised address, which is its proxy's.
type raftNet struct {
	mu    sync.Mutex
	addrs []string // the proxies' addresses, one per node
	cut   string   // the proxy address of the node cut off, "" for none
	conns map[*proxyConn]struct{}
	drops atomic.Int64
}

type proxyConn struct {
	to, from       string // proxy address of the target and of the origin ("" unknown)
	client, server net.Conn
}

func (p *proxyConn) close() {
	p.client.Close()
	if p.server != nil {
		p.server.Close()
	}
}

// listen starts a proxy forwarding to target and returns its address.
func (rn *raftNet) listen(t testing.TB, target string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	rn.mu.Lock()
	rn.addrs = append(rn.addrs, addr)
	rn.mu.Unlock()
	t.Cleanup(func() {
		ln.Close()
		rn.mu.Lock()
		for c := range rn.conns {
			c.close()
		}
		rn.mu.Unlock()
	})
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go rn.forward(conn, addr, target)
		}
	}()
	return addr
}

// origin finds which node's address the request in buf names: the
// address followed by a byte that cannot continue a port.
func (rn *raftNet) origin(buf []byte) (from string, sure bool) {
	for _, a := range rn.addrs {
		for i := bytes.Index(buf, []byte(a)); i >= 0; {
			end := i + len(a)
			if end == len(buf) {
				return "", false // might be a longer port: read more
			}
			if buf[end] < '0' || buf[end] > '9' {
				return a, true
			}
			j := bytes.Index(buf[end:], []byte(a))
			if j < 0 {
				break
			}
			i = end + j
		}
	}
	return "", false
}

func (rn *raftNet) forward(client net.Conn, to, target string) {
	pc := &proxyConn{to: to, client: client}
	// Read the start of the first request to learn the origin; 4 KiB
	// holds its header whatever the request.
	buf := make([]byte, 0, 4096)
	client.SetReadDeadline(time.Now().Add(5 * time.Second))
	for len(buf) < cap(buf) {
		n, err := client.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		rn.mu.Lock()
		from, sure := rn.origin(buf)
		rn.mu.Unlock()
		if sure {
			pc.from = from
			break
		}
		if err != nil {
			client.Close()
			return
		}
	}
	client.SetReadDeadline(time.Time{})
	server, err := net.DialTimeout("tcp", target, 5*time.Second)
	if err != nil {
		client.Close()
		return
	}
	pc.server = server
	rn.mu.Lock()
	if rn.cut != "" && (rn.cut == to || rn.cut == pc.from) {
		rn.mu.Unlock()
		rn.drops.Add(1)
		pc.close()
		return
	}
	rn.conns[pc] = struct{}{}
	rn.mu.Unlock()
	if _, err := server.Write(buf); err != nil {
		pc.close()
	}
	done := make(chan struct{}, 2)
	go func() { io.Copy(server, client); done <- struct{}{} }()
	go func() { io.Copy(client, server); done <- struct{}{} }()
	<-done
	pc.close()
	<-done
	rn.mu.Lock()
	delete(rn.conns, pc)
	rn.mu.Unlock()
}

// isolate cuts the node whose proxy address is addr off from the others.
func (rn *raftNet) isolate(addr string) {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	rn.cut = addr
	for c := range rn.conns {
		if c.to == addr || c.from == addr {
			c.close()
			delete(rn.conns, c)
		}
	}
}

// heal lets every connection through again.
func (rn *raftNet) heal() {
	rn.mu.Lock()
	rn.cut = ""
	rn.mu.Unlock()
}
