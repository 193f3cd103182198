package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	stdsync "sync"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/sony/gobreaker/v2"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/adapters/httppush"
	"github.com/portsync/portsync/adapters/mqtt"
	"github.com/portsync/portsync/adapters/tossnapshot"
	"github.com/portsync/portsync/cluster"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
	"github.com/portsync/portsync/sync"
	"github.com/portsync/portsync/sync/httpapi"
)

// stuckAfter is how long the writer may go without finishing a pass of its
// loop (it passes at least every second when idle) before /readyz says so.
const stuckAfter = 30 * time.Second

// lockTimeout is how long Open waits for another process to let go of the
// store before it gives up with a clear message.
const lockTimeout = 2 * time.Second

// Daemon is a running portsync: the store, the engine and its workers, the
// adapters and the HTTP API, wired from one configuration. The adapters
// (brokers, sources, sink, channels) can be swapped by Reload; the store,
// the engine and the HTTP listener stay for the life of the process.
type Daemon struct {
	log     *slog.Logger
	store   *state.Store
	metrics *sync.Metrics

	// eng is the engine in force. A single node has one for its life; a
	// cluster node builds a new one each time it becomes the leader, from
	// the store as replicated so far.
	eng      atomic.Pointer[sync.Engine]
	sessions *sessionWatch
	// node is this process's member of the cluster, nil for a single node.
	node *cluster.Node
	// acting is set while a cluster node leads and its adapters, writer
	// and workers run.
	acting atomic.Bool

	// reload is held by a reload, and by Run while it starts and stops:
	// running, sched, the job ids and workCtx are read and written under
	// it.
	reload       stdsync.Mutex
	running      bool
	set          atomic.Pointer[adapterSet]
	sched        *cron.Cron
	sweepJob     cron.EntryID
	snapshotJob  cron.EntryID // tos.snapshot.schedule, when set
	retentionJob cron.EntryID
	workCtx      context.Context

	listener net.Listener
	api      *httpapi.Server
	server   *http.Server
}

// adapterSet is everything one configuration builds that a reload
// replaces whole.
type adapterSet struct {
	cfg   *config.Config
	token string
	// overrideToken is http.override_token_file's, "" when overrides are
	// off.
	overrideToken string
	brokers       map[string]adapters.Broker
	sources       []runningSource
	byName        map[string]*sync.SourceInfo
	sink          adapters.Sink
	channels      map[string]adapters.Notifier
	// pushTokens maps the token of each http_push source that has one to
	// the source's name.
	pushTokens map[string]string
}

type runningSource struct {
	info   *sync.SourceInfo
	source adapters.Source
}

// New opens the store, builds every adapter and binds the HTTP listener;
// nothing runs until Run.
func New(cfg *config.Config, log *slog.Logger) (*Daemon, error) {
	d := &Daemon{log: log, metrics: sync.NewMetrics(), workCtx: context.Background(), sessions: newSessionWatch()}
	store, err := state.Open(filepath.Join(cfg.StateDir, state.FileName), lockTimeout)
	if err != nil {
		return nil, err
	}
	d.store = store
	ok := false
	defer func() {
		if !ok {
			d.closeAll()
		}
	}()
	// The adapters are built first, connecting nothing; what they report
	// of their health goes to the engine once it exists (adapterEnv).
	set, err := buildAdapters(cfg, log, d.adapterEnv)
	if err != nil {
		return nil, err
	}
	d.set.Store(set)
	eng, err := d.newEngine(set, nil)
	if err != nil {
		return nil, err
	}
	d.eng.Store(eng)
	if err := d.loadLostSessions(); err != nil {
		return nil, fmt.Errorf("load lost broker sessions: %w", err)
	}
	if cfg.Cluster != nil {
		if d.node, err = startNode(cfg, store, log); err != nil {
			return nil, err
		}
		d.metrics.Registry.MustRegister(clusterCollector{d.node})
	}
	d.listener, err = net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return nil, fmt.Errorf("http.listen: %w", err)
	}
	d.api = &httpapi.Server{
		Backend: (*backend)(d), Store: store, Engine: d.engine, Metrics: d.metrics, Log: log,
		BodyTimeout: httpapi.BodyTimeout,
	}
	// Reading a request is bounded (headers 10 s, the whole request 30 s,
	// each body BodyTimeout); writing is not, since a backup streams the
	// whole store.
	d.server = &http.Server{
		Handler: d.api.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10, TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12},
	}
	d.metrics.SetConfig(cfg, true)
	ok = true
	return d, nil
}

