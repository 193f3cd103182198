package sync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	stdsync "sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/adapters/mqtt"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

// stuckAfter is how long the writer may go without finishing a pass of its
// loop (it passes at least every second when idle) before /readyz says so.
const stuckAfter = 30 * time.Second

// lockTimeout is how long Open waits for another process to let go of the
// store before it gives up with a clear message.
const lockTimeout = 2 * time.Second

// Daemon is a running portsync: the store, the engine and its workers, the
// adapters and the HTTP API, wired from one configuration.
type Daemon struct {
	cfg     *config.Config
	log     *slog.Logger
	store   *state.Store
	metrics *Metrics

	engine     *Engine
	dispatcher *Dispatcher
	alerts     *AlertManager
	status     *StatusPublisher

	brokers map[string]adapters.Broker
	sources []runningSource
	byName  map[string]*SourceInfo

	token    string
	listener net.Listener
	server   *http.Server
}

type runningSource struct {
	info   *SourceInfo
	source adapters.Source
}

// New opens the store, builds every adapter and binds the HTTP listener;
// nothing runs until Run.
func New(cfg *config.Config, log *slog.Logger) (*Daemon, error) {
	d := &Daemon{cfg: cfg, log: log, metrics: NewMetrics(), brokers: map[string]adapters.Broker{}, byName: map[string]*SourceInfo{}}
	ok := false
	defer func() {
		if !ok {
			d.closeAll()
		}
	}()
	if cfg.HTTP.TokenFile != "" {
		token, err := config.ReadSecret(cfg.HTTP.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("http.token_file: %w", err)
		}
		d.token = token
	}
	store, err := state.Open(filepath.Join(cfg.StateDir, state.FileName), lockTimeout)
	if err != nil {
		return nil, err
	}
	d.store = store
	d.engine = NewEngine(store, cfg, d.metrics, log)

	for name, bc := range cfg.Brokers {
		conn, err := mqtt.NewConn(name, bc, log)
		if err != nil {
			return nil, err
		}
		d.brokers[name] = conn
	}
	env := &adapters.Env{Config: cfg, Logger: log, Brokers: d.brokers}
	for _, sc := range cfg.Sources {
		src, err := adapters.NewSource(env, sc)
		if err != nil {
			return nil, err
		}
		dec, err := adapters.NewDecoder(sc)
		if err != nil {
			return nil, err
		}
		info := &SourceInfo{Name: sc.Name, Kind: sc.Kind, Agency: sc.Agency, Decoder: dec}
		d.sources = append(d.sources, runningSource{info: info, source: src})
		d.byName[sc.Name] = info
	}
	sink, err := adapters.NewSink(env, cfg.TOS.Sink)
	if err != nil {
		return nil, err
	}
	d.dispatcher = NewDispatcher(cfg.TOS.Sink.Name, sink, cfg, d.engine, d.metrics, log)
	var channels []NamedNotifier
	for _, cc := range cfg.Alerts.Channels {
		n, err := adapters.NewChannel(env, cc)
		if err != nil {
			return nil, err
		}
		channels = append(channels, NamedNotifier{Name: cc.Name, Notifier: n})
	}
	d.alerts = NewAlertManager(channels, cfg.Alerts.RepeatInterval, cfg.SLA.ApplyWithin, d.engine, d.metrics, log)
	d.engine.AddListener(d.dispatcher)
	d.engine.AddListener(d.alerts)
	if cfg.StatusTopic != "" {
		d.status = NewStatusPublisher(d.brokers["main"], cfg.StatusTopic, d.engine, log)
		d.engine.AddListener(d.status)
	}
	if err := d.engine.Load(); err != nil {
		return nil, fmt.Errorf("load engine state: %w", err)
	}
	if err := d.dispatcher.Load(store); err != nil {
		return nil, fmt.Errorf("load outbox: %w", err)
	}
	if err := d.alerts.Load(store); err != nil {
		return nil, fmt.Errorf("load alerts: %w", err)
	}
	d.listener, err = net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return nil, fmt.Errorf("http.listen: %w", err)
	}
	d.server = &http.Server{Handler: d.Handler(), ReadHeaderTimeout: 10 * time.Second}
	ok = true
	return d, nil
}

