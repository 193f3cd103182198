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

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/internal/broker"
	"github.com/portsync/portsync/internal/demo"
	"github.com/portsync/portsync/sync"
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
tos:
  sink: {type: mqtt, broker: main, topic: ` + demo.TopicCommands + `}
sla: {apply_within: 10s, retry_after: 3s}
alerts:
  repeat_interval: 1m
  channels:
    - {type: mqtt, broker: main, topic: portsync/DEMO-T1/alerts}
status_topic: portsync/DEMO-T1/status
http: {listen: "%s"}
`

func cmdDemo(args []string) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	httpAddr := fs.String("http", "127.0.0.1:0", "dashboard and API `address`")
	stateDir := fs.String("state-dir", "", "state `directory` (default a new temporary directory)")
	seed := fs.Uint64("seed", 1, "simulation seed; the same seed plays the same story")
	if fs.Parse(args) != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	d, b, err := startDemo(*httpAddr, *stateDir, log)
	if err != nil {
		log.Error("demo cannot start", "err", err)
		return 1
	}
	defer b.Stop()
	sim, err := demo.New(b.URL(), demo.Options{Seed: *seed, Log: log.With("sim", "world")})
	if err != nil {
		log.Error("demo cannot start", "err", err)
		return 1
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	go sim.Run(ctx)
	fmt.Printf("dashboard: http://%s/\n", d.Addr())
	if err := <-done; err != nil {
		log.Error("demo stopped with an error", "err", err)
		return 1
	}
	return 0
}

// startDemo starts the embedded broker and builds the daemon on it.
func startDemo(httpAddr, stateDir string, log *slog.Logger) (*sync.Daemon, *broker.Broker, error) {
	if stateDir == "" {
		dir, err := os.MkdirTemp("", "portsync-demo-")
		if err != nil {
			return nil, nil, err
		}
		stateDir = dir
	}
	b, err := broker.StartEmbedded("127.0.0.1:0", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return nil, nil, fmt.Errorf("embedded broker: %w", err)
	}
	file := filepath.Join(stateDir, "portsync-demo.yaml")
	if err := os.MkdirAll(stateDir, 0o750); err != nil {
		b.Stop()
		return nil, nil, err
	}
	if err := os.WriteFile(file, fmt.Appendf(nil, demoConfig, stateDir, b.URL(), httpAddr), 0o600); err != nil {
		b.Stop()
		return nil, nil, err
	}
	cfg, err := config.Load(file, adapters.Registry)
	if err != nil {
		b.Stop()
		return nil, nil, err
	}
	d, err := sync.New(cfg, log)
	if err != nil {
		b.Stop()
		return nil, nil, err
	}
	log.Info("demo ready", "state_dir", stateDir, "config", file, "broker", b.URL())
	return d, b, nil
}