// engine returns the engine in force.
func (d *Daemon) engine() *sync.Engine { return d.eng.Load() }

// newEngine builds an engine over the store as it is now, sending through
// set's outputs; replicate is the cluster's, nil for a single node.
func (d *Daemon) newEngine(set *adapterSet, replicate func(state.WriteSet) error) (*sync.Engine, error) {
	return sync.New(sync.Options{
		Store: d.store, Config: set.cfg, Metrics: d.metrics, Log: d.log,
		Adapters: set.outputs(), Broker: d.ackBroker, Replicate: replicate,
	})
}

// buildAdapters builds the brokers, sources, sink and channels cfg
// describes, without connecting anything. An error is a config.Errors
// naming the element, for `portsync check` (CheckAdapters) and the log.
func buildAdapters(cfg *config.Config, log *slog.Logger, envFor func(*config.Config, map[string]adapters.Broker) *adapters.Env) (*adapterSet, error) {
	set := &adapterSet{
		cfg: cfg, brokers: map[string]adapters.Broker{}, byName: map[string]*sync.SourceInfo{},
		channels: map[string]adapters.Notifier{}, pushTokens: map[string]string{},
	}
	ok := false
	defer func() {
		if !ok {
			set.disconnect()
		}
	}()
	if cfg.HTTP.TokenFile != "" {
		token, err := config.ReadSecret(cfg.HTTP.TokenFile)
		if err != nil {
			return nil, cfg.ErrorAt("http.token_file", err)
		}
		set.token = token
	}
	if cfg.HTTP.OverrideTokenFile != "" {
		token, err := config.ReadSecret(cfg.HTTP.OverrideTokenFile)
		if err != nil {
			return nil, cfg.ErrorAt("http.override_token_file", err)
		}
		set.overrideToken = token
	}
	env := envFor(cfg, set.brokers)
	for name, bc := range cfg.Brokers {
		conn, err := mqtt.NewConn(name, bc, log, env.BrokerSession)
		if err != nil {
			return nil, cfg.ErrorAt("brokers."+name, err)
		}
		set.brokers[name] = conn
	}
	for i, sc := range cfg.Sources {
		key := fmt.Sprintf("sources[%d]", i)
		src, err := adapters.NewSource(env, sc)
		if err != nil {
			return nil, cfg.ErrorAt(key, err)
		}
		info, err := sync.NewSourceInfo(sc)
		if err != nil {
			return nil, cfg.ErrorAt(key, err)
		}
		if sc.Type == httppush.Type && sc.TokenFile != "" {
			token, err := config.ReadSecret(sc.TokenFile)
			if err != nil {
				return nil, cfg.ErrorAt(key+".token_file", err)
			}
			set.pushTokens[token] = sc.Name
		}
		set.sources = append(set.sources, runningSource{info: info, source: src})
		set.byName[sc.Name] = info
	}
	sink, err := adapters.NewSink(env, cfg.TOS.Sink)
	if err != nil {
		return nil, cfg.ErrorAt("tos.sink", err)
	}
	set.sink = sink
	for i, cc := range cfg.Alerts.Channels {
		n, err := adapters.NewChannel(env, cc)
		if err != nil {
			return nil, cfg.ErrorAt(fmt.Sprintf("alerts.channels[%d]", i), err)
		}
		set.channels[cc.Name] = n
	}
	ok = true
	return set, nil
}

// outputs are the adapters the engine sends through: the sink, the
// channels and where integrated status goes (broker main, if status_topic
// is set).
func (s *adapterSet) outputs() sync.Adapters {
	a := sync.Adapters{Sink: s.sink, Channels: s.channels}
	if s.cfg.StatusTopic != "" {
		a.Status = s.brokers["main"]
	}
	return a
}

