package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/sync/daemon"
)

func cmdRun(args []string) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	file := fs.String("config", "/etc/portsync/portsync.yaml", "configuration `file`")
	if fs.Parse(args) != nil {
		return 2
	}
	cfg, err := config.Load(*file, adapters.Registry)
	if err != nil {
		printConfigErrors(err)
		return 1
	}
	log := newLogger(cfg.Log, os.Stderr)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// SIGHUP reloads; caught from the start, since by default it kills.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	d, err := daemon.New(cfg, log)
	if err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	supervised := make(chan struct{})
	go func() {
		defer close(supervised)
		superviseService(ctx, d, log, hup)
	}()
	err = d.Run(ctx)
	stop()
	<-supervised
	if err != nil {
		log.Error("stopped with an error", "err", err)
		return 1
	}
	return 0
}

func printConfigErrors(err error) {
	var errs config.Errors
	if errors.As(err, &errs) {
		for _, e := range errs {
			fmt.Fprintln(os.Stderr, e.Error())
		}
		return
	}
	fmt.Fprintln(os.Stderr, err)
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Level)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func cmdCheck(args []string) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	file := fs.String("config", "/etc/portsync/portsync.yaml", "configuration `file`")
	if fs.Parse(args) != nil {
		return 2
	}
	cfg, err := config.Load(*file, adapters.Registry)
	if err == nil {
		// The daemon's own constructors, without the network: whatever
		// they refuse would make run exit (a restart loop under systemd).
		err = daemon.CheckAdapters(cfg)
	}
	if err != nil {
		printConfigErrors(err)
		return 1
	}
	fmt.Printf("%s: ok\n", *file)
	return 0
}
