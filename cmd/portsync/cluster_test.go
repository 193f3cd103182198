package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/portsync/portsync/state"
)

// The cluster tests check DESIGN section 8's promises across a cluster of
// three real processes: a leader killed, cut off or restarted loses no
// event and applies none twice, a new leader takes over within the
// documented bound, and no command id names two commands.

// failoverBound is the documented bound for a new leader to serve after
// the old one is lost.
const failoverBound = 10 * time.Second

// clusterSeed is the seed of a test's duplicates, logged for a rerun.
func clusterSeed(t *testing.T) uint64 {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	return seed
}

// TestClusterKillLeader streams 5,000 agency and TOS events (with
// duplicates) while the leader is SIGKILLed twice; the killed node comes
// back each time. Every event must be journaled exactly once on the final
// leader and on a follower, every container must end in its last event's
// state, and a new leader must serve within failoverBound of each kill.
func TestClusterKillLeader(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three daemons; skipped with -short")
	}
	rig := newClusterRig(t, 3, false)
	began := time.Now()
	leader := rig.startAll()
	t.Logf("cluster ready in %v; %s leads", time.Since(began).Round(time.Millisecond), leader.id)

	cmds := &fpCommands{}
	fpSubscribe(t, rig.broker.URL(), cmds)
	pub := crashPublisher(t, rig.broker.URL())
	// 400 arrivals and 4,000 customs events, one duplicate after every 7th.
	load := newClusterLoad(0, 400, 10, 7, clusterSeed(t))
	t.Logf("%d messages, %d of them distinct", len(load.msgs), load.unique)

	killAt := []int{1500, 3500}
	killNow := make(chan int, len(killAt))
	pubErr := make(chan error, 1)
	go func() {
		next := 0
		// About 250 messages a second: the stream lasts ~20 s, long
		// enough for both kills to fall while the leader is committing.
		pubErr <- clusterPublish(pub, load.msgs, 50, 200*time.Millisecond, func(n int) {
			if next < len(killAt) && n >= killAt[next] {
				killNow <- n
				next++
			}
		})
	}()

	var failovers []time.Duration
	for i := range killAt {
		var n int
		select {
		case n = <-killNow:
		case err := <-pubErr:
			t.Fatalf("publisher ended before kill %d: %v", i+1, err)
		case <-time.After(60 * time.Second):
			t.Fatalf("publisher did not reach kill %d within 60s", i+1)
		}
		old, _ := rig.waitLeader(nil, 30*time.Second)
		if i == len(killAt)-1 {
			// Commands received from now on come from the last leader:
			// the pending ones sent before must be sent again.
			cmds.restarted.Store(true)
		}
		stats := old.eventStats()
		killed := time.Now()
		old.kill()
		next, _ := rig.waitLeader(old, 30*time.Second)
		took := time.Since(killed)
		failovers = append(failovers, took)
		t.Logf("kill %d: SIGKILL of leader %s after %d messages published (its customs events just before: %s); %s leads and is ready %v later",
			i+1, old.id, n, stats, next.id, took.Round(time.Millisecond))
		if took > failoverBound {
			t.Errorf("kill %d: a new leader served %v after the kill, want within %v", i+1, took.Round(time.Millisecond), failoverBound)
		}
		// The killed node comes back after a while, so that the next kill
		// again leaves two of three.
		time.Sleep(time.Second)
		old.start()
		old.waitReady()
		rig.waitCaughtUp(old, 30*time.Second)
		t.Logf("kill %d: %s restarted and caught up (%v in)", i+1, old.id, time.Since(began).Round(time.Millisecond))
	}
	if err := <-pubErr; err != nil {
		t.Fatal(err)
	}
	t.Logf("publisher done: %d messages accepted by the broker (%v in)", len(load.msgs), time.Since(began).Round(time.Millisecond))

	final, _ := rig.waitLeader(nil, 30*time.Second)
	histories := clusterCheckNode(t, final, load.want, 60*time.Second)
	t.Logf("leader %s: every container in its last state, every event once (%v in)", final.id, time.Since(began).Round(time.Millisecond))
	follower := rig.followers(final)[0]
	clusterCheckNode(t, follower, load.want, 30*time.Second)
	t.Logf("follower %s: the same", follower.id)
	t.Logf("final leader %s's customs events: %s", final.id, final.eventStats())
	fpCheckCommands(t, final.crashRig, cmds, histories, false, time.Now().Add(30*time.Second))
	clusterNoDeadLetters(t, final)
	t.Logf("failover times: %v (target under 5s, bound %v); total %v", failovers, failoverBound, time.Since(began).Round(time.Millisecond))
}