// start registers every source with its broker, then connects: a
// persistent session's backlog must find its routes from the first packet.
// The engine reports each message to source health.
func (s *adapterSet) start(ctx context.Context, e *sync.Engine) error {
	for _, src := range s.sources {
		if err := src.source.Start(ctx, e.Deliver(src.info)); err != nil {
			return fmt.Errorf("start source %s: %w", src.info.Name, err)
		}
	}
	for _, b := range s.brokers {
		if err := b.Connect(ctx); err != nil {
			return err
		}
	}
	return nil
}

// stopSources stops deliveries. Messages already delivered are still
// committed; their acknowledgements go out while the connection lasts, and
// the broker delivers again what it did not get (dedupe makes that safe).
func (s *adapterSet) stopSources() {
	for _, src := range s.sources {
		src.source.Stop()
	}
}

func (s *adapterSet) disconnect() {
	for _, b := range s.brokers {
		b.Disconnect()
	}
}

// adapterEnv is what adapters built for cfg get from the daemon: the
// brokers, stored cursors and the daemon's metrics. What they report of
// their health before the engine exists (New builds them first) is
// dropped; they run only once it does.
func (d *Daemon) adapterEnv(cfg *config.Config, brokers map[string]adapters.Broker) *adapters.Env {
	return &adapters.Env{
		Config: cfg, Logger: d.log, Brokers: brokers, Cursor: d.cursor,
		BreakerChanged: func(name string, to gobreaker.State) {
			d.metrics.SetBreaker(name, to)
			if e := d.engine(); e != nil {
				e.BreakerChanged(name, to)
			}
		},
		SourceFailed: func(source, reason string, err error) {
			d.metrics.SourceFailures.WithLabelValues(source, reason).Inc()
			if e := d.engine(); e != nil {
				e.SourceFailed(source, err)
			}
		},
		BrokerSession: d.brokerSession,
		SourceOK: func(source string) {
			if e := d.engine(); e != nil {
				e.SourceOK(source)
			}
		},
		Candidates: d.candidates,
	}
}

// candidateScan bounds the containers (or mismatches) one page of
// candidates reads, so that a read transaction stays short however large
// the store.
const candidateScan = 1000

// candidates reads one page of the containers an http_query source may
// ask its agency about (adapters.CandidateQuery), in one read
// transaction: the open mismatches of the agency, or a walk of the
// containers in id order from q.After.
func (d *Daemon) candidates(ctx context.Context, q adapters.CandidateQuery) (adapters.CandidatePage, error) {
	var page adapters.CandidatePage
	if err := ctx.Err(); err != nil {
		return page, err
	}
	now := time.Now()
	// A mismatch is asked about once it is as old as an unchanged
	// container would have to be: a fresh one is the TOS's to settle.
	old := func(m state.Mismatch) bool { return m.Agency == q.Agency && now.Sub(m.Since) >= q.OlderThan }
	mismatched := func(c *state.Container) bool {
		for _, m := range c.Mismatches {
			if old(m) {
				return true
			}
		}
		return false
	}
	add := func(c state.Container) {
		page.Candidates = append(page.Candidates, adapters.Candidate{Container: c.ID, BLs: slices.Clone(c.BLs)})
	}
	err := d.store.View(func(tx *state.Tx) error {
		if q.Mismatched {
			// Mismatches are few; the first page of them is enough, and
			// the walk of the yard finds any beyond it.
			ms, _, err := tx.MismatchesPage("", candidateScan)
			if err != nil {
				return err
			}
			seen := map[string]bool{}
			for _, m := range ms {
				if !old(m) || seen[m.Container] || len(page.Candidates) >= q.Limit {
					continue
				}
				seen[m.Container] = true
				c, ok, err := tx.Container(m.Container)
				if err != nil {
					return err
				}
				if ok && c.Presence == state.InYard {
					add(c)
				}
			}
			return nil
		}
		ids := tx.ContainerIDs(q.After, candidateScan)
		for _, id := range ids {
			c, ok, err := tx.Container(id)
			if err != nil {
				return err
			}
			if !ok || c.Presence != state.InYard {
				continue
			}
			due := d.engine().Status(&c, q.Agency) != state.Released && !d.engine().Cleared(&c) &&
				now.Sub(c.UpdatedAt) >= q.OlderThan
			if !due && !mismatched(&c) {
				continue
			}
			add(c)
			if len(page.Candidates) >= q.Limit {
				page.Next = id
				return nil
			}
		}
		if len(ids) == candidateScan {
			page.Next = ids[len(ids)-1]
		}
		return nil
	})
	return page, err
}