// Addr is the address the HTTP API listens on.
func (d *Daemon) Addr() string { return d.listener.Addr().String() }

// Run runs the daemon until ctx is done, then stops in order: sources
// first, then the writer after the group in flight, then the rest.
func (d *Daemon) Run(ctx context.Context) error {
	for _, s := range d.sources {
		if err := s.source.Start(ctx, d.engine.Deliver(s.info)); err != nil {
			d.closeAll()
			return fmt.Errorf("start source %s: %w", s.info.Name, err)
		}
	}
	for _, b := range d.brokers {
		if err := b.Connect(ctx); err != nil {
			d.closeAll()
			return err
		}
	}
	workCtx, stopWork := context.WithCancel(context.Background())
	defer stopWork()
	sched := cron.New(cron.WithParser(config.CronParser), cron.WithLocation(time.UTC),
		cron.WithChain(cron.SkipIfStillRunning(cron.DiscardLogger), cron.Recover(cron.DiscardLogger)))
	if _, err := sched.AddFunc(d.cfg.Schedules.Sweep, func() { d.sweep(workCtx) }); err != nil {
		d.closeAll()
		return fmt.Errorf("schedules.sweep: %w", err)
	}
	// The writer gets a context of its own: it stops after the sources, so
	// that the group in flight is committed and acknowledged.
	engineCtx, stopEngine := context.WithCancel(context.Background())
	defer stopEngine()
	var engineDone, workers stdsync.WaitGroup
	engineDone.Go(func() { d.engine.Run(engineCtx) })
	workers.Go(func() { d.dispatcher.Run(workCtx) })
	workers.Go(func() { d.alerts.Run(workCtx) })
	if d.status != nil {
		workers.Go(func() { d.status.Run(workCtx) })
	}
	sched.Start()
	serveErr := make(chan error, 1)
	go func() { serveErr <- d.server.Serve(d.listener) }()
	d.log.Info("portsync running", "terminal", d.cfg.Terminal, "http", d.Addr(), "sources", len(d.sources), "store", d.store.Path())

	var err error
	select {
	case <-ctx.Done():
	case err = <-serveErr:
		err = fmt.Errorf("http server: %w", err)
	}
	d.log.Info("stopping")
	<-sched.Stop().Done()
	for _, s := range d.sources {
		s.source.Stop()
	}
	stopEngine()
	engineDone.Wait()
	stopWork()
	workers.Wait()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if serr := d.server.Shutdown(shutdownCtx); serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		d.log.Warn("http shutdown", "err", serr)
	}
	d.closeAll()
	d.log.Info("stopped")
	return err
}

func (d *Daemon) sweep(ctx context.Context) {
	n, err := d.engine.Sweep(ctx)
	if err != nil {
		d.log.Error("sweep failed", "err", err)
		return
	}
	d.dispatcher.ResendAll()
	d.log.Info("sweep done", "containers", n)
}

func (d *Daemon) closeAll() {
	for _, b := range d.brokers {
		b.Disconnect()
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

// Ready reports whether the daemon can do its job: the store commits and
// every broker is connected with its subscriptions acknowledged.
func (d *Daemon) Ready() (bool, []string) {
	var reasons []string
	if err := d.engine.Healthy(); err != nil {
		reasons = append(reasons, "store: "+err.Error())
	}
	if idle := time.Since(d.engine.LastProgress()); idle > stuckAfter {
		reasons = append(reasons, fmt.Sprintf("writer: no progress for %s", idle.Round(time.Second)))
	}
	for _, b := range d.brokers {
		if ok, why := b.Ready(); !ok {
			reasons = append(reasons, why)
		}
	}
	slices.Sort(reasons)
	return len(reasons) == 0, reasons
}
