package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/internal/broker"
	"github.com/portsync/portsync/internal/demo"
	"github.com/portsync/portsync/sync/daemon"
)

// demoConfig is the daemon's configuration in the demo: the same file a
// terminal would write, pointed at the embedded broker.
const demoConfig = `# written by portsync demo
terminal: DEMO-T1
state_dir: %s
log: {level: info, format: text}
agencies:
  customs:    {tos_hold: CUSTOMS}
  quarantine: {tos_hold: CIQ, when_unknown: ignore}
release_policy:
  required: [customs]
brokers:
  main: {url: %s, client_id: portsync-DEMO-T1}
sources:
  - {name: customs-mqtt, type: mqtt, broker: main, topic: ` + demo.TopicCustoms + `, kind: agency, agency: customs}
  - {name: quarantine-mqtt, type: mqtt, broker: main, topic: ` + demo.TopicQuarantine + `, kind: agency, agency: quarantine}
  - {name: tos-events, type: mqtt, broker: main, topic: ` + demo.TopicTOSEvents + `, kind: tos}
  - {name: manifests-mqtt, type: mqtt, broker: main, topic: ` + demo.TopicManifests + `, kind: manifest}
tos:
  sink: {type: mqtt, broker: main, topic: ` + demo.TopicCommands + `}
sla: {apply_within: %s, retry_after: %s}
alerts:
  repeat_interval: 1m
  channels:
    - {type: mqtt, broker: main, topic: portsync/DEMO-T1/alerts}
status_topic: portsync/DEMO-T1/status
http: {listen: "%s"%s}
`

// demoOptions set up a demo; tests shorten its times.
type demoOptions struct {
	HTTP        string
	StateDir    string
	ApplyWithin time.Duration // the SLA
	RetryAfter  time.Duration
	Log         *slog.Logger
	// OverrideTokenFile, when set, turns manual overrides on with the
	// token in it (http.override_token_file); `portsync demo` leaves them
	// off.
	OverrideTokenFile string
}

// defaultDemo are the times of `portsync demo`: long enough to watch a
// mismatch on the dashboard, short enough to see an alert within a minute.
var defaultDemo = demoOptions{ApplyWithin: 10 * time.Second, RetryAfter: 3 * time.Second}

func cmdDemo(args []string) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	opts := defaultDemo
	fs.StringVar(&opts.HTTP, "http", "127.0.0.1:0", "dashboard and API `address`")
	fs.StringVar(&opts.StateDir, "state-dir", "", "state `directory` (default a new temporary directory)")
	seed := fs.Uint64("seed", 1, "simulation seed; the same seed plays the same story")
	if fs.Parse(args) != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	opts.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	d, b, err := startDemo(opts)
	if err != nil {
		opts.Log.Error("demo cannot start", "err", err)
		return 1
	}
	defer b.Stop()
	sim, err := demo.New(b.URL(), demo.Options{Seed: *seed, Log: opts.Log.With("sim", "world")})
	if err != nil {
		opts.Log.Error("demo cannot start", "err", err)
		return 1
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	// The world starts once portsync listens, so its first messages are
	// not published before anyone subscribed.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if ok, _ := d.Ready(); ok {
			break
		}
	}
	go sim.Run(ctx)
	fmt.Printf("dashboard: http://%s/\n", d.Addr())
	if err := <-done; err != nil {
		opts.Log.Error("demo stopped with an error", "err", err)
		return 1
	}
	return 0
}

// startDemo starts the embedded broker and builds the daemon on it, with
// the same configuration file a terminal would write.
func startDemo(opts demoOptions) (*daemon.Daemon, *broker.Broker, error) {
	if opts.StateDir == "" {
		dir, err := os.MkdirTemp("", "portsync-demo-")
		if err != nil {
			return nil, nil, err
		}
		opts.StateDir = dir
	}
	if err := os.MkdirAll(opts.StateDir, 0o750); err != nil {
		return nil, nil, err
	}
	b, err := broker.StartEmbedded("127.0.0.1:0", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return nil, nil, fmt.Errorf("embedded broker: %w", err)
	}
	d, err := newDemoDaemon(opts, b)
	if err != nil {
		b.Stop()
		return nil, nil, err
	}
	return d, b, nil
}

func newDemoDaemon(opts demoOptions, b *broker.Broker) (*daemon.Daemon, error) {
	file := filepath.Join(opts.StateDir, "portsync-demo.yaml")
	override := ""
	if opts.OverrideTokenFile != "" {
		override = fmt.Sprintf(", override_token_file: %q", opts.OverrideTokenFile)
	}
	text := fmt.Appendf(nil, demoConfig, opts.StateDir, b.URL(), opts.ApplyWithin, opts.RetryAfter, opts.HTTP, override)
	if err := os.WriteFile(file, text, 0o600); err != nil {
		return nil, err
	}
	cfg, err := config.Load(file, adapters.Registry)
	if err != nil {
		return nil, err
	}
	d, err := daemon.New(cfg, opts.Log)
	if err != nil {
		return nil, err
	}
	opts.Log.Info("demo ready", "state_dir", opts.StateDir, "config", file, "broker", b.URL())
	return d, nil
}