// cursor reads a polling source's stored cursor.
func (d *Daemon) cursor(source string) (string, error) {
	var c string
	err := d.store.View(func(tx *state.Tx) error {
		c = tx.Cursor(source)
		return nil
	})
	return c, err
}

// ackBroker is the broker of that name in the configuration in force, for
// the acknowledgements; nil if there is none.
func (d *Daemon) ackBroker(name string) adapters.Publisher {
	if b, ok := d.current().brokers[name]; ok {
		return b
	}
	return nil
}

// current returns the adapters and configuration in force.
func (d *Daemon) current() *adapterSet { return d.set.Load() }

// Addr is the address the HTTP API listens on.
func (d *Daemon) Addr() string { return d.listener.Addr().String() }

// Run runs the daemon until ctx is done, then stops in order: sources
// first, then the writer after the group in flight, then the rest. A
// cluster node acts only while it leads (runCluster).
func (d *Daemon) Run(ctx context.Context) error {
	if d.node != nil {
		return d.runCluster(ctx)
	}
	stop, err := d.act(ctx)
	if err != nil {
		d.closeAll()
		return err
	}
	serveErr := d.serve()
	set := d.current()
	d.log.Info("portsync running", "terminal", set.cfg.Terminal, "http", d.Addr(), "sources", len(set.sources), "store", d.store.Path())
	select {
	case <-ctx.Done():
	case err = <-serveErr:
		err = fmt.Errorf("http server: %w", err)
	}
	d.log.Info("stopping")
	stop(false)
	d.shutdown()
	return err
}

// serve starts the HTTP server; its error arrives on the channel.
func (d *Daemon) serve() <-chan error {
	serveErr := make(chan error, 1)
	go func() {
		if tlsCfg := d.current().cfg.HTTP.TLS; tlsCfg.CertFile != "" {
			serveErr <- d.server.ServeTLS(d.listener, tlsCfg.CertFile, tlsCfg.KeyFile)
			return
		}
		serveErr <- d.server.Serve(d.listener)
	}()
	return serveErr
}

// shutdown stops the HTTP server and closes the adapters and the store.
func (d *Daemon) shutdown() {
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if serr := d.server.Shutdown(shutdownCtx); serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		d.log.Warn("http shutdown", "err", serr)
	}
	d.closeAll()
	d.log.Info("stopped")
}

// act starts what does the daemon's work: the adapters, the writer, its
// workers and the schedules. The function it returns stops them in order:
// the jobs (a running sweep is cancelled, then waited for), sources, the
// writer after the group in flight (so that it is committed and
// acknowledged), then the workers. A deposed cluster leader cancels
// everything first and waits after: its commits fail, so a running sweep
// would wait for ever.
func (d *Daemon) act(ctx context.Context) (stop func(deposed bool), err error) {
	workCtx, stopWork := context.WithCancel(context.Background())
	// The jobs (scheduled sweeps, retention, the sweep after a lost
	// session) are cancelled before the stop waits for them: a sweep may
	// be waiting on a TOS snapshot for up to its timeout (a minute by
	// default), and a stop must not. A sweep cut short is done again by
	// the next one.
	jobsCtx, stopJobs := context.WithCancel(workCtx)
	if err := d.start(ctx, jobsCtx); err != nil {
		stopJobs()
		stopWork()
		return nil, err
	}
	// The writer gets a context of its own: it stops after the sources.
	engineCtx, stopEngine := context.WithCancel(context.Background())
	var engineDone, workers stdsync.WaitGroup
	eng := d.engine()
	engineDone.Go(func() { eng.Run(engineCtx) })
	workers.Go(func() { eng.RunWorkers(workCtx) })
	workers.Go(func() { d.watchSessions(jobsCtx) })
	d.sched.Start()
	return func(deposed bool) {
		if deposed {
			stopEngine()
			stopWork()
		}
		stopJobs()
		<-d.sched.Stop().Done()
		d.reload.Lock() // no reload while stopping
		defer d.reload.Unlock()
		d.running = false
		d.current().stopSources()
		stopEngine()
		engineDone.Wait()
		stopWork()
		workers.Wait()
	}, nil
}