// clusterNoDeadLetters expects no dead letter on node n.
func clusterNoDeadLetters(t *testing.T, n *clusterNode) {
	t.Helper()
	var dl struct {
		Deadletters []json.RawMessage `json:"deadletters"`
	}
	if code := n.getJSON("/api/v1/deadletters", &dl); code != http.StatusOK {
		t.Errorf("%s: GET deadletters: HTTP %d", n.id, code)
	} else if len(dl.Deadletters) > 0 {
		t.Errorf("%s: %d dead letters, want none: %s", n.id, len(dl.Deadletters), dl.Deadletters[0])
	}
}

// TestClusterPartition cuts the leader's replication traffic off from the
// other two: the old leader must stop leading and acting, the majority
// must elect a leader that applies what is published meanwhile, and once
// healed all three nodes must hold one history.
func TestClusterPartition(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three daemons; skipped with -short")
	}
	rig := newClusterRig(t, 3, true)
	began := time.Now()
	old := rig.startAll()
	t.Logf("cluster ready in %v; %s leads", time.Since(began).Round(time.Millisecond), old.id)

	cmds := &fpCommands{}
	fpSubscribe(t, rig.broker.URL(), cmds)
	pub := crashPublisher(t, rig.broker.URL())
	seed := clusterSeed(t)
	before := newClusterLoad(0, 100, 4, 10, seed)
	across := newClusterLoad(500, 100, 4, 10, seed)
	during := newClusterLoad(1000, 100, 4, 10, seed)
	after := newClusterLoad(2000, 50, 4, 10, seed)

	if err := clusterPublish(pub, before.msgs, 100, 20*time.Millisecond, nil); err != nil {
		t.Fatal(err)
	}
	clusterCheckNode(t, old, before.want, 30*time.Second)
	oldLog := clusterLogSize(t, old)

	// The cut falls in the middle of a stream, while the leader has group
	// commits in flight: those it cannot commit must reach the new leader
	// again, and those the majority did commit must not be applied twice.
	cutNow := make(chan struct{})
	pubErr := make(chan error, 1)
	go func() {
		var once sync.Once
		pubErr <- clusterPublish(pub, across.msgs, 10, 50*time.Millisecond, func(n int) {
			if n >= len(across.msgs)/3 {
				once.Do(func() { close(cutNow) })
			}
		})
	}()
	select {
	case <-cutNow:
	case err := <-pubErr:
		t.Fatalf("publisher ended before the cut: %v", err)
	}
	// Commands from now on come from the majority's leader: the pending
	// ones sent before must be sent again.
	cmds.restarted.Store(true)
	cut := time.Now()
	rig.net.isolate(old.raftAddr)
	// When the old leader stops saying it leads, measured apart from the
	// election, which takes longer.
	steppedDown := make(chan time.Duration, 1)
	go func() {
		for time.Since(cut) < failoverBound {
			if s, ok := old.self(); ok && s.Role != "leader" {
				steppedDown <- time.Since(cut)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		close(steppedDown)
	}()
	next, _ := rig.waitLeader(old, 30*time.Second)
	took := time.Since(cut)
	t.Logf("%s cut off; %s leads and is ready %v later", old.id, next.id, took.Round(time.Millisecond))
	if took > failoverBound {
		t.Errorf("a new leader served %v after the cut, want within %v", took.Round(time.Millisecond), failoverBound)
	}

	// The minority stops acting: it no longer says it leads, is not ready
	// (it knows no leader), and it logged that it stopped its sources,
	// whose MQTT session the new leader now holds.
	deadline := time.Now().Add(failoverBound)
	for {
		s, ok := old.self()
		if ok && s.Role != "leader" && !old.ready() {
			t.Logf("%s stopped leading %v after the cut and is %s and not ready %v after it", old.id,
				(<-steppedDown).Round(time.Millisecond), s.Role, time.Since(cut).Round(time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still leads or is ready %v after the cut: %+v", old.id, failoverBound, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !clusterLogSince(t, old, oldLog, "leadership lost: stopping the sources") {
		t.Errorf("%s did not log that it stopped its sources after the cut", old.id)
	}

	if err := <-pubErr; err != nil {
		t.Fatal(err)
	}
	clusterCheckNode(t, next, across.want, 30*time.Second)

	// Published while cut off: the majority's leader applies them; the
	// old leader cannot have.
	if err := clusterPublish(pub, during.msgs, 100, 20*time.Millisecond, nil); err != nil {
		t.Fatal(err)
	}
	clusterCheckNode(t, next, during.want, 30*time.Second)
	for _, id := range slices.Sorted(maps.Keys(during.want))[:5] {
		var v struct {
			Agencies map[string]state.Status `json:"agencies"`
		}
		switch code := old.getJSON("/api/v1/containers/"+id, &v); {
		case code == http.StatusNotFound:
		case code != http.StatusOK:
			t.Errorf("%s, cut off, answers HTTP %d for %s: it must still serve reads", old.id, code, id)
		case v.Agencies["customs"] != "":
			t.Errorf("%s, cut off, shows %s with customs %s: it applied an event published during the cut", old.id, id, v.Agencies["customs"])
		}
	}
	if s, ok := old.self(); ok && s.Role == "leader" {
		t.Errorf("%s leads again while cut off", old.id)
	}

	rig.net.heal()
	healed := time.Now()
	if err := clusterPublish(pub, after.msgs, 100, 20*time.Millisecond, nil); err != nil {
		t.Fatal(err)
	}
	rig.waitCaughtUp(old, 30*time.Second)
	t.Logf("healed: %s caught up %v later; %s", old.id, time.Since(healed).Round(time.Millisecond), rig.roles())

	all := map[string]fpExpect{}
	for _, l := range []*clusterLoad{before, across, during, after} {
		maps.Copy(all, l.want)
	}
	final, _ := rig.waitLeader(nil, 30*time.Second)
	var histories map[string][]state.JournalEntry
	for _, n := range rig.nodes {
		h := clusterCheckNode(t, n, all, 30*time.Second)
		if n == final {
			histories = h
		}
	}
	// One history: a sample of containers from each phase reads the same,
	// view and journal, on all three nodes.
	var sample []string
	for _, l := range []*clusterLoad{before, across, during, after} {
		sample = append(sample, slices.Sorted(maps.Keys(l.want))[:10]...)
	}
	clusterSameViews(t, rig, sample)
	fpCheckCommands(t, final.crashRig, cmds, histories, false, time.Now().Add(30*time.Second))
	clusterNoDeadLetters(t, final)
	t.Logf("partition: %d connections refused while cut; total %v", rig.net.drops.Load(), time.Since(began).Round(time.Millisecond))
}

// clusterSameViews compares the API answers for each container's view and
// history across the nodes: the store is replicated write for write, so
// they must be the same, but for the attempts of a pending command, which
// count the sends of the process that leads (the dispatcher's memory, not
// the store: 0 on a follower).
func clusterSameViews(t *testing.T, rig *clusterRig, containers []string) {
	t.Helper()
	for _, id := range containers {
		for _, path := range []string{"/api/v1/containers/" + id, "/api/v1/containers/" + id + "/history"} {
			var first []byte
			for _, n := range rig.nodes {
				body := clusterStoredOnly(t, clusterGetRaw(t, n, path))
				if first == nil {
					first = body
					continue
				}
				if !bytes.Equal(first, body) {
					t.Errorf("GET %s differs between %s and %s:\n%s\n%s", path, rig.nodes[0].id, n.id, first, body)
				}
			}
		}
	}
}

// clusterStoredOnly drops the pending commands' attempts from a container
// view and re-encodes it, keys sorted.
func clusterStoredOnly(t *testing.T, body []byte) []byte {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if pcs, ok := v["pending_commands"].([]any); ok {
		for _, pc := range pcs {
			if m, ok := pc.(map[string]any); ok {
				delete(m, "attempts")
			}
		}
	}
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func clusterGetRaw(t *testing.T, n *clusterNode, path string) []byte {
	t.Helper()
	resp, err := n.http.Get(n.base + path)
	if err != nil {
		t.Fatalf("%s: GET %s: %v", n.id, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: GET %s: HTTP %d %v", n.id, path, resp.StatusCode, err)
	}
	return body
}

// clusterLogSize is how long node n's log is now, to search only what
// follows.
func clusterLogSize(t *testing.T, n *clusterNode) int64 {
	t.Helper()
	fi, err := os.Stat(n.logPath)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// clusterLogSince reports whether n's log has a line with text after
// offset.
func clusterLogSince(t *testing.T, n *clusterNode, offset int64, text string) bool {
	t.Helper()
	f, err := os.Open(n.logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), text) {
			return true
		}
	}
	return false
}

// TestClusterRollingRestart restarts each node in turn with SIGTERM under
// a steady stream of events, each time waiting until the node is back,
// ready and caught up; nothing may be lost or applied twice.
func TestClusterRollingRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three daemons; skipped with -short")
	}
	rig := newClusterRig(t, 3, false)
	began := time.Now()
	leader := rig.startAll()
	t.Logf("cluster ready in %v; %s leads", time.Since(began).Round(time.Millisecond), leader.id)

	cmds := &fpCommands{}
	fpSubscribe(t, rig.broker.URL(), cmds)
	pub := crashPublisher(t, rig.broker.URL())
	load := newClusterLoad(0, 200, 10, 10, clusterSeed(t))
	pubErr := make(chan error, 1)
	var published atomic.Int64
	go func() {
		// ~130 messages a second for ~18 s: the stream outlasts the three
		// restarts.
		pubErr <- clusterPublish(pub, load.msgs, 20, 150*time.Millisecond, func(n int) { published.Store(int64(n)) })
	}()
	// Each restart falls at its own point of the stream.
	restartAt := []int64{300, 1000, 1700}
	for i, n := range rig.nodes {
		for published.Load() < restartAt[i] {
			time.Sleep(20 * time.Millisecond)
		}
		at := published.Load()
		s, _ := n.self()
		if s.Role == "leader" {
			// Commands from now on come from the next leader: the
			// pending ones sent before must be sent again.
			cmds.restarted.Store(true)
		}
		start := time.Now()
		n.stop()
		stopped := time.Since(start)
		n.start()
		n.waitReady()
		rig.waitCaughtUp(n, 30*time.Second)
		t.Logf("%s (was %s) restarted at %d messages published: stopped in %v, back and caught up %v after SIGTERM",
			n.id, s.Role, at, stopped.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	}
	if err := <-pubErr; err != nil {
		t.Fatal(err)
	}
	t.Logf("publisher done: %d messages (%v in)", len(load.msgs), time.Since(began).Round(time.Millisecond))
	final, _ := rig.waitLeader(nil, 30*time.Second)
	histories := clusterCheckNode(t, final, load.want, 60*time.Second)
	for _, f := range rig.followers(final) {
		clusterCheckNode(t, f, load.want, 30*time.Second)
	}
	fpCheckCommands(t, final.crashRig, cmds, histories, false, time.Now().Add(30*time.Second))
	clusterNoDeadLetters(t, final)
	t.Logf("rolling restart: every event once on all three nodes; total %v", time.Since(began).Round(time.Millisecond))
}

// BenchmarkClusterThroughput measures, in the same run, a three-node
// cluster and a single node, and reports the cluster's figures beside the
// single node's and as ratios of them: the events per second of a burst
// published as fast as the broker takes it, and the p99 group-commit time
// (portsync_commit_seconds, which on a cluster's leader includes the
// replication to a quorum) under a paced stream, paced so that the groups
// stay small and many. Run it with -benchtime=1x.
func BenchmarkClusterThroughput(b *testing.B) {
	var single, clustered clusterBench
	for i := range b.N {
		base := i * 100000
		single.add(benchRound(b, newSingleRig(b), base))
		clustered.add(benchRound(b, newClusterRig(b, 3, false), base))
	}
	b.ReportMetric(single.rate(), "single_events/s")
	b.ReportMetric(clustered.rate(), "cluster_events/s")
	b.ReportMetric(clustered.rate()/single.rate(), "throughput_ratio")
	b.ReportMetric(single.p50*1000, "single_p50_commit_ms")
	b.ReportMetric(clustered.p50*1000, "cluster_p50_commit_ms")
	b.ReportMetric(single.p99*1000, "single_p99_commit_ms")
	b.ReportMetric(clustered.p99*1000, "cluster_p99_commit_ms")
	b.ReportMetric(clustered.p99/single.p99, "p99_commit_ratio")
}

// clusterBench sums the rounds of one kind of deployment.
type clusterBench struct {
	events  int
	elapsed time.Duration
	p50     float64 // seconds, the worst round's
	p99     float64 // seconds, the worst round's
}

func (c *clusterBench) add(r clusterBench) {
	c.events += r.events
	c.elapsed += r.elapsed
	c.p50 = max(c.p50, r.p50)
	c.p99 = max(c.p99, r.p99)
}

func (c *clusterBench) rate() float64 { return float64(c.events) / c.elapsed.Seconds() }

// benchRound starts rig's nodes, times a burst of 22,000 messages and
// then reads the commit times of a paced stream of 3,300; it stops the
// nodes before it returns.
func benchRound(b *testing.B, rig *clusterRig, base int) clusterBench {
	b.StopTimer()
	defer b.StartTimer()
	var leader *clusterNode
	if len(rig.nodes) == 1 {
		leader = rig.nodes[0]
		leader.start()
		leader.waitReady()
	} else {
		leader = rig.startAll()
	}
	pub := crashPublisher(b, rig.broker.URL())
	kind := "single node"
	if len(rig.nodes) > 1 {
		kind = "3-node cluster"
	}

	burst := newClusterLoad(base, 2000, 10, 0, 1)
	b.StartTimer()
	elapsed := benchStream(b, pub, leader, burst.msgs, 500, 0, base+2000)
	b.StopTimer()
	events := len(burst.msgs) + 1
	if len(rig.nodes) > 1 {
		// The commit times are the leader's: read them where it is now.
		if now, _ := rig.waitLeader(nil, 30*time.Second); now != leader {
			b.Logf("%s: leadership moved from %s to %s during the burst", kind, leader.id, now.id)
			leader = now
		}
	}

	before := commitHistogram(b, leader)
	paced := newClusterLoad(base+50000, 300, 10, 0, 1)
	pacedFor := benchStream(b, pub, leader, paced.msgs, 10, 10*time.Millisecond, base+50000+300)
	after := commitHistogram(b, leader)
	if len(rig.nodes) > 1 {
		if now, _ := rig.waitLeader(nil, 30*time.Second); now != leader {
			b.Errorf("%s: leadership moved from %s to %s during the paced stream: its commit times are partial", kind, leader.id, now.id)
		}
	}
	p50, p99 := histogramQuantile(before, after, 0.5), histogramQuantile(before, after, 0.99)
	commits := after[len(after)-1].count - before[len(before)-1].count
	b.Logf("%s: burst of %d events applied in %v (%.0f/s); paced stream of %d in %v: %.0f group commits, p50 %.2f ms, p90 %.2f ms, p99 %.2f ms",
		kind, events, elapsed.Round(time.Millisecond), float64(events)/elapsed.Seconds(),
		len(paced.msgs)+1, pacedFor.Round(time.Millisecond), commits,
		p50*1000, histogramQuantile(before, after, 0.9)*1000, p99*1000)
	for _, n := range rig.nodes {
		n.stop()
	}
	return clusterBench{events: events, elapsed: elapsed, p50: p50, p99: p99}
}

// benchStream publishes msgs and then a customs event for the container
// sentinel, and returns the time until the sentinel is applied: the
// customs topic is one ordered stream into one writer, so by then every
// customs event before it is applied too.
func benchStream(b *testing.B, pub paho.Client, leader *clusterNode, msgs []clusterMsg, burst int, pause time.Duration, sentinel int) time.Duration {
	b.Helper()
	start := time.Now()
	if err := clusterPublish(pub, msgs, burst, pause, nil); err != nil {
		b.Fatal(err)
	}
	if tok := pub.Publish(crashTopic, 1, false, crashEvent(sentinel, 0)); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		b.Fatalf("publish sentinel: %v", tok.Error())
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		var v struct {
			Agencies map[string]state.Status `json:"agencies"`
		}
		if leader.getJSON("/api/v1/containers/"+crashContainer(sentinel), &v) == http.StatusOK && v.Agencies["customs"] != "" {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			b.Fatal("sentinel not applied within 60s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// bucket is one cumulative bucket of a Prometheus histogram.
type bucket struct {
	le    float64
	count float64
}

// commitHistogram reads portsync_commit_seconds's buckets from n's
// /metrics, in order of le.
func commitHistogram(tb testing.TB, n *clusterNode) []bucket {
	tb.Helper()
	resp, err := n.http.Get(n.base + "/metrics")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var out []bucket
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, `portsync_commit_seconds_bucket{le="`)
		if !ok {
			continue
		}
		le, val, _ := strings.Cut(rest, `"} `)
		l, err1 := strconv.ParseFloat(le, 64) // +Inf parses as infinity
		c, err2 := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err1 != nil || err2 != nil {
			tb.Fatalf("unreadable bucket line %q", line)
		}
		out = append(out, bucket{l, c})
	}
	if len(out) == 0 {
		tb.Fatal("no portsync_commit_seconds buckets in /metrics")
	}
	return out
}

// histogramQuantile is the q quantile of the observations between two
// readings of a histogram, interpolated linearly inside its bucket as
// Prometheus's histogram_quantile does.
func histogramQuantile(before, after []bucket, q float64) float64 {
	total := after[len(after)-1].count - before[len(before)-1].count
	if total == 0 {
		return 0
	}
	rank := q * total
	prevLe, prevCount := 0.0, 0.0
	for i := range after {
		c := after[i].count - before[i].count
		if c >= rank {
			if i == len(after)-1 { // the +Inf bucket: the last finite bound
				return prevLe
			}
			return prevLe + (after[i].le-prevLe)*(rank-prevCount)/(c-prevCount)
		}
		prevLe, prevCount = after[i].le, c
	}
	return prevLe
}