// start starts the adapters in force and installs the schedules, under
// the reload lock: a reload (SIGHUP) that comes while Run starts waits for
// it, and one that came before it only swapped the adapters Run starts.
func (d *Daemon) start(ctx, workCtx context.Context) error {
	d.reload.Lock()
	defer d.reload.Unlock()
	set := d.current()
	if err := set.start(ctx, d.engine()); err != nil {
		return err
	}
	d.workCtx = workCtx
	d.sched = cron.New(cron.WithParser(config.CronParser), cron.WithLocation(time.UTC),
		cron.WithChain(cron.SkipIfStillRunning(cron.DiscardLogger), cron.Recover(cron.DiscardLogger)))
	if err := d.schedule(set.cfg); err != nil {
		return err
	}
	d.running = true
	return nil
}

// schedule (re)installs the cron jobs of cfg.
func (d *Daemon) schedule(cfg *config.Config) error {
	id, err := d.sched.AddFunc(cfg.Schedules.Sweep, func() { d.sweep(d.workCtx) })
	if err != nil {
		return fmt.Errorf("schedules.sweep: %w", err)
	}
	if d.sweepJob != 0 {
		d.sched.Remove(d.sweepJob)
	}
	d.sweepJob = id
	rid, err := d.scheduleRetention(d.workCtx, d.sched, cfg, d.retentionJob)
	if err != nil {
		return err
	}
	d.retentionJob = rid
	// tos.snapshot.schedule, when set, fetches the snapshot between sweeps
	// too (every sweep fetches it anyway).
	var sid cron.EntryID
	if s := cfg.TOS.Snapshot; s != nil {
		snap, err := tossnapshot.ConfigOf(*s)
		if err != nil {
			return fmt.Errorf("tos.snapshot: %w", err)
		}
		if snap.Schedule != "" {
			if sid, err = d.sched.AddFunc(snap.Schedule, func() { d.snapshotOnly(d.workCtx) }); err != nil {
				return fmt.Errorf("tos.snapshot.schedule: %w", err)
			}
		}
	}
	if d.snapshotJob != 0 {
		d.sched.Remove(d.snapshotJob)
	}
	d.snapshotJob = sid
	return nil
}

func (d *Daemon) snapshotOnly(ctx context.Context) {
	if _, err := d.snapshotSweep(ctx); err != nil {
		d.log.Error("TOS snapshot failed", "err", err)
	}
}

// sweep runs the full sweep and reports whether it completed.
func (d *Daemon) sweep(ctx context.Context) bool {
	res, err := d.fullSweep(ctx)
	if err != nil {
		d.log.Error("sweep failed", "err", err)
		return false
	}
	d.log.Info("sweep done", "containers", res.Containers)
	return true
}

// fullSweep repairs from the TOS snapshot, when tos.snapshot is set (its
// failure is logged and the sweep goes on), re-decides every container and
// sends the outbox again (the engine's Sweep), and resolves the lost sessions it began after.
// The cron job and POST /api/v1/sweep run it.
func (d *Daemon) fullSweep(ctx context.Context) (httpapi.SweepResult, error) {
	lost := d.sessions.pending()
	var res httpapi.SweepResult
	if res.Snapshot, res.SnapshotErr = d.snapshotSweep(ctx); res.SnapshotErr != nil {
		d.log.Error("TOS snapshot failed; the sweep goes on without it", "err", res.SnapshotErr)
	}
	n, err := d.engine().Sweep(ctx)
	if err != nil {
		return res, err
	}
	res.Containers = n
	d.sessionsSwept(lost)
	return res, nil
}

// snapshotSweep fetches the TOS snapshot, when tos.snapshot is set, and
// repairs the store from it; nil, nil when there is none to fetch.
func (d *Daemon) snapshotSweep(ctx context.Context) (*sync.SnapshotResult, error) {
	cfg := d.current().cfg.TOS.Snapshot
	if cfg == nil {
		return nil, nil
	}
	snap, err := tossnapshot.Fetch(ctx, *cfg)
	if err != nil {
		return nil, err
	}
	res, err := d.engine().ApplySnapshot(ctx, snap, snap.At)
	if err != nil {
		return nil, err
	}
	d.log.Info("TOS snapshot applied", "containers", snap.Len(), "complete", snap.Complete,
		"at", snap.At, "repaired", res.Repaired, "departed", res.Departed, "skipped", snap.Skipped)
	return &res, nil
}

func (d *Daemon) closeAll() {
	// Replication writes to the store: it stops first.
	if d.node != nil {
		if err := d.node.Shutdown(); err != nil {
			d.log.Warn("cluster shutdown", "err", err)
		}
	}
	if set := d.current(); set != nil {
		set.disconnect()
	}
	if d.listener != nil {
		d.listener.Close()
	}
	if d.store != nil {
		if err := d.store.Close(); err != nil {
			d.log.Warn("closing store", "err", err)
		}
	}
}

// Ready reports whether the daemon can do its job: the store commits, the
// writer makes progress, every broker is connected with its subscriptions
// acknowledged, and no broker's lost session still waits for its sweep.
func (d *Daemon) Ready() (bool, []string) {
	if d.node != nil && !d.node.IsLeader() {
		return d.followerReady()
	}
	var reasons []string
	if d.node != nil {
		if st := d.node.Status(); st.ApplyError != "" {
			reasons = append(reasons, "store: "+st.ApplyError)
		}
	}
	if err := d.engine().Healthy(); err != nil {
		reasons = append(reasons, "store: "+err.Error())
	}
	if idle := time.Since(d.engine().LastProgress()); idle > stuckAfter {
		reasons = append(reasons, fmt.Sprintf("writer: no progress for %s", idle.Round(time.Second)))
	}
	for _, b := range d.current().brokers {
		if ok, why := b.Ready(); !ok {
			reasons = append(reasons, why)
		}
	}
	reasons = append(reasons, d.sessions.readyReasons()...)
	slices.Sort(reasons)
	return len(reasons) == 0, reasons
}

// Summary is a one-line picture for systemd's STATUS= and the logs.
func (d *Daemon) Summary() string { return d.api.Summary() }

// Progress is when the writer last went round its loop, for the watchdog.
// A cluster node that does not act has no writer running: it is alive
// while it replicates, which Raft's own timeouts watch.
func (d *Daemon) Progress() time.Time {
	if d.node != nil && !d.acting.Load() {
		return time.Now()
	}
	return d.engine().LastProgress()
}

// backend is the daemon as the HTTP API sees it (httpapi.Backend).
type backend Daemon

func (b *backend) d() *Daemon              { return (*Daemon)(b) }
func (b *backend) Ready() (bool, []string) { return b.d().Ready() }
func (b *backend) Addr() string            { return b.d().Addr() }
func (b *backend) Sweep(ctx context.Context) (httpapi.SweepResult, error) {
	return b.d().fullSweep(ctx)
}

func (b *backend) LeaderURL() (string, bool) { return b.d().leaderURL() }
func (b *backend) ClusterNodes(ctx context.Context, self bool) ([]httpapi.ClusterNode, error) {
	return b.d().clusterNodes(ctx, self)
}

func (b *backend) Current() httpapi.Current {
	set := b.d().current()
	return httpapi.Current{Config: set.cfg, Token: set.token, OverrideToken: set.overrideToken, Sources: set.byName, PushTokens: set.pushTokens}
}

// Endpoints lists every source, the sink, every channel and every broker
// with its health.
func (b *backend) Endpoints() []sync.EndpointStatus {
	d := b.d()
	set := d.current()
	var out []sync.EndpointStatus
	for _, name := range slices.Sorted(maps.Keys(set.brokers)) {
		ok, why := set.brokers[name].Ready()
		out = append(out, sync.EndpointStatus{Name: name, Role: "broker", Type: "mqtt", Healthy: ok, Detail: why})
	}
	for _, sc := range set.cfg.Sources {
		detail := sc.Kind
		if sc.Agency != "" {
			detail += " for " + sc.Agency
		}
		st, healthy := d.engine().SourceStatus(sc.Name)
		if b, ok := set.brokers[sc.Broker]; ok && healthy {
			healthy, _ = b.Ready()
		}
		st.Name, st.Role, st.Type, st.Detail, st.Healthy = sc.Name, "source", sc.Type, detail, healthy
		st.Kind, st.Agency = sc.Kind, sc.Agency
		out = append(out, st)
	}
	return append(out, d.engine().OutputStatus()...)
}
